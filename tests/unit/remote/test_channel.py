"""The result channel is chosen by what the task's provider can do."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.core.store import TaskRecord
from flowlib.errors import UnsupportedError
from flowlib.flow import Flow
from flowlib.models import TaskConfig
from flowlib.remote._channel import (
    ProviderFileChannel,
    ReadsTaskFiles,
    TaskDirChannel,
    channel_for,
    remote_path,
)


def _record(provider: str = "local", **data: str) -> TaskRecord:
    record = TaskRecord(
        task_id="task-0123456789ab", name="t", provider=provider, config=TaskConfig(command="x")
    )
    record.provider_data = dict(data)
    return record


class NoFiles:
    """A provider that cannot read its tasks' files."""

    name = "nofiles"


def test_the_local_provider_serves_results_through_read_file(isolated_home: Path) -> None:
    provider = Flow(provider="local").provider("local")
    record = _record()
    channel = channel_for(record, provider)
    assert isinstance(channel, ProviderFileChannel)
    assert channel.fetch(record, "result.pkl") is None  # not written yet
    target = isolated_home / ".flow/tasks" / record.task_id / "root" / "workspace/.flow-remote"
    target.mkdir(parents=True)
    (target / "result.pkl").write_bytes(b"value")
    assert remote_path(record, "result.pkl") == "/workspace/.flow-remote/result.pkl"
    assert channel.fetch(record, "result.pkl") == b"value"


def test_local_read_file_stays_inside_the_task_machine(isolated_home: Path) -> None:
    provider = Flow(provider="local").provider("local")
    secret = isolated_home / "secret.txt"
    secret.write_text("not yours")
    assert isinstance(provider, ReadsTaskFiles)
    read_file = provider.read_file
    assert read_file(_record(), "/../../../../secret.txt") is None
    assert read_file(_record(), str(secret)) is None  # an absolute path is the task's own


def test_a_provider_without_read_file_falls_back_to_a_shared_task_directory(
    tmp_path: Path,
) -> None:
    record = _record("nofiles", root=str(tmp_path))
    (tmp_path / "workspace/.flow-remote").mkdir(parents=True)
    (tmp_path / "workspace/.flow-remote/results.log").write_bytes(b"log")
    channel = channel_for(record, NoFiles())
    assert isinstance(channel, TaskDirChannel)
    assert channel.fetch(record, "results.log") == b"log"


def test_a_provider_that_cannot_reach_its_files_is_refused_with_what_to_add() -> None:
    with pytest.raises(UnsupportedError, match="cannot bring results back") as info:
        channel_for(_record("nofiles"), NoFiles())
    assert any("read_file(record, path)" in s for s in info.value.suggestions)
