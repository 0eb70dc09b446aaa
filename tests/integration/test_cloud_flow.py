"""An example that uses an emulator never spends money because a key happens to be exported."""

from __future__ import annotations

import pytest

from flowlib.testing.emulators import cloud_flow


def test_an_exported_key_still_runs_the_emulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOW_API_KEY", "fkey_exported_for_other_work_0123456789")
    with cloud_flow("fcp") as flow:
        url = flow.config.provider_settings("fcp")["api_url"]
        assert url.startswith("http://127.0.0.1:"), url
    err = capsys.readouterr().err
    assert "--real-cloud" in err and "emulator" in err
    assert "fkey_exported" not in err


def test_an_unknown_cloud_is_a_clear_error() -> None:
    from flowlib.errors import ValidationError

    with pytest.raises(ValidationError) as info, cloud_flow("nimbus"):
        pass
    assert info.value.suggestions
