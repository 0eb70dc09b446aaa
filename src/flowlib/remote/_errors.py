"""Errors of remote function calls (to move into :mod:`flowlib.errors` with the tree)."""

from __future__ import annotations

from typing import Any

from flowlib.errors import FlowError

__all__ = ["EnvironmentMismatchError", "RemoteError"]


class RemoteError(FlowError):
    """A remote call did not give a value: the function raised an exception whose type cannot
    be rebuilt here, the task ended without a result (killed, cancelled, out of memory), or the
    result could not be brought back.

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
