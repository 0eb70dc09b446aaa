"""`flow run --on NAME`, `flow status` and `flow instance ...` against the Hyperstack emulator over
loopback HTTP: the instance's state and queue as a user sees them, and forced transitions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flowlib.cli import main
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing

T0 = 2_000_000


@pytest.fixture
def emulator(tmp_path: Path, isolated_home: Path) -> Iterator[HyperstackEmulator]:
    clock = tmp_path / "agent-clock"
    clock.write_text(f"{T0}\n")
    emu = HyperstackEmulator(
        timing=Timing.instant(),
        workdir=tmp_path / "cloud",
        boot_env=lambda _vm: {"FLOW_AGENT_CLOCK": str(clock)},
        options=Options(rate_limit_per_minute=None),
    )
    with emu:
        emu.start()
        section = emu.provider_settings(poll_interval_s=0.1, agent_poll_s=0.1, idle_cooldown_s=600)
        home = Path(os.environ["FLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        config = {"provider": "hyperstack", "providers": {"hyperstack": section}}
        (home / "config.yaml").write_text(yaml.safe_dump(config))
        yield emu


def flow(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_cli_runs_on_an_instance_shows_its_state_and_forces_its_transitions(
    emulator: HyperstackEmulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = flow(capsys, "run", "--on", "box", "--no-upload", "--wait", "echo hi")
    assert code == 0, out
    (vm,) = emulator.vms_named("flowlib-box")

    code, out = flow(capsys, "run", "--on", "box", "--no-upload", "sleep 30")
    assert code == 0, out
    code, out = flow(capsys, "status")
    assert "persistent instances" in out
    assert "box: running task-" in out or "box: cooldown" in out, out

    code, out = flow(capsys, "instance", "list", "--json")
    (view,) = json.loads(out)
    assert (view["name"], view["vm_id"], view["policy"]) == ("box", vm.id, "hibernate")

    code, out = flow(capsys, "instance", "hibernate", "box")
    assert code == 0, out
    assert emulator.wait_until(lambda: emulator.vm(vm.id).status == "HIBERNATED", timeout=10)
    code, out = flow(capsys, "instance", "show", "box")
    assert "hibernated" in out, out

    code, out = flow(capsys, "instance", "wake", "box")
    assert code == 0 and "woken" in out, out
    assert emulator.vm(vm.id).status == "ACTIVE" and emulator.vm(vm.id).floating_ip

    code, out = flow(capsys, "instance", "delete", "box")
    assert code == 0 and "absent" in out, out
    assert emulator.vm_count() == 0
    code, out = flow(capsys, "status", "--json")
    statuses = sorted(t["status"] for t in json.loads(out))
    assert statuses == ["cancelled", "completed"]  # the interrupted task, and the first


def test_instance_commands_name_what_is_wrong(
    emulator: HyperstackEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = flow(capsys, "instance", "wake", "nobody")
    assert code != 0 and "there is no instance 'nobody'" in out and "flow run --on" in out
    code, out = flow(capsys, "run", "--on", "task-1", "echo")
    assert code == 2 and "instance_name" in out
    code, out = flow(capsys, "instance", "list", "--provider", "local")
    assert code != 0 and "no persistent instances" in out
