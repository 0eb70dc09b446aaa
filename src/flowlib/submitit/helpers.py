"""submitit's ``helpers``: :class:`Checkpointable` and :class:`DelayedSubmission`.

On a time limit or preemption (SIGTERM), the runner calls ``checkpoint(*args, **kwargs)`` of a
submitted callable that has one; what it returns (a :class:`DelayedSubmission`) is resubmitted
by the client's :class:`~flowlib.submitit.Job`, up to the executor's ``max_num_timeout``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checkpointable", "DelayedSubmission"]


class DelayedSubmission:
    """A call to make later: ``function(*args, **kwargs)``."""

    def __init__(self, function: Any, *args: Any, **kwargs: Any) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs

    def result(self) -> Any:
        return self.function(*self.args, **self.kwargs)


class Checkpointable:
    """Subclass it and define ``__call__``; the default ``checkpoint`` resubmits the same
    object with the same arguments (override it to save state and change them)."""

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        return DelayedSubmission(self, *args, **kwargs)
