"""submitit's ``AutoExecutor`` and ``Job`` on flowlib providers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from flowlib.errors import UnsupportedError
from flowlib.remote import RemoteCall, RemoteError, spawn
from flowlib.submitit._params import PARAMETERS, task_fields, validate, warn_ignored

__all__ = ["AutoExecutor", "Job", "JobPaths", "UncompletedJobError"]

R = TypeVar("R")
_STATES = {
    "pending": "PENDING",
    "running": "RUNNING",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
}


class UncompletedJobError(RemoteError):
    """The job ended without a result (cancelled, killed, out of requeues)."""


class JobPaths:
    """Where a job's files live in the executor's folder (``%j`` is the job id)."""

    def __init__(self, folder: str | Path, job_id: str) -> None:
        self.job_id = job_id
        self.folder = Path(str(folder).replace("%j", job_id)).expanduser().absolute()
        self.stdout = self.folder / f"{job_id}_0_log.out"
        self.stderr = self.folder / f"{job_id}_0_log.err"
        self.result_pickle = self.folder / f"{job_id}_0_result.pkl"
        self.submitted_pickle = self.folder / f"{job_id}_submitted.pkl"
        self.flow_record = self.folder / f"{job_id}_flow.json"


class Job(Generic[R]):
    """One submitted function; ``Job(folder, job_id)`` rebuilds it in any later process.

    A requeue (checkpoint on SIGTERM) continues as a new task; ``job_id`` stays the first one's.
    """

    def __init__(self, folder: str | Path, job_id: str | None = None) -> None:
        self._folder = folder
        self._job_id = job_id
        self._tasks: list[str] = []
        self._options: dict[str, Any] = {}
        self._max_requeues = 3
        self._last: RemoteCall[R] | None = None  # the handle on _tasks[-1], kept for its client
        if job_id is not None:
            saved = json.loads(self.paths.flow_record.read_text())
            self._tasks = list(saved["tasks"])
            self._options = dict(saved["options"])
            self._max_requeues = int(saved["max_num_timeout"])

    def _start(self, call: RemoteCall[Any], options: dict[str, Any], max_requeues: int) -> None:
        self._job_id, self._tasks = call.task_id, [call.task_id]
        self._options, self._max_requeues = options, max_requeues
        self._last = call
        self._save()

    def _save(self) -> None:
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "tasks": self._tasks,
            "options": self._options,
            "max_num_timeout": self._max_requeues,
        }
        self.paths.flow_record.write_text(json.dumps(record))

    @property
    def job_id(self) -> str:
        if self._job_id is None:
            raise RuntimeError("the job is not submitted yet: leave the `batch()` block first")
        return self._job_id

    @property
    def paths(self) -> JobPaths:
        return JobPaths(self._folder, self.job_id)

    @property
    def num_tasks(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f'Job<job_id={self._job_id}, task_id=0, state="{self.state}">'

    def _call(self) -> RemoteCall[R]:
        """The latest task's handle: one client and one read of its result per task, not one
        per look (``done()`` is polled)."""
        if self._last is None or self._last.task_id != self._tasks[-1]:
            self._last = RemoteCall(self._tasks[-1])
        return self._last

    def _settle(self, timeout: float | None = None) -> Any:
        """Wait, requeueing as the runner asks, and return the final outcome."""
        while True:
            outcome = self._call().outcome(timeout)
            if outcome.status != "requeue" or outcome.task is None:
                return outcome
            if outcome.task.status.value == "cancelled" or len(self._tasks) > self._max_requeues:
                return outcome
            delayed = outcome.value()
            options = dict(self._options)
            call = spawn(delayed.function, delayed.args, delayed.kwargs, **options)
            self._tasks.append(call.task_id)
            self._last = call
            self._save()

    def result(self) -> R:
        outcome = self._settle()
        if outcome.status in ("requeue", "cancelled", "lost"):
            error = self._call()._error(outcome)
            assert isinstance(error, RemoteError)
            raise UncompletedJobError(
                f"job {self.job_id} has not completed: {error.message}"
                + (f" (after {len(self._tasks) - 1} requeues)" if len(self._tasks) > 1 else ""),
                remote_traceback=error.remote_traceback,
                task_id=self._tasks[-1],
            )
        value: R = self._call().result()
        return value

    def results(self) -> list[R]:
        return [self.result()]

    def exception(self) -> BaseException | None:
        try:
            self.result()
        except Exception as exc:
            return exc
        return None

    def wait(self) -> None:
        self._settle()

    def done(self, force_check: bool = False) -> bool:
        call = self._call()
        if not call.task.status.is_terminal:
            return False
        outcome = call.outcome()
        task = outcome.task
        if (
            outcome.status == "requeue"
            and task is not None
            and task.status.value != "cancelled"
            and len(self._tasks) <= self._max_requeues
        ):
            self._settle(0)  # submits the requeue
            return False
        return True

    @property
    def state(self) -> str:
        if self._job_id is None:
            return "UNSUBMITTED"
        task = self._call().task
        if task.exit_code == 124 and task.status.value == "failed":
            return "TIMEOUT"
        return _STATES.get(task.status.value, "UNKNOWN")

    def cancel(self, check: bool = True) -> None:
        call = self._call()
        if call.task.status.is_terminal:
            if check:
                raise UncompletedJobError(f"job {self.job_id} already ended", task_id=call.task_id)
            return
        call.cancel()

    def stdout(self) -> str | None:
        """The job's output (stdout and stderr interleaved, as the task log holds them), every
        requeued run in order; also written to ``paths.stdout``."""
        text = "\n".join(RemoteCall(t).logs() for t in self._tasks)
        self.paths.stdout.write_text(text)
        return text

    def stderr(self) -> str | None:
        """The same interleaved log as :meth:`stdout` (flowlib keeps one log per task)."""
        return self.stdout()


class AutoExecutor:
    """submitit's executor on flowlib: ``cluster=None`` is the configured provider (``local``
    unless set), or name a provider (``"local"``, ``"fcp"``...)."""

    def __init__(
        self,
        folder: str | Path,
        cluster: str | None = None,
        slurm_max_num_timeout: int = 3,
        **kwargs: Any,
    ) -> None:
        if cluster == "debug":
            raise UnsupportedError(
                "cluster='debug' (in-process) is not supported: the local provider runs real "
                "processes",
                suggestions=["use cluster=None or cluster='local'"],
            )
        self.folder = Path(folder).expanduser().absolute()
        self.cluster = cluster or _configured_provider()
        self.max_num_timeout = slurm_max_num_timeout
        self.parameters: dict[str, Any] = {}
        self._batch: list[tuple[Job[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self._batch = []
        self._in_batch = False
        if kwargs:
            self.update_parameters(**kwargs)

    @classmethod
    def valid_parameters(cls) -> set[str]:
        return set(PARAMETERS)

    def update_parameters(self, **kwargs: Any) -> None:
        """submitit's generic names, its ``slurm_*`` names, and ``flow_*`` ones; an unknown
        name raises :class:`ValidationError` listing every valid one."""
        validate(kwargs)
        warn_ignored(kwargs)
        if kwargs.get("flow_provider"):
            self.cluster = str(kwargs["flow_provider"])
        self.parameters.update(kwargs)

    def _options(self) -> dict[str, Any]:
        options = task_fields(self.parameters, self.cluster)
        options["provider"] = self.cluster
        if "code_dir" in options:
            options["code_dir"] = str(options["code_dir"])
        return options

    def submit(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> Job[R]:
        job: Job[R] = Job(self.folder)
        if self._in_batch:
            self._batch.append((job, fn, args, kwargs))
            return job
        options = self._options()
        job._start(spawn(fn, args, kwargs, **options), options, self.max_num_timeout)
        return job

    def map_array(self, fn: Callable[..., R], *iterables: Iterable[Any]) -> list[Job[R]]:
        """One job per input: ``fn(a[i], b[i], ...)``. With ``slurm_array_parallelism=N``, at
        most N run at once (this call returns once the last one is submitted)."""
        options = self._options()
        limit = self.parameters.get("slurm_array_parallelism")
        jobs: list[Job[R]] = []
        for args in zip(*iterables, strict=True):
            if limit:
                while sum(not j.done() for j in jobs) >= int(limit):
                    time.sleep(0.02)
            job: Job[R] = Job(self.folder)
            job._start(spawn(fn, args, {}, **options), options, self.max_num_timeout)
            jobs.append(job)
        return jobs

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect ``submit`` calls; submit them together when the block ends."""
        if self._in_batch:
            raise RuntimeError("batch() blocks cannot be nested")
        self._in_batch, self._batch = True, []
        try:
            yield
        except BaseException:
            self._batch = []
            raise
        finally:
            self._in_batch = False
        options = self._options()
        pending, self._batch = self._batch, []
        for job, fn, args, kwargs in pending:
            job._start(spawn(fn, args, kwargs, **options), options, self.max_num_timeout)


def _configured_provider() -> str:
    # Here, not above: the settings (pydantic) load when a job is submitted, not on import.
    from flowlib.config import load_config

    return load_config({}).provider
