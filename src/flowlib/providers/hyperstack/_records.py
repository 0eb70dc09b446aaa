"""The task store, as this package uses it: one handle on FLOW_HOME's store.

Every call opens the store at ``home`` (:meth:`TaskStore.at_home` shares this process's one
connection to the file, :mod:`flowlib.core.store`), so a handle is cheap and holds nothing open.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.errors import ProviderError, StoreError, TaskNotFoundError
from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord

__all__ = ["TaskRecords"]

_LIVE = [TaskStatus.PENDING, TaskStatus.RUNNING]


class TaskRecords:
    """The hyperstack tasks of the store under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    def record(self, task_id: str, data: dict[str, Any]) -> None:
        """Merge ``data`` into the task's provider data, key by key (a status running
        meanwhile keeps its keys). Called before a cloud resource is created: a crash after the
        create leaves a record that finds (and releases) it. A task the store does not hold
        (the engine keeps its store elsewhere) is left alone."""
        from flowlib.core.store import TaskStore

        try:
            with TaskStore.at_home(self.home) as store:
                store.update(task_id, data=data)
        except TaskNotFoundError:
            pass  # the resource's name still derives from the task id
        except StoreError as exc:
            raise ProviderError(
                f"cannot record task {task_id} before creating its VM: {exc.message}",
                suggestions=exc.suggestions,
                provider="hyperstack",
            ) from exc

    def live_on(self, instance: str) -> list[TaskRecord]:
        """The unfinished tasks of persistent instance ``instance``."""
        from flowlib.core.store import TaskStore

        with TaskStore.at_home(self.home) as store:
            rows = store.list(status=_LIVE, provider="hyperstack", limit=10_000)
        return [r for r in rows if r.config.instance_name == instance]

    def cancel_on(self, instance: str) -> None:
        """Ask every unfinished task of ``instance`` to cancel (its VM is being deleted)."""
        from flowlib.core.store import TaskStore

        with TaskStore.at_home(self.home) as store:
            for r in store.list(status=_LIVE, provider="hyperstack", limit=10_000):
                if r.config.instance_name == instance:
                    store.update(r.task_id, cancel_requested=True)
