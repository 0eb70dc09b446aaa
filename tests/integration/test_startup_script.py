"""The startup script, executed for real with FLOW_ROOT pointing at a sandbox directory."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from flowlib.core.startup import CODE_ARCHIVE, ScriptContext, build_script, fit_script, task_number
from flowlib.frontends.slurm import translate_sbatch
from flowlib.models import TaskConfig

NASTY_VALUES = [
    "plain",
    'it\'s "quoted"',
    "$(touch /tmp/flowlib-pwned) `touch /tmp/flowlib-pwned2` $HOME ${PATH}",
    "line one\nline two\n\ttabbed\n",
    "ünïcödé ✓ 日本語 🚀",
    "back\\slash \\n not-a-newline",
    "",
    " leading and trailing spaces ",
    "'; exit 1; echo '",
    "!event !! history",
]


def run_script(script: str, root: Path, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    path = root.parent / f"{root.name}-startup.sh"
    path.write_text(script)
    return subprocess.run(
        ["bash", str(path)],
        env={"FLOW_ROOT": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        timeout=timeout,
    )


def flow_file(root: Path, name: str) -> str:
    return (root / name).read_text()


@pytest.mark.parametrize("value", NASTY_VALUES)
def test_env_values_reach_the_workload_byte_for_byte(tmp_path: Path, value: str) -> None:
    dump = "import os,sys; sys.stdout.buffer.write(os.environb[b'NASTY'])"
    config = TaskConfig(command=[sys.executable, "-c", dump], env={"NASTY": value})
    root = tmp_path / "root"
    result = run_script(build_script(ScriptContext(task_id="t", config=config)), root)
    assert result.returncode == 0, result.stderr
    assert (root / "var/log/flow/task.log").read_bytes() == value.encode("utf-8")
    assert not Path("/tmp/flowlib-pwned").exists()


def test_a_translated_sbatch_script_gets_the_task_number_as_its_slurm_job_id(
    tmp_path: Path,
) -> None:
    job = '#!/bin/bash\n#SBATCH --array=0-1\necho "$SLURM_JOB_ID $SLURM_JOBID"\n'
    config = translate_sbatch(job).tasks[1]
    root = tmp_path / "root"
    result = run_script(build_script(ScriptContext(task_id="task-0a1b2c", config=config)), root)
    assert result.returncode == 0, result.stderr
    number = task_number("task-0a1b2c")  # computed once, in Python, and exported by the script
    assert flow_file(root, "var/log/flow/task.log") == f"{number} {number}\n"


def test_exit_code_of_the_workload_is_recorded(tmp_path: Path) -> None:
    config = TaskConfig(shell="echo working; exit 7")
    root = tmp_path / "root"
    result = run_script(build_script(ScriptContext(task_id="t", config=config)), root)
    assert result.returncode == 7
    assert flow_file(root, "var/run/flow/exit_code").strip() == "7"
    assert flow_file(root, "var/log/flow/task.log") == "working\n"
    assert (root / "var/run/flow/started").exists()


def test_time_limit_stops_the_workload(tmp_path: Path) -> None:
    config = TaskConfig(command=["sleep", "30"], max_run_time_hours=0.0001)  # 0.36 s -> 1 s
    root = tmp_path / "root"
    result = run_script(build_script(ScriptContext(task_id="t", config=config)), root)
    assert result.returncode == 124
    assert "max_run_time_hours" in flow_file(root, "var/run/flow/message")


def test_code_archive_is_extracted_into_the_working_dir(tmp_path: Path) -> None:
    archive = _tar({"train.py": b"print('trained')\n", "pkg/util.py": b"X = 1\n"})
    config = TaskConfig(command=[sys.executable, "train.py"], working_dir="/workspace")
    root = tmp_path / "root"
    script = build_script(ScriptContext(task_id="t", config=config, code=archive))
    result = run_script(script, root)
    assert result.returncode == 0, result.stderr
    assert flow_file(root, "var/log/flow/task.log") == "trained\n"
    assert (root / "workspace/pkg/util.py").read_text() == "X = 1\n"


@pytest.mark.parametrize("evil", ["../escaped.txt", "/abs/escaped.txt", "ok/../../escaped.txt"])
def test_archives_with_unsafe_paths_are_refused(tmp_path: Path, evil: str) -> None:
    archive = _tar({evil: b"gotcha"})
    root = tmp_path / "root"
    script = build_script(ScriptContext(task_id="t", config=TaskConfig(shell="true"), code=archive))
    result = run_script(script, root)
    assert result.returncode != 0
    assert "unsafe paths" in flow_file(root, "var/run/flow/message")
    assert not (tmp_path / "escaped.txt").exists()


def test_a_corrupted_archive_fails_the_hash_check(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "var/lib/flow").mkdir(parents=True)
    (root / CODE_ARCHIVE).write_bytes(_tar({"a": b"1"}))
    context = ScriptContext(
        task_id="t", config=TaskConfig(shell="true"), code_at_path=True, code_sha256="0" * 64
    )
    result = run_script(build_script(context), root)
    assert result.returncode != 0
    assert "checksum" in flow_file(root, "var/run/flow/message")


def test_script_content_runs_with_its_shebang(tmp_path: Path) -> None:
    code = f"#!{sys.executable}\nimport sys\nprint('from python', sys.version_info[0])\n"
    root = tmp_path / "root"
    result = run_script(
        build_script(ScriptContext(task_id="t", config=TaskConfig(script=code))), root
    )
    assert result.returncode == 0, result.stderr
    assert flow_file(root, "var/log/flow/task.log") == "from python 3\n"


def test_a_script_without_shebang_runs_with_bash(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = TaskConfig(script='for i in 1 2; do echo "n$i"; done\n')
    result = run_script(build_script(ScriptContext(task_id="t", config=config)), root)
    assert result.returncode == 0
    assert flow_file(root, "var/log/flow/task.log") == "n1\nn2\n"


def test_the_compressed_bootstrap_runs_the_same_workload(tmp_path: Path) -> None:
    padding = "\n".join(f"# padding line {i} to push the script over the limit" for i in range(400))
    config = TaskConfig(shell=f"echo bootstrapped\n{padding}")
    full = build_script(ScriptContext(task_id="t", config=config))
    boot = fit_script(full, 10_000)
    assert len(full) > 10_000 >= len(boot)
    root = tmp_path / "root"
    result = run_script(boot, root)
    assert result.returncode == 0, result.stderr
    assert flow_file(root, "var/log/flow/task.log") == "bootstrapped\n"


@pytest.mark.parametrize(
    "config",
    [
        TaskConfig(command=["python", "train.py"]),
        TaskConfig(shell="cd /app && make -j2 | tee out.txt", max_run_time_hours=1),
        TaskConfig(script="#!/usr/bin/env python3\nprint(1)\n", env={"A": "$(x)`y`'z'"}),
        TaskConfig(
            command=["nvidia-smi"],
            image="nvidia/cuda:12.4.0-base-ubuntu22.04",
            instance_type="a100",
        ),
    ],
    ids=["command", "shell", "script", "docker"],
)
def test_scripts_pass_shellcheck(tmp_path: Path, config: TaskConfig) -> None:
    context = ScriptContext(
        task_id="t",
        config=config,
        code=b"not really a tarball",
        docker=config.image is not None,
        release_command="curl -fsS -X DELETE http://127.0.0.1:1/self",
    )
    path = tmp_path / "startup.sh"
    path.write_text(build_script(context))
    result = subprocess.run(
        ["shellcheck", "--severity=info", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
