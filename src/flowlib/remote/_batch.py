"""Many inputs of one function, run as batch tasks: bounded concurrency, per-input retries,
preempted inputs re-run.

A :class:`Dispatcher` holds the pickled function and one pickled ``(args, kwargs)`` per input.
It submits up to ``max_concurrency`` tasks at a time, each carrying up to ``batch_size`` inputs
(one payload of ``kind: batch``), polls them, and reads each ended task's ``results.log``
through the result channel. Then, per input:

- it returned: a final result;
- it raised: re-run (alone with the other failed inputs, never the whole batch) after the
  :class:`Retries` back-off, until ``max_retries`` is spent; then the exception is final;
- it has no record (the task was preempted, killed or lost its machine while the input ran):
  re-run on the same input, up to :data:`MAX_LOST_RUNS` more times; the inputs after it in the
  batch never started and are simply queued again;
- the remote cannot load the call (Python or package mismatch): final, never retried.

Its state (:meth:`Dispatcher.save` / :meth:`Dispatcher.load`) lets a later process pick up a
spawned call by id.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.errors import (
    EnvironmentMismatchError,
    RemoteError,
    TimeoutError,
    ValidationError,
)
from flowlib.providers.base import poll_interval
from flowlib.remote._call import (
    Submitter,
    describe,
    mismatch_error,
    pickling_for,
    rebuild_exception,
    unpicklable_error,
)
from flowlib.remote._channel import channel_for
from flowlib.remote._payload import (
    MAX_PAYLOAD_BYTES,
    MAX_RESULT_BYTES,
    RESULTS_FILE,
    encode,
    environment,
    read_records,
)

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord
    from flowlib.flow import Flow

__all__ = [
    "MAX_LOST_RUNS",
    "Dispatcher",
    "InputResult",
    "Plan",
    "Retries",
    "pack_call",
]

MAX_LOST_RUNS = 3
_ENVELOPE_ROOM = 64 * 1024  # the header and the pickle framing of a batch payload


@dataclass(frozen=True)
class Retries:
    """How failed inputs are retried (Modal's ``modal.Retries``): retry ``n`` waits
    ``initial_delay * backoff_coefficient ** (n - 1)`` seconds, at most ``max_delay``."""

    max_retries: int = 0
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.max_retries <= 10, "max_retries must be 0 to 10"),
            (1.0 <= self.backoff_coefficient <= 10.0, "backoff_coefficient must be 1 to 10"),
            (0.0 <= self.initial_delay <= 60.0, "initial_delay must be 0 to 60 seconds"),
            (0.0 <= self.max_delay <= 60.0, "max_delay must be 0 to 60 seconds"),
        ]
        wrong = [why for ok, why in checks if not ok]
        if wrong:
            raise ValidationError(
                f"Retries{asdict(self)}: " + "; ".join(wrong),
                suggestions=["Retries(max_retries=3, backoff_coefficient=2.0, initial_delay=1.0)"],
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        wait = self.initial_delay * self.backoff_coefficient ** max(retry - 1, 0)
        return float(min(wait, self.max_delay))

    @classmethod
    def of(cls, value: int | Retries | None) -> Retries:
        """``retries=`` as given: a count (retried after 1 s each time), a policy, or None."""
        if value is None:
            return cls()
        if isinstance(value, Retries):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                f"retries={value!r}: expected a number of retries or a Retries(...) policy",
                suggestions=["retries=3, or retries=flowlib.Retries(max_retries=3)"],
            )
        return cls(max_retries=value, backoff_coefficient=1.0, initial_delay=1.0)


@dataclass
class InputResult:
    """The final outcome of one input: its return value, or the exception it ended with."""

    index: int
    ok: bool
    value: Any
    task_id: str | None = None


@dataclass
class Plan:
    """How to run the inputs (JSON-able, so a later process can continue)."""

    function: str
    name: str
    header: dict[str, Any]
    code_dir: str
    provider: str | None = None
    instance_types: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    python: str | None = None
    upload: bool = True
    batch_size: int = 1
    max_concurrency: int = 4
    retries: Retries = field(default_factory=Retries)
    timeout: float | None = None


def pack_call(
    fn: Callable[..., Any], inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]], code_dir: Path
) -> tuple[bytes, list[bytes], dict[str, Any]]:
    """The pickled function, one pickle per input, and the payload header fields (client
    environment). Fails before anything is submitted, naming the input and argument that cannot
    be pickled, or an input over the size limit."""
    import cloudpickle

    with pickling_for(fn, code_dir) as (_, top):
        try:
            function = cloudpickle.dumps(fn)
        except Exception as exc:
            raise unpicklable_error(fn, (), {}, exc) from exc
        blobs = []
        for index, (args, kwargs) in enumerate(inputs):
            try:
                blob = cloudpickle.dumps((args, kwargs))
            except Exception as exc:
                error = unpicklable_error(fn, args, kwargs, exc)
                raise ValidationError(
                    f"input {index}: {error.message}", suggestions=error.suggestions
                ) from exc
            if len(function) + len(blob) > MAX_PAYLOAD_BYTES - _ENVELOPE_ROOM:
                raise ValidationError(
                    f"input {index} pickles to {len(blob) / 2**20:.1f} MB: with the function, "
                    f"over the {MAX_PAYLOAD_BYTES / 2**20:.0f} MB limit on arguments",
                    suggestions=[
                        "pass a path or URL and load the data on the far side (a volume, a bucket)"
                    ],
                )
            blobs.append(blob)
    header = {
        "function": describe(fn),
        "by_value": True,  # the function object itself travels (code objects are per-version)
        "max_result_bytes": MAX_RESULT_BYTES,
        **environment(() if top is None else (top,)),
    }
    return function, blobs, header


@dataclass
class _Slot:
    failures: int = 0  # times it raised
    lost: int = 0  # times its task ended under it without a result
    not_before: float = 0.0  # monotonic time before which it is not submitted again


class Dispatcher:
    """Runs ``inputs`` (pickled) of ``function`` (pickled) as :class:`Plan` says."""

    def __init__(
        self, plan: Plan, function: bytes, inputs: list[bytes], *, flow: Flow | None = None
    ) -> None:
        if flow is None:
            from flowlib.flow import Flow

            flow = Flow(provider=plan.provider)
        self.plan = plan
        self.flow = flow
        self.function = function
        self.inputs = inputs
        self.slots = [_Slot() for _ in inputs]
        self.ready: set[int] = set(range(len(inputs)))
        self.live: dict[str, list[int]] = {}
        self.unfinished: set[int] = set(range(len(inputs)))
        self.cancelled = False
        self.tasks: list[str] = []
        self._submitter: Submitter | None = None

    # -- driving ------------------------------------------------------------------------
    def results(self, timeout: float | None = None) -> Iterator[InputResult]:
        """Final results as inputs end (any order), until every input has one."""
        clock = self.flow.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        # poll as often as the provider allows (the local one: every 20 ms), like Flow.wait
        provider = self.flow.provider(self.plan.provider)
        cap = poll_interval(provider)
        interval = min(0.002, cap)
        try:
            while self.unfinished:
                got = self.step()
                yield from got
                if not self.unfinished:
                    return
                if deadline is not None and clock.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{len(self.unfinished)} input(s) of {self.plan.function} still running "
                        f"after {timeout:g} s",
                        suggestions=["wait longer (`.get(timeout=None)`), or `.cancel()` it"],
                        task_id=next(iter(self.live), None),
                    )
                if got:
                    interval = 0.002
                    continue
                wait = interval
                if not self.live and self.ready:  # only back-offs pending: sleep until due
                    due = min(self.slots[i].not_before for i in self.ready)
                    wait = max(due - clock.monotonic(), 0.0)
                if deadline is not None:
                    wait = min(wait, max(deadline - clock.monotonic(), 0.0))
                clock.sleep(wait)
                interval = min(interval * 1.5, cap)
        finally:
            if not self.live:
                self.close()

    def step(self) -> list[InputResult]:
        """Submit what may start now, look at every running task once; the inputs that ended."""
        self._submit_due()
        ended: list[InputResult] = []
        if self.cancelled:  # inputs waiting for a retry or a rerun end here
            for index in sorted(self.ready):
                error = RemoteError(
                    f"input {index} of {self.plan.function} was cancelled", error_code="cancelled"
                )
                ended.append(self._final(index, False, error, None))
        if self.live:  # one status call per provider for all of them
            flow = self.flow
            for record in flow.lifecycle.refresh([flow.store.get(t) for t in self.live]):
                if record.status.is_terminal:
                    ended += self._collect(record, self.live.pop(record.task_id))
        return ended

    def cancel(self) -> None:
        """Stop every running task; inputs without a result end as cancelled."""
        self.cancelled = True
        for task_id in list(self.live):
            with contextlib.suppress(ValidationError):  # it ended meanwhile
                self.flow.cancel(task_id)

    def close(self) -> None:
        if self._submitter is not None:
            self._submitter.close()
            self._submitter = None

    # -- submitting -----------------------------------------------------------------------
    def _submit_due(self) -> None:
        if self.cancelled:
            return
        now = self.flow.clock.monotonic()
        while len(self.live) < self.plan.max_concurrency:
            due = sorted(i for i in self.ready if self.slots[i].not_before <= now)
            if not due:
                return
            batch: list[int] = []
            size = len(self.function) + _ENVELOPE_ROOM
            for index in due[: self.plan.batch_size]:
                if batch and size + len(self.inputs[index]) > MAX_PAYLOAD_BYTES:
                    break
                batch.append(index)
                size += len(self.inputs[index])
            task_id = self._submit(batch)
            self.ready.difference_update(batch)
            self.live[task_id] = batch
            self.tasks.append(task_id)

    def _submit(self, batch: list[int]) -> str:
        plan = self.plan
        if self._submitter is None:
            self._submitter = Submitter(
                self.flow,
                provider=plan.provider,
                python=plan.python,
                code_dir=Path(plan.code_dir),
                upload=plan.upload,
            )
        header = {**plan.header, "kind": "batch", "count": len(batch), "timeout": plan.timeout}
        body = pickle.dumps(
            {"function": self.function, "inputs": [(i, self.inputs[i]) for i in batch]},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        fields = dict(plan.fields)
        if plan.timeout and "max_run_time_hours" not in fields:
            # each input is stopped by the runner; this bounds the task if the runner hangs
            fields["max_run_time_hours"] = min((plan.timeout * len(batch) + 300) / 3600, 168)
        types: list[str | None] = list(plan.instance_types) or [None]
        return self._submitter.submit(
            encode(header, body), name=plan.name, instance_types=types, **fields
        )

    # -- collecting -----------------------------------------------------------------------
    def _collect(self, task: TaskRecord, indices: list[int]) -> list[InputResult]:
        provider = self.flow.provider(task.provider)
        data = channel_for(task, provider).fetch(task, RESULTS_FILE)
        records: dict[int, tuple[dict[str, Any], bytes]] = {}
        whole: dict[str, Any] | None = None
        for envelope in read_records(data) if data else []:
            index = int(envelope.header.get("index", -1))
            if index == -1:
                whole = envelope.header
            else:
                records[index] = (envelope.header, envelope.body)
        cancelled = self.cancelled or task.status.value == "cancelled"
        ended: list[InputResult] = []
        running_one_seen = False
        for index in indices:
            if index in records:
                header, body = records[index]
                ended += self._outcome(index, header, body, task.task_id)
            elif whole is not None:
                ended.append(
                    self._final(index, False, mismatch_error(whole, task.task_id), task.task_id)
                )
            elif cancelled:
                error = RemoteError(
                    f"input {index} of {self.plan.function} was cancelled (task {task.task_id})",
                    task_id=task.task_id,
                )
                ended.append(self._final(index, False, error, task.task_id))
            elif data is None or not running_one_seen:
                # the input that was running when the task ended (with no results file: the
                # runner never started, and every input counts)
                running_one_seen = data is not None
                ended += self._lost(index, task)
            else:
                self.ready.add(index)  # never started: queued again, nothing counted
        return ended

    def _outcome(
        self, index: int, header: dict[str, Any], body: bytes, task_id: str
    ) -> list[InputResult]:
        status = header.get("status")
        slot = self.slots[index]
        if status == "ok":
            import cloudpickle

            try:
                value = cloudpickle.loads(body)
            except Exception as exc:
                error = EnvironmentMismatchError(
                    f"the result of input {index} (task {task_id}) cannot be loaded here: "
                    f"{type(exc).__name__}: {exc}",
                    suggestions=["install here the packages the result's objects come from"],
                    task_id=task_id,
                )
                return [self._final(index, False, error, task_id)]
            return [self._final(index, True, value, task_id)]
        if status == "error":
            slot.failures += 1
            if slot.failures <= self.plan.retries.max_retries and not self.cancelled:
                delay = self.plan.retries.delay(slot.failures)
                slot.not_before = self.flow.clock.monotonic() + delay
                self.ready.add(index)
                return []
            return [self._final(index, False, rebuild_exception(header, body, task_id), task_id)]
        if status == "too-large":
            too_large = RemoteError(
                f"the result of input {index} is {int(header.get('size', 0)) / 2**20:.1f} MB, "
                f"over the {int(header.get('limit', MAX_RESULT_BYTES)) / 2**20:.0f} MB limit",
                suggestions=["write large outputs to a volume or bucket and return their path"],
                task_id=task_id,
                error_code="result-too-large",
            )
            return [self._final(index, False, too_large, task_id)]
        error = EnvironmentMismatchError(
            str(header.get("message", f"input {index}: status {status!r}")),
            suggestions=["run the remote with the client's Python version and packages"],
            task_id=task_id,
        )
        return [self._final(index, False, error, task_id)]

    def _lost(self, index: int, task: TaskRecord) -> list[InputResult]:
        slot = self.slots[index]
        slot.lost += 1
        if slot.lost <= MAX_LOST_RUNS:
            self.ready.add(index)  # preempted or killed: the same input runs again
            return []
        why = f": {task.message}" if task.message else ""
        error = RemoteError(
            f"input {index} of {self.plan.function} ran {slot.lost} times and its task ended "
            f"each time without a result (last: task {task.task_id}, exit code "
            f"{task.exit_code}{why})",
            remote_traceback=self.flow.logs(task.task_id, tail=20),
            suggestions=[f"`flow logs {task.task_id}` shows the task's whole output"],
            task_id=task.task_id,
            error_code="no-result",
        )
        return [self._final(index, False, error, task.task_id)]

    def _final(self, index: int, ok: bool, value: Any, task_id: str | None) -> InputResult:
        self.unfinished.discard(index)
        self.ready.discard(index)
        return InputResult(index, ok, value, task_id)

    # -- persistence ----------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the state (``state.json``) and, once, the pickles (``call.pkl``)."""
        folder.mkdir(parents=True, exist_ok=True)
        pickles = folder / "call.pkl"
        if not pickles.exists():
            pickles.write_bytes(pickle.dumps((self.function, self.inputs)))
        now = self.flow.clock.monotonic()
        state = {
            "plan": {**asdict(self.plan), "retries": asdict(self.plan.retries)},
            "slots": [[s.failures, s.lost, max(s.not_before - now, 0.0)] for s in self.slots],
            "ready": sorted(self.ready),
            "live": self.live,
            "unfinished": sorted(self.unfinished),
            "cancelled": self.cancelled,
            "tasks": self.tasks,
        }
        tmp = folder / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(folder / "state.json")

    @classmethod
    def load(cls, folder: Path, *, flow: Flow | None = None) -> Dispatcher:
        state = json.loads((folder / "state.json").read_text())
        function, inputs = pickle.loads((folder / "call.pkl").read_bytes())
        plan_data = dict(state["plan"])
        plan_data["retries"] = Retries(**plan_data["retries"])
        dispatcher = cls(Plan(**plan_data), function, inputs, flow=flow)
        now = dispatcher.flow.clock.monotonic()
        dispatcher.slots = [_Slot(f, lost, now + wait) for f, lost, wait in state["slots"]]
        dispatcher.ready = set(state["ready"])
        dispatcher.live = {k: list(v) for k, v in state["live"].items()}
        dispatcher.unfinished = set(state["unfinished"])
        dispatcher.cancelled = bool(state["cancelled"])
        dispatcher.tasks = list(state["tasks"])
        return dispatcher
