"""The contract between the engine and a provider.

The engine calls the one provider chosen for a task through :class:`Provider`: a small Protocol,
not a hook. Hooks (:mod:`flowlib.hookspecs`) only *discover* providers.

Life of a task, as the engine drives it::

    caps = provider.capabilities          # checked before any network call
    config = provider.prepare(config)     # resolve defaults, fail early (no resources created)
    store.add(record)                     # intent recorded first
    data = provider.submit(record)        # create resources; data goes into record.provider_data
    provider.status([record, ...])        # batch: one call for many tasks of this provider
    provider.logs(record, tail=100) / provider.logs(record, follow=True)
    provider.cancel(record)

``submit`` must be safe to resume: a provider names its resources after ``record.task_id`` so a
later process can find (and release) what an interrupted submit created.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from flowlib.catalog import Offer
    from flowlib.core.store import TaskRecord
    from flowlib.models import FlowConfig, Instance, TaskConfig, TaskStatus, Volume

__all__ = [
    "Capabilities",
    "Feature",
    "Provider",
    "ProviderContext",
    "ProviderSpec",
    "TaskState",
    "optional_method",
]


class Feature:
    """Names of the things a task may ask for that a provider may not do."""

    GPU = "gpu"
    SPOT = "spot"
    MULTI_NODE = "multi_node"
    VOLUMES = "volumes"
    DATA_MOUNTS = "data_mounts"
    VOLUME_MOUNTS = "volume_mounts"  # volume:// data mounts: a volume at a path on the machine
    CONTAINER_IMAGE = "container_image"
    SSH = "ssh"
    HIBERNATE = "hibernate"
    MAX_PRICE = "max_price"
    REGION = "region"


@dataclass(frozen=True)
class Capabilities:
    """What a provider cannot do, as data: feature -> the reason, shown to the user."""

    unsupported: Mapping[str, str] = field(default_factory=dict)

    def supports(self, feature: str) -> bool:
        return feature not in self.unsupported

    def missing(self, wanted: Sequence[str]) -> dict[str, str]:
        return {f: self.unsupported[f] for f in wanted if f in self.unsupported}


def optional_method(
    provider: Any, attr: str, feature: str, *, cannot: str, default: str, suggestions: list[str]
) -> Any:
    """The provider's optional method (or object) ``attr``, or an UnsupportedError that says
    "provider 'NAME' {cannot}: {why}", the why being the provider's own reason for ``feature``
    (``default`` when it gives none)."""
    found = getattr(provider, attr, None)
    if found is None:
        from flowlib.errors import UnsupportedError

        reason = provider.capabilities.unsupported.get(feature, default)
        raise UnsupportedError(
            f"provider '{provider.name}' {cannot}: {reason}",
            suggestions=suggestions,
            provider=provider.name,
        )
    return found


@dataclass
class TaskState:
    """What a provider knows about one task right now."""

    status: TaskStatus
    exit_code: int | None = None
    provider_state: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    provider_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider factory receives: settings resolved by the config layer (credentials
    included, never read from disk by the provider), and where flowlib keeps its state."""

    name: str
    settings: Mapping[str, Any]
    home: Path
    flow_config: FlowConfig


@runtime_checkable
class Provider(Protocol):
    """A place tasks run. Methods raise :class:`flowlib.errors.FlowError` subclasses only."""

    name: str

    @property
    def capabilities(self) -> Capabilities:
        """What this provider cannot do, with reasons (checked before any call)."""
        ...

    def offers(self, config: TaskConfig) -> list[Offer]:
        """Offers able to run ``config``, cheapest first (empty: none can, now)."""
        ...

    def prepare(self, config: TaskConfig) -> TaskConfig:
        """Validate ``config`` for this provider and fill its defaults. Creates nothing."""
        ...

    def submit(self, record: TaskRecord) -> dict[str, Any]:
        """Start the task; return what is needed to find its resources again (stored)."""
        ...

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        """Current state of each task, keyed by task id (one batch, not one call per task)."""
        ...

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        """Log lines of the workload (stdout and stderr). ``follow`` yields until the task ends."""
        ...

    def cancel(self, record: TaskRecord) -> None:
        """Stop the task and release what it holds. Idempotent."""
        ...

    def instances(self, record: TaskRecord) -> list[Instance]:
        """The machines the task runs on."""
        ...


class VolumeProvider(Protocol):
    """Optional: providers that manage persistent volumes."""

    def create_volume(self, size_gb: int, name: str | None = None) -> Volume: ...

    def list_volumes(self) -> list[Volume]: ...

    def delete_volume(self, volume_id: str) -> None: ...


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as a plugin announces it: a name and a factory."""

    name: str
    factory: Any  # Callable[[ProviderContext], Provider]
    description: str = ""
