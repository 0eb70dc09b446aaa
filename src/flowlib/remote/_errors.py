"""Errors of remote function calls: they live in :mod:`flowlib.errors` with the whole tree; this
module keeps the old import path working."""

from __future__ import annotations

from flowlib.errors import EnvironmentMismatchError, RemoteError

__all__ = ["EnvironmentMismatchError", "RemoteError"]
