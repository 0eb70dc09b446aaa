"""The stop notice, as the workload sees it: ``if flowlib.stop_requested(): save and exit``.

Before a machine is taken away (cancel, spot preemption, the keeper's or the machine's own
release, a SLURM or flowlib time limit), flowlib writes the reason to the file named by
``FLOW_STOP_FILE`` and sends the workload SIGTERM; the kill follows ``stop_grace_s`` seconds
later (a task option, 30 by default). A training loop that checks :func:`stop_requested` after
each step, or handles SIGTERM, has that long to save a checkpoint and announce it with
:func:`flowlib.log_checkpoint`; ``flow resume`` then continues from it. docs/integrations.md
says how much warning each provider gives.

Standard library only, and one ``stat`` per call: cheap enough for every training step.
"""

from __future__ import annotations

import os

__all__ = ["STOP_FILE_ENV", "stop_reason", "stop_requested"]

STOP_FILE_ENV = "FLOW_STOP_FILE"


def stop_requested() -> bool:
    """True once a stop notice reached this task (always False outside a flowlib task)."""
    path = os.environ.get(STOP_FILE_ENV)
    return path is not None and path != "" and os.path.exists(path)


def stop_reason() -> str | None:
    """Why the task is being stopped (``"preempted: ..."``, ``"cancelled: ..."``,
    ``"time limit: ..."``), or None while no notice came."""
    path = os.environ.get(STOP_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip()
    except OSError:
        return None
    return first or "stopped"
