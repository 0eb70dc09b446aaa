"""The keeper's pieces that need no process: the settings it is handed, and its lock."""

from __future__ import annotations

import json
from pathlib import Path

from flowlib.keeper import _revealed, _try_lock, read_state
from flowlib.models import FlowConfig


def test_the_settings_travel_whole_and_come_back_equal(tmp_path: Path) -> None:
    config = FlowConfig(
        provider="fcp",
        api_key="sk-secret",
        home=tmp_path,
        providers={"hyperstack": {"api_key": "hs-secret", "poll_interval_s": 1}},
    )
    sent = json.dumps(_revealed(config))
    assert "sk-secret" in sent and "hs-secret" in sent  # the keeper needs them (by pipe only)
    back = FlowConfig.model_validate(json.loads(sent))
    assert back.provider_settings("hyperstack")["api_key"].get_secret_value() == "hs-secret"
    assert back.api_key is not None and back.api_key.get_secret_value() == "sk-secret"
    assert back.home == tmp_path


def test_the_lock_is_held_by_one_and_state_says_whether_it_runs(tmp_path: Path) -> None:
    (tmp_path / "keeper.json").write_text(json.dumps({"pid": 1, "polls": 3}))
    with _try_lock(tmp_path) as first:
        assert first is not None
        with _try_lock(tmp_path) as second:
            assert second is None  # another holder: a keeper runs
        assert read_state(tmp_path) == {"pid": 1, "polls": 3, "running": True}
    assert read_state(tmp_path) == {"pid": 1, "polls": 3, "running": False}
