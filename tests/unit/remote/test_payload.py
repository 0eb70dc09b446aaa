"""The remote-call files: versions compared before unpickling, arguments checked before submit."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flowlib.errors import ValidationError
from flowlib.remote._call import dumps_call
from flowlib.remote._payload import decode, encode, environment, mismatches, read_envelope


def test_another_python_minor_version_is_fatal_for_code_sent_by_value() -> None:
    header = {**environment(), "python": [3, 99, 0], "by_value": True}
    lines, fatal = mismatches(header)
    assert fatal and "Python 3.99.0 on the client" in lines[0]


def test_a_package_missing_on_the_remote_is_named_with_both_versions() -> None:
    header = {**environment(), "packages": {"no-such-package-xyz": "1.2.3"}}
    lines, fatal = mismatches(header)
    assert not fatal
    assert lines == ["no-such-package-xyz 1.2.3 on the client, not installed on the remote"]


def test_the_envelope_round_trips() -> None:
    envelope = decode(encode({"kind": "call"}, b"\x80body\n"))
    assert envelope.header == {"kind": "call"} and envelope.body == b"\x80body\n"


def test_an_unpicklable_argument_is_named_before_anything_is_submitted(tmp_path: Path) -> None:
    def train(data: object, lock: object) -> None: ...

    with pytest.raises(ValidationError, match=r"argument 'lock' \(lock\) cannot be sent"):
        dumps_call(train, ([1, 2], threading.Lock()), {}, tmp_path)


def test_the_runner_reports_a_python_mismatch_in_words(tmp_path: Path) -> None:
    remote = tmp_path / ".flow-remote"
    remote.mkdir()
    header = {**environment(), "kind": "call", "function": "m.f", "python": [3, 2, 0]}
    (remote / "payload.pkl").write_bytes(encode(header, b"not a pickle"))
    done = subprocess.run(
        [sys.executable, "-m", "flowlib.remote._runner", str(remote / "payload.pkl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    result = read_envelope(remote / "result.pkl").header
    assert result["status"] == "environment"
    assert "cannot load m.f here: Python 3.2.0 on the client" in result["message"]


def test_a_module_missing_on_the_remote_is_a_readable_error(tmp_path: Path) -> None:
    import cloudpickle

    module = tmp_path / "only_here.py"
    module.write_text("def f():\n    return 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import only_here  # type: ignore[import-not-found]

        body = cloudpickle.dumps((only_here.f, (), {}))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("only_here", None)
    remote = tmp_path / "far" / ".flow-remote"
    remote.mkdir(parents=True)
    header = {**environment(), "kind": "call", "function": "only_here.f"}
    (remote / "payload.pkl").write_bytes(encode(header, body))
    subprocess.run(
        [sys.executable, "-m", "flowlib.remote._runner", str(remote / "payload.pkl")],
        cwd=remote.parent,
        capture_output=True,
        timeout=60,
    )
    message = read_envelope(remote / "result.pkl").header["message"]
    assert "No module named 'only_here'" in message
    assert "inside the uploaded code directory" in message
