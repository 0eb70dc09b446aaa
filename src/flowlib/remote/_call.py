"""Sending a Python call to a task, and bringing its value back.

``spawn(fn, args, kwargs)`` pickles the call with cloudpickle (functions of modules the remote
can import travel by reference; ``__main__``, notebooks and modules outside the code directory
travel by value), stages the code directory plus ``.flow-remote/payload.pkl``, and submits
``python -m flowlib.remote._runner .flow-remote/payload.pkl`` as the task's command.
:class:`RemoteCall` waits for the task and reads ``result.pkl`` through a result channel.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from flowlib.errors import CapacityError, ValidationError
from flowlib.remote._channel import ResultChannel, channel_for
from flowlib.remote._errors import EnvironmentMismatchError, RemoteError
from flowlib.remote._payload import (
    MAX_PAYLOAD_BYTES,
    MAX_RESULT_BYTES,
    PAYLOAD_FILE,
    REMOTE_DIR,
    RESULT_FILE,
    decode,
    encode,
    environment,
)

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.models import Task

__all__ = [
    "Outcome",
    "RemoteCall",
    "Submitter",
    "mismatch_error",
    "pickling_for",
    "run",
    "spawn",
    "submit_payload",
]

T = TypeVar("T")
RUNNER = "flowlib.remote._runner"


@dataclass(frozen=True)
class Outcome:
    """What became of a call: ``status`` is ``ok``, ``error``, ``environment``, ``too-large``,
    ``requeue`` (from the runner) or ``cancelled`` / ``lost`` (no result file: the task was
    cancelled, or ended without writing one)."""

    status: str
    header: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    task: Task | None = None

    def value(self) -> Any:
        import cloudpickle

        return cloudpickle.loads(self.body)


class RemoteCall(Generic[T]):
    """A handle on one remote call. Rebuild it in any later process with :meth:`from_id`."""

    def __init__(
        self, task_id: str, *, flow: Flow | None = None, channel: ResultChannel | None = None
    ) -> None:
        self.task_id = task_id
        self._flow = flow
        self._channel = channel
        self._outcome: Outcome | None = None

    @classmethod
    def from_id(cls, task_id: str, *, flow: Flow | None = None) -> RemoteCall[Any]:
        """The handle of an earlier call, by task id (or unique prefix, or name)."""
        handle: RemoteCall[Any] = RemoteCall(task_id, flow=flow)
        handle.task_id = handle.flow.store.resolve(task_id).task_id
        return handle

    def __repr__(self) -> str:
        return f"RemoteCall({self.task_id!r})"

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            from flowlib.flow import Flow

            self._flow = Flow()
        return self._flow

    @property
    def task(self) -> Task:
        """The task running the call, refreshed."""
        return self.flow.get_task(self.task_id)

    def done(self) -> bool:
        return self.task.status.is_terminal

    def wait(self, timeout: float | None = None) -> Task:
        return self.flow.wait(self.task_id, timeout=timeout)

    def cancel(self) -> Task:
        return self.flow.cancel(self.task_id)

    def logs(self, tail: int | None = None) -> str:
        return self.flow.logs(self.task_id, tail=tail)

    def outcome(self, timeout: float | None = None) -> Outcome:
        """Wait for the task to end and read what the runner left (cached once read)."""
        if self._outcome is not None:
            return self._outcome
        task = self.wait(timeout)
        record = self.flow.store.get(self.task_id)
        channel = self._channel or channel_for(record, self.flow.provider(record.provider))
        data = channel.fetch(record, RESULT_FILE)
        if data is None:
            status = "cancelled" if task.status.value == "cancelled" else "lost"
            outcome = Outcome(status, task=task)
        else:
            envelope = decode(data)
            outcome = Outcome(
                str(envelope.header.get("status")), envelope.header, envelope.body, task
            )
        self._outcome = outcome
        return outcome

    def result(self, timeout: float | None = None) -> T:
        """The return value; the remote exception re-raised (its own type when it can be
        rebuilt here, else :class:`RemoteError` with the remote traceback)."""
        outcome = self.outcome(timeout)
        if outcome.status == "ok":
            try:
                return cast(T, outcome.value())
            except Exception as exc:
                raise EnvironmentMismatchError(
                    f"the result of task {self.task_id} cannot be loaded here: "
                    f"{type(exc).__name__}: {exc}",
                    suggestions=["install here the packages the result's objects come from"],
                    task_id=self.task_id,
                ) from exc
        raise self._error(outcome)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The exception :meth:`result` would raise, or None when the call returned."""
        outcome = self.outcome(timeout)
        return None if outcome.status == "ok" else self._error(outcome)

    def _error(self, outcome: Outcome) -> BaseException:
        header, task_id = outcome.header, self.task_id
        if outcome.status == "error":
            return rebuild_exception(header, outcome.body, task_id)
        if outcome.status == "environment":
            return mismatch_error(header, task_id)
        if outcome.status == "too-large":
            return RemoteError(
                f"the result of task {task_id} is {_mb(header.get('size', 0))}, over the "
                f"{_mb(header.get('limit', MAX_RESULT_BYTES))} limit on results",
                suggestions=["write large outputs to a volume or bucket and return their path"],
                task_id=task_id,
                error_code="result-too-large",
            )
        if outcome.status == "requeue":
            return RemoteError(
                f"task {task_id} was stopped and checkpointed for a requeue",
                suggestions=["resubmit it (the submitit frontend does so by itself)"],
                task_id=task_id,
                error_code="requeue",
            )
        task = outcome.task
        if outcome.status == "cancelled":
            return RemoteError(f"task {task_id} was cancelled", task_id=task_id)
        tail = self.logs(tail=20)
        why = f" ({task.message})" if task is not None and task.message else ""
        code = task.exit_code if task is not None else None
        return RemoteError(
            f"task {task_id} ended without a result (exit code {code}){why}",
            remote_traceback=tail,
            suggestions=[f"`flow logs {task_id}` shows its whole output"],
            task_id=task_id,
            error_code="no-result",
        )


