"""The startup-script sections for data: what they stage, link and sync, in which order."""

from __future__ import annotations

import shlex

import pytest

from flowlib.core.startup import ScriptContext, build_script
from flowlib.data import data_section, outputs_section, parse_data
from flowlib.models import MountSpec, TaskConfig


def config(**fields: object) -> TaskConfig:
    return TaskConfig(command="python train.py", **fields)  # type: ignore[arg-type]


def test_a_task_without_data_gets_no_data_sections() -> None:
    assert data_section(config(), {}) == ""
    assert outputs_section(config()) == ""


def test_s3_mounts_are_staged_with_their_options_and_fail_the_task_when_they_cannot_be() -> None:
    mount = MountSpec(source="s3://bkt/ds/", target="/data", read_only=True, cache_key="ds-v1")
    text = data_section(config(data_mounts=[mount]), {})
    assert "flow_stage s3://bkt/ds/ /data 1 ds-v1 || flow_fail 'staging s3://bkt/ds/" in text
    assert "cat > \"$FLOW_LIB/flow_s3.py\" <<'FLOW_S3_PY'" in text


def test_links_come_from_the_provider_and_bind_sources_default_to_the_machine() -> None:
    mounts = parse_data({"/ref": "/srv/reference"})
    text = data_section(config(data_mounts=mounts), {"/vol": "/home/me/.flow/volumes/v/data"})
    assert "flow_link /home/me/.flow/volumes/v/data /vol" in text
    assert 'flow_link "$FLOW_ROOT"/srv/reference /ref' in text
    assert "flow_s3" not in text  # nothing to transfer: no transfer helpers


def test_outputs_are_synced_after_the_workload_and_before_the_exit_code() -> None:
    cfg = config(outputs={"/results": "s3://bkt/run1"}, max_run_time_hours=1)
    script = build_script(ScriptContext(task_id="t", config=cfg))
    sync = script.index("flow_output /results s3://bkt/run1/")
    assert script.index('wait "$FLOW_PID"') < sync < script.index('flow_finish "$FLOW_RC"\n')
    # the time-limit note adds to the message instead of replacing a sync failure
    assert '>> "$FLOW_RUN/message"\nfi\nflow_finish' in script


def test_staging_comes_after_the_code_and_before_the_workload() -> None:
    cfg = config(data_mounts=parse_data("s3://bkt/ds/"))
    script = build_script(ScriptContext(task_id="t", config=cfg, code=b"x"))
    assert (
        script.index("tar -xzf")
        < script.index("flow_stage s3://bkt/ds/")
        < script.index('date +%s > "$FLOW_RUN/started"')
    )


@pytest.mark.parametrize("value", ["it's", "$(rm -rf /)", "a b", "back`tick`"])
def test_paths_are_quoted_so_bash_reads_them_byte_for_byte(value: str) -> None:
    mount = MountSpec(source=f"/srv/{value}", target="/d")
    [line] = [
        x
        for x in data_section(config(data_mounts=[mount]), {}).splitlines()
        if x.startswith("flow_link ")
    ]
    assert shlex.split(line) == ["flow_link", f"$FLOW_ROOT/srv/{value}", "/d"]


def test_the_endpoint_never_appears_in_the_script_itself() -> None:
    # It reaches the machine through the task's env (FLOW_S3_ENDPOINT_URL), like any variable.
    text = data_section(config(data_mounts=parse_data("s3://bkt/ds/")), {})
    assert "http" not in text
