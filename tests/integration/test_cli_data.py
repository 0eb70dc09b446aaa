"""``flow run --data / --output``: the real ``flow`` CLI in a subprocess, on the local provider,
staging from and syncing to a real S3 API server (moto) on loopback; for a command, an sbatch
script and ``--dry-run``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from s3server import S3

pytest.importorskip("s3fs", reason="the data tests need flowlib[s3]")


def flow(*argv: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))},
        "FLOW_HOME": str(home / ".flow"),
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_reads_data_and_writes_outputs_given_on_the_command_line(
    s3: S3, tmp_path: Path, isolated_home: Path
) -> None:
    s3.put("ds/words.txt", "one two three")
    run = flow(
        "run", "--provider", "local", "--no-upload", "--wait",
        "--data", f"s3://{s3.bucket}/ds",
        "--output", f"/results=s3://{s3.bucket}/runs/cli",
        'wc -w < "$FLOW_ROOT/data/words.txt" > "$FLOW_ROOT/results/count.txt"',
        cwd=tmp_path, home=isolated_home,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert s3.get("runs/cli/count.txt").strip() == b"3"


def test_an_sbatch_script_takes_data_and_outputs_too(
    s3: S3, tmp_path: Path, isolated_home: Path
) -> None:
    s3.put("in/x.txt", "from s3")
    (tmp_path / "job.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --job-name=copy\n"
        'cp "$FLOW_ROOT/inputs/x.txt" "$FLOW_ROOT/out/y.txt"\n'
    )
    args = ["--data", f"/inputs=s3://{s3.bucket}/in", "--output", f"/out=s3://{s3.bucket}/o"]
    dry = flow("run", "job.sbatch", *args, "--dry-run", cwd=tmp_path, home=isolated_home)
    assert dry.returncode == 0, dry.stderr
    assert f"data: /inputs <- s3://{s3.bucket}/in" in dry.stdout
    assert f"output: /out -> s3://{s3.bucket}/o" in dry.stdout
    run = flow(
        "run", "job.sbatch", "--provider", "local", "--wait", *args,
        cwd=tmp_path, home=isolated_home,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert s3.get("o/y.txt") == b"from s3"


def test_a_dry_run_checks_the_bucket_and_shows_the_resolved_data(
    s3: S3, tmp_path: Path, isolated_home: Path
) -> None:
    s3.put("ds/a.bin", b"0" * 1000)
    ok = flow(
        "run", "--provider", "local", "--no-upload", "--dry-run",
        "--data", f"/datasets=s3://{s3.bucket}/ds", "true",
        cwd=tmp_path, home=isolated_home,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"source: s3://{s3.bucket}/ds/" in ok.stdout  # resolved: a prefix
    missing = flow(
        "run", "--provider", "local", "--no-upload", "--dry-run",
        "--data", "s3://flow-no-such-bucket-cli/ds", "true",
        cwd=tmp_path, home=isolated_home,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "flow-no-such-bucket-cli" in missing.stderr and "Traceback" not in missing.stderr
    listed = flow("status", "--json", cwd=tmp_path, home=isolated_home)
    assert listed.stdout.strip() in ("[]", "")  # nothing was recorded


def test_a_malformed_spec_is_an_error_with_an_example_and_no_traceback(
    tmp_path: Path, isolated_home: Path
) -> None:
    bad = flow("run", "--output", "s3://bucket/out", "true", cwd=tmp_path, home=isolated_home)
    assert bad.returncode == 2, bad.stderr
    assert "--output 's3://bucket/out' is not DIR=URL" in bad.stderr
    assert "/results=s3://" in bad.stderr and "Traceback" not in bad.stderr


def test_volume_delete_json_answers_each_volume_and_goes_on_after_a_refusal(
    tmp_path: Path, isolated_home: Path
) -> None:
    import json

    made = flow("volume", "create", "vd-one", "--size", "1", cwd=tmp_path, home=isolated_home)
    assert made.returncode == 0, made.stderr
    deleted = flow(
        "volume", "delete", "no-such-vol", "vd-one", "--json", cwd=tmp_path, home=isolated_home
    )
    assert deleted.returncode == 5, deleted.stderr  # the first failure's exit status
    missing, gone = json.loads(deleted.stdout)
    assert (missing["volume"], missing["deleted"], missing["error"]) == (
        "no-such-vol",
        False,
        "VolumeNotFoundError",
    )
    assert missing["suggestions"]
    assert (gone["name"], gone["deleted"]) == ("vd-one", True)
    assert gone["volume_id"].startswith("vol-")
    listed = flow("volume", "list", "--json", cwd=tmp_path, home=isolated_home)
    assert json.loads(listed.stdout) == []
