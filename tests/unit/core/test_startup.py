"""The startup script is built from ordered sections; each can be read on its own."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from flowlib.core import startup
from flowlib.core.startup import ScriptContext, build_script, fit_script
from flowlib.errors import PackagingError
from flowlib.models import TaskConfig

GOLDEN = Path(__file__).parents[2] / "golden"


def ctx(**fields: object) -> ScriptContext:
    config = TaskConfig(**{"command": ["python", "train.py"], "name": "train", **fields})
    return ScriptContext(task_id="task-abc123", config=config)


def test_script_starts_with_bash_and_strict_mode() -> None:
    script = build_script(ctx())
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script


def test_every_path_is_under_flow_root() -> None:
    script = build_script(ctx(working_dir="/workspace"))
    assert 'FLOW_ROOT="${FLOW_ROOT:-}"' in script
    assert 'cd "$FLOW_ROOT"/workspace' in script


def test_sections_come_in_order() -> None:
    names = [s.__name__ for s in startup.SECTIONS]
    assert names == [
        "section_header",
        "section_env",
        "section_multi_node",
        "section_results_start",
        "section_code",
        "section_data",
        "section_workdir",
        "section_script_file",
        "section_workload",
        "section_outputs",
        "section_exit",
        "section_results_end",
        "section_release",
    ]


def test_env_values_are_single_quoted_never_interpolated() -> None:
    text = startup.section_env(ctx(env={"TOKEN": "$(rm -rf /)"}))
    assert "export TOKEN='$(rm -rf /)'" in text


def test_time_limit_wraps_the_workload_in_timeout() -> None:
    text = startup.section_workload(ctx(max_run_time_hours=1.5))
    assert "timeout --kill-after=30 5400 bash -c " in text
    assert "\\\n  bash -c 'python train.py' >>" in text
    # the notice comes stop_grace_s before the limit
    assert "sleep 5370 &" in text
    assert "flow_stop 'time limit: max_run_time_hours=1.5 reached'" in text


def test_without_a_limit_timeout_only_passes_the_stop_notice_on() -> None:
    text = startup.section_workload(ctx(stop_grace_s=7))
    assert "timeout --kill-after=7 0 bash -c " in text
    assert "sleep" not in text


def test_no_code_section_without_code() -> None:
    assert startup.section_code(ctx()) == ""


def test_embedded_code_is_checked_by_hash() -> None:
    context = ScriptContext(task_id="t", config=ctx().config, code=b"archive-bytes")
    text = startup.section_code(context)
    assert base64.b64encode(b"archive-bytes").decode() in text
    assert "sha256sum -c" in text
    assert "unsafe paths" in text


def test_self_release_runs_only_with_auto_terminate() -> None:
    release = "curl -X DELETE https://api/instances/me"
    on = ScriptContext(task_id="t", config=ctx().config, release_command=release)
    off = ScriptContext(
        task_id="t", config=ctx(auto_terminate=False).config, release_command=release
    )
    assert release in startup.section_release(on)
    assert release not in startup.section_release(off)


def test_docker_image_runs_the_workload_in_a_container() -> None:
    context = ScriptContext(
        task_id="t", config=ctx(image="pytorch/pytorch:2.4").config, docker=True
    )
    line = startup._workload_argv(context)
    assert line.startswith("docker run --rm")
    assert "pytorch/pytorch:2.4 python train.py" in line


def test_script_text_matches_golden_file() -> None:
    """A reviewed rendering; regenerate with FLOW_UPDATE_GOLDEN=1 after an intended change."""
    script = build_script(
        ScriptContext(
            task_id="task-golden",
            config=TaskConfig(
                name="golden",
                shell="python train.py --epochs 3 && echo done",
                env={"WANDB_MODE": "offline", "QUOTED": 'it\'s "fine"'},
                max_run_time_hours=2,
            ),
            code_at_path=True,
            code_sha256="0" * 64,
            release_command="flow-release-self",
        )
    )
    golden = GOLDEN / "startup_shell_with_code.sh"
    if os.environ.get("FLOW_UPDATE_GOLDEN"):
        golden.write_text(script)
    assert script == golden.read_text()


class TestFitScript:
    def test_a_small_script_is_left_alone(self) -> None:
        assert fit_script("#!/bin/bash\necho hi\n", 10_000) == "#!/bin/bash\necho hi\n"

    def test_a_large_script_becomes_a_compressed_bootstrap(self) -> None:
        big = "#!/bin/bash\n" + "echo 'the same line again and again'\n" * 2000
        boot = fit_script(big, 10_000)
        assert len(boot) <= 10_000
        assert boot.startswith("#!/bin/bash\n")
        assert "sha256sum -c" in boot

    def test_an_incompressible_script_is_refused_with_the_way_out(self) -> None:
        noise = base64.b64encode(os.urandom(30_000)).decode()
        with pytest.raises(PackagingError) as err:
            fit_script(f"#!/bin/bash\n# {noise}\n", 10_000)
        assert "10,000" in err.value.message
        assert any("upload_code=False" in s for s in err.value.suggestions)
