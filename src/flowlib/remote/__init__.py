"""Python functions as tasks: send a call, get its value (or its exception) back.

>>> from flowlib import remote
>>> remote.run(pow, (2, 10))                      # doctest: +SKIP
1024
>>> call = remote.spawn(pow, (2, 10))             # doctest: +SKIP
>>> remote.RemoteCall.from_id(call.task_id).result()   # any later process  # doctest: +SKIP
1024

Limits: the pickled call (function and arguments) at most :data:`MAX_PAYLOAD_BYTES` (10 MB, the
code upload's limit); a result at most :data:`MAX_RESULT_BYTES` (100 MB). Both fail with a
:class:`~flowlib.FlowError` that says so. Many inputs of one function run as batch tasks with
per-input retries (:mod:`flowlib.remote._batch`, used by :class:`flowlib.App`). See
``docs/functions.md``.
"""

from __future__ import annotations

from flowlib.remote._batch import Retries
from flowlib.remote._call import Outcome, RemoteCall, run, spawn
from flowlib.remote._channel import (
    ProviderFileChannel,
    ReadsTaskFiles,
    ResultChannel,
    TaskDirChannel,
)
from flowlib.remote._errors import EnvironmentMismatchError, RemoteError
from flowlib.remote._invoke import invoke, spawn_invoke
from flowlib.remote._payload import MAX_PAYLOAD_BYTES, MAX_RESULT_BYTES

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_BYTES",
    "EnvironmentMismatchError",
    "Outcome",
    "ProviderFileChannel",
    "ReadsTaskFiles",
    "RemoteCall",
    "RemoteError",
    "ResultChannel",
    "Retries",
    "TaskDirChannel",
    "invoke",
    "run",
    "spawn",
    "spawn_invoke",
]
