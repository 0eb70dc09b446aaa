"""sbatch scripts as flowlib tasks: read ``#SBATCH`` directives exactly as sbatch 22.05 does and
translate them into :class:`~flowlib.models.TaskConfig` objects.

>>> from flowlib.frontends.slurm import translate_sbatch
>>> t = translate_sbatch("#!/bin/bash\\n#SBATCH -t 90 --gres=gpu:a100:2\\npython train.py\\n")
>>> t.tasks[0].instance_type, t.tasks[0].max_run_time_hours
('2xa100', 1.5)

:func:`parse_sbatch` gives the typed read (:class:`SbatchScript`), :func:`translate_sbatch` the
tasks and a :class:`TranslationReport` with a row for every directive (mapped, ignored with the
reason, or overridden). See ``docs/slurm.md``.
"""

from __future__ import annotations

from flowlib.frontends.slurm._runtime import SRUN_SHIM, render_job_script, slurm_environment
from flowlib.frontends.slurm._script import Directive, SbatchScript, parse_sbatch, split_words
from flowlib.frontends.slurm._translate import (
    SbatchTranslation,
    TranslationReport,
    TranslationRow,
    load_sbatch,
    translate_sbatch,
)
from flowlib.frontends.slurm._values import (
    UNLIMITED,
    ArraySpec,
    GpuRequest,
    NodeRange,
    parse_array,
    parse_memory_mb,
    parse_time_minutes,
)

__all__ = [
    "SRUN_SHIM",
    "UNLIMITED",
    "ArraySpec",
    "Directive",
    "GpuRequest",
    "NodeRange",
    "SbatchScript",
    "SbatchTranslation",
    "TranslationReport",
    "TranslationRow",
    "load_sbatch",
    "parse_array",
    "parse_memory_mb",
    "parse_sbatch",
    "parse_time_minutes",
    "render_job_script",
    "slurm_environment",
    "split_words",
    "translate_sbatch",
]
