"""`flow init`: a config file readable by its owner only, an example task, never a key echoed."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
import yaml

from flowlib.cli import main
from flowlib.config import load_config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompts
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return tmp_path


def test_without_a_terminal_or_flags_it_sets_up_the_local_provider(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    config = home / ".flow" / "config.yaml"
    assert yaml.safe_load(config.read_text()) == {"provider": "local"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert Path("flow.yaml").is_file()
    out = capsys.readouterr().out
    assert str(config) in out and "flow run flow.yaml --wait" in out


def test_the_example_task_file_is_valid() -> None:
    from flowlib.cli._init import EXAMPLE_TASK
    from flowlib.frontends.yaml import parse_task_yaml

    assert parse_task_yaml(EXAMPLE_TASK).name == "hello"


def test_an_existing_task_file_is_kept(home: Path) -> None:
    Path("flow.yaml").write_text("command: mine\n")
    assert main(["init"]) == 0
    assert Path("flow.yaml").read_text() == "command: mine\n"


def test_a_key_from_the_environment_is_stored_never_shown(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_KEY", "fkey_s3cret")
    assert main(["init", "--api-key-env", "MY_KEY", "--region", "r1", "--no-example"]) == 0
    out, err = capsys.readouterr()
    assert "fkey_s3cret" not in out + err and "API key stored" in out
    settings = yaml.safe_load((home / ".flow" / "config.yaml").read_text())
    assert settings == {
        "provider": "local",
        "region": "r1",
        "providers": {"local": {"api_key": "fkey_s3cret"}},
    }
    assert not Path("flow.yaml").exists()
    # Running it again keeps what is there.
    assert main(["init", "--project", "p"]) == 0
    again = yaml.safe_load((home / ".flow" / "config.yaml").read_text())
    assert again["providers"]["local"]["api_key"] == "fkey_s3cret" and again["project"] == "p"
    assert "existing API key kept" in capsys.readouterr().out


def test_an_unset_key_variable_is_a_config_error(home: Path) -> None:
    assert main(["init", "--api-key-env", "NOT_SET_ANYWHERE"]) == 3


def test_local_writes_the_project_config(home: Path) -> None:
    assert main(["init", "--local", "--no-example"]) == 0
    assert Path(".flow/config.yaml").is_file()
    assert not (home / ".flow" / "config.yaml").exists()
    assert load_config().provider == "local"


def test_an_unknown_provider_is_refused_with_a_guess(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--provider", "locl"]) == 2
    assert "did you mean 'local'?" in capsys.readouterr().err
    assert not (home / ".flow" / "config.yaml").exists()


def test_prompts_on_a_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("local\n"))
    assert main(["init", "--no-example"]) == 0
    assert yaml.safe_load((home / ".flow" / "config.yaml").read_text()) == {"provider": "local"}


def test_with_json_it_says_what_it_wrote_and_never_the_key(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "fkey_sekrit")
    assert main(["init", "--json", "--provider", "fcp", "--api-key-env", "MY_KEY"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["config"] == str(home / ".flow" / "config.yaml")
    assert (data["provider"], data["api_key"]) == ("fcp", "stored")
    assert data["example"] == str(Path("flow.yaml").absolute())
    assert data["next"] == "flow run flow.yaml --wait"
    assert "sekrit" not in out
