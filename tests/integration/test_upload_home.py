"""The code upload on a real task: FLOW_HOME inside the code directory never goes in (tasks'
archives do not nest), and hard links unpack through the startup script's own tar."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from flowlib import Flow
from flowlib.core.startup import CODE_ARCHIVE


def _uploaded(home: Path, task_id: str) -> list[str]:
    data = (home / "tasks" / task_id / "root" / CODE_ARCHIVE).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return sorted(m.name for m in tar.getmembers())


def test_a_home_inside_the_project_stays_out_of_every_upload(project: Path) -> None:
    home = project / "state"  # not called .flow: the default excludes would not catch it
    with Flow(provider="local", home=home) as flow:
        first = flow.run("true", wait=True)
        second = flow.run("ls", wait=True)
        assert second.exit_code == 0
        assert _uploaded(home, first.task_id) == ["train.py"]
        assert _uploaded(home, second.task_id) == ["train.py"]
        assert "state" not in second.logs()


def test_hard_links_travel_once_and_unpack_as_both_names(project: Path) -> None:
    import os

    (project / "data.bin").write_bytes(b"x" * 5000)
    os.link(project / "data.bin", project / "same.bin")
    with Flow(provider="local", home=project.parent / "home") as flow:
        task = flow.run("cmp data.bin same.bin && wc -c < same.bin", wait=True)
        assert task.exit_code == 0, task.logs()
        assert task.logs().strip() == "5000"
        members = _uploaded(project.parent / "home", task.task_id)
        assert members == ["data.bin", "same.bin", "train.py"]
