"""The code upload: what goes in, what stays out, the same bytes for the same tree, and every
failure as a PackagingError that says what to do."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlib.core import packaging
from flowlib.core._ignore import parse_pattern
from flowlib.core.packaging import (
    ARCHIVE_MTIME,
    DEFAULT_EXCLUDES,
    CodeArchive,
    extract_archive,
    package_directory,
    select_files,
)
from flowlib.errors import PackagingError


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path -> content) under ``root``; returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def names(root: Path) -> list[str]:
    return [p.as_posix() for p in select_files(root)]


def members(archive: CodeArchive) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


# --- what goes in ---------------------------------------------------------------------------------


def test_default_excludes_leave_out_vcs_caches_environments_and_secrets(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "train.py": "",
            "pkg/model.py": "",
            ".git/HEAD": "",
            "vendored/lib/.git": "gitdir: ../../.git/modules/lib",  # a submodule's .git file
            ".hg/store": "",
            "pkg/__pycache__/model.cpython-311.pyc": "",
            "stray.pyc": "",
            "stray.pyo": "",
            ".venv/bin/python": "",
            "venv/bin/python": "",
            "web/node_modules/react/index.js": "",
            ".env": "API_KEY=secret",
            ".env.production": "API_KEY=secret",
            ".flow/state": "",
            ".mypy_cache/x": "",
            ".pytest_cache/x": "",
            ".ruff_cache/x": "",
            ".DS_Store": "",
            "notebooks/.ipynb_checkpoints/a.ipynb": "",
            ".tox/py311/x": "",
            "src/mypkg.egg-info/PKG-INFO": "",
        },
    )
    assert names(tmp_path) == ["pkg/model.py", "train.py"]
    assert ".git/" in DEFAULT_EXCLUDES and "node_modules/" in DEFAULT_EXCLUDES


def test_a_directory_holding_pyvenv_cfg_is_a_virtualenv_whatever_its_name(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "env/pyvenv.cfg": "home = /usr/bin",
            "env/lib/site.py": "",
            "tools/py311/pyvenv.cfg": "",
            "tools/py311/bin/python": "",
            "config/env/settings.yaml": "",  # a directory called env that is not a virtualenv
        },
    )
    assert names(tmp_path) == ["config/env/settings.yaml"]


def test_a_virtualenv_can_be_re_included_by_name(tmp_path: Path) -> None:
    make(tmp_path, {"env/pyvenv.cfg": "", "env/lib/site.py": "", ".flowignore": "!env/\n"})
    assert names(tmp_path) == [".flowignore", "env/lib/site.py", "env/pyvenv.cfg"]


def test_gitignore_applies_when_there_is_no_flowignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "checkpoints/\n*.log\n",
            "train.py": "",
            "checkpoints/last.pt": "",
            "run.log": "",
        },
    )
    assert names(tmp_path) == [".gitignore", "train.py"]


def test_ignore_files_written_on_windows_are_read_alike(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": "", "b.log": "", "c.tmp": ""})
    (tmp_path / ".flowignore").write_bytes(b"\xef\xbb\xbf*.log\r\n*.tmp\r\n")  # BOM, CRLF
    assert names(tmp_path) == [".flowignore", "a.py"]


def test_a_flowignore_replaces_the_gitignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "config.generated.yaml\n",  # git ignores it, the task needs it
            ".flowignore": "data/\n",
            "config.generated.yaml": "",
            "data/big.bin": "",
            "sub/.gitignore": "*.txt\n",  # nested .gitignore files are replaced too
            "sub/notes.txt": "",
        },
    )
    assert names(tmp_path) == [
        ".flowignore",
        ".gitignore",
        "config.generated.yaml",
        "sub/.gitignore",
        "sub/notes.txt",
    ]


def test_nested_gitignore_files_apply_to_their_own_directory(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "*.log\n",
            "a.log": "",
            "web/.gitignore": "dist/\n!keep.log\n/local.txt\n",
            "web/dist/app.js": "",
            "web/keep.log": "",  # the deeper file overrides the root's *.log
            "web/local.txt": "",  # anchored to web/
            "web/sub/local.txt": "",
            "other/dist/app.js": "",  # web's rules do not reach other/
        },
    )
    assert names(tmp_path) == [
        ".gitignore",
        "other/dist/app.js",
        "web/.gitignore",
        "web/keep.log",
        "web/sub/local.txt",
    ]


def test_negation_brings_back_a_default_exclude_but_never_git(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".flowignore": "!.env.example\n!.git/\n!.git\n",
            ".env.example": "API_KEY=",
            ".env": "API_KEY=secret",
            ".git/config": "",
        },
    )
    assert names(tmp_path) == [".env.example", ".flowignore"]


def test_nothing_under_an_excluded_directory_comes_back(tmp_path: Path) -> None:
    # As in git: "build/" excludes the directory, so "!build/keep.txt" cannot reach inside it;
    # "out/**" excludes what is inside out/, not out/ itself, so "!out/keep.txt" works.
    make(
        tmp_path,
        {
            ".flowignore": "build/\n!build/keep.txt\nout/**\n!out/keep.txt\n",
            "build/keep.txt": "",
            "out/keep.txt": "",
            "out/model.pt": "",
        },
    )
    assert names(tmp_path) == [".flowignore", "out/keep.txt"]


def test_excluded_directories_are_not_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {"app.js": "", **{f"node_modules/p{i}/index.js": "" for i in range(20)}})
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> os._ScandirIterator[str]:
        scanned.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    assert names(tmp_path) == ["app.js"]
    assert scanned == [str(tmp_path)]


def test_empty_directories_are_kept_in_the_archive(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": "", "logs/run.log": "", ".flowignore": "*.log\n"})
    (tmp_path / "outputs").mkdir()
    assert set(members(package_directory(tmp_path))) == {".flowignore", "a.py", "logs", "outputs"}
    assert names(tmp_path) == [".flowignore", "a.py"]  # files only


def test_select_files_is_sorted_and_relative(tmp_path: Path) -> None:
    make(tmp_path, {"b.py": "", "a/z.py": "", "a.txt": "", "a/b/c.py": ""})
    files = select_files(tmp_path)
    assert files == sorted(files)
    assert [p.as_posix() for p in files] == ["a/b/c.py", "a/z.py", "a.txt", "b.py"]
    assert all(not p.is_absolute() for p in files)


# --- agreement with git ---------------------------------------------------------------------------

GIT = shutil.which("git")
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "PATH": os.environ.get("PATH", ""),
}


def git_untracked(root: Path) -> list[str]:
    """What git would add to a fresh repository at ``root``: its reading of the ignore files."""
    env = {**GIT_ENV, "HOME": str(root / ".git"), "XDG_CONFIG_HOME": str(root / ".git")}
    subprocess.run(["git", "init", "-q", "--template=", str(root)], check=True, env=env)
    out = subprocess.run(
        ["git", "ls-files", "-z", "--others", "--exclude-standard"],
        cwd=root,
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    return sorted(out.decode().split("\0")[:-1], key=lambda s: s.split("/"))


GIT_CASES = [
    "foo/**\n!foo/bar\n",
    "foo/\n!foo/bar\n",
    "foo\n!foo/bar\n",
    "*\n!*/\n!bar\n",
    "foo/*\n!foo/a/\n",
    "foo/*\n!foo/a/b\n",
    "**/a/\n!foo/a/b\n",
    "foo/**/\n",
    "foo/**/*\n!foo/a/b\n",
    "/bar\n",
    "a/b\n",
    "**/b\n",
    "foo/**/b\n",
    "[a-c]\n",
    "[!a]*\n!.gitignore\n",
    "?\n",
    "*.txt\n!*.txt\n*.txt\n",
    "data\\ set\n",
    "\\#hash\n\\!bang\n",
    "trailing   \n",
    "# comment\n\n/top\n",
    "f[[:alpha:]]o/\n",
    "x[/]y\n",
]


@pytest.mark.skipif(GIT is None, reason="git is not installed")
@pytest.mark.parametrize("gitignore", GIT_CASES)
def test_ignore_rules_agree_with_git(tmp_path: Path, gitignore: str) -> None:
    make(
        tmp_path,
        {
            ".gitignore": gitignore,
            "foo/bar": "",
            "foo/a/b": "",
            "a/b": "",
            "x/a/b": "",
            "bar": "",
            "top/bar": "",
            "c": "",
            "notes.txt": "",
            "data set": "",
            "#hash": "",
            "!bang": "",
            "trailing": "",
            "foo/top": "",
            "fxo/z": "",
        },
    )
    assert names(tmp_path) == git_untracked(tmp_path)


_NAMES = ["a", "b", "ab", "x.txt", "y.log"]
_PATHS = st.lists(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3), max_size=8)
_TOKENS = st.sampled_from(["a", "b", "x", "*", "**", "?", "[ab]", "[!a]", ".txt", ".log"])
_PATTERN = st.builds(
    lambda neg, lead, segments, trail: neg + lead + "/".join(segments) + trail,
    st.sampled_from(["", "!"]),
    st.sampled_from(["", "/", "**/"]),
    st.lists(st.lists(_TOKENS, min_size=1, max_size=2).map("".join), min_size=1, max_size=3),
    st.sampled_from(["", "/"]),
)


@pytest.mark.skipif(GIT is None, reason="git is not installed")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paths=_PATHS,
    root_lines=st.lists(_PATTERN, max_size=4),
    sub_lines=st.lists(_PATTERN, max_size=3),
)
def test_random_ignore_files_agree_with_git(
    paths: list[list[str]], root_lines: list[str], sub_lines: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files: dict[str, str | bytes] = {
            ".gitignore": "\n".join(root_lines) + "\n",
            "ab/.gitignore": "\n".join(sub_lines) + "\n",
        }
        # A path that is another's parent is a directory; the rest are files.
        dirs = {"/".join(parts[:i]) for parts in paths for i in range(1, len(parts))} | {"ab"}
        files.update(dict.fromkeys({"/".join(parts) for parts in paths} - dirs, ""))
        make(root, files)
        assert names(root) == git_untracked(root)


def test_malformed_patterns_match_nothing() -> None:
    assert parse_pattern("[abc") is None  # unterminated class: git's wildmatch matches nothing
    assert parse_pattern("x[[:nope:]]") is None
    assert parse_pattern("trailing\\") is None
    assert parse_pattern("# a comment") is None
    assert parse_pattern("   ") is None


# --- the same bytes for the same tree -------------------------------------------------------------


def test_the_same_tree_gives_the_same_bytes_anywhere(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "train.py": "print(1)\n",
        "run.sh": "#!/bin/sh\n",
        "pkg/__init__.py": "",
        "pkg/model.py": "x = 2\n",
    }
    first = make(tmp_path / "one", files)
    (first / "run.sh").chmod(0o755)
    second = tmp_path / "elsewhere" / "two"
    shutil.copytree(first, second)
    for path in second.rglob("*"):  # other times and a group-writable umask's modes
        os.utime(path, (1_000_000, 1_000_000))
        path.chmod(path.stat().st_mode | 0o020)

    archive = package_directory(first)
    assert package_directory(first).data == archive.data
    again = package_directory(second)
    assert again.sha256 == archive.sha256
    assert again.data == archive.data
    assert (archive.file_count, archive.total_bytes) == (4, 25)


def test_headers_carry_no_times_owners_or_umask(tmp_path: Path) -> None:
    root = make(tmp_path, {"run.sh": "#!/bin/sh\n", "lib/util.py": "", "lib/odd.py": ""})
    (root / "run.sh").chmod(0o750)
    (root / "lib/odd.py").chmod(0o600)
    archive = package_directory(root)
    found = members(archive)
    for member in found.values():
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            ARCHIVE_MTIME,
            0,
            0,
            "",
            "",
        )
    assert {name: oct(m.mode) for name, m in found.items()} == {
        "lib": "0o755",
        "lib/odd.py": "0o644",
        "lib/util.py": "0o644",
        "run.sh": "0o755",
    }
    assert archive.data[4:8] == b"\0\0\0\0"  # gzip header time
    with gzip.open(io.BytesIO(archive.data)) as f:
        assert len(f.read()) % 512 == 0


def test_gnu_tar_reads_the_archive(tmp_path: Path) -> None:
    if shutil.which("tar") is None:
        pytest.skip("tar is not installed")
    root = make(tmp_path, {"a/b/c.py": "1", "x.py": "2", "d" * 120 + "/long.txt": "3"})
    listing = subprocess.run(
        ["tar", "-tzf", "-"], input=package_directory(root).data, capture_output=True, check=True
    ).stdout.decode()
    assert listing.split() == [
        "a/",
        "a/b/",
        "a/b/c.py",
        "d" * 120 + "/",
        "d" * 120 + "/long.txt",
        "x.py",
    ]


# --- links and special files ----------------------------------------------------------------------


def test_links_inside_the_tree_are_kept_links_out_of_it_are_skipped(tmp_path: Path) -> None:
    root = make(tmp_path / "proj", {"real.py": "x", "sub/file.txt": "y"})
    make(tmp_path / "outside", {"secret.txt": "s"})
    os.symlink("real.py", root / "alias.py")
    os.symlink(root / "sub", root / "sub-link")  # absolute, inside: stored relative
    os.symlink("../sub/file.txt", root / "sub" / "up.txt")
    os.symlink(tmp_path / "outside" / "secret.txt", root / "escape.txt")
    os.symlink(tmp_path / "outside", root / "escape-dir")  # never followed
    os.symlink("missing", root / "dangling")
    os.symlink("loop", root / "loop")
    assert names(root) == ["alias.py", "real.py", "sub/file.txt", "sub/up.txt", "sub-link"]

    found = members(package_directory(root))
    assert found["alias.py"].issym() and found["alias.py"].linkname == "real.py"
    assert found["sub-link"].linkname == "sub"


def test_special_files_are_skipped(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": ""})
    os.mkfifo(tmp_path / "pipe")  # reading it would hang: it must not even be opened
    with socket.socket(socket.AF_UNIX) as sock:
        # A path too long for a socket address fails to bind: the FIFO still counts.
        with contextlib.suppress(OSError):
            sock.bind(str(tmp_path / "sock"))
        assert names(tmp_path) == ["a.py"]
        assert set(members(package_directory(tmp_path))) == {"a.py"}


def test_an_unreadable_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {"ok.py": "", "secret.key": "x"})
    real_open = os.open

    def deny(path: str, flags: int, *args: int) -> int:
        if path.endswith("secret.key"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(PackagingError, match=r"cannot read secret\.key .*Permission denied") as err:
        package_directory(tmp_path)
    assert any("/secret.key" in s and ".flowignore" in s for s in err.value.suggestions)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_an_unreadable_directory_is_named(tmp_path: Path) -> None:
    make(tmp_path, {"private/key": ""})
    (tmp_path / "private").chmod(0)
    try:
        with pytest.raises(PackagingError, match="cannot read private/"):
            select_files(tmp_path)
    finally:
        (tmp_path / "private").chmod(0o755)


# --- limits ---------------------------------------------------------------------------------------


def test_an_oversized_upload_names_the_largest_files_and_the_fixes(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "*.log\n",
            "train.py": "x",
            "weights.bin": os.urandom(300_000),
            "data/train.npy": os.urandom(200_000),
            "data/val.npy": os.urandom(100_000),
            "data/test.npy": os.urandom(50_000),
            "a b.bin": os.urandom(40_000),
            "small.bin": os.urandom(1_000),
        },
    )
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path, max_bytes=100_000)
    message = err.value.message
    assert "over the 97.7 KiB limit" in message
    listed = [line.split()[0] for line in message.splitlines()[1:]]
    assert listed == ["weights.bin", "data/train.npy", "data/val.npy", "data/test.npy", "a"]
    assert "weights.bin  293.0 KiB" in message
    fix = err.value.suggestions[0]
    # Only the files it takes to get under the limit (the data is random: it does not compress).
    assert [line.strip() for line in fix.splitlines()[1:]] == [
        "/weights.bin",
        "/data/train.npy",
        "/data/val.npy",
    ]
    assert "replaces .gitignore" in fix
    assert any("volume" in s for s in err.value.suggestions)
    assert any("upload_code=False" in s for s in err.value.suggestions)


def test_an_oversized_upload_stops_compressing_early(tmp_path: Path) -> None:
    make(tmp_path, {"checkpoint.pt": os.urandom(8 * 1024 * 1024), "z.py": ""})
    with pytest.raises(PackagingError, match="stopped at") as err:
        package_directory(tmp_path, max_bytes=1024 * 1024)
    assert err.value.context["archive_bytes"] < 8 * 1024 * 1024


def test_a_huge_directory_stops_the_walk_early_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {f"dataset/shard{i}/f{j}.txt": "" for i in range(30) for j in range(10)})
    make(tmp_path, {"train.py": ""})
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> os._ScandirIterator[str]:
        scanned.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    with pytest.raises(PackagingError) as err:
        package_directory(tmp_path, max_files=100)
    message = err.value.message
    assert "looks like a home or data directory" in message
    assert "stopped after 101 files" in message and "dataset/ (100 files)" in message
    assert len(scanned) < 15  # of 32 directories: it did not walk on
    tips = " ".join(err.value.suggestions)
    assert "project directory" in tips and "/dataset/" in tips and "upload_code=False" in tips


def test_too_many_bytes_stop_the_walk_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {f"f{i}.bin": b"x" * 1000 for i in range(50)})
    monkeypatch.setattr(os, "open", _fail_if_called)
    with pytest.raises(PackagingError, match=r"more than 9\.8 KiB .*stopped after 11 files"):
        package_directory(tmp_path, max_total_bytes=10_000)


def _fail_if_called(*args: object) -> int:
    raise AssertionError("a file was opened")


def test_a_missing_working_directory(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match=r"working directory .*/nope does not exist") as err:
        package_directory(tmp_path / "nope")
    assert any("upload_code=False" in s for s in err.value.suggestions)


def test_a_file_is_not_a_working_directory(tmp_path: Path) -> None:
    make(tmp_path, {"train.py": ""})
    with pytest.raises(PackagingError, match="is not a directory"):
        select_files(tmp_path / "train.py")


# --- extracting -----------------------------------------------------------------------------------


def test_contents_exec_bits_and_links_survive_the_round_trip(tmp_path: Path) -> None:
    root = make(
        tmp_path / "proj",
        {
            "run.sh": "#!/bin/sh\necho hi\n",
            "ünï/cödé.py": "π = 3.14\n",
            "deep/" + "d" * 120 + "/f.txt": "long path",
            "big.bin": os.urandom(3 * 1024 * 1024),  # read in pieces
            "empty.txt": "",
        },
    )
    (root / "run.sh").chmod(0o755)
    os.symlink("run.sh", root / "run")
    (root / "outputs").mkdir()
    archive = package_directory(root)
    out = tmp_path / "out"
    extract_archive(archive.data, out)
    for rel in select_files(root):
        assert (out / rel).read_bytes() == (root / rel).read_bytes()
    assert (out / "run.sh").stat().st_mode & 0o111
    assert not (out / "empty.txt").stat().st_mode & 0o111
    assert os.readlink(out / "run") == "run.sh"
    assert (out / "outputs").is_dir()
    assert archive.total_bytes == sum(
        (root / p).lstat().st_size for p in select_files(root) if not (root / p).is_symlink()
    )


def crafted(*entries: tuple[str, bytes, str]) -> bytes:
    """A tar.gz with members (name, type, link target) as an attacker would write them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            content = b"" if kind != tarfile.REGTYPE else b"bad"
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("../evil.txt", tarfile.REGTYPE, "")], "unsafe path"),
        ([("/abs.txt", tarfile.REGTYPE, "")], "unsafe path"),
        ([("a/../../evil.txt", tarfile.REGTYPE, "")], "unsafe path"),
        ([("link", tarfile.SYMTYPE, "../../etc/passwd")], "links out of the tree"),
        ([("link", tarfile.SYMTYPE, "/etc/passwd")], "links out of the tree"),
        ([("hard", tarfile.LNKTYPE, "../outside")], "links out of the tree"),
        ([("dev", tarfile.CHRTYPE, "")], "device or FIFO"),
    ],
)
def test_extract_refuses_members_that_leave_the_destination(
    tmp_path: Path, entries: list[tuple[str, bytes, str]], reason: str
) -> None:
    with pytest.raises(PackagingError, match=reason):
        extract_archive(crafted(*entries), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "link").exists()


