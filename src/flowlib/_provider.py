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

Plugins import all of it as :mod:`flowlib.providers.base`. It lives here, below both the hooks
(:mod:`flowlib.hookspecs`, whose hooks return :class:`ProviderSpec` and :class:`RemoteHostSpec`)
and the registry that calls those hooks (:mod:`flowlib.providers`), so neither package imports
the other back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

from flowlib.errors import UnsupportedError

if TYPE_CHECKING:
    from flowlib.catalog import Offer
    from flowlib.core.hosts import HostFactory
    from flowlib.core.packaging import CodeArchive
    from flowlib.core.store import TaskRecord
    from flowlib.models import FlowConfig, Instance, PortForward, TaskConfig, TaskStatus, Volume

__all__ = [
    "DEFAULT_POLL_INTERVAL_S",
    "FEATURE_CAPABILITIES",
    "MASK",
    "OPTIONAL_CAPABILITIES",
    "Arrays",
    "Capabilities",
    "Feature",
    "PersistentInstanceManager",
    "PersistentInstances",
    "PortForwarding",
    "Provider",
    "ProviderContext",
    "ProviderSpec",
    "RemoteHostSpec",
    "ScriptPreview",
    "ShellAccess",
    "TaskFiles",
    "TaskState",
    "VolumeProvider",
    "Volumes",
    "able_providers",
    "close_provider",
    "optional_method",
    "poll_interval",
    "require",
]


class Feature(str, Enum):
    """The things a task may ask for that a provider may not do.

    A provider lists the ones it cannot do in :attr:`Provider.capabilities`; which TaskConfig
    field asks for which feature is one table, :data:`flowlib._features.FIELD_NEEDS`. Members
    compare equal to their values (``Feature.SSH == "ssh"``), so a plugin may use either.
    """

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

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Capabilities:
    """What a provider cannot do, as data: feature -> the reason, shown to the user.

    Keys may be given as :class:`Feature` members or their string values; an unknown name is a
    plugin bug and raises ``ValueError`` (a typo would otherwise allow what it meant to refuse).
    """

    unsupported: Mapping[Feature, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "unsupported", {Feature(k): str(v) for k, v in self.unsupported.items()}
        )

    def supports(self, feature: Feature | str) -> bool:
        return Feature(feature) not in self.unsupported

    def missing(self, wanted: Iterable[Feature | str]) -> dict[Feature, str]:
        """The features of ``wanted`` this provider cannot do, with its reasons, in order."""
        found = (Feature(f) for f in wanted)
        return {f: self.unsupported[f] for f in found if f in self.unsupported}


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

    # Optional members, with one default each (read through :func:`poll_interval` and
    # :func:`close_provider`, so a provider may leave them out).
    @property
    def poll_interval_s(self) -> float:
        """How often ``wait`` may ask :meth:`status` at most, in seconds (default
        :data:`DEFAULT_POLL_INTERVAL_S`; the local provider: 0.02, a cloud: a few seconds)."""
        ...

    def close(self) -> None:
        """Release clients and connections; :meth:`flowlib.Flow.close` calls it once for each
        provider it built. Default: nothing to release."""
        ...


DEFAULT_POLL_INTERVAL_S = 2.0


def poll_interval(provider: object) -> float:
    """The provider's ``poll_interval_s``, or :data:`DEFAULT_POLL_INTERVAL_S`."""
    value = getattr(provider, "poll_interval_s", None)
    return DEFAULT_POLL_INTERVAL_S if value is None else float(value)


def close_provider(provider: object) -> None:
    """Call the provider's ``close()`` if it has one."""
    close = getattr(provider, "close", None)
    if callable(close):
        close()


# -- optional capabilities -------------------------------------------------------------------
# Each is a small Protocol a provider implements or not; the engine asks with isinstance, in
# one place (:func:`require` or :func:`supports`), never with getattr.


@runtime_checkable
class Volumes(Protocol):
    """Persistent volumes: created, listed and deleted apart from any task
    (``flow volume``; ``volumes=`` and ``volume://`` mounts on tasks)."""

    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        """A new volume of ``size_gb`` GB, found again by ``name`` when given."""
        ...

    def list_volumes(self) -> list[Volume]:
        """Every volume of the account (project) the provider works in."""
        ...

    def delete_volume(self, volume_id: str) -> None:
        """Delete one volume (the engine refuses first while a live task uses it)."""
        ...


VolumeProvider = Volumes  # the earlier name


