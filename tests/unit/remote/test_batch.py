"""Batch payloads: one record per input, appended as each ends; what a kill leaves is readable."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from flowlib.errors import ValidationError
from flowlib.remote._batch import Retries, pack_call
from flowlib.remote._payload import MAGIC, encode, frame, read_records


def half(x: int) -> float:
    if x == 0:
        raise ZeroDivisionError("no half of nothing, by decree")
    return x / 2


def _run_batch(tmp_path: Path, fn: object, inputs: list[int], **header: object) -> list[dict]:
    function, blobs, fields = pack_call(fn, [((x,), {}) for x in inputs], tmp_path)  # type: ignore[arg-type]
    body = pickle.dumps({"function": function, "inputs": list(enumerate(blobs))})
    remote = tmp_path / ".flow-remote"
    remote.mkdir(exist_ok=True)
    (remote / "payload.pkl").write_bytes(encode({**fields, "kind": "batch", **header}, body))
    subprocess.run(
        [sys.executable, "-m", "flowlib.remote._runner", str(remote / "payload.pkl")],
        capture_output=True,
        timeout=60,
    )
    return [e.header for e in read_records((remote / "results.log").read_bytes())]


def test_each_input_gets_its_own_record_and_a_failure_stops_only_its_input(
    tmp_path: Path,
) -> None:
    records = _run_batch(tmp_path, half, [4, 0, 6])
    assert [(r["index"], r["status"]) for r in records] == [(0, "ok"), (1, "error"), (2, "ok")]
    assert records[1]["exc_type"] == "builtins.ZeroDivisionError"
    assert "by decree" in records[1]["traceback"]


def test_a_python_mismatch_is_one_record_for_the_whole_batch(tmp_path: Path) -> None:
    records = _run_batch(tmp_path, half, [2, 4], python=[3, 2, 0])
    assert len(records) == 1 and records[0]["index"] == -1
    assert records[0]["status"] == "environment" and "Python 3.2.0" in records[0]["message"]


def test_a_record_cut_short_by_a_kill_is_left_out() -> None:
    data = MAGIC + frame({"index": 0}, b"done") + frame({"index": 1}, b"half-written")
    assert [r.header["index"] for r in read_records(data[:-3])] == [0]


def test_an_unpicklable_input_is_named_by_its_position(tmp_path: Path) -> None:
    import threading

    with pytest.raises(ValidationError, match=r"input 2: argument 'x' \(lock\)"):
        pack_call(half, [((1,), {}), ((2,), {}), ((threading.Lock(),), {})], tmp_path)


def test_an_input_over_the_size_limit_fails_before_submitting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"input 0 pickles to 10\.0 MB"):
        pack_call(len, [((b"x" * (10 * 2**20),), {})], tmp_path)


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    policy = Retries(max_retries=5, backoff_coefficient=3.0, initial_delay=2.0, max_delay=30.0)
    assert [policy.delay(n) for n in range(1, 5)] == [2.0, 6.0, 18.0, 30.0]


def test_a_retry_count_is_a_fixed_one_second_policy() -> None:
    assert Retries.of(3) == Retries(max_retries=3, backoff_coefficient=1.0, initial_delay=1.0)
    assert Retries.of(None).max_retries == 0


def test_a_retry_policy_out_of_range_is_refused_with_an_example() -> None:
    with pytest.raises(ValidationError, match="max_retries must be 0 to 10"):
        Retries(max_retries=11)
    with pytest.raises(ValidationError, match="expected a number of retries"):
        Retries.of("3")  # type: ignore[arg-type]
