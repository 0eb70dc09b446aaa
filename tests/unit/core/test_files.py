"""Files holding a task's env or secrets are their owner's alone, from the moment they exist."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib.core.files import open_private, write_private


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield int(request.param)
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_file_is_private_before_a_byte_is_written(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "startup.sh"
    with open_private(path) as fh:
        assert mode(path) == 0o600  # created so, not narrowed after the data went in
        fh.write(b"export SECRET=s3cret\n")
    assert path.read_bytes() == b"export SECRET=s3cret\n"
    assert mode(path) == 0o600


def test_an_existing_wider_file_is_narrowed_and_replaced(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "task.log"
    path.write_text("an older and longer content")
    path.chmod(0o644)
    write_private(path, "new")
    assert (path.read_text(), mode(path)) == ("new", 0o600)


def test_append_keeps_what_is_there(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "startup.log"
    path.write_text("one\n")
    path.chmod(0o666)
    with open_private(path, append=True) as fh:
        assert mode(path) == 0o600
        fh.write(b"two\n")
    assert path.read_text() == "one\ntwo\n"


def test_a_script_run_by_its_path_gets_exactly_its_mode(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "run.sh"
    write_private(path, "#!/bin/bash\n", mode=0o700)
    assert mode(path) == 0o700
