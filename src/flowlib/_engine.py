"""What the engine's parts see of the client that drives them.

Arrays (:mod:`flowlib._arrays`), volumes (:mod:`flowlib._volumes`), planning
(:mod:`flowlib._planning`) and artifacts (:mod:`flowlib.results`) are given the
:class:`flowlib.Flow` they work for as an :class:`Engine`: this Protocol names everything they
use of it, so none of them imports :mod:`flowlib.flow` (imports point down only:
docs/architecture.md) and a test may hand them a smaller object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flowlib._lifecycle import Lifecycle
    from flowlib.core.seams import Clock
    from flowlib.core.store import TaskRecord, TaskStore
    from flowlib.models import FlowConfig, Task, TaskStatus
    from flowlib.providers import Registry
    from flowlib.providers.base import Provider

__all__ = ["Engine"]


class Engine(Protocol):
    """The settings, seams and services of one client (:class:`flowlib.Flow` is one)."""

    @property
    def config(self) -> FlowConfig:
        """The settings the client was built with."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock (and sleep) every wait goes through."""
        ...

    @property
    def store(self) -> TaskStore:
        """The task store of the client's home."""
        ...

    @property
    def lifecycle(self) -> Lifecycle:
        """The service every record, submit, status and cancel goes through."""
        ...

    @property
    def registry(self) -> Registry:
        """The providers the client can build."""
        ...

    def provider(self, name: str | None = None) -> Provider:
        """The provider called ``name`` (default: the configured one), built once."""
        ...

    def task_of(self, record: TaskRecord) -> Task:
        """The handle of a stored task (no provider call)."""
        ...

    def list_tasks(
        self,
        status: TaskStatus | Iterable[TaskStatus] | None = None,
        limit: int = 100,
        *,
        provider: str | None = None,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks newest first, the unfinished ones refreshed."""
        ...