def mismatch_error(header: Mapping[str, Any], task_id: str) -> EnvironmentMismatchError:
    """The runner could not load the call: the client's and the remote's environments differ."""
    return EnvironmentMismatchError(
        str(header.get("message")),
        suggestions=[
            "run the remote with the client's Python version and packages "
            "(an `image=`, or the same requirements)"
        ],
        task_id=task_id,
    )


def rebuild_exception(header: Mapping[str, Any], body: bytes, task_id: str) -> BaseException:
    """The remote exception as its own type when it unpickles here, with the remote traceback
    attached as a note; else a :class:`RemoteError` carrying the same facts."""
    remote_tb = str(header.get("traceback", ""))
    if body:
        import cloudpickle

        try:
            exc = cloudpickle.loads(body)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            note = f"Remote traceback (task {task_id}):\n{remote_tb.rstrip()}"
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(note)
            return exc
    return RemoteError(
        f"{header.get('exc_type')}: {header.get('exc_message')}",
        remote_type=str(header.get("exc_type")),
        remote_traceback=remote_tb,
        task_id=task_id,
    )


# -- submitting ---------------------------------------------------------------------------------
def spawn(
    fn: Callable[..., T],
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    flow: Flow | None = None,
    provider: str | None = None,
    gpu: str | None = None,
    python: str | None = None,
    **fields: Any,
) -> RemoteCall[T]:
    """Submit ``fn(*args, **kwargs)`` as a task and return its handle at once.

    ``gpu`` is an instance type (``"a100"``, ``"8xh100"``); ``fields`` are TaskConfig fields
    (``env``, ``max_run_time_hours``, ``code_dir``...). ``python`` is the interpreter on the far
    side (default: this one on the local provider, ``python3`` elsewhere). Raises
    :class:`ValidationError` naming the argument that cannot be pickled, or when the pickled
    call is over :data:`MAX_PAYLOAD_BYTES`, before anything is submitted.
    """
    args, kwargs = tuple(args), dict(kwargs or {})
    code_dir = Path(fields.pop("code_dir", None) or Path.cwd()).absolute()
    body, by_value, top = dumps_call(fn, args, kwargs, code_dir)
    header = {
        "kind": "call",
        "function": describe(fn),
        "by_value": by_value,
        "max_result_bytes": MAX_RESULT_BYTES,
        **environment(() if top is None else (top,)),
    }
    name = fields.pop("name", None) or task_name(describe(fn))
    return submit_payload(
        encode(header, body),
        name=name,
        flow=flow,
        provider=provider,
        gpu=gpu,
        python=python,
        code_dir=code_dir,
        **fields,
    )