@runtime_checkable
class Arrays(Protocol):
    """Task arrays in one call (SLURM ``--array``): the provider enforces ``throttle`` itself.
    Without it the engine submits an array one task at a time."""

    def submit_array(
        self,
        records: Sequence[TaskRecord],
        *,
        throttle: int | None = None,
        indices: Sequence[int] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Start every task of ``records`` (one shape, ``indices`` their array indices);
        return each one's provider data, keyed by task id."""
        ...

    def cancel_array(self, records: Sequence[TaskRecord]) -> None:
        """Stop the arrays of ``records`` in one call (idempotent)."""
        ...


@runtime_checkable
class ShellAccess(Protocol):
    """A shell on a task's machine (``flow ssh``, ``task.ssh()``)."""

    def ssh(self, record: TaskRecord, command: str | None = None, node: int = 0) -> int:
        """A shell (or ``command``) on node ``node``, attached to this terminal; its exit code."""
        ...


@runtime_checkable
class PortForwarding(Protocol):
    """A port of a task's machine reachable here (``flow tunnel``, ``task.tunnel()``)."""

    def forward(
        self, record: TaskRecord, remote_port: int, local_port: int = 0, node: int = 0
    ) -> PortForward:
        """Make ``remote_port`` of node ``node`` reachable at ``127.0.0.1:<local_port>``
        (0: a free port) until the result is closed."""
        ...


@runtime_checkable
class TaskFiles(Protocol):
    """Read one file of a task's machine (remote Python calls read their results this way)."""

    def read_file(self, record: TaskRecord, path: str) -> bytes | None:
        """The bytes of ``path``, an absolute path on the task's machine (the provider maps it
        under the task's ``FLOW_ROOT`` where it has one), or None when the file does not exist.
        Any file while the task runs; once it ended, at least those under
        ``<working_dir>/.flow-remote/`` (remote calls' results: a provider whose machines go
        away keeps a copy). Raises :class:`~flowlib.errors.FlowError` subclasses only (the
        machine is gone: :class:`~flowlib.errors.ProviderError`)."""
        ...


MASK = "***"
"""What a preview shows in place of a secret (env values, release keys)."""


@runtime_checkable
class ScriptPreview(Protocol):
    """The startup script a provider sends, rendered without sending it: ``flow run --dry-run
    --verbose`` shows this. Without it the dry run shows the generic script, and says so."""

    def preview_script(self, record: TaskRecord, code: CodeArchive | None) -> str:
        """The script :meth:`Provider.submit` would send for ``record`` (its config prepared,
        env values already masked by the caller) with ``code`` as the task's code, by the same
        render as the submit; secrets the provider adds itself (release keys) shown as
        :data:`MASK`. Creates nothing and changes nothing."""
        ...


@runtime_checkable
class PersistentInstanceManager(Protocol):
    """Machines kept between tasks (``flow run --on NAME``), each answered as a plain dict
    (name, state, instance type, region, tasks queued: docs/persistent-instances.md)."""

    def list_all(self) -> list[dict[str, Any]]: ...

    def describe(self, name: str) -> dict[str, Any]: ...

    def wake(self, name: str, *, wait: bool = True) -> dict[str, Any]: ...

    def hibernate(self, name: str) -> dict[str, Any]: ...

    def delete(self, name: str) -> dict[str, Any]: ...


@runtime_checkable
class PersistentInstances(Protocol):
    """A provider with persistent instances: ``persistent`` manages them."""

    persistent: PersistentInstanceManager


_C = TypeVar("_C")


@dataclass(frozen=True)
class _Why:
    feature: Feature | None
    cannot: str
    default: str
    suggestion: str


_WHY_NOT: dict[object, _Why] = {
    Volumes: _Why(
        Feature.VOLUMES, "cannot manage volumes", "it has no volumes", "use a provider with volumes"
    ),
    Arrays: _Why(None, "cannot submit an array at once", "it has no arrays", ""),
    ShellAccess: _Why(
        Feature.SSH, "cannot open ssh", "it has no ssh access", "use `flow logs` to see the output"
    ),
    PortForwarding: _Why(
        Feature.SSH,  # the reason a provider gives for no ssh says why, where it gives one
        "cannot forward a port of its tasks",
        "it cannot forward ports",
        "have the workload listen on an address you can reach",
    ),
    TaskFiles: _Why(None, "cannot read its tasks' files", "it has no access to them", ""),
    PersistentInstances: _Why(
        Feature.HIBERNATE,
        "has no persistent instances",
        "it has none",
        "use a provider with persistent instances",
    ),
}
OPTIONAL_CAPABILITIES: tuple[Any, ...] = tuple(_WHY_NOT)
"""Every optional capability Protocol, for tools (the conformance suite) that visit them all."""


def optional_method(
    provider: Any,
    attr: str,
    feature: Feature | str,
    *,
    cannot: str,
    default: str,
    suggestions: list[str],
) -> Any:
    """The provider's optional member ``attr``, for members no capability Protocol names yet
    (one provider's own extras); else an UnsupportedError "provider 'NAME' {cannot}: {why}",
    the why being the provider's reason for ``feature`` (``default`` when it gives none).
    Capabilities with a Protocol go through :func:`require`."""
    found = getattr(provider, attr, None)
    if found is None:
        reason = provider.capabilities.unsupported.get(feature, default)
        raise UnsupportedError(
            f"provider '{provider.name}' {cannot}: {reason}",
            suggestions=suggestions,
            provider=provider.name,
        )
    return found


FEATURE_CAPABILITIES: Mapping[Feature, Any] = {
    Feature.SSH: ShellAccess,
    Feature.VOLUMES: Volumes,
    Feature.HIBERNATE: PersistentInstances,
}
"""A provider supports each of these features exactly when it implements the capability (the
conformance suite checks it)."""


def require(
    provider: Provider, kind: Callable[..., _C], specs: Mapping[str, ProviderSpec] | None = None
) -> _C:
    """``provider`` as capability ``kind``, or an :class:`~flowlib.errors.UnsupportedError`
    that says "provider 'NAME' {cannot}: {why}", the why being the provider's own reason
    (from its capabilities) where it gives one; ``specs`` name the providers that can."""
    if isinstance(provider, cast(type, kind)):
        return cast(_C, provider)
    why = _WHY_NOT[kind]
    reason = why.default
    if why.feature is not None:
        reason = provider.capabilities.unsupported.get(why.feature, why.default)
    tips = [why.suggestion] if why.suggestion else []
    if why.feature is not None and specs:
        able = able_providers(specs, why.feature, but=provider.name)
        if able:
            tips = [f"providers that can: {', '.join(able)} (--provider)", *tips]
    raise UnsupportedError(
        f"provider '{provider.name}' {why.cannot}: {reason}",
        suggestions=tips,
        provider=provider.name,
    )


def able_providers(specs: Mapping[str, ProviderSpec], feature: Feature, *, but: str) -> list[str]:
    """The providers of ``specs`` (by name, sorted) that can do ``feature``, except ``but``."""
    return [n for n, s in sorted(specs.items()) if n != but and feature not in s.unsupported]


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as a plugin announces it: a name, a factory, and its traits as data.

    :ivar unsupported: what the provider never does, with reasons (a :class:`Capabilities`
        mapping known without building the provider: the engine names providers that can do
        what another cannot). Its ``capabilities`` may add what depends on the machine.
    :ivar runs_here: tasks run on this machine (the local Python, no instance type to rent).
    """

    name: str
    factory: Callable[[ProviderContext], Provider]
    description: str = ""
    unsupported: Mapping[Feature, str] = field(default_factory=dict)
    runs_here: bool = False


@dataclass(frozen=True)
class RemoteHostSpec:
    """A way for the cloud providers to reach the machines they rent, as a plugin announces it
    (``flowlib_remote_hosts``). A provider section chooses it with ``remote_host: NAME`` (or
    ``MODULE:NAME``, which registers the plugin module ``MODULE`` first) and passes it
    ``remote_host_options``; ``ssh`` (OpenSSH) is built in and never a plugin's.

    :ivar name: what ``remote_host`` says.
    :ivar factory: called with the ``remote_host_options`` mapping (its keys among
        :attr:`options`); returns the :data:`~flowlib.core.hosts.HostFactory` the provider
        asks for each machine's :class:`~flowlib.core.hosts.RemoteHost`. Raises
        :class:`~flowlib.errors.ConfigError` for a missing or invalid option. It is also called
        when the settings are read, to check them: it must be cheap and touch nothing.
    :ivar options: the option keys it accepts; any other key is a ConfigError.
    """

    name: str
    factory: Callable[[Mapping[str, Any]], HostFactory]
    description: str = ""
    options: tuple[str, ...] = ()
