"""The files a remote call leaves in ``<workspace>/.flow-remote/``, and how to read them.

Each file is one header line of JSON after a magic line, then a (cloud)pickle body::

    FLOWREMOTE1\\n
    {"kind": "call", "python": [3, 11, 7], "packages": {...}, ...}\\n
    <pickle bytes>

The header is plain JSON so the far side can compare Python and package versions *before*
unpickling anything, and report a mismatch in words instead of an unpickling traceback.
This module imports only the standard library: the runner loads it on the remote machine.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlib.core.cloud import RESULTS_DIR

__all__ = [
    "EXIT_REQUEUE",
    "KEY_PACKAGES",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_BYTES",
    "PAYLOAD_FILE",
    "REMOTE_DIR",
    "RESULTS_FILE",
    "RESULT_FILE",
    "Envelope",
    "environment",
    "frame",
    "mismatches",
    "read_envelope",
    "read_records",
    "write_envelope",
]

MAGIC = b"FLOWREMOTE1\n"
REMOTE_DIR = RESULTS_DIR  # providers keep this directory when they release a machine
PAYLOAD_FILE = "payload.pkl"
RESULT_FILE = "result.pkl"
# A batch of inputs (``kind: batch``) leaves one record per input in this file, appended as each
# input ends: a run killed half-way (preemption) keeps the results of the inputs it finished.
RESULTS_FILE = "results.log"
RECORD_LENGTH = struct.Struct(">Q")
# The payload travels inside the code upload, whose compressed limit is 10 MB (FCP's); the
# pickle is checked against it before anything is submitted.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
MAX_RESULT_BYTES = 100 * 1024 * 1024
EXIT_REQUEUE = 75  # the runner checkpointed on SIGTERM and asks to be requeued
# Packages whose objects commonly travel in arguments and results: their versions are recorded
# when the client has them imported, and compared on the far side.
KEY_PACKAGES = ("cloudpickle", "numpy", "pandas", "scipy", "torch", "jax", "sklearn", "flowlib")
_DISTRIBUTION = {"sklearn": "scikit-learn"}


@dataclass
class Envelope:
    """A header (JSON-able dict) and a pickle body."""

    header: dict[str, Any]
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(_DISTRIBUTION.get(name, name))
    except metadata.PackageNotFoundError:
        return None


def environment(extra_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """This interpreter's version and the versions of the key packages it has imported (and of
    ``extra_modules``' distributions)."""
    packages: dict[str, str] = {}
    for name in (*KEY_PACKAGES, *extra_modules):
        if name in packages or (name not in sys.modules and name not in extra_modules):
            continue
        version = package_version(name)
        if version is not None:
            packages[name] = version
    return {
        "python": list(sys.version_info[:3]),
        "implementation": platform.python_implementation().lower(),
        "packages": packages,
    }


def mismatches(header: dict[str, Any]) -> tuple[list[str], bool]:
    """What differs between the client recorded in ``header`` and this interpreter, as
    readable lines; and whether it is fatal (another Python minor version for code sent by
    value, or another implementation: pickled code objects do not travel between those)."""
    lines: list[str] = []
    fatal = False
    theirs = tuple(header.get("python", ()))
    ours = tuple(sys.version_info[:3])
    if theirs[:2] != ours[:2]:
        lines.append(
            f"Python {'.'.join(map(str, theirs))} on the client, "
            f"{'.'.join(map(str, ours))} on the remote"
        )
        fatal = bool(header.get("by_value", True))
    impl = platform.python_implementation().lower()
    if header.get("implementation", impl) != impl:
        lines.append(f"{header['implementation']} on the client, {impl} on the remote")
        fatal = True
    for name, version in sorted(header.get("packages", {}).items()):
        here = package_version(name)
        if here is None:
            lines.append(f"{name} {version} on the client, not installed on the remote")
        elif here != version:
            lines.append(f"{name} {version} on the client, {here} on the remote")
    return lines, fatal


def write_envelope(path: Path, header: dict[str, Any], body: bytes = b"") -> None:
    """Write atomically: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(encode(header, body))
    os.replace(tmp, path)


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    return MAGIC + json.dumps(header, sort_keys=True).encode("utf-8") + b"\n" + body


def decode(data: bytes) -> Envelope:
    if not data.startswith(MAGIC):
        raise ValueError("not a flowlib remote-call file (bad magic line)")
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end])
    return Envelope(header, data[end + 1 :])


def read_envelope(path: Path) -> Envelope:
    return decode(path.read_bytes())


def frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    """One record of a results file: its length, then an envelope."""
    data = encode(header, body)
    return RECORD_LENGTH.pack(len(data)) + data


def read_records(data: bytes) -> list[Envelope]:
    """The complete records of a results file (a record cut short by a kill is left out)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a flowlib results file (bad magic line)")
    records, at = [], len(MAGIC)
    while at + RECORD_LENGTH.size <= len(data):
        (size,) = RECORD_LENGTH.unpack_from(data, at)
        start = at + RECORD_LENGTH.size
        if start + size > len(data):
            break
        records.append(decode(data[start : start + size]))
        at = start + size
    return records