def run(
    fn: Callable[..., T],
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    **options: Any,
) -> T:
    """:func:`spawn`, then wait for the value (``options`` as for :func:`spawn`)."""
    return spawn(fn, args, kwargs, **options).result(timeout)


def submit_payload(
    payload: bytes,
    *,
    name: str,
    flow: Flow | None = None,
    provider: str | None = None,
    gpu: str | None = None,
    python: str | None = None,
    code_dir: Path,
    extra_files: Mapping[str, bytes] | None = None,
    **fields: Any,
) -> RemoteCall[Any]:
    upload = bool(fields.pop("upload_code", True))
    with Submitter(
        flow, provider=provider, python=python, code_dir=code_dir, upload=upload
    ) as submitter:
        task_id = submitter.submit(
            payload, name=name, instance_types=[gpu], extra_files=extra_files, **fields
        )
        return RemoteCall(task_id, flow=submitter.flow)


def check_payload_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"the pickled call is {_mb(len(payload))}, over the {_mb(MAX_PAYLOAD_BYTES)} limit "
            "on arguments (they travel inside the code upload)",
            suggestions=[
                "pass a path or URL and load the data on the far side (a volume, a bucket)"
            ],
        )


class Submitter:
    """Submits payload tasks from one staged copy of the code directory, made on first use
    and removed by :meth:`close`: a map of many tasks stages the code once. Each task's code
    upload is read during its submit, so the next payload may then replace this one."""

    def __init__(
        self,
        flow: Flow | None = None,
        *,
        provider: str | None = None,
        python: str | None = None,
        code_dir: Path,
        upload: bool = True,
    ) -> None:
        if flow is None:
            from flowlib.flow import Flow

            flow = Flow(provider=provider)
        self.flow = flow
        self.provider = provider
        if python is None:  # a task that runs here runs in this Python
            spec = flow.provider_spec(provider)
            python = sys.executable if spec is not None and spec.runs_here else "python3"
        self.python = python
        self.code_dir = code_dir
        self.upload = upload
        self._stack = ExitStack()
        self._root: Path | None = None

    def __enter__(self) -> Submitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()
        self._root = None

    def submit(
        self,
        payload: bytes,
        *,
        name: str,
        instance_types: list[str | None] | None = None,
        extra_files: Mapping[str, bytes] | None = None,
        **fields: Any,
    ) -> str:
        """Submit one task running ``payload``; its id. ``instance_types`` are tried in order:
        the next one when the provider has no capacity for the previous one."""
        check_payload_size(payload)
        if self._root is None:
            code_dir = self.code_dir if self.upload else None
            self._root = self._stack.enter_context(_staged(self.flow.config.home, code_dir))
        target = self._root / REMOTE_DIR
        target.mkdir(parents=True, exist_ok=True)
        (target / PAYLOAD_FILE).write_bytes(payload)
        for rel, data in (extra_files or {}).items():
            (target / rel).write_bytes(data)
        choices = list(instance_types or [None])
        refused: list[str] = []
        for choice in choices:
            extra: dict[str, Any] = {} if choice is None else {"instance_type": choice}
            try:
                task = self.flow.run(
                    command=[self.python, "-m", RUNNER, f"{REMOTE_DIR}/{PAYLOAD_FILE}"],
                    name=name,
                    code_dir=self._root,  # without upload_code, still the payload
                    provider=self.provider,
                    **fields,
                    **extra,
                )
            except CapacityError as exc:
                if len(choices) == 1:
                    raise
                refused.append(f"{choice}: {exc.message}")
                continue
            return task.task_id
        raise CapacityError(
            "no GPU of the fallback list can run the task now: " + "; ".join(refused),
            suggestions=["add other GPUs to the list, or raise max_price_per_hour"],
        )


