"""The YAML frontend: task files whose keys are :class:`~flowlib.models.TaskConfig`'s
(``flow run job.yaml``, ``flowlib.run("job.yaml")``).

The reader itself is :mod:`flowlib._taskfile`, a layer below the engine, because the engine's
:func:`flowlib.describe.to_task_config` accepts a task file's path too.
"""

from __future__ import annotations

from flowlib._taskfile import load_task_file, parse_task_yaml

__all__ = ["load_task_file", "parse_task_yaml"]
