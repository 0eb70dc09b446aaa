"""The local provider runs real, detached processes through the same startup script a VM runs."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from flowlib import Flow, Task, TaskConfig, TaskStatus, hookimpl
from flowlib.core import procs as _procs
from flowlib.core.packaging import CodeArchive
from flowlib.errors import (
    CapacityError,
    FlowError,
    TaskNotFoundError,
    UnsupportedError,
    ValidationError,
)
from flowlib.providers import Registry
from flowlib.providers.base import ProviderSpec
from flowlib.providers.local._provider import LocalProvider


@pytest.fixture
def flow(project: Path, isolated_home: Path) -> Flow:
    return Flow(provider="local")


def test_a_task_runs_to_completion_with_its_output(flow: Flow) -> None:
    task = flow.run("echo hello from flowlib")
    done = task.wait(timeout=30)
    assert done.status == TaskStatus.COMPLETED
    assert done.exit_code == 0
    assert task.logs() == "hello from flowlib"


def test_the_real_exit_code_decides_failed(flow: Flow) -> None:
    task = flow.run("exit 3", wait=True)
    assert task.status == TaskStatus.FAILED
    assert task.exit_code == 3


def test_the_uploaded_code_is_the_working_directory(flow: Flow, project: Path) -> None:
    task = flow.run([sys.executable, "train.py"], wait=True)
    assert task.logs() == "training"
    assert task.exit_code == 0


def test_code_is_snapshotted_at_submit(flow: Flow, project: Path) -> None:
    (project / "slow.py").write_text("import time; time.sleep(0.5); print(open('data.txt').read())")
    (project / "data.txt").write_text("before")
    task = flow.run([sys.executable, "slow.py"])
    (project / "data.txt").write_text("after")  # edited while the task runs
    assert task.wait(timeout=30).exit_code == 0
    assert task.logs() == "before"


def test_env_reaches_the_workload_and_secrets_of_the_shell_do_not(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_API_KEY", "fkey_secret_do_not_leak")
    task = flow.run(
        [
            sys.executable,
            "-c",
            "import os; print(os.environ['MSG'], os.environ.get('FLOW_API_KEY'))",
        ],
        env={"MSG": "it's $(fine)"},
        wait=True,
    )
    assert task.logs() == "it's $(fine) None"


def test_a_task_outlives_the_process_that_submitted_it(project: Path) -> None:
    code = (
        "import flowlib; t = flowlib.run('sleep 0.3; echo survived', name='orphan');"
        "print(t.task_id)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    task_id = out.stdout.strip()
    task = Flow().wait(task_id, timeout=30)  # a different process asks
    assert task.status == TaskStatus.COMPLETED
    assert task.logs() == "survived"


def test_a_task_is_found_by_id_prefix_and_name(flow: Flow) -> None:
    task = flow.run("true", name="findme", wait=True)
    assert flow.get_task(task.task_id[:10]).task_id == task.task_id
    assert flow.get_task("findme").task_id == task.task_id
    with pytest.raises(TaskNotFoundError):
        flow.get_task("no-such-task")


def test_logs_tail_and_follow(flow: Flow) -> None:
    script = "for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done"
    task = flow.run(script)
    followed = list(task.logs(follow=True))
    assert followed == [f"line{i}" for i in range(1, 6)]
    assert task.logs(tail=2) == "line4\nline5"
    assert task.refresh().status == TaskStatus.COMPLETED


def test_follow_yields_lines_while_the_task_is_still_running(flow: Flow) -> None:
    task = flow.run("echo first; sleep 2; echo second")
    lines = task.logs(follow=True)
    assert next(lines) == "first"
    assert task.refresh().status == TaskStatus.RUNNING
    assert list(lines) == ["second"]


def test_cancel_stops_every_process_of_the_task(flow: Flow) -> None:
    task = flow.run("sleep 600 & sleep 600 & wait")
    deadline = time.monotonic() + 10
    while task.refresh().status != TaskStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    session = flow.store.get(task.task_id).provider_data["pid"]
    # RUNNING means the wrapper started; bash forks its two sleeps a moment later.
    while len(_procs.session_members(session)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(_procs.session_members(session)) >= 3  # bash, the wrapper, two sleeps
    cancelled = flow.cancel(task.task_id)
    assert cancelled.status == TaskStatus.CANCELLED
    assert _procs.session_members(session) == []


def test_cancelling_a_finished_task_is_a_clear_error(flow: Flow) -> None:
    task = flow.run("true", wait=True)
    with pytest.raises(ValidationError, match="already ended: completed"):
        flow.cancel(task.task_id)


def test_the_time_limit_fails_the_task(flow: Flow) -> None:
    task = flow.run("sleep 30", max_run_time_hours=0.0001, wait=True)  # about one second
    assert task.status == TaskStatus.FAILED
    assert task.exit_code == 124
    assert "max_run_time_hours" in (task.message or "")


def test_a_killed_task_is_failed_not_running_forever(flow: Flow) -> None:
    task = flow.run("sleep 600")
    while task.refresh().status != TaskStatus.RUNNING:
        time.sleep(0.02)
    session = flow.store.get(task.task_id).provider_data["pid"]
    _procs.signal_session(session, __import__("signal").SIGKILL)
    done = task.wait(timeout=10)
    assert done.status == TaskStatus.FAILED
    assert "without reporting an exit code" in (done.message or "")


def test_asking_for_a_gpu_this_machine_lacks_fails_before_starting(flow: Flow) -> None:
    if _has_gpu():
        pytest.skip("this machine has an NVIDIA GPU")
    with pytest.raises(CapacityError) as err:
        flow.run("python train.py", instance_type="8xh100")
    assert "no NVIDIA GPU" in err.value.message
    assert flow.list_tasks() == []  # nothing was recorded or started


def test_a_missing_code_dir_is_a_clear_error_and_records_nothing(
    flow: Flow, tmp_path: Path
) -> None:
    with pytest.raises(FlowError, match="does not exist"):
        flow.run("true", code_dir=tmp_path / "nope")
    assert flow.list_tasks() == []


def test_upload_code_false_runs_in_an_empty_workspace(flow: Flow) -> None:
    task = flow.run("ls -A | wc -l", upload_code=False, wait=True)
    assert task.logs().strip() == "0"


def test_a_task_config_and_a_yaml_file_are_accepted(flow: Flow, project: Path) -> None:
    (project / "job.yaml").write_text("name: from-yaml\ncommand: echo from yaml\n")
    assert flow.run(str(project / "job.yaml"), wait=True).logs() == "from yaml"
    config = TaskConfig(command=["echo", "from config"], name="from-config")
    assert flow.run(config, wait=True).logs() == "from config"


def test_list_tasks_newest_first_with_status_filter(flow: Flow) -> None:
    ok = flow.run("true", name="ok", wait=True)
    bad = flow.run("false", name="bad", wait=True)
    assert [t.task_id for t in flow.list_tasks()] == [bad.task_id, ok.task_id]
    assert [t.name for t in flow.list_tasks(status=TaskStatus.FAILED)] == ["bad"]


def _has_gpu() -> bool:
    return os.path.exists("/dev/nvidia0")


def test_follow_with_tail_starts_from_the_last_lines(flow: Flow) -> None:
    task = flow.run("for i in 1 2 3 4; do echo l$i; done; sleep 0.3; echo after")
    while "l4" not in flow.logs(task.task_id):
        time.sleep(0.02)
    assert list(flow.follow_logs(task.task_id, tail=2)) == ["l3", "l4", "after"]


def test_a_status_filter_sees_tasks_that_moved_on_since_last_stored(flow: Flow) -> None:
    task = flow.run("true")  # stored as pending; completes without anyone asking
    time.sleep(0.5)
    assert [t.task_id for t in flow.list_tasks(status=TaskStatus.COMPLETED)] == [task.task_id]


def test_wait_polls_the_local_provider_well_under_100_ms(flow: Flow) -> None:
    # The latency itself is measured in benchmarks/run.py, not asserted on a clock here.
    assert flow.provider("local").poll_interval_s < 0.1  # type: ignore[attr-defined]


def test_instances_and_user_of_a_task(flow: Flow) -> None:
    task = flow.run("true", wait=True)
    [instance] = task.get_instances()
    assert instance.instance_id == f"local-{task.task_id}"
    assert instance.status.value == "terminated"
    assert task.get_user().username == task.created_by


def test_ssh_is_refused_with_the_reason(flow: Flow) -> None:
    task = flow.run("true", wait=True)
    with pytest.raises(UnsupportedError, match="open a shell here"):
        task.ssh()


def test_everything_the_provider_cannot_do_is_refused_in_one_error(flow: Flow) -> None:
    if flow.provider("local").capabilities.supports("container_image"):
        pytest.skip("a Docker engine answers here: the local provider runs images")
    with pytest.raises(UnsupportedError) as err:
        flow.submit("python train.py", image="ubuntu:22.04", num_instances=2)
    assert "multi_node" in err.value.message and "container_image" in err.value.message
    assert flow.list_tasks() == []


@pytest.mark.parametrize("governed", [False, True], ids=["direct", "governor"])
def test_task_files_that_hold_env_are_private_whatever_the_umask(
    project: Path, isolated_home: Path, governed: bool
) -> None:
    home = isolated_home / ".flow"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    settings = {"local": {"max_parallel": 4, "poll_s": 0.05}} if governed else {}
    old = os.umask(0o022)
    try:
        flow = Flow(providers=settings)
        task = flow.run([sys.executable, "train.py"], env={"SECRET": "s3cret"}, wait=True)
    finally:
        os.umask(old)
    assert task.exit_code == 0 and task.logs() == "training"
    task_dir = home / "tasks" / task.task_id
    assert "s3cret" in (task_dir / "startup.sh").read_text()
    private = ["startup.sh", "startup.log", "root/var/lib/flow/code.tar.gz"]
    if governed:
        private.append("governor.json")
    for name in private:
        assert (task_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert task_dir.stat().st_mode & 0o777 == 0o700


def _archive(*members: tuple[str, bytes, str]) -> bytes:
    """A tar.gz built by Python's tarfile: (name, data, linkname-or-'') regular files and
    links; a name ending in '|chr', '|blk' or '|fifo' is that kind of special file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, link in members:
            name, _, kind = name.partition("|")
            info = tarfile.TarInfo(name)
            if kind:
                info.type = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}.get(
                    kind, tarfile.FIFOTYPE
                )
                info.devmajor, info.devminor = (1, 3) if kind != "fifo" else (0, 0)
            elif link.startswith("hard:"):
                info.type, info.linkname = tarfile.LNKTYPE, link.removeprefix("hard:")
            elif link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


