"""Runs one remote call on the far side.

``python -m flowlib.remote._runner .flow-remote/payload.pkl``

It reads the payload's header, compares the client's Python and package versions with its
own, unpickles the function and its arguments, calls it, and writes ``result.pkl`` next to the
payload (atomically) before exiting:

- ``status: ok``: the body is the pickled return value; exit 0.
- ``status: error``: the function raised; the body is the pickled exception (empty when it
  cannot be pickled), the header carries its type, message and traceback text; exit 1.
- ``status: environment``: the payload cannot be loaded here (Python or package mismatch, a
  module missing); the header says why in words; exit 1.
- ``status: too-large``: the return value pickles to more than the limit; exit 1.
- ``status: requeue``: SIGTERM (time limit, preemption) reached a function with a
  ``checkpoint`` method; the body is what ``checkpoint(*args, **kwargs)`` returned (a delayed
  submission for the client to resubmit); exit :data:`EXIT_REQUEUE`.

A payload of ``kind: batch`` holds one function and many inputs (``{"function": <cloudpickle>,
"inputs": [(index, <cloudpickle of (args, kwargs)>), ...]}``). The runner creates
``results.log`` before loading anything, then appends one record per input as it ends (the
statuses above, with the input's ``index``); a payload that cannot be loaded at all gives one
``environment`` record with index -1. With ``timeout`` in the header, an input that runs longer
raises :class:`TimeoutError` in the function. Exit 0 when every input returned, else 1.

Only the standard library, cloudpickle and this package are imported: it must start fast.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from flowlib.remote._payload import (
    EXIT_REQUEUE,
    MAGIC,
    RESULT_FILE,
    RESULTS_FILE,
    Envelope,
    environment,
    frame,
    mismatches,
    read_envelope,
    write_envelope,
)


def _qualname(obj: type) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _base(status: str) -> dict[str, Any]:
    return {"kind": "result", "status": status, **environment()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m flowlib.remote._runner PAYLOAD", file=sys.stderr)
        return 2
    payload_path = Path(argv[0]).absolute()
    envelope = read_envelope(payload_path)
    if envelope.header.get("kind") == "batch":
        return run_batch(envelope, payload_path.with_name(RESULTS_FILE))
    result_path = payload_path.with_name(RESULT_FILE)
    header = envelope.header
    limit = int(header.get("max_result_bytes", 100 * 1024 * 1024))
    differences, fatal = mismatches(header)
    what = header.get("function", "the function")
    if fatal:
        return _environment_error(
            result_path, f"cannot load {what} here: " + "; ".join(differences), differences
        )
    try:
        import cloudpickle

        if header.get("kind") == "invoke":
            fn, args, kwargs = _load_invoke(header, envelope.body)
        else:
            fn, args, kwargs = cloudpickle.loads(envelope.body)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModuleNotFoundError):
            reason += (
                " (is the module inside the uploaded code directory, or installed on the remote?)"
            )
        detail = f"; differences: {'; '.join(differences)}" if differences else ""
        return _environment_error(
            result_path, f"cannot load {what} here: {reason}{detail}", differences
        )
    if differences:
        print(f"[flow] note: {'; '.join(differences)}", file=sys.stderr, flush=True)
    if callable(getattr(fn, "checkpoint", None)):
        _requeue_on_sigterm(fn, args, kwargs, result_path)
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        _write_error(result_path, exc)
        return 1
    try:
        body = cloudpickle.dumps(value)
    except Exception as exc:
        _write_error(result_path, exc, note="the return value cannot be pickled")
        return 1
    if len(body) > limit:
        header_out = _base("too-large")
        header_out["size"] = len(body)
        header_out["limit"] = limit
        write_envelope(result_path, header_out)
        return 1
    write_envelope(result_path, _base("ok"), body)
    return 0


def _load_invoke(header: dict[str, Any], body: bytes) -> tuple[Any, Any, Any]:
    import runpy

    import cloudpickle

    script = str(header["script"])
    sys.path.insert(0, str(Path(script).absolute().parent))
    namespace = runpy.run_path(script, run_name="__flow_invoke__")
    name = str(header["function_name"])
    if name not in namespace or not callable(namespace[name]):
        defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
        raise AttributeError(f"{script} defines no function {name!r} (it defines {defined})")
    args, kwargs = cloudpickle.loads(body)
    return namespace[name], args, kwargs


def _environment_error(path: Path, message: str, differences: list[str]) -> int:
    header = _base("environment")
    header["message"] = message
    header["differences"] = differences
    write_envelope(path, header)
    print(f"[flow] {message}", file=sys.stderr, flush=True)
    return 1


def _write_error(path: Path, exc: BaseException, note: str | None = None) -> None:
    header, body = _error_record(exc, note)
    write_envelope(path, header, body)
    sys.stderr.write(header["traceback"])
    sys.stderr.flush()


def _error_record(exc: BaseException, note: str | None = None) -> tuple[dict[str, Any], bytes]:
    import cloudpickle

    header = _base("error")
    header.update(
        exc_type=_qualname(type(exc)),
        exc_message=str(exc) if note is None else f"{note}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
    )
    try:
        body = cloudpickle.dumps(exc) if note is None else b""
        cloudpickle.loads(body) if body else None  # an exception that cannot be rebuilt: none
    except Exception:
        body = b""
    return header, body


# -- batches ------------------------------------------------------------------------------------
class _InputTimeout(BaseException):
    """Raised into the function by the timer; becomes a TimeoutError record."""


def run_batch(envelope: Envelope, results: Path) -> int:
    """Run every input of a batch payload, appending one record per input to ``results``."""
    header = envelope.header
    what = header.get("function", "the function")
    limit = int(header.get("max_result_bytes", 100 * 1024 * 1024))
    timeout = header.get("timeout")
    with open(results, "wb") as out:
        out.write(MAGIC)
        out.flush()

        def record(head: dict[str, Any], body: bytes = b"") -> None:
            out.write(frame(head, body))
            out.flush()

        differences, fatal = mismatches(header)
        if fatal:
            message = f"cannot load {what} here: " + "; ".join(differences)
            record({**_base("environment"), "index": -1, "message": message})
            print(f"[flow] {message}", file=sys.stderr, flush=True)
            return 1
        try:
            import pickle

            import cloudpickle

            parts = pickle.loads(envelope.body)
            fn = cloudpickle.loads(parts["function"])
        except Exception as exc:
            message = f"cannot load {what} here: {_load_reason(exc, differences)}"
            record({**_base("environment"), "index": -1, "message": message})
            print(f"[flow] {message}", file=sys.stderr, flush=True)
            return 1
        if differences:
            print(f"[flow] note: {'; '.join(differences)}", file=sys.stderr, flush=True)
        if timeout:
            signal.signal(signal.SIGALRM, _raise_input_timeout)
        failed = 0
        for index, blob in parts["inputs"]:
            head, body = _run_input(fn, blob, what, limit, timeout, differences)
            head["index"] = index
            failed += head["status"] != "ok"
            record(head, body)
    return 1 if failed else 0


def _run_input(
    fn: Any, blob: bytes, what: str, limit: int, timeout: float | None, differences: list[str]
) -> tuple[dict[str, Any], bytes]:
    import cloudpickle

    try:
        args, kwargs = cloudpickle.loads(blob)
    except Exception as exc:
        message = f"cannot load an input of {what} here: {_load_reason(exc, differences)}"
        return {**_base("environment"), "message": message}, b""
    try:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, float(timeout))
        try:
            value = fn(*args, **kwargs)
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except _InputTimeout:
        late = TimeoutError(f"{what} ran past its timeout of {float(timeout or 0):g} s")
        sys.stderr.write(f"[flow] {late}\n")
        return _error_record(late)
    except BaseException as exc:  # SystemExit too: one input's exit ends that input only
        head, body = _error_record(exc)
        sys.stderr.write(head["traceback"])
        return head, body
    try:
        body = cloudpickle.dumps(value)
    except Exception as exc:
        return _error_record(exc, note="the return value cannot be pickled")
    if len(body) > limit:
        return {**_base("too-large"), "size": len(body), "limit": limit}, b""
    return _base("ok"), body


def _raise_input_timeout(signum: int, frame: FrameType | None) -> NoReturn:
    raise _InputTimeout


def _load_reason(exc: BaseException, differences: list[str]) -> str:
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError):
        reason += " (is the module inside the uploaded code directory, or installed on the remote?)"
    if differences:
        reason += f"; differences: {'; '.join(differences)}"
    return reason


def _requeue_on_sigterm(fn: Any, args: Any, kwargs: Any, path: Path) -> None:
    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        import cloudpickle

        print("[flow] SIGTERM: checkpointing for requeue", file=sys.stderr, flush=True)
        try:
            delayed = fn.checkpoint(*args, **kwargs)
            write_envelope(path, _base("requeue"), cloudpickle.dumps(delayed))
        except BaseException as exc:
            _write_error(path, exc, note="checkpoint() failed")
            os._exit(1)
        sys.stdout.flush()
        os._exit(EXIT_REQUEUE)

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
