"""A drop-in for submitit: change ``import submitit`` to ``from flowlib import submitit``.

>>> from flowlib import submitit
>>> executor = submitit.AutoExecutor(folder="log_test")     # doctest: +SKIP
>>> executor.update_parameters(timeout_min=1)                # doctest: +SKIP
>>> executor.submit(pow, 2, 10).result()                     # doctest: +SKIP
1024

What is covered and what is not: ``docs/functions.md``.
"""

from __future__ import annotations

from flowlib.submitit import helpers
from flowlib.submitit._executor import AutoExecutor, Job, JobPaths, UncompletedJobError
from flowlib.submitit.helpers import Checkpointable, DelayedSubmission

__all__ = [
    "AutoExecutor",
    "Checkpointable",
    "DelayedSubmission",
    "Job",
    "JobPaths",
    "UncompletedJobError",
    "helpers",
]