@contextmanager
def _staged(home: Path, code_dir: Path | None) -> Iterator[Path]:
    """A throwaway copy of the files of ``code_dir`` that would be uploaded (hard links where
    the filesystem allows), to which the payload is added: the user's directory is never
    written to."""
    stage = Path(home) / "remote-staging" / uuid.uuid4().hex
    stage.mkdir(parents=True)
    try:
        if code_dir is not None:
            from flowlib.core.packaging import select_files

            for rel in select_files(code_dir, exclude=[Path(home)]):  # its home is not code
                src, dst = code_dir / rel, stage / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_symlink():
                    os.symlink(os.readlink(src), dst)
                    continue
                try:
                    os.link(src, dst)
                except FileNotFoundError:
                    continue  # gone since the listing (a temporary file)
                except OSError:
                    try:
                        shutil.copy2(src, dst)
                    except FileNotFoundError:
                        continue
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# -- pickling -------------------------------------------------------------------------------------
def dumps_call(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], code_dir: Path
) -> tuple[bytes, bool, str | None]:
    """``(fn, args, kwargs)`` pickled; whether code travels by value; the function's top-level
    package when it is an installed distribution (its version is recorded)."""
    import cloudpickle

    with pickling_for(fn, code_dir) as (by_value, top):
        try:
            return cloudpickle.dumps((fn, args, kwargs)), by_value, top
        except Exception as exc:
            raise unpicklable_error(fn, args, kwargs, exc) from exc


@contextmanager
def pickling_for(fn: Callable[..., Any], code_dir: Path) -> Iterator[tuple[bool, str | None]]:
    """While active, cloudpickle sends ``fn``'s module by value when the far side cannot
    import it (objects of that module in arguments too). Yields whether code travels by value,
    and the function's top-level package when it is an installed distribution (its version is
    recorded)."""
    import cloudpickle

    module_name = _module_of(fn)
    by_value = module_name == "__main__"
    registered = None
    top = module_name.split(".")[0] if module_name else None
    installed = top is not None and top in _distributions()
    if module_name and not by_value and not _importable_remotely(module_name, code_dir):
        registered = sys.modules[module_name]
        cloudpickle.register_pickle_by_value(registered)
        by_value = True
    try:
        yield by_value, top if installed else None
    finally:
        if registered is not None:
            cloudpickle.unregister_pickle_by_value(registered)


def unpicklable_error(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception
) -> ValidationError:
    """Which part of the call cannot be pickled, by name."""
    import cloudpickle

    candidates: list[tuple[str, Any]] = [("the function " + describe(fn), fn)]
    try:
        signature = inspect.signature(fn)
        params = signature.parameters
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):  # no signature to bind: by position and keyword
        candidates += [(f"argument {i}", v) for i, v in enumerate(args)]
        candidates += [(f"argument {k!r}", v) for k, v in kwargs.items()]
    else:
        for key, value in bound.arguments.items():
            kind = params[key].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                candidates += [(f"argument *{key}[{i}]", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                candidates += [(f"argument {k!r}", v) for k, v in value.items()]
            else:
                candidates.append((f"argument {key!r}", value))
    for label, value in candidates:
        try:
            cloudpickle.dumps(value)
        except Exception as inner:
            return ValidationError(
                f"{label} ({type(value).__name__}) cannot be sent to the remote: {inner}",
                suggestions=[
                    "locks, sockets, open files and clients cannot travel: create them inside "
                    "the function, or pass what is needed to rebuild them (a path, a URL)"
                ],
            )
    return ValidationError(f"the call cannot be pickled: {type(exc).__name__}: {exc}")


def _module_of(fn: Callable[..., Any]) -> str | None:
    name = getattr(fn, "__module__", None)
    if name is None or not (inspect.isfunction(fn) or inspect.isclass(fn)):
        name = getattr(type(fn), "__module__", None)
    return name if isinstance(name, str) else None


@functools.cache
def _distributions() -> frozenset[str]:
    from importlib import metadata

    return frozenset(metadata.packages_distributions())


def _importable_remotely(module_name: str, code_dir: Path) -> bool:
    """True when the far side can import ``module_name``: the standard library, an installed
    distribution, flowlib itself, or a module whose dotted path matches its file's place in the
    code directory. Anything else (a test module, a script's sibling outside the code
    directory) is sent by value."""
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top == "flowlib" or top in _distributions():
        return True
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module is None or file is None:
        return True
    try:
        rel = Path(file).absolute().relative_to(code_dir)
    except ValueError:
        return False
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) == module_name


def describe(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{_module_of(fn)}.{name}"


def task_name(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text.rsplit(".", 1)[-1]).strip("-_")
    return (slug or "call")[:63]


def _mb(n: object) -> str:
    return f"{int(n) / 1024 / 1024:.1f} MB"  # type: ignore[call-overload]
