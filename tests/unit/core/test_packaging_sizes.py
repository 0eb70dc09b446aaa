"""The upload guard counts what the upload unpacks to (sparse files in full, hard links once),
and flowlib's own state (its home, caches) never goes in, wherever it lies in the project."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from flowlib.core.packaging import (
    extract_archive,
    package_directory,
    select_files,
    tag_as_cache,
)
from flowlib.errors import PackagingError

MiB = 1024 * 1024


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    if path.stat().st_blocks * 512 >= size:
        pytest.skip("this filesystem does not keep sparse files")


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_a_sparse_file_counts_at_its_full_size_and_nothing_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    _sparse(tmp_path / "data" / "disk.img", 2 * 1024 * MiB)
    real_open = os.open

    def no_reading(path: str, *args: object, **kw: object) -> int:
        if str(path).endswith("disk.img"):
            raise AssertionError("the sparse file was read")
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_reading)
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path)
    message = err.value.message
    assert "over the 100.0 MiB limit (it unpacks to 2.0 GiB in 2 files" in message
    assert "sparse files count at their full size" in message
    assert "data/disk.img  2.0 GiB (sparse: " in message
    assert err.value.suggestions[0].splitlines()[1:] == ["      /data/disk.img"]
    assert err.value.context["unpacked_bytes"] >= 2 * 1024 * MiB


def test_only_the_files_that_matter_for_the_limit_are_suggested(tmp_path: Path) -> None:
    files = {"big one.bin": 3 * MiB, "b.bin": MiB // 2, "c.bin": MiB // 4, "d.bin": 1000}
    for name, size in files.items():
        (tmp_path / name).write_bytes(b"\0" * size)
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path, max_unpacked_bytes=3 * MiB)
    assert err.value.suggestions[0].splitlines() == [
        "leave it out with this line in .flowignore:",
        "      /big\\ one.bin",
    ]
    listed = [line.split("  ")[1] for line in err.value.message.splitlines()[1:]]
    assert listed == ["big one.bin", "b.bin", "c.bin", "d.bin"]  # all shown, one suggested


def test_hard_links_count_once_and_travel_as_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "weights").mkdir(parents=True)
    (src / "weights" / "model.bin").write_bytes(os.urandom(MiB))
    os.link(src / "weights" / "model.bin", src / "weights" / "same.bin")
    os.link(src / "weights" / "model.bin", src / "alias.bin")
    archive = package_directory(src, max_unpacked_bytes=MiB + 10)
    assert archive.total_bytes == MiB
    assert archive.file_count == 3
    members = _members(archive.data)
    assert members["alias.bin"].isfile() and members["alias.bin"].size == MiB  # first in order
    assert members["weights/model.bin"].islnk()
    assert members["weights/model.bin"].linkname == "alias.bin"
    assert len(archive.data) < 1.1 * MiB  # the bytes once
    out = tmp_path / "out"
    extract_archive(archive.data, out)
    same = [out / "alias.bin", out / "weights" / "model.bin", out / "weights" / "same.bin"]
    assert len({p.read_bytes() for p in same}) == 1
    assert package_directory(src).data == archive.data  # deterministic


def test_flowlib_home_inside_the_project_is_left_out_whatever_its_name(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "state" / "tasks" / "t1").mkdir(parents=True)
    (project / "state" / "tasks" / "t1" / "code.tar.gz").write_bytes(b"x")
    (project / "state" / "tasks.db").write_bytes(b"db")
    (project / "train.py").write_text("")
    (tmp_path / "link").symlink_to(project / "state")
    assert len(select_files(project)) == 3  # without exclude, the home would go in
    for home in (project / "state", tmp_path / "link", project / "state" / ".." / "state"):
        assert select_files(project, exclude=[home]) == [Path("train.py")]
        assert package_directory(project, exclude=[home]).file_count == 1
    outside = tmp_path / "elsewhere"
    assert select_files(project, exclude=[outside, project]) == select_files(project)


def test_a_tagged_cache_is_left_out_unless_reincluded(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    tag_as_cache(tmp_path / "emulator")
    (tmp_path / "emulator" / "instances" / "i-1").mkdir(parents=True)
    (tmp_path / "emulator" / "instances" / "i-1" / "train.py").write_text("")
    (tmp_path / "notacache").mkdir()
    (tmp_path / "notacache" / "CACHEDIR.TAG").write_text("just a file\n")
    assert select_files(tmp_path) == [Path("notacache/CACHEDIR.TAG"), Path("train.py")]
    (tmp_path / ".flowignore").write_text("!emulator/\n")
    assert Path("emulator/instances/i-1/train.py") in select_files(tmp_path)
    tag_as_cache(tmp_path / "emulator")  # idempotent: the tag is left as it is
    assert (tmp_path / "emulator" / "CACHEDIR.TAG").read_bytes().startswith(b"Signature: ")
