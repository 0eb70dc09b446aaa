"""The data sections of the startup script pass shellcheck, like the rest of the script."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowlib.core.startup import ScriptContext, build_script
from flowlib.data import parse_data
from flowlib.models import MountSpec, TaskConfig


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
def test_a_script_with_every_kind_of_data_passes_shellcheck(tmp_path: Path) -> None:
    mounts = [
        *parse_data({"/data": "s3://bkt/ds/", "/ref": "/srv/reference"}),
        MountSpec(source="s3://bkt/w.bin", target="/w", read_only=True, cache_key="w-1"),
    ]
    config = TaskConfig(
        command="python train.py",
        data_mounts=mounts,
        outputs={"/results": "s3://bkt/runs/1"},
        max_run_time_hours=1,
    )
    context = ScriptContext(task_id="t", config=config, data_links={"/vol": "/v/data"})
    path = tmp_path / "startup.sh"
    path.write_text(build_script(context))
    result = subprocess.run(
        ["shellcheck", "--severity=info", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
