"""The results location in the startup script and the models: rendered only when asked for,
quoted, valid bash, and the Hyperstack self-release never shows its key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowlib.core.startup import ScriptContext, build_script
from flowlib.errors import ValidationError
from flowlib.models import FlowConfig, TaskConfig
from flowlib.providers.fcp._script import ReleaseKey, release_command
from flowlib.providers.hyperstack._release import release_command as hs_release


def script(**fields: object) -> str:
    config = TaskConfig(command="python train.py", **fields)  # type: ignore[arg-type]
    return build_script(ScriptContext(task_id="task-abc", config=config))


def test_no_results_location_renders_nothing() -> None:
    text = script()
    assert "FLOW_RESULTS_URL" not in text and "flow_results" not in text


def test_a_results_location_streams_and_finishes_before_the_release() -> None:
    text = script(results="s3://bkt/runs/")
    assert "export FLOW_RESULTS_URL=s3://bkt/runs/task-abc\n" in text
    assert text.index("flow_results stream") < text.index("# the workload")
    assert text.index('flow_finish "$FLOW_RC"') < text.index("\nflow_results_end\n")
    assert "'s3fs>=2024.2'" in text


@pytest.mark.parametrize(
    "url",
    ["bucket/prefix", "s3://", "s3://key:secret@bkt/p", "s3://bkt/p?x=1", "file://relative"],
)
def test_results_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as task_error:
        TaskConfig(command="x", results=url)
    with pytest.raises(ValidationError):
        FlowConfig(results=url)
    assert "secret" not in str(task_error.value) and "secret" not in repr(task_error.value)


def test_results_urls_that_are_taken() -> None:
    assert TaskConfig(command="x", results="s3://b/p/").results == "s3://b/p"
    assert FlowConfig(results="file:///shared/r").results == "file:///shared/r"
    assert FlowConfig(results="gs://b").results == "gs://b"


def test_fcp_does_not_wait_once_the_results_are_out() -> None:
    text = release_command(ReleaseKey("https://api", "p", "b", "k", "s3cr3t"), 120)
    assert "var/run/flow/results.done" in text


def test_hyperstack_self_release_keeps_its_key_in_a_private_file() -> None:
    text = hs_release("https://hs/v1", "flowlib-task-abc", "the-key-'quoted", 30)
    assert "umask 077" in text and '-H @"$hdr"' in text and 'rm -f "$hdr"' in text
    assert "the-key-'\"'\"'quoted" in text  # shell-quoted, only in the printf to the file
    assert text.count("quoted") == 1
    assert "search=flowlib-task-abc" in text and "-X DELETE" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
def test_the_scripts_pass_shellcheck(tmp_path: Path) -> None:
    config = TaskConfig(command="python train.py", results="s3://bkt/runs")
    release = hs_release("https://hs/v1", "flowlib-t", "k", 30)
    context = ScriptContext(task_id="t", config=config, release_command=release)
    path = tmp_path / "startup.sh"
    path.write_text(build_script(context))
    done = subprocess.run(
        ["shellcheck", "--severity=info", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
