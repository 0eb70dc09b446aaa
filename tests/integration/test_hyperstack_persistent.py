"""Persistent instances on the Hyperstack emulator over loopback HTTP, end to end: the VM really
boots, its agent really runs the queued tasks and really calls the API to put its VM to sleep.

Time is injected: the agent reads "now" from a clock file (``FLOW_AGENT_CLOCK``, handed to the
emulated VMs through the emulator's boot environment), so a 5-minute cooldown passes when the
test writes a later time, not after 5 minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.errors import UnsupportedError
from flowlib.models import TaskStatus
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.hyperstack import (
    DEFAULT_FLAVORS,
    FlavorSpec,
    HyperstackEmulator,
    Options,
    Timing,
)

T0 = 1_000_000
COOLDOWN = 300
# An A6000 flavor that cannot hibernate (as the H100 SXM5s of US-1 on the real service).
NO_HIBERNATION = FlavorSpec(
    "n3-RTX-A6000x1", "CANADA-1", "RTX-A6000", 1, 28, 58.0, 100, 0, hibernation=False
)


class AgentClock:
    """The agents' "now": epoch seconds in a file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(T0)

    def set(self, now: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{now}\n")
        os.replace(tmp, self.path)
        self.now = now

    def advance(self, seconds: int) -> None:
        self.set(self.now + seconds)


@pytest.fixture
def clock(tmp_path: Path) -> AgentClock:
    return AgentClock(tmp_path / "agent-clock")


def make_emulator(tmp_path: Path, clock: AgentClock, **kwargs: object) -> HyperstackEmulator:
    return HyperstackEmulator(
        timing=Timing.instant(),
        workdir=tmp_path / "cloud",
        boot_env=lambda _vm: {"FLOW_AGENT_CLOCK": str(clock.path)},
        options=Options(rate_limit_per_minute=None),  # the tests poll fast
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def emulator(tmp_path: Path, clock: AgentClock) -> Iterator[HyperstackEmulator]:
    with make_emulator(tmp_path, clock) as emu:
        emu.start()
        yield emu


def section(emu: HyperstackEmulator, **extra: object) -> dict[str, object]:
    assert emu.workdir is not None
    return {
        "api_url": emu.url,
        "api_key": emu.api_key,
        **sandbox_settings(emu.workdir / "instances"),
        "poll_interval_s": 0.1,
        "agent_poll_s": 0.1,
        "idle_cooldown_s": COOLDOWN,
        "wake_timeout_s": 30,
        **extra,
    }


@pytest.fixture
def make_flow(emulator: HyperstackEmulator, isolated_home: Path) -> Iterator[Callable[..., Flow]]:
    flows: list[Flow] = []

    def make(**extra: object) -> Flow:
        flow = Flow(provider="hyperstack", providers={"hyperstack": section(emulator, **extra)})
        flows.append(flow)
        return flow

    yield make
    for flow in flows:
        flow.close()


def until(emu: HyperstackEmulator, check: Callable[[], bool], timeout: float = 20) -> None:
    if not emu.wait_until(check, timeout=timeout):
        roots = [emu.instance_root(vm_id) for vm_id in list(emu.state.vms)]
        said = [(r / "var/log/flow/agent.log") for r in roots]
        shown = "\n".join(p.read_text() for p in said if p.exists())
        raise AssertionError(f"timed out; the agents said:\n{shown}")


def status_of(emu: HyperstackEmulator, name: str) -> str:
    (vm,) = emu.vms_named(f"flowlib-{name}")
    return vm.status


def run_on(flow: Flow, name: str, shell: str) -> str:
    return flow.run(shell=shell, instance_name=name, upload_code=False).task_id


def test_submit_to_a_hibernated_instance_restores_it_runs_the_task_then_it_hibernates_again(
    emulator: HyperstackEmulator, make_flow: Callable[..., Flow], clock: AgentClock
) -> None:
    flow = make_flow()
    first = run_on(flow, "box", "echo first")
    done = flow.wait(first, timeout=20)
    assert done.status == TaskStatus.COMPLETED, (done.message, done.provider_state)
    (vm,) = emulator.vms_named("flowlib-box")
    boxes = flow.persistent_instances()
    view = boxes.describe("box")
    assert (view["state"], view["cooldown_left_s"], view["queue"]) == ("cooldown", COOLDOWN, [])

    clock.advance(COOLDOWN - 60)  # not yet: one minute of cooldown left
    until(emulator, lambda: boxes.describe("box")["cooldown_left_s"] == 60)
    assert status_of(emulator, "box") == "ACTIVE"

    clock.advance(61)  # the agent hibernates its own VM
    until(emulator, lambda: status_of(emulator, "box") == "HIBERNATED")
    assert boxes.describe("box")["state"] == "hibernated"
    billed = emulator.billed(vm.id)

    second = run_on(flow, "box", "echo second; echo to-stderr >&2")  # wakes it
    task = flow.wait(second, timeout=20)
    assert task.status == TaskStatus.COMPLETED and task.exit_code == 0
    assert flow.logs(second).splitlines() == ["second", "to-stderr"]
    assert flow.logs(first).splitlines() == ["first"]  # each task keeps its own log
    statuses = [s for _, s in emulator.vm(vm.id).history]
    assert statuses[-2:] == ["RESTORING", "ACTIVE"]
    assert [v.id for v in emulator.live_vms()] == [vm.id]  # the same VM, not a new one

    clock.advance(COOLDOWN + 1)
    until(emulator, lambda: status_of(emulator, "box") == "HIBERNATED")
    assert emulator.billed(vm.id) == pytest.approx(billed, abs=0.01)  # GPU billing stopped
    hibernates = [c for c in emulator.calls if c.path.endswith(f"/{vm.id}/hibernate")]
    assert len(hibernates) == 2 and all(c.status == 200 for c in hibernates)
    assert emulator.errors == []


def test_two_tasks_queued_on_one_instance_run_one_at_a_time_in_submission_order(
    emulator: HyperstackEmulator, make_flow: Callable[..., Flow]
) -> None:
    flow = make_flow()
    first = run_on(flow, "box", "sleep 1.5; echo A >> order.txt")
    second = run_on(flow, "box", "echo B >> order.txt")
    until(emulator, lambda: flow.get_task(first).status == TaskStatus.RUNNING)
    waiting = flow.get_task(second)
    assert waiting.status == TaskStatus.PENDING
    assert waiting.message == "position 1 of 1 in box's queue"
    for ref in (first, second):
        assert flow.wait(ref, timeout=20).status == TaskStatus.COMPLETED
    (vm,) = emulator.vms_named("flowlib-box")
    root = emulator.instance_root(vm.id)
    assert (root / "workspace" / "order.txt").read_text() == "A\nB\n"
    one, two = (flow.get_task(ref) for ref in (first, second))
    assert one.started_at is not None and two.started_at is not None  # the VM's clock, in s
    assert (two.started_at - one.started_at).total_seconds() >= 1  # after the first's sleep


def test_the_api_key_is_stored_0600_on_the_instance_and_never_in_its_logs(
    emulator: HyperstackEmulator, make_flow: Callable[..., Flow], clock: AgentClock
) -> None:
    flow = make_flow()
    flow.wait(run_on(flow, "box", "echo hi"), timeout=20)
    clock.advance(COOLDOWN + 1)
    until(emulator, lambda: status_of(emulator, "box") == "HIBERNATED")
    (vm,) = emulator.vms_named("flowlib-box")
    root = emulator.instance_root(vm.id)
    header = root / "etc/flow/api-header"
    assert header.stat().st_mode & 0o777 == 0o600
    assert header.read_text() == f"api_key: {emulator.api_key}\n"
    for path in root.rglob("*"):
        if path.is_file() and path != header:
            assert emulator.api_key not in path.read_text(errors="replace"), path


def test_a_failed_hibernate_is_retried_until_the_instance_sleeps(
    emulator: HyperstackEmulator, make_flow: Callable[..., Flow], clock: AgentClock
) -> None:
    flow = make_flow()
    flow.wait(run_on(flow, "box", "true"), timeout=20)
    (vm,) = emulator.vms_named("flowlib-box")
    emulator.faults.server_errors(
        method="GET", path=f"/v1/core/virtual-machines/{vm.id}/hibernate", times=2
    )
    clock.advance(COOLDOWN + 1)
    until(emulator, lambda: status_of(emulator, "box") == "HIBERNATED")  # after 2, 4 polls
    codes = [c.status for c in emulator.calls if c.path.endswith(f"/{vm.id}/hibernate")]
    assert codes == [503, 503, 200]


@pytest.mark.parametrize(("policy", "asleep"), [("stop", "SHUTOFF"), ("delete", None)])
def test_a_flavor_without_hibernation_stops_or_deletes_itself_per_the_idle_policy(
    tmp_path: Path, clock: AgentClock, isolated_home: Path, policy: str, asleep: str | None
) -> None:
    flavors = [f for f in DEFAULT_FLAVORS if f.name != "n3-RTX-A6000x1"] + [NO_HIBERNATION]
    with make_emulator(tmp_path, clock, flavors=flavors) as emu:
        emu.start()
        settings = section(emu, idle_policy=policy)
        with Flow(provider="hyperstack", providers={"hyperstack": settings}) as flow:
            config = {"instance_type": "n3-RTX-A6000x1", "region": "CANADA-1"}
            task = flow.run(shell="echo one", instance_name="box", upload_code=False, **config)
            finished = flow.wait(task.task_id, timeout=20)
            assert finished.status == TaskStatus.COMPLETED, finished.message
            (vm,) = emu.vms_named("flowlib-box")
            clock.advance(COOLDOWN + 1)
            if asleep is None:
                until(emu, lambda: emu.vm(vm.id).gone)
            else:
                until(emu, lambda: emu.vm(vm.id).status == asleep)
            again = flow.run(shell="echo two", instance_name="box", upload_code=False, **config)
            done = flow.wait(again.task_id, timeout=20)
            assert done.status == TaskStatus.COMPLETED, done.message
            assert flow.logs(again.task_id) == "two"
            (now,) = emu.vms_named("flowlib-box")
            assert (now.id == vm.id) is (policy == "stop")  # started again, or created anew
        assert emu.errors == []


def test_the_hibernate_policy_on_a_flavor_without_hibernation_is_refused_before_any_vm(
    tmp_path: Path, clock: AgentClock, isolated_home: Path
) -> None:
    flavors = [f for f in DEFAULT_FLAVORS if f.name != "n3-RTX-A6000x1"] + [NO_HIBERNATION]
    with make_emulator(tmp_path, clock, flavors=flavors) as emu:
        emu.start()
        with Flow(provider="hyperstack", providers={"hyperstack": section(emu)}) as flow:
            with pytest.raises(UnsupportedError, match="hibernation is not supported") as err:
                flow.run(
                    shell="true",
                    instance_name="box",
                    instance_type="n3-RTX-A6000x1",
                    region="CANADA-1",
                    upload_code=False,
                )
            assert "idle_policy" in " ".join(err.value.suggestions)
            assert flow.list_tasks() == []  # nothing recorded either
        assert not any(
            c.method == "POST" and c.path.endswith("virtual-machines") for c in emu.calls
        )
        assert emu.vm_count() == 0


CRASHING_CLIENT = """
import os, sys
from pathlib import Path
import pluggy
from flowlib import Flow, hookspecs
from flowlib.providers import Registry
from flowlib.providers.base import ProviderSpec
from flowlib.providers.hyperstack._provider import HyperstackProvider
from flowlib.providers.hyperstack._settings import load_settings
from flowlib.testing.emulators import sandbox_factory

settings = load_settings({settings!r})
instances = Path(settings.remote_host_options["dir"])
sandbox = sandbox_factory(lambda a: instances / a.instance_id)

def crash_at_enqueue(address):
    host = sandbox(address)
    run = host.run
    def run_or_crash(command, **kw):
        if "incoming" in command:  # the delivery itself: the client dies here
            os._exit(17)
        return run(command, **kw)
    host.run = run_or_crash
    return host

class Plugin:
    @hookspecs.hookimpl
    def flowlib_providers(self):
        make = lambda ctx: HyperstackProvider(settings, ctx.home, host_factory=crash_at_enqueue)
        return [ProviderSpec("hyperstack", make)]

pm = pluggy.PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)
pm.register(Plugin())
flow = Flow(provider="hyperstack", registry=Registry(pm))
flow.run(shell="echo survived", instance_name="box", upload_code=False)
"""


def test_a_task_is_not_lost_when_the_client_dies_between_recording_and_delivery(
    emulator: HyperstackEmulator, make_flow: Callable[..., Flow], isolated_home: Path
) -> None:
    code = CRASHING_CLIENT.format(settings=section(emulator))
    env = {**os.environ, "FLOW_HOME": str(isolated_home / ".flow")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 17, done.stderr.decode()
    flow = make_flow()
    (task,) = flow.store.list()
    assert task.provider_data.get("delivered") is None  # recorded, never delivered
    assert flow.wait(task.task_id, timeout=20).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id) == "survived"
    assert len(emulator.vms_named("flowlib-box")) == 1
