"""The contract between the engine and a provider, where plugins import it from.

Everything here is :mod:`flowlib._provider`'s, which holds it below the hooks
(:mod:`flowlib.hookspecs`) and this package's registry alike (see that module).
"""

from flowlib._provider import (
    DEFAULT_POLL_INTERVAL_S,
    FEATURE_CAPABILITIES,
    MASK,
    OPTIONAL_CAPABILITIES,
    Arrays,
    Capabilities,
    Feature,
    PersistentInstanceManager,
    PersistentInstances,
    PortForwarding,
    Provider,
    ProviderContext,
    ProviderSpec,
    RemoteHostSpec,
    ScriptPreview,
    ShellAccess,
    TaskFiles,
    TaskState,
    VolumeProvider,
    Volumes,
    close_provider,
    optional_method,
    poll_interval,
    require,
)

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
    "close_provider",
    "optional_method",
    "poll_interval",
    "require",
]