@pytest.mark.parametrize("data_filter", [True, False], ids=["data-filter", "own-checks"])
def test_extract_refuses_a_link_that_escapes_through_another_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_filter: bool
) -> None:
    # "here" -> "." is harmless and "here/up" -> "../x" looks like "x", but on disk "here/up" is
    # "up" in the destination itself, so it would point at ../x, outside.
    if data_filter and not packaging._HAS_DATA_FILTER:
        pytest.skip("this Python's tarfile has no data filter")
    monkeypatch.setattr(packaging, "_HAS_DATA_FILTER", data_filter)
    archive = crafted(("here", tarfile.SYMTYPE, "."), ("here/up", tarfile.SYMTYPE, "../x"))
    with pytest.raises(PackagingError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "up").exists()


def test_extract_without_the_data_filter_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaging, "_HAS_DATA_FILTER", False)
    root = make(tmp_path / "proj", {"run.sh": "#!/bin/sh\n", "sub/a.py": "a"})
    (root / "run.sh").chmod(0o4777)  # setuid and world-writable: neither survives
    os.symlink("sub/a.py", root / "a")
    extract_archive(package_directory(root).data, tmp_path / "out")
    assert (tmp_path / "out/sub/a.py").read_text() == "a"
    assert os.readlink(tmp_path / "out/a") == "sub/a.py"
    assert (tmp_path / "out/run.sh").stat().st_mode & 0o7777 == 0o755


def test_extract_rejects_data_that_is_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="code archive"):
        extract_archive(b"not a tarball", tmp_path / "out")
