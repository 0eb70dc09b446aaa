"""flow doctor: one verdict per check, a failing check fails the command, secrets never shown."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowlib.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("FLOW_HOME", "FLOW_PROVIDER", "FLOW_API_KEY", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL whose port refuses connections: bound and never listening, so the port
    stays ours (nothing else can start listening on it) and every connect is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def config(home: Path, text: str) -> None:
    (home / ".flow").mkdir(exist_ok=True)
    (home / ".flow" / "config.yaml").write_text(text)


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", "--timeout", "2", *argv])
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is (code == 0)
    return code, {c["name"]: c for c in data["checks"]}


def test_a_fresh_machine_is_fine_with_the_local_provider(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = doctor(capsys)
    assert code == 0
    assert checks["config"]["verdict"] == "ok" and checks["config"]["hints"] == [
        "flow init writes one"
    ]
    assert checks["provider"]["detail"] == "local (the default)"
    assert checks["local reachable"]["verdict"] == "ok"


def test_a_missing_key_fails_with_how_to_set_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(home, "provider: fcp\n")
    code, checks = doctor(capsys)
    assert code == 1
    assert checks["fcp credentials"]["verdict"] == "fail"
    assert any("FLOW_API_KEY" in hint for hint in checks["fcp credentials"]["hints"])


def test_a_key_is_reported_set_but_never_shown(
    home: Path, closed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config(
        home,
        "provider: local\nproviders:\n  hyperstack:\n    api_key: sekrit-123\n"
        f"    api_url: {closed_url}\n",
    )
    code = main(["doctor", "--timeout", "1"])
    out = capsys.readouterr().out
    assert "sekrit" not in out
    assert "hyperstack credentials  an API key is set (not shown)" in out
    assert code == 1 and "fail  hyperstack reachable" in out


def test_an_unknown_default_provider_fails_with_a_suggestion(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(home, "provider: lokal\n")
    code, checks = doctor(capsys)
    assert code == 1 and "did you mean 'local'?" in checks["provider"]["hints"]


def test_a_broken_config_fails_the_first_check(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(home, "provider: [unclosed\n")
    code, checks = doctor(capsys)
    assert code == 1 and checks["config"]["verdict"] == "fail"


def test_text_output_is_one_line_per_check(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ok    config")
    assert lines[-1] == "all good (5 checks)"


def test_the_keeper_is_reported_and_a_cloud_it_cannot_ask_is_a_warning(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowlib.core.keeper_process import try_lock

    monkeypatch.setenv("FLOW_KEEPER", "0")
    code, checks = doctor(capsys)
    assert checks["keeper"]["detail"].startswith("off (keeper: false or FLOW_KEEPER=0)")
    monkeypatch.setenv("FLOW_KEEPER", "1")
    code, checks = doctor(capsys)
    assert checks["keeper"]["detail"] == "none has run here; one starts with the first cloud task"
    state = {"pid": 4242, "started_at": "", "last_poll_at": "", "polls": 3, "live_tasks": 2,
             "unanswered": {"fcp": "fcp rejected the API key (401)"}}  # fmt: skip
    (home / ".flow").mkdir(exist_ok=True)
    (home / ".flow" / "keeper.json").write_text(json.dumps(state))
    with try_lock(home / ".flow") as held:  # as the running keeper holds it
        assert held is not None
        code, checks = doctor(capsys)
    assert code == 0  # a warning, not a failure
    assert checks["keeper"]["verdict"] == "warn"
    assert checks["keeper"]["detail"] == (
        "running (pid 4242), watching 2 live task(s); "
        "its last look could not ask fcp: fcp rejected the API key (401)"
    )
    code, checks = doctor(capsys)
    assert checks["keeper"] == {
        "name": "keeper", "verdict": "ok", "hints": [],
        "detail": "not running; the next cloud task starts it",
    }  # fmt: skip
