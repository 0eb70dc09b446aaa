"""The SLURM provider passes the shared provider conformance suite on a real local SLURM.

Every task is a real batch job: ``sbatch`` submits it to the single-node cluster that
``scripts/slurm-up.sh`` runs (session fixture ``slurm_cluster``), ``squeue`` reports it, and its
startup script writes the exit code and log that come back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.testing.conformance import ProviderConformance

pytestmark = pytest.mark.slow


class TestSlurmProvider(ProviderConformance):
    wait_timeout = 60.0

    @pytest.fixture
    def flow(self, slurm_cluster: None, project: Path, isolated_home: Path) -> Flow:
        return Flow(provider="slurm")
