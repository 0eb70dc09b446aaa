"""The code upload: what goes in, what stays out, and the same bytes for the same tree."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from flowlib.core.packaging import extract_archive, package_directory, select_files
from flowlib.errors import PackagingError


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(root: Path) -> list[str]:
    return [str(p) for p in select_files(root)]


def test_default_excludes_leave_out_caches_vcs_and_secrets(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "train.py": "",
            "pkg/model.py": "",
            ".git/HEAD": "",
            "pkg/__pycache__/m.pyc": "",
            "x.pyc": "",
            ".venv/bin/python": "",
            "node_modules/a/index.js": "",
            ".env": "SECRET=1",
            ".env.local": "",
            ".pytest_cache/v": "",
            "lib.egg-info/PKG-INFO": "",
        },
    )
    assert names(tmp_path) == ["pkg/model.py", "train.py"]


def test_flowignore_wins_over_gitignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "a.txt": "",
            "b.txt": "",
            "data/big.bin": "",
            ".gitignore": "a.txt\n",
            ".flowignore": "data/\n",
        },
    )
    assert names(tmp_path) == [".flowignore", ".gitignore", "a.txt", "b.txt"]


def test_gitignore_applies_without_a_flowignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "a.txt": "",
            "checkpoints/last.pt": "",
            ".gitignore": "checkpoints/\n*.log\n",
            "run.log": "",
        },
    )
    assert names(tmp_path) == [".gitignore", "a.txt"]


def test_negation_can_bring_back_a_default_exclude_but_never_git(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".env.example": "A=",
            ".env": "A=secret",
            ".git/config": "",
            ".flowignore": "!.env.example\n!.git/\n",
        },
    )
    assert names(tmp_path) == [".env.example", ".flowignore"]


def test_the_same_tree_gives_the_same_bytes_anywhere(tmp_path: Path) -> None:
    first = make(tmp_path / "one", {"a.py": "print(1)\n", "sub/b.py": "x = 2\n"})
    second = tmp_path / "two"
    shutil.copytree(first, second)
    os.utime(second / "a.py", (1, 1))
    archive = package_directory(first)
    assert archive.data == package_directory(first).data
    assert archive.sha256 == package_directory(second).sha256
    assert archive.file_count == 2


def test_links_inside_are_kept_links_outside_are_skipped(tmp_path: Path) -> None:
    root = make(tmp_path / "proj", {"real.py": "x", "sub/file.txt": "y"})
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink("real.py", root / "alias.py")
    os.symlink(str(root / "sub"), root / "subdir-link")
    os.symlink(str(tmp_path / "outside.txt"), root / "escape.txt")
    os.symlink("missing", root / "dangling")
    assert names(root) == ["alias.py", "real.py", "sub/file.txt", "subdir-link"]
    out = tmp_path / "out"
    extract_archive(package_directory(root).data, out)
    assert os.readlink(out / "alias.py") == "real.py"
    assert (out / "subdir-link" / "file.txt").read_text() == "y"


def test_special_files_are_skipped(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": ""})
    os.mkfifo(tmp_path / "pipe")
    assert names(tmp_path) == ["a.py"]


def test_contents_and_exec_bits_survive_the_round_trip(tmp_path: Path) -> None:
    root = make(
        tmp_path / "proj",
        {
            "run.sh": "#!/bin/sh\necho hi\n",
            "ünï/cödé.py": "π = 3.14\n",
            "deep/" + "d" * 120 + "/f.txt": "long path",
        },
    )
    (root / "run.sh").chmod(0o755)
    out = tmp_path / "out"
    extract_archive(package_directory(root).data, out)
    assert (out / "run.sh").stat().st_mode & 0o111
    assert (out / "ünï/cödé.py").read_text() == "π = 3.14\n"
    assert (out / "deep" / ("d" * 120) / "f.txt").read_text() == "long path"


def test_gnu_tar_reads_the_archive(tmp_path: Path) -> None:
    root = make(tmp_path / "proj", {"a/b/c.py": "1", "x.py": "2"})
    listing = (
        subprocess.run(
            ["tar", "-tzf", "-"],
            input=package_directory(root).data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split()
    )
    assert listing == ["a/", "a/b/", "a/b/c.py", "x.py"]


def test_an_oversized_upload_names_the_largest_files(tmp_path: Path) -> None:
    make(tmp_path, {"small.py": "x"})
    (tmp_path / "weights.bin").write_bytes(os.urandom(300_000))
    (tmp_path / "data.npy").write_bytes(os.urandom(200_000))
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path, max_bytes=100_000)
    assert "weights.bin (293.0 KB), data.npy (195.3 KB)" in err.value.message
    assert any("upload_code=False" in s for s in err.value.suggestions)
    assert any(".flowignore: weights.bin data.npy" in s for s in err.value.suggestions)


def test_a_huge_directory_stops_early_with_the_way_out(tmp_path: Path) -> None:
    make(tmp_path, {f"d{i}/f{j}.txt": "" for i in range(30) for j in range(10)})
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path, max_files=100)
    assert "stopped after 101 files" in err.value.message
    assert any(".flowignore" in s for s in err.value.suggestions)


def test_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="does not exist"):
        package_directory(tmp_path / "nope")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    make(tmp_path, {"secret.txt": "x"})
    (tmp_path / "secret.txt").chmod(0)
    with pytest.raises(PackagingError, match=r"secret\.txt"):
        package_directory(tmp_path)


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs.txt", "a/../../escape.txt"])
def test_extract_refuses_paths_out_of_the_tree(tmp_path: Path, evil: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(evil)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(PackagingError, match="unsafe path"):
        extract_archive(buf.getvalue(), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_extract_refuses_links_out_of_the_tree(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tar.addfile(info)
    with pytest.raises(PackagingError, match="link out of the tree"):
        extract_archive(buf.getvalue(), tmp_path / "out")
