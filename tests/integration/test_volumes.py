"""Persistent volumes on the local provider: directories under FLOW_HOME/volumes that outlive
tasks, attached at submission, never deleted from under a running task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowlib.errors import ValidationError, VolumeNotFoundError
from flowlib.flow import Flow
from flowlib.models import TaskStatus, VolumeSpec

WAIT = 60


@pytest.fixture
def flow(isolated_home: Path) -> Flow:
    return Flow(provider="local", home=isolated_home / ".flow")


def shell(flow: Flow, line: str, **fields: object) -> TaskStatus:
    task = flow.run(["bash", "-c", line], upload_code=False, **fields)  # type: ignore[arg-type]
    done = task.wait(timeout=WAIT)
    assert done.is_terminal
    return done.status


def test_create_list_and_delete(flow: Flow) -> None:
    created = flow.create_volume(10, "scratch")
    assert created.volume_id.startswith("vol-") and created.size_gb == 10
    assert [(v.name, v.size_gb) for v in flow.list_volumes()] == [("scratch", 10)]
    assert (flow.config.home / "volumes" / created.volume_id / "data").is_dir()
    flow.delete_volume("scratch")
    assert flow.list_volumes() == []
    assert not (flow.config.home / "volumes" / created.volume_id).exists()


def test_a_volume_url_creates_the_volume_and_its_files_outlive_the_task(flow: Flow) -> None:
    write = 'echo weights > "$FLOW_ROOT/models/w.txt"'
    assert shell(flow, write, data={"/models": "volume://pretrained"}) == TaskStatus.COMPLETED
    [volume] = flow.list_volumes()
    assert volume.name == "pretrained"
    read = 'cat "$FLOW_ROOT/weights/w.txt"'
    task = flow.submit(
        ["bash", "-c", read], data={"/weights": "volume://pretrained"}, upload_code=False
    )
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id).strip() == "weights"
    assert len(flow.list_volumes()) == 1  # the second task attached the same volume


def test_an_existing_volume_is_attached_by_id(flow: Flow) -> None:
    volume = flow.create_volume(1, "by-id")
    spec = VolumeSpec(volume_id=volume.volume_id, mount_path="/vol")
    assert shell(flow, 'touch "$FLOW_ROOT/vol/mark"', volumes=[spec]) == TaskStatus.COMPLETED
    assert (flow.config.home / "volumes" / volume.volume_id / "data" / "mark").exists()


def test_a_new_volume_by_size_is_created_at_submission(flow: Flow) -> None:
    spec = VolumeSpec(size_gb=3, name="fresh", mount_path="/scratch")
    assert shell(flow, 'test -d "$FLOW_ROOT/scratch"', volumes=[spec]) == TaskStatus.COMPLETED
    assert [(v.name, v.size_gb) for v in flow.list_volumes()] == [("fresh", 3)]


def test_a_volume_in_use_is_not_deleted(flow: Flow) -> None:
    go = Path(os.environ["HOME"]) / "go"
    task = flow.run(
        ["bash", "-c", 'while [ ! -e "$GO" ]; do sleep 0.02; done'],
        data={"/cache": "volume://build-cache"},
        env={"GO": str(go)},
        upload_code=False,
    )
    [volume] = flow.list_volumes()
    assert volume.attached_to == [f"local-{task.task_id}"]
    with pytest.raises(ValidationError, match=f"in use by {task.task_id}") as err:
        flow.delete_volume("build-cache")
    assert any("flow cancel" in s for s in err.value.suggestions)
    # The provider refuses too, for callers that skip the engine.
    with pytest.raises(ValidationError, match="in use by running task"):
        flow.provider("local").delete_volume(volume.volume_id)  # type: ignore[attr-defined]
    go.touch()
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    flow.delete_volume("build-cache")
    assert flow.list_volumes() == []


def test_an_invalid_volume_name_for_the_provider_fails_before_anything_is_created(
    flow: Flow,
) -> None:
    with pytest.raises(ValidationError, match="not a valid volume name for the local provider"):
        flow.submit("true", data={"/m": "volume://Has.Dots"}, upload_code=False)
    assert flow.list_tasks() == [] and flow.list_volumes() == []


def test_an_unknown_volume_id_is_not_found(flow: Flow) -> None:
    flow.create_volume(1, "known")
    with pytest.raises(VolumeNotFoundError) as err:
        flow.run("true", volumes=[VolumeSpec(volume_id="vol-000000000000")], upload_code=False)
    assert "known" in " ".join(err.value.suggestions)
    assert flow.list_tasks() == []


def test_a_name_without_a_size_must_exist(flow: Flow) -> None:
    with pytest.raises(VolumeNotFoundError, match="no volume 'absent'"):
        flow.run("true", volumes=[VolumeSpec(name="absent")], upload_code=False)


def test_two_volumes_at_one_path_are_refused(flow: Flow) -> None:
    with pytest.raises(ValidationError, match="overlap"):
        flow.submit("true", data={"/a": "volume://one", "/a/b": "volume://two"}, upload_code=False)


def test_a_bind_mount_links_a_directory_of_this_machine(flow: Flow, tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "x.txt").write_text("local data")
    task = flow.submit(
        ["bash", "-c", 'cat "$FLOW_ROOT/data/x.txt"'], data=str(tmp_path / "ds"), upload_code=False
    )
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id).strip() == "local data"


def test_the_volume_commands(isolated_home: Path) -> None:
    def flow_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowlib.cli", "volume", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "FLOW_HOME": str(isolated_home / ".flow")},
        )

    created = flow_cli("create", "data-v1", "--size", "20")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created vol-")
    listed = flow_cli("list")
    assert "data-v1" in listed.stdout and "20 GB" in listed.stdout
    bad = flow_cli("create", "Not Valid", "--size", "1")
    assert bad.returncode == 2 and "not a valid volume name" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert flow_cli("delete", "data-v1").returncode == 0
    missing = flow_cli("delete", "data-v1")
    assert missing.returncode == 5 and "no volume 'data-v1'" in missing.stderr
