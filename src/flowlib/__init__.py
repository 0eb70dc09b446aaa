"""flowlib: describe a GPU job once, run it anywhere.

>>> import flowlib
>>> task = flowlib.run("python train.py")          # doctest: +SKIP
>>> task.wait().status                             # doctest: +SKIP
<TaskStatus.COMPLETED: 'completed'>

``import flowlib`` is cheap: every public name loads on first use (PEP 562), so the CLI's
``--help`` and scripts that only need one piece pay for nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from flowlib._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "APIError": "flowlib.errors",
    "App": "flowlib.frontends.app",
    "AuthenticationError": "flowlib.errors",
    "Capabilities": "flowlib.providers.base",
    "CapacityError": "flowlib.errors",
    "ConfigError": "flowlib.errors",
    "Flow": "flowlib.flow",
    "FlowConfig": "flowlib.models",
    "FlowError": "flowlib.errors",
    "FunctionCall": "flowlib.frontends.app",
    "Instance": "flowlib.models",
    "InstanceStatus": "flowlib.models",
    "MountSpec": "flowlib.models",
    "NetworkError": "flowlib.errors",
    "PackagingError": "flowlib.errors",
    "Provider": "flowlib.providers.base",
    "ProviderContext": "flowlib.providers.base",
    "ProviderError": "flowlib.errors",
    "ProviderSpec": "flowlib.providers.base",
    "QuotaError": "flowlib.errors",
    "RemoteError": "flowlib.errors",
    "RemoteHostSpec": "flowlib.providers.base",
    "ResourceNotFoundError": "flowlib.errors",
    "Retries": "flowlib.frontends.app",
    "StorageInterface": "flowlib.models",
    "StoreError": "flowlib.errors",
    "Task": "flowlib.models",
    "TaskConfig": "flowlib.models",
    "TaskNotFoundError": "flowlib.errors",
    "TaskState": "flowlib.providers.base",
    "TaskStatus": "flowlib.models",
    "TimeoutError": "flowlib.errors",
    "UnsupportedError": "flowlib.errors",
    "User": "flowlib.models",
    "ValidationAPIError": "flowlib.errors",
    "ValidationError": "flowlib.errors",
    "Volume": "flowlib.models",
    "VolumeNotFoundError": "flowlib.errors",
    "VolumeSpec": "flowlib.models",
    "find_instances": "flowlib.catalog",
    "hookimpl": "flowlib.hookspecs",
    "invoke": "flowlib.remote",
    "load_config": "flowlib.config",
    "log_checkpoint": "flowlib.metrics",
    "log_metrics": "flowlib.metrics",
    "init": "flowlib.tracking",
    "stop_reason": "flowlib.stop",
    "stop_requested": "flowlib.stop",
}

# A literal list, so type checkers see every lazily loaded name as exported.
__all__ = [
    "APIError",
    "App",
    "AuthenticationError",
    "Capabilities",
    "CapacityError",
    "ConfigError",
    "Flow",
    "FlowConfig",
    "FlowError",
    "FunctionCall",
    "Instance",
    "InstanceStatus",
    "MountSpec",
    "NetworkError",
    "PackagingError",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderSpec",
    "QuotaError",
    "RemoteError",
    "RemoteHostSpec",
    "ResourceNotFoundError",
    "Retries",
    "StorageInterface",
    "StoreError",
    "Task",
    "TaskConfig",
    "TaskNotFoundError",
    "TaskState",
    "TaskStatus",
    "TimeoutError",
    "UnsupportedError",
    "User",
    "ValidationAPIError",
    "ValidationError",
    "Volume",
    "VolumeNotFoundError",
    "VolumeSpec",
    "__version__",
    "cancel",
    "find_instances",
    "get_task",
    "hookimpl",
    "init",
    "invoke",
    "list_tasks",
    "load_config",
    "log_checkpoint",
    "log_metrics",
    "logs",
    "run",
    "status",
    "stop_reason",
    "stop_requested",
    "submit",
    "wait",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlib' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:
    from collections.abc import Iterable

    from flowlib.catalog import find_instances
    from flowlib.config import load_config
    from flowlib.describe import TaskLike
    from flowlib.errors import (
        APIError,
        AuthenticationError,
        CapacityError,
        ConfigError,
        FlowError,
        NetworkError,
        PackagingError,
        ProviderError,
        QuotaError,
        RemoteError,
        ResourceNotFoundError,
        StoreError,
        TaskNotFoundError,
        TimeoutError,
        UnsupportedError,
        ValidationAPIError,
        ValidationError,
        VolumeNotFoundError,
    )
    from flowlib.flow import Flow
    from flowlib.frontends.app import App, FunctionCall, Retries
    from flowlib.hookspecs import hookimpl
    from flowlib.metrics import log_checkpoint, log_metrics
    from flowlib.models import (
        FlowConfig,
        Instance,
        InstanceStatus,
        MountSpec,
        StorageInterface,
        Task,
        TaskConfig,
        TaskStatus,
        User,
        Volume,
        VolumeSpec,
    )
    from flowlib.providers.base import (
        Capabilities,
        Provider,
        ProviderContext,
        ProviderSpec,
        RemoteHostSpec,
        TaskState,
    )
    from flowlib.remote import invoke
    from flowlib.stop import stop_reason, stop_requested
    from flowlib.tracking import init


def _flow(provider: str | None = None) -> Flow:
    from flowlib.flow import Flow

    return Flow(provider=provider)


def run(
    task: TaskLike | None = None, *, provider: str | None = None, wait: bool = False, **fields: Any
) -> Task:
    """Submit a task: a command line, an argv list, a :class:`TaskConfig` or a YAML file path.

    ``fields`` are TaskConfig fields (``instance_type="8xh100"``, ``env={...}``...).
    Returns at once with the task's handle; ``wait=True`` returns after the task ends.
    """
    return _flow(provider).run(task, wait=wait, **fields)


def submit(
    command: TaskLike,
    *,
    gpu: str | None = None,
    data: Any = None,
    provider: str | None = None,
    **fields: Any,
) -> Task:
    """``submit("python train.py", gpu="a100:4", data="s3://bucket/data")``."""
    return _flow(provider).submit(command, gpu=gpu, data=data, **fields)


def get_task(task: str) -> Task:
    """A task by id, unique id prefix, or name."""
    return _flow().get_task(task)


def status(task: str) -> TaskStatus:
    return _flow().status(task)


def cancel(task: str) -> Task:
    return _flow().cancel(task)


def wait(task: str, timeout: float | None = None) -> Task:
    return _flow().wait(task, timeout=timeout)


def logs(task: str, tail: int | None = 100) -> str:
    return _flow().logs(task, tail=tail)


def list_tasks(
    status: TaskStatus | Iterable[TaskStatus] | None = None, limit: int = 100
) -> list[Task]:
    return _flow().list_tasks(status=status, limit=limit)
