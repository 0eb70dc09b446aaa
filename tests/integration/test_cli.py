"""The `flow` command, for real: subprocesses against the local provider, in a temporary HOME,
FLOW_HOME and project directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TRAIN = """\
import sys
print("args:", sys.argv[1:])
"""


class Flow:
    """Runs `python -m flowlib.cli` (the `flow` console script's code) in one environment."""

    def __init__(self, home: Path, project: Path) -> None:
        self.project = project
        self.env = {
            **os.environ,
            "HOME": str(home),
            "FLOW_HOME": str(home / ".flow"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        for var in ("FLOW_PROVIDER", "FLOW_API_KEY", "FLOW_PROJECT", "FLOW_REGION"):
            self.env.pop(var, None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "flowlib.cli", *args]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def submit(self, *args: str) -> str:
        """Submit detached; the task id."""
        result = self("run", "--json", *args)
        assert result.returncode == 0, result.stderr
        task_id: str = json.loads(result.stdout)["task_id"]
        return task_id


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    return Flow(home, project)


def task_id_in(text: str) -> str:
    match = re.search(r"task-[0-9a-f]{12}", text)
    assert match, text
    return match.group(0)


def assert_clean_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_runs_and_its_logs_show(flow: Flow) -> None:
    result = flow("run", "echo hello", "--wait")
    assert result.returncode == 0, result.stderr
    task_id = task_id_in(result.stdout)
    assert "completed" in result.stdout
    logs = flow("logs", task_id)
    assert logs.returncode == 0 and logs.stdout == "hello\n"


def test_wait_exits_with_the_tasks_exit_code(flow: Flow) -> None:
    result = flow("run", "exit 3", "--wait")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "failed" in result.stdout and "exit code 3" in result.stdout


def test_the_programs_arguments_reach_it_even_help(flow: Flow) -> None:
    result = flow("run", "--wait", "--name", "args", "python", "train.py", "--help", "-f", "x y")
    assert result.returncode == 0, result.stderr
    assert flow("logs", "args").stdout == "args: ['--help', '-f', 'x y']\n"


def test_follow_streams_the_output_while_the_task_runs(flow: Flow, tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = f"echo first; while [ ! -f {go} ]; do sleep 0.05; done; echo second; exit 4"
    proc = flow.popen("run", script, "--follow")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first\n"  # printed while the task still waits
        assert proc.poll() is None
        go.touch()
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert rest == "second\n"
    assert proc.returncode == 4, err
    assert "exit code 4" in err


def test_ctrl_c_while_following_leaves_the_task_running(flow: Flow) -> None:
    proc = flow.popen(
        "run", "--follow", "--name", "ticker", "while true; do echo tick; sleep 0.1; done"
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "tick\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert "keeps running" in err and "flow cancel task-" in err
        assert "Traceback" not in err
        assert json.loads(flow("status", "ticker", "--json").stdout)["status"] == "running"
    finally:
        proc.kill()
        flow("cancel", "ticker")


def test_the_status_table_lists_tasks_newest_first(flow: Flow) -> None:
    assert flow("run", "--name", "one", "--wait", "true").returncode == 0
    assert flow("run", "--name", "two", "--wait", "false").returncode == 1
    table = flow("status")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "STATUS",
        "PROVIDER",
        "CREATED",
        "EXIT",
        "/",
        "MESSAGE",
    ]
    assert [line.split()[1:4] for line in lines[1:]] == [
        ["two", "failed", "local"],
        ["one", "completed", "local"],
    ]
    only = flow("status", "--status", "failed", "--json")
    assert [t["name"] for t in json.loads(only.stdout)] == ["two"]


def test_status_of_one_task_by_name_and_by_unique_prefix(flow: Flow) -> None:
    ids = [flow.submit("--name", f"job{i}", "--no-upload", "true") for i in range(3)]
    by_name = flow("status", "job1")
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.startswith(f"{ids[1]} (job1)")
    # the shortest prefix of job2's id that no other task shares
    prefix = next(
        ids[2][:n]
        for n in range(6, 18)
        if not any(other.startswith(ids[2][:n]) for other in ids[:2])
    )
    by_prefix = flow("status", prefix, "--json")
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert json.loads(by_prefix.stdout)["task_id"] == ids[2]
    missing = flow("status", "job9")
    assert missing.returncode == 5
    assert_clean_error(missing)


def test_cancel_stops_a_running_task_quickly(flow: Flow) -> None:
    task_id = flow.submit("--name", "sleeper", "sleep 30")
    started = time.monotonic()
    result = flow("cancel", "sleeper")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert result.stdout.strip() == f"{task_id} (sleeper): cancelled"
    status = json.loads(flow("status", task_id, "--json").stdout)
    assert status["status"] == "cancelled"


def test_cancelling_a_finished_task_fails_readably_and_others_still_cancel(flow: Flow) -> None:
    assert flow("run", "--name", "done", "--wait", "true").returncode == 0
    running = flow.submit("--name", "running", "sleep 30")
    result = flow("cancel", "done", "running")
    assert result.returncode == 2
    assert_clean_error(result)
    assert "already ended: completed" in result.stderr and "hint: " in result.stderr
    assert f"{running} (running): cancelled" in result.stdout


def test_a_task_file_with_an_unknown_key_points_at_the_line(flow: Flow) -> None:
    (flow.project / "bad.yaml").write_text("name: bad\ncommand: echo hi\nenviron:\n  A: '1'\n")
    result = flow("run", "bad.yaml", "--wait")
    assert result.returncode == 2
    assert_clean_error(result)
    assert "bad.yaml:3" in result.stderr
    assert "did you mean 'env'?" in result.stderr


def test_a_task_file_runs_with_options_after_it(flow: Flow) -> None:
    (flow.project / "job.yaml").write_text(
        'name: job\nshell: echo "$GREETING from $(ls train.py)"\nenv:\n  GREETING: hi\n'
    )
    result = flow("run", "job.yaml", "--wait", "-e", "OTHER=1")
    assert result.returncode == 0, result.stderr
    assert flow("logs", "job").stdout == "hi from train.py\n"


def test_dry_run_creates_nothing(flow: Flow) -> None:
    result = flow("run", "--dry-run", "-e", "TOKEN=s3cret", "python", "train.py", "--lr", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "provider: local" in out and "command: python train.py --lr 3" in out
    assert "TOKEN: '***'" in out
    assert "s3cret" not in out
    verbose = flow("run", "--dry-run", "--verbose", "-e", "TOKEN=s3cret", "python", "train.py")
    assert "#!/bin/bash" in verbose.stdout and "s3cret" not in verbose.stdout
    assert flow("status").stdout.startswith("no tasks yet")
    assert not (Path(flow.env["FLOW_HOME"]) / "tasks").exists()


def test_env_key_alone_passes_the_submitting_environments_value(flow: Flow) -> None:
    flow.env["MY_TOKEN"] = "s3cret value"
    result = flow("run", "--wait", "--name", "tok", "-e", "MY_TOKEN", 'echo "got $MY_TOKEN"')
    assert result.returncode == 0, result.stderr
    assert flow("logs", "tok").stdout == "got s3cret value\n"
    del flow.env["MY_TOKEN"]
    missing = flow("run", "-e", "MY_TOKEN", "true")
    assert missing.returncode == 2
    assert_clean_error(missing)
    assert "MY_TOKEN is not set" in missing.stderr


def test_unicode_digits_in_the_instance_type_are_a_clean_error(flow: Flow) -> None:
    result = flow("run", "-i", "²_4090", "echo", "hi")
    assert result.returncode == 2
    assert_clean_error(result)
    assert "hint: " in result.stderr


def test_dry_run_with_an_unknown_instance_type_fails_and_creates_nothing(flow: Flow) -> None:
    result = flow("run", "--dry-run", "-i", "zz999", "python", "train.py")
    assert result.returncode == 2
    assert_clean_error(result)
    assert "zz999" in result.stderr
    assert flow("status").stdout.startswith("no tasks yet")


def test_detached_run_prints_the_next_commands(flow: Flow) -> None:
    result = flow("run", "--name", "bg", "true")
    assert result.returncode == 0, result.stderr
    task_id = task_id_in(result.stdout)
    assert f"flow logs {task_id} -f" in result.stdout
    assert f"flow status {task_id}" in result.stdout
    waited = flow("logs", "bg", "-f")
    assert waited.returncode == 0


def test_init_then_the_example_runs(flow: Flow) -> None:
    init = flow("init")
    assert init.returncode == 0, init.stderr
    assert "flow run flow.yaml --wait" in init.stdout
    result = flow("run", "flow.yaml", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from hello" in flow("logs", "hello").stdout


def test_watch_on_a_pipe_prints_a_table_per_change_and_ends_with_the_task(flow: Flow) -> None:
    flow.submit("--name", "short", "--no-upload", "sleep 1")
    result = flow("status", "--watch", "--interval", "0.2", "--until-done", timeout=60)
    assert result.returncode == 0, result.stderr
    views = result.stdout.split("-- ")[1:]
    assert 2 <= len(views) <= 3  # running (maybe pending first), then completed: not one a look
    assert "running" in result.stdout and "completed" in views[-1]
    assert "\x1b[" not in result.stdout


def test_wait_and_logs_follow_exit_with_the_tasks_code(flow: Flow) -> None:
    task_id = flow.submit("--no-upload", "echo out; sleep 0.3; exit 6")
    waited = flow("wait", task_id)
    assert waited.returncode == 6 and f"{task_id}" in waited.stdout
    followed = flow("logs", task_id, "-f")
    assert (followed.returncode, followed.stdout) == (6, "out\n")


def test_a_usage_error_under_json_is_json(flow: Flow) -> None:
    result = flow("status", "--json", "--limt", "5")
    assert result.returncode == 2 and result.stderr == ""
    assert json.loads(result.stdout)["message"] == "unknown option --limt; did you mean --limit?"
