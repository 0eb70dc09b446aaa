"""Every error flowlib raises on purpose.

The tree::

    FlowError                         message, suggestions, error_code, context
    ├── ConfigError                   bad or unreadable configuration (files, FLOW_* variables)
    ├── ValidationError               a task description that cannot be right
    ├── AuthenticationError           missing or rejected credentials
    ├── ResourceNotFoundError         something named does not exist
    │   ├── TaskNotFoundError
    │   └── VolumeNotFoundError
    ├── APIError                      a provider API answered an error (status_code, response_body)
    │   └── ValidationAPIError        HTTP 422, with validation_errors
    ├── NetworkError                  the provider could not be reached
    ├── TimeoutError                  a wait or request ran out of time
    ├── StoreError                    the local task store is corrupt, locked or unwritable
    ├── PackagingError                the code upload cannot be built (too big, unreadable)
    ├── RemoteError                   a Python call run as a task gave no value (remote traceback)
    │   └── EnvironmentMismatchError  the remote Python or packages cannot load the call
    └── ProviderError                 a provider failed in a way the user should know about
        ├── CapacityError             no offer can run the task now (price cap, stock, this machine)
        ├── QuotaError                the account's limits would be exceeded
        └── UnsupportedError          the provider cannot do what the task asks (capabilities)

Library code raises; only the CLI catches :class:`FlowError` and prints ``message`` and
``suggestions`` without a traceback. ``exit_code`` is the CLI's process exit status for the class
(documented in ``docs/cli.md``). ``context`` holds structured facts (provider, task id, HTTP status,
request id, attempts) and never a secret.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

__all__ = [
    "APIError",
    "AuthenticationError",
    "CapacityError",
    "ConfigError",
    "EnvironmentMismatchError",
    "FlowError",
    "NetworkError",
    "PackagingError",
    "ProviderError",
    "QuotaError",
    "RemoteError",
    "ResourceNotFoundError",
    "StoreError",
    "TaskNotFoundError",
    "TimeoutError",
    "UnsupportedError",
    "ValidationAPIError",
    "ValidationError",
    "VolumeNotFoundError",
]


class FlowError(Exception):
    """Base of every error flowlib raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        suggestions: Iterable[str] = (),
        error_code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions: list[str] = list(suggestions)
        self.error_code = error_code
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.suggestions:
            return self.message
        tips = "\n".join(f"  - {s}" for s in self.suggestions)
        return f"{self.message}\nSuggestions:\n{tips}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, used by ``flow ... --json``."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "suggestions": self.suggestions,
            "error_code": self.error_code,
            "context": {k: str(v) for k, v in self.context.items()},
        }


class ConfigError(FlowError, ValueError):
    exit_code = 3


class ValidationError(FlowError, ValueError):
    exit_code = 2


class AuthenticationError(FlowError):
    exit_code = 4


class ResourceNotFoundError(FlowError):
    exit_code = 5


class TaskNotFoundError(ResourceNotFoundError):
    pass


class VolumeNotFoundError(ResourceNotFoundError):
    pass


class APIError(FlowError):
    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        response_body: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, status_code=status_code, **kwargs)
        self.status_code = status_code
        self.response_body = response_body


class ValidationAPIError(APIError):
    def __init__(
        self,
        message: str,
        *,
        validation_errors: Iterable[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("status_code", 422)
        self.validation_errors = [dict(e) for e in validation_errors]
        details = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', e)}"
            for e in self.validation_errors
        ]
        if details:
            message = f"{message} ({'; '.join(details)})"
        super().__init__(message, **kwargs)


class NetworkError(FlowError):
    exit_code = 7


class TimeoutError(FlowError, builtins.TimeoutError):
    exit_code = 8


class StoreError(FlowError):
    exit_code = 9


class PackagingError(FlowError):
    exit_code = 10


class RemoteError(FlowError):
    """A remote Python call did not give a value: the function raised an exception whose type
    cannot be rebuilt here, the task ended without a result (killed, cancelled, out of memory),
    or the result could not be brought back.

    :ivar remote_type: the remote exception's ``module.QualName``, when there was one.
    :ivar remote_traceback: the remote traceback as text (empty when there is none).
    """

    exit_code = 15

    def __init__(
        self,
        message: str,
        *,
        remote_type: str | None = None,
        remote_traceback: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            text += "\n\nRemote traceback:\n" + self.remote_traceback.rstrip()
        return text


class EnvironmentMismatchError(RemoteError):
    """The remote Python or packages cannot load what the client sent (Python version, a
    package missing or at another version); raised instead of an unpickling traceback."""


class ProviderError(FlowError):
    exit_code = 11


class CapacityError(ProviderError):
    exit_code = 12


class QuotaError(ProviderError):
    exit_code = 13


class UnsupportedError(ProviderError):
    exit_code = 14