class _LocalWithArchive:
    """A plugin whose `local` provider uploads the given archive instead of the project."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @hookimpl
    def flowlib_providers(self) -> list[ProviderSpec]:
        def package(root: Path) -> CodeArchive:
            sha = hashlib.sha256(self.data).hexdigest()
            return CodeArchive(self.data, sha, 1, len(self.data), root)

        return [ProviderSpec("local", lambda ctx: LocalProvider(ctx.home, package=package))]


def _run_archive(data: bytes) -> Task:
    import pluggy

    from flowlib import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_LocalWithArchive(data), name="local-under-test")
    flow = Flow(provider="local", registry=Registry(pm))
    return flow.run("echo the workload ran > ran.txt", wait=True)


OUTSIDE = "../../../../../../outside.txt"  # from the workspace, past the task directory


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/abs-outside.txt", b"x", "")], "code archive has unsafe paths"),
        ([("ok/" + OUTSIDE, b"x", "")], "code archive has unsafe paths"),
        ([("up", b"", OUTSIDE), ("up", b"gotcha", "")], "code archive has a link out of the tree"),
        ([("etc", b"", "/etc")], "code archive has a link out of the tree: etc -> /etc"),
        ([("a/b/up", b"", "../../../x")], "code archive has a link out of the tree"),
        ([("./a/up", b"", "../../x")], "code archive has a link out of the tree"),
        ([("pw", b"", "hard:/etc/passwd")], "code archive has a link out of the tree"),
        ([("hl", b"", "hard:" + OUTSIDE)], "code archive has a link out of the tree"),
        ([("q -> ok", b"", "/etc")], "code archive has a link out of the tree"),
        ([("null|chr", b"", "")], "code archive has a device node or FIFO: null"),
        ([("disk|blk", b"", "")], "code archive has a device node or FIFO: disk"),
        ([("pipe|fifo", b"", "")], "code archive has a device node or FIFO: pipe"),
    ],
    ids=[
        "absolute", "dot-dot", "symlink-then-write-through-it", "absolute-symlink",
        "deep-symlink", "dot-slash-symlink", "absolute-hardlink", "dot-dot-hardlink",
        "arrow-in-the-name", "char-device", "block-device", "fifo",
    ],
)  # fmt: skip
def test_a_code_archive_flowlib_would_not_extract_fails_the_task_before_the_workload(
    project: Path, isolated_home: Path, members: list[tuple[str, bytes, str]], message: str
) -> None:
    task = _run_archive(_archive(("fine.txt", b"fine", ""), *members))
    assert task.status == TaskStatus.FAILED
    assert task.message is not None and message in task.message
    root = isolated_home / ".flow" / "tasks" / task.task_id / "root"
    assert (root / "var/run/flow/message").read_text().startswith(message)
    assert not (root / "workspace").exists() or not any((root / "workspace").iterdir())
    assert not (root / "workspace/ran.txt").exists()  # the workload never ran
    assert not list(isolated_home.rglob("outside.txt"))
    assert not Path("/abs-outside.txt").exists()


@pytest.mark.parametrize(
    "members",
    [
        [("pkg/mod.py", b"X = 1\n", ""), ("link.py", b"", "pkg/mod.py")],
        [("a/b/up", b"", "../../fine.txt"), ("a/hard", b"", "hard:fine.txt")],
        [("sp ace -> arrow.txt", b"odd name", ""), ("dir/self", b"", ".")],
    ],
    ids=["symlink-in-tree", "links-up-but-inside", "odd-names"],
)
def test_links_that_stay_inside_the_tree_are_extracted(
    project: Path, isolated_home: Path, members: list[tuple[str, bytes, str]]
) -> None:
    task = _run_archive(_archive(("fine.txt", b"fine", ""), *members))
    assert task.status == TaskStatus.COMPLETED, task.message
    workspace = isolated_home / ".flow" / "tasks" / task.task_id / "root/workspace"
    assert (workspace / "ran.txt").read_text() == "the workload ran\n"
    for name, *_ in members:
        assert (workspace / name).exists() or (workspace / name).is_symlink(), name


def test_the_dry_run_script_is_the_script_the_task_ran(flow: Flow, project: Path) -> None:
    from flowlib.core.packaging import package_directory

    task = flow.run("echo previewed", env={"A": "1"}, max_run_time_hours=1.0)
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    provider = flow.provider()
    assert isinstance(provider, LocalProvider)
    record = flow.store.get(task.task_id)
    ran = (provider.task_dir(task.task_id) / "startup.sh").read_text()
    assert provider.preview_script(record, package_directory(project)) == ran
