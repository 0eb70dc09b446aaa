"""Persistent instances, the parts that need no booted VM: naming rules, the refusal of a flavor
without hibernation before anything exists, what the agent reports, and the scripts' shape.
(The whole lifecycle, with real agents, is tests/integration/test_hyperstack_persistent*.py.)"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.describe import wanted_features
from flowlib.errors import UnsupportedError, ValidationError
from flowlib.models import TaskConfig
from flowlib.providers.hyperstack._agent import (
    AGENT_SCRIPT,
    configure_command,
    first_boot_script,
    parse_agent_state,
    task_script,
)
from flowlib.providers.hyperstack._provider import HyperstackProvider
from flowlib.providers.hyperstack._settings import load_settings
from flowlib.testing.emulators import sandbox_factory
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Timing

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"
NO_HIBERNATION = {"instance_type": "n3-H100-SXM5x8", "region": "US-1"}  # as documented


@pytest.fixture
def hs() -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=ManualClock(), timing=Timing(), boot=False) as emulator:
        yield emulator


def make_provider(hs: HyperstackEmulator, tmp_path: Path, **settings: object) -> HyperstackProvider:
    private = tmp_path / "id_test"
    private.write_text("unused\n")
    private.with_name("id_test.pub").write_text(PUBLIC_KEY + "\n")
    section = {"api_key": hs.api_key, "api_url": hs.url, "ssh_key_path": str(private)}
    # VMs do not boot here: their hosts have no disk, so they never answer.
    unreachable = sandbox_factory(lambda address: tmp_path / "no-disk" / address.instance_id)
    return HyperstackProvider(
        load_settings({**section, **settings}),
        home=tmp_path / "home",
        transport=hs.transport(),
        host_factory=unreachable,
    )


def on(name: str = "box", **fields: object) -> TaskConfig:
    return TaskConfig(command=["true"], instance_name=name, upload_code=False, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["task-abc", "-box", "a" * 41, "my box", ""])
def test_an_instance_name_must_make_a_valid_vm_name(bad: str) -> None:
    with pytest.raises(ValidationError, match="instance_name"):
        on(bad)


def test_a_task_on_an_instance_needs_a_provider_that_can_hibernate(isolated_home: Path) -> None:
    assert "hibernate" in wanted_features(on())
    with Flow(provider="local") as flow, pytest.raises(UnsupportedError, match="hibernate"):
        flow.run(on())
    with Flow(provider="local") as flow, pytest.raises(UnsupportedError, match="no persistent"):
        flow.persistent_instances()


def test_hibernate_policy_on_a_flavor_without_hibernation_is_refused_before_any_call_creates(
    hs: HyperstackEmulator, tmp_path: Path
) -> None:
    provider = make_provider(hs, tmp_path)
    with pytest.raises(UnsupportedError, match="hibernation is not supported on flavor") as err:
        provider.prepare(on(**NO_HIBERNATION))
    assert any("idle_policy" in tip for tip in err.value.suggestions)
    assert all(c.method == "GET" for c in hs.calls)  # looked, created nothing
    assert hs.vm_count() == 0


@pytest.mark.parametrize("policy", ["stop", "delete"])
def test_stop_and_delete_policies_accept_a_flavor_without_hibernation(
    hs: HyperstackEmulator, tmp_path: Path, policy: str
) -> None:
    provider = make_provider(hs, tmp_path, idle_policy=policy)
    assert provider.prepare(on(**NO_HIBERNATION)).region == "US-1"


def test_an_existing_instance_keeps_its_region_and_flavor(
    hs: HyperstackEmulator, tmp_path: Path
) -> None:
    provider = make_provider(hs, tmp_path)
    config = on(instance_type="a6000", region="NORWAY-1")
    vm = provider.persistent._create("box", provider.prepare(config))
    hs.advance(10)
    assert provider.prepare(on()).region == "NORWAY-1"
    view = provider.persistent.describe("box")
    assert (view["vm_id"], view["state"]) == (vm["id"], "booting")  # ACTIVE, not answering yet
    assert provider.persistent.find("box") is not None


def test_waking_a_hibernated_instance_restores_it_and_a_stopped_one_starts(
    hs: HyperstackEmulator, tmp_path: Path
) -> None:
    provider = make_provider(hs, tmp_path)
    vm = provider.persistent._create("box", provider.prepare(on(instance_type="a6000")))
    hs.advance(10)
    provider.api.action(vm["id"], "hibernate", retain_ip="true")
    hs.advance(10)
    assert provider.persistent.describe("box")["state"] == "hibernated"
    provider.persistent.ensure("box", None)
    assert hs.vm(vm["id"]).status == "RESTORING"
    hs.advance(10)
    provider.api.action(vm["id"], "stop")
    hs.advance(10)
    assert provider.persistent.describe("box")["state"] == "stopped"
    provider.persistent.ensure("box", None)
    assert hs.vm(vm["id"]).status == "STARTING"


def test_the_agent_state_line_gives_the_cooldown_left() -> None:
    idle = parse_agent_state("idle 1000 1240 300 hibernate")
    assert (idle.kind, idle.cooldown_left_s, idle.action) == ("idle", 60, "hibernate")
    assert parse_agent_state("idle 1000 2000 300 stop").cooldown_left_s == 0
    assert parse_agent_state("running task-0123456789ab 5").task_id == "task-0123456789ab"
    retrying = parse_agent_state("retrying hibernate 4 503")
    assert retrying.detail == "the API answered HTTP 503; trying again in 4 polls"
    assert parse_agent_state("idle 1000 1240 300 hibernate no-credential").detail
    assert parse_agent_state("").kind == parse_agent_state("idle x").kind == "unknown"


def test_the_scripts_are_valid_bash_and_carry_no_credential() -> None:
    boot = first_boot_script("box", "ubuntu")
    script = task_script("task-0123456789ab", on(), None)
    for text in (AGENT_SCRIPT, boot, script):
        assert text.startswith("#!/bin/bash\n")
        checked = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert checked.returncode == 0, checked.stderr
    assert "api_key" not in boot and "systemctl enable --now flow-agent.service" in boot
    assert 'FLOW_RUN="$FLOW_LIB"' in script and 'queue/tasks/"task-0123456789ab' in script
    # The key travels on stdin into a 0600 file, never on a command line.
    assert "api_key" not in configure_command(7, "http://x/v1", 300, "hibernate", 5)
