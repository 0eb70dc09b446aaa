"""Settings precedence: arguments > FLOW_* > ./.flow/config.yaml > ~/.flow/config.yaml > defaults
(highest first)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flowlib.config import load_config, project_config_path, user_config_path, write_config
from flowlib.errors import ConfigError


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[dict[str, str], Path]:
    home = tmp_path / "home"
    cwd = tmp_path / "project"
    cwd.mkdir()
    return {"HOME": str(home)}, cwd


def test_defaults(dirs: tuple[dict[str, str], Path]) -> None:
    environ, cwd = dirs
    config = load_config(environ=environ, cwd=cwd)
    assert config.provider == "local"
    assert config.api_key is None


def test_each_source_beats_the_one_below(dirs: tuple[dict[str, str], Path]) -> None:
    environ, cwd = dirs
    write_config(user_config_path(environ), {"provider": "user", "project": "u", "region": "u"})
    write_config(project_config_path(cwd), {"provider": "proj", "project": "p"})
    config = load_config(environ=environ, cwd=cwd)
    assert (config.provider, config.project, config.region) == ("proj", "p", "u")
    environ = {**environ, "FLOW_PROVIDER": "env", "FLOW_HOME": "/tmp/flowhome"}
    config = load_config(environ=environ, cwd=cwd)
    assert config.provider == "env" and config.home == Path("/tmp/flowhome")
    assert load_config({"provider": "arg"}, environ=environ, cwd=cwd).provider == "arg"


def test_provider_sections_override_top_level_keys(dirs: tuple[dict[str, str], Path]) -> None:
    environ, cwd = dirs
    write_config(
        user_config_path(environ),
        {
            "region": "us-central1-a",
            "providers": {"fcp": {"api_key": "fkey_a", "region": "us-central1-b"}},
        },
    )
    settings = load_config(environ=environ, cwd=cwd).provider_settings("fcp")
    assert settings["region"] == "us-central1-b"
    assert settings["api_key"].get_secret_value() == "fkey_a"


def test_files_with_keys_are_private(dirs: tuple[dict[str, str], Path]) -> None:
    environ, _ = dirs
    path = write_config(user_config_path(environ), {"api_key": "fkey_secret"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bad_yaml_is_a_config_error_with_the_line(dirs: tuple[dict[str, str], Path]) -> None:
    environ, cwd = dirs
    path = project_config_path(cwd)
    path.parent.mkdir(parents=True)
    path.write_text("provider: local\nproject: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 3"):
        load_config(environ=environ, cwd=cwd)


def test_unknown_keys_in_a_config_file_are_refused(dirs: tuple[dict[str, str], Path]) -> None:
    environ, cwd = dirs
    write_config(project_config_path(cwd), {"projct": "x"})
    with pytest.raises(ConfigError) as err:
        load_config(environ=environ, cwd=cwd)
    assert "did you mean 'project'?" in err.value.suggestions
