"""A wandb-style run API: ``run = flowlib.init(project=..., config={...})``, ``run.log({...},
step=...)``, ``run.finish()``.

Inside a flowlib task (``FLOW_TASK_ID`` is set) a run prints the ``{"__flow__": ...}`` lines of
:mod:`flowlib.metrics` on stdout, so the task's metrics and checkpoints are the run's. Anywhere
else (a notebook, a plain script) it records a *local run* in the task store of ``FLOW_HOME``: a
task of the local provider whose process is this one, its lines in the task's log, so ``flow
status``, ``flow metrics``, ``flow logs --metrics`` and anything reading the store show it like
any task. ``run.finish()`` (or leaving ``with flowlib.init(...) as run:``) ends it: completed,
or failed when the block raised; a process that ends without finishing shows as failed.

Only the standard library is imported until a local run needs the store.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from flowlib.errors import ValidationError
from flowlib.metrics import RESERVED

__all__ = ["Run", "init"]


def init(
    project: str | None = None,
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Run:
    """Start a run. ``project`` and ``name`` name it (a local run's task is called ``name``,
    else ``project``); ``config`` (hyperparameters) is recorded with it; ``home`` is the
    FLOW_HOME of a local run (default: the configured one)."""
    settings = dict(config or {})
    if os.environ.get("FLOW_TASK_ID"):
        return Run(project, name, settings, sys.stdout, task_id=os.environ["FLOW_TASK_ID"])
    return _local_run(project, name, settings, home)


class Run:
    """One run: :meth:`log` metrics, :meth:`log_checkpoint`, :meth:`finish`."""

    def __init__(
        self,
        project: str | None,
        name: str | None,
        config: dict[str, Any],
        out: TextIO,
        *,
        task_id: str,
        run_dir: Path | None = None,
    ) -> None:
        self.project = project
        self.name = name or project or "run"
        self.config = config
        self.task_id = task_id
        self.finished = False
        self._out = out
        self._run_dir = run_dir  # a local run's var/run/flow
        self._step = 0
        self._emit({"event": "run", "project": project, "name": self.name, "config": config})

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return f"Run(name={self.name!r}, task_id={self.task_id!r}, {state})"

    @property
    def local(self) -> bool:
        """True for a run recorded in the store by this process (not inside a flowlib task)."""
        return self._run_dir is not None

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one after the last logged step). Numbers
        (also 0-d tensors and numpy scalars) are kept; other values are ignored."""
        bad = [k for k in data if k in RESERVED]
        if bad:
            raise ValidationError(
                f"{', '.join(sorted(bad))} cannot be a metric name (reserved)",
                suggestions=["pass the step as run.log({...}, step=N)", "rename the metric"],
            )
        step = self._step if step is None else int(step)
        self._step = step + 1
        values = {str(k): v for k, v in ((k, _number(v)) for k, v in data.items()) if v is not None}
        if values:
            self._emit({**values, "step": step})

    def update_config(self, values: Mapping[str, Any]) -> None:
        """Add hyperparameters to the run's config (recorded in the log as a config event)."""
        self.config.update(values)
        self._emit({"event": "config", "config": dict(values)})

    def log_checkpoint(self, path: str | os.PathLike[str], step: int | None = None) -> None:
        """Announce a saved checkpoint (``flow resume`` continues from the latest)."""
        payload: dict[str, Any] = {"event": "checkpoint", "path": os.path.abspath(path)}
        if step is not None:
            payload["step"] = int(step)
        self._emit(payload)

    def finish(self, exit_code: int = 0) -> None:
        """End the run: completed with 0, failed otherwise. A second call does nothing."""
        if self.finished:
            return
        self.finished = True
        self._out.flush()
        if self._run_dir is not None:
            tmp = self._run_dir / "exit_code.tmp"
            tmp.write_text(f"{int(exit_code)}\n", encoding="utf-8")
            os.replace(tmp, self._run_dir / "exit_code")
            self._out.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if value is not None and self._run_dir is not None:
            self._out.write(f"{kind.__name__ if kind else 'error'}: {value}\n")
        self.finish(_exit_code(value))

    def _emit(self, payload: dict[str, Any]) -> None:
        if self.finished:
            raise ValidationError(
                f"run {self.name} is finished", suggestions=["start another with flowlib.init()"]
            )
        payload["time"] = round(time.time(), 3)
        self._out.write(json.dumps({"__flow__": payload}, default=str) + "\n")
        self._out.flush()


def _task_name(text: str) -> str:
    """``text`` as a valid task name (1-63 letters, digits, ``-`` or ``_``), else ``run``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).lstrip("-_")[:63]
    return cleaned or "run"


def _exit_code(error: BaseException | None) -> int:
    if error is None:
        return 0
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    return 130 if isinstance(error, KeyboardInterrupt) else 1


def _number(value: Any) -> float | None:
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()  # a 0-d tensor, a numpy scalar
        except (TypeError, ValueError, RuntimeError):
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _local_run(project: str | None, name: str | None, config: dict[str, Any], home: Any) -> Run:
    """A task of the local provider whose process is this one, recorded in the store."""
    from datetime import datetime, timezone

    from flowlib.config import load_config
    from flowlib.core import procs
    from flowlib.core.files import open_private
    from flowlib.core.store import TaskRecord, TaskStore, new_task_id
    from flowlib.models import TaskConfig, TaskStatus

    home_dir = Path(home) if home is not None else load_config().home
    task_id = new_task_id()
    task_dir = home_dir / "tasks" / task_id
    root = task_dir / "root"
    run_dir = root / "var/run/flow"
    logs = root / "var/log/flow"
    for folder in (run_dir, logs):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (run_dir / "started").write_text(f"{int(time.time())}\n", encoding="utf-8")
    label = _task_name(name or project or Path(sys.argv[0] if sys.argv else "").stem)
    task_config = TaskConfig(
        name=label,
        command=[sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable],
        upload_code=False,
        env={"FLOW_PROJECT": project} if project else {},
    )
    now = datetime.now(timezone.utc)
    pid = os.getpid()
    record = TaskRecord(
        task_id=task_id,
        name=label,
        provider="local",
        config=task_config,
        status=TaskStatus.RUNNING,
        started_at=now,
        provider_state="running",
        provider_data={
            "pid": pid,
            "start_ticks": procs.start_ticks(pid),
            "dir": str(task_dir),
            "root": str(root),
            "run": {"project": project},
        },
    )
    with TaskStore.at_home(home_dir) as store:
        store.add(record)
    out = io.TextIOWrapper(open_private(logs / "task.log", append=True), encoding="utf-8")
    return Run(project, name or label, config, out, task_id=task_id, run_dir=run_dir)
