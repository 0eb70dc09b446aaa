"""flowlib under chaos: does the real result of every task come back, and does every machine stop
billing once its work is done? Prints a Markdown table (docs/reliability.md explains it):

    python benchmarks/chaos.py [--quick] [--seed N] [--json] [--only SUBSTRING]

Each row is one scenario on one cloud: the FCP and Hyperstack emulators over loopback HTTP (their
instances really run the startup script in a sandbox), and the local provider where it applies.
Tasks are short (``sleep 0.2; exit K``, K random). A scenario injects faults, kills or races
``flow`` processes, then "settles" the way a user would (``flow status`` / ``Flow.list_tasks`` a
bounded number of times) and compares the task store with the truth: the emulators' own state
(bids, VMs, what each machine's workload exited with, when billing stopped).

Only public surfaces are used: ``flowlib.Flow``, the ``flow`` CLI in subprocesses, and
``flowlib.testing.emulators`` with their inspection (``emu.state.bids``, ``emu.vm``,
``emu.workload_exit``, ``emu.billed_after_exit``). Every wait is bounded; every process and
temporary directory the benchmark starts is cleaned up, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHELL = "echo result {k}; sleep 0.2; exit {k}"
# A submit that ended unconfirmed, or whose process died, is resolved by name this long after
# (the setting submit_settle_s, 60 s by default; short here so that the settle sees it). Tasks
# still unresolved are counted apart ("no machine") among the unresolved ones.
SETTLE_S = 2.0
CREATE_ATTEMPTS = {"fcp": 4, "hyperstack": 3}  # how often each provider sends a create POST
CREATE_PATH = {"fcp": "/v2/spot/bids", "hyperstack": "*/core/virtual-machines"}
CLI_TIMEOUT_S = 90.0
COLUMNS = [
    "scenario",
    "cloud",
    "tasks",
    "duplicates",
    "orphaned machines",
    "lost records",
    "wrong final status",
    "unresolved",
    "of which no machine",
    "client errors",
    "billed s after exit (median / max)",
    "results kept",
    "integrity_check",
]
TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class Size:
    tasks: int  # per fault row
    kills: int
    cancels: int
    workers: int
    per_worker: int
    settle_rounds: int
    settle_pause_s: float


QUICK = Size(
    tasks=3, kills=4, cancels=2, workers=8, per_worker=1, settle_rounds=8, settle_pause_s=0.5
)
FULL = Size(
    tasks=8, kills=8, cancels=5, workers=8, per_worker=3, settle_rounds=16, settle_pause_s=0.75
)


@dataclass
class Machine:
    machine_id: str
    task_id: str | None  # the task its name says it belongs to
    live: bool
    exit_code: int | None
    billed_after_exit: float | None


@dataclass
class Outcome:
    """What the scenario did, to compare the store with."""

    names: dict[str, int] = field(default_factory=dict)  # task name -> the K it exits with
    returned: set[str] = field(default_factory=set)  # task ids a submit returned
    cancelled: set[str] = field(default_factory=set)  # task names whose cancel was accepted
    errors: list[str] = field(default_factory=list)  # what the clients said when they failed


# -- the clouds ---------------------------------------------------------------------------------
class Cloud:
    """One emulated cloud (or the local provider) with a FLOW_HOME and a project directory whose
    ``.flow/config.yaml`` points the ``flow`` CLI at it."""

    def __init__(
        self, name: str, root: Path, top: dict[str, Any] | None = None, **settings: Any
    ) -> None:
        self.name = name
        self.root = root
        self.home = root / "home"
        self.project = root / "project"
        self.project.mkdir(parents=True)
        self.emu: Any = None
        self.token = f"chaos-{os.getpid()}-{id(self)}"
        section: dict[str, Any] = {}
        if name == "fcp":
            from flowlib.testing.emulators.fcp import FcpEmulator, Timing

            self.emu = FcpEmulator(timing=Timing.instant(), workdir=root / "emu")
        elif name == "hyperstack":
            from flowlib.testing.emulators.hyperstack import HyperstackEmulator
            from flowlib.testing.emulators.hyperstack import Timing as HsTiming

            self.emu = HyperstackEmulator(timing=HsTiming.instant(), workdir=root / "emu")
        if self.emu is not None:
            self.emu.start()
            section = self.emu.provider_settings(**settings)
        from flowlib.config import write_config

        config: dict[str, Any] = {"provider": name, "submit_settle_s": SETTLE_S}
        for key, value in (top or {}).items():  # top-level settings ({root} filled in)
            config[key] = value.format(root=root) if isinstance(value, str) else value
        if section:
            config["providers"] = {name: section}
        write_config(self.project / ".flow" / "config.yaml", config)
        self.env = {
            **os.environ,
            "HOME": str(root),
            "FLOW_HOME": str(self.home),
            "CHAOS_RUN": self.token,
            "FLOW_KEEPER": "0",  # these rows settle by `flow status`, as a user would
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        self.env.pop("FLOW_API_KEY", None)
        self.env.pop("FLOW_PROVIDER", None)

    @property
    def instance_type(self) -> list[str]:
        return ["-i", "a100"] if self.name == "fcp" else []

    def flow(self) -> Any:
        """An in-process Flow on this cloud (same settings as the CLI)."""
        from flowlib import Flow

        old = os.getcwd()
        os.chdir(self.project)
        try:
            with _environ(HOME=str(self.root), FLOW_HOME=str(self.home), FLOW_KEEPER="0"):
                return Flow()
        finally:
            os.chdir(old)

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [sys.executable, "-m", "flowlib.cli", *args],
                cwd=self.project,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 124, str(exc.stdout or ""), "timed out")

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "flowlib.cli", *args],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run_args(self, name: str, k: int) -> list[str]:
        return [
            "run",
            "--no-upload",
            "--json",
            "--name",
            name,
            *self.instance_type,
            SHELL.format(k=k),
        ]

    # -- inspection ------------------------------------------------------------------------
    def calls(self) -> int:
        """API calls the emulator has received so far (0 on local)."""
        return len(self.emu.calls) if self.emu is not None else 0

    def machines(self) -> list[Machine]:
        if self.name == "fcp":
            return self._fcp_machines()
        if self.name == "hyperstack":
            return self._hyperstack_machines()
        return self._local_processes()

    def _fcp_machines(self) -> list[Machine]:
        emu = self.emu
        with emu.lock:
            bids = list(emu.state.bids.values())
            instances = list(emu.state.instances.values())
        out = []
        for bid in bids:
            task = "task-" + bid.name.rsplit("-", 1)[-1]
            mine = [i for i in instances if i.bid == bid.fid]
            for inst in mine or [None]:
                fid = inst.fid if inst is not None else bid.fid
                ended = emu.workload_exit(fid) if inst is not None else None
                billed = emu.billed_after_exit(fid) if inst is not None else None
                out.append(Machine(fid, task, bid.live, ended[0] if ended else None, billed))
        return out

    def _hyperstack_machines(self) -> list[Machine]:
        emu = self.emu
        with emu.lock:
            vms = list(emu.state.vms.values())
        out = []
        for vm in vms:
            task = vm.name.removeprefix("flowlib-") if vm.name.startswith("flowlib-") else None
            ended = emu.workload_exit(vm.id)
            live = not vm.gone and vm.status != "DELETING"
            out.append(
                Machine(
                    str(vm.id),
                    task,
                    live,
                    ended[0] if ended else None,
                    emu.billed_after_exit(vm.id),
                )
            )
        return out

    def _local_processes(self) -> list[Machine]:
        """Live workload processes of this run (local tasks are processes, not machines)."""
        out = []
        for pid, env in _processes_with(f"CHAOS_RUN={self.token}"):
            task = env.get("FLOW_TASK_ID")
            if task:
                out.append(Machine(str(pid), task, True, None, None))
        return out

    def close(self) -> None:
        """Stop everything this row started: the emulator (and its machines' scripts), and every
        process that carries this row's CHAOS_RUN mark (local workloads, helpers a ``flow``
        process left running in the background)."""
        if self.emu is not None:
            self.emu.close()
        for pid, _env in _processes_with(f"CHAOS_RUN={self.token}"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _processes_with(marker: str) -> Iterator[tuple[int, dict[str, str]]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or marker.encode() not in raw:
            continue
        env = dict(
            item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
        )
        yield int(entry.name), env


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- scenarios ----------------------------------------------------------------------------------
def _submit_in_process(cloud: Cloud, flow: Any, name: str, k: int, out: Outcome) -> None:
    from flowlib.errors import FlowError

    out.names[name] = k
    fields: dict[str, Any] = {"name": name, "upload_code": False}
    if cloud.name == "fcp":
        fields["instance_type"] = "a100"
    try:
        task = flow.run(SHELL.format(k=k), **fields)
        out.returned.add(task.task_id)
    except FlowError as exc:
        out.errors.append(f"{name}: submit raised {type(exc).__name__}: {exc.message[:200]}")


def faults_scenario(arm: Callable[[Cloud, int], None]) -> Callable[..., Outcome]:
    """Submit tasks one after another through Flow while ``arm(cloud, i)`` injects faults."""

    def scenario(cloud: Cloud, flow: Any, rng: random.Random, size: Size) -> Outcome:
        out = Outcome()
        for i in range(size.tasks):
            arm(cloud, i)
            _submit_in_process(cloud, flow, f"chaos-{i}", rng.randrange(0, 4), out)
        return out

    return scenario


def arm_5xx(cloud: Cloud, i: int) -> None:
    if i == 0:
        cloud.emu.faults.server_errors(every=4)


def arm_429(cloud: Cloud, i: int) -> None:
    cloud.emu.faults.rate_limit(times=3, retry_after=0.5)  # a burst before each submit


def arm_reset(cloud: Cloud, i: int) -> None:
    """Even tasks: the first create POST is processed and its answer lost (TCP reset). Odd
    tasks: every create attempt but the last is reset before it is processed, and the LAST one
    is processed and its answer lost."""
    faults, path = cloud.emu.faults, CREATE_PATH[cloud.name]
    faults.clear()
    if i % 2 == 0:
        faults.drop_connection("POST", path, after_processing=True, reset=True, times=1)
        return
    attempts = CREATE_ATTEMPTS[cloud.name]
    faults.drop_connection("POST", path, reset=True, times=attempts - 1)
    faults.drop_connection("POST", path, after_processing=True, reset=True, every=attempts, times=1)


def arm_slow(cloud: Cloud, i: int) -> None:
    if i == 0:
        cloud.emu.faults.slow(1.5, every=4)  # the client's timeout_s is 1.0 in this row


def kill_scenario(cloud: Cloud, flow: Any, rng: random.Random, size: Size) -> Outcome:
    """``kill -9`` of ``flow run`` at a random point of its submit; then one ``flow status``.
    On a cloud the point is "right after the emulator received the submit's n-th API call"
    (n random, up to what one whole submit makes); on local, a random time."""
    out = Outcome()
    start, calls = time.monotonic(), cloud.calls()
    done = cloud.cli(*cloud.run_args("chaos-0", 0))  # the first one: what a submit takes
    took, per_submit = time.monotonic() - start, cloud.calls() - calls
    out.names["chaos-0"] = 0
    _returned(done.stdout, out)
    for i in range(1, size.kills + 1):
        name, k = f"chaos-{i}", rng.randrange(0, 4)
        out.names[name] = k
        before = cloud.calls()
        proc = cloud.popen(*cloud.run_args(name, k))
        if cloud.emu is not None and per_submit > 0:
            target = rng.randint(1, per_submit)
            deadline = time.monotonic() + CLI_TIMEOUT_S
            while cloud.calls() - before < target and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
        else:
            time.sleep(rng.uniform(0.5, 1.0) * took)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate(timeout=30)
        _returned(stdout, out)
    status = cloud.cli("status", "--all")
    if status.returncode != 0:
        out.errors.append(
            f"flow status after the kills: exit {status.returncode}: {status.stderr.strip()[-160:]}"
        )
    return out


def cancel_scenario(cloud: Cloud, flow: Any, rng: random.Random, size: Size) -> Outcome:
    """``flow cancel NAME`` while ``flow run`` of that task is still submitting."""
    out = Outcome()
    for i in range(size.cancels):
        name, k = f"chaos-{i}", rng.randrange(0, 4)
        out.names[name] = k
        before = cloud.calls()
        run = cloud.popen(*cloud.run_args(name, k))
        deadline = time.monotonic() + 30
        while cloud.emu is not None and cloud.calls() == before and run.poll() is None:
            if time.monotonic() > deadline:  # the submit's first API call: it is submitting
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.3) if cloud.emu is not None else rng.uniform(0.3, 0.9))
        for _ in range(6):  # a user retries while the task is not known yet
            cancel = cloud.cli("cancel", name)
            if cancel.returncode == 0:  # it answers the task's status after the cancel
                if cancel.stdout.strip().endswith(": cancelled"):
                    out.cancelled.add(name)
                break
            if "already ended" in cancel.stderr + cancel.stdout:
                break
            time.sleep(0.2)
        else:
            out.errors.append(f"{name}: flow cancel never accepted: {cancel.stderr.strip()[-200:]}")
        try:
            stdout, stderr = run.communicate(timeout=CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            stdout, stderr = run.communicate(timeout=30)
            out.errors.append(f"{name}: flow run did not end within {CLI_TIMEOUT_S:g} s")
        _returned(stdout, out)
        if run.returncode not in (0, None):
            out.errors.append(f"{name}: flow run exit {run.returncode}: {stderr.strip()[-200:]}")
    return out


def concurrent_scenario(cloud: Cloud, flow: Any, rng: random.Random, size: Size) -> Outcome:
    """``size.workers`` processes at once on one FLOW_HOME: each submits, cancels some of its
    tasks and polls (``Flow.list_tasks``)."""
    out = Outcome()
    procs = []
    for w in range(size.workers):
        spec = {
            "seed": rng.randrange(1 << 30),
            "worker": w,
            "tasks": size.per_worker,
            "instance_type": "a100" if cloud.name == "fcp" else None,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", json.dumps(spec)],
                cwd=cloud.project,
                env=cloud.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 150
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=30)
            out.errors.append("a worker did not finish in time")
        try:
            report = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out.errors.append(f"worker exit {proc.returncode}: {stderr.strip()[-160:]}")
            continue
        out.names.update(report["names"])
        out.returned.update(report["returned"])
        out.cancelled.update(report["cancelled"])
        out.errors.extend(report["errors"])
    return out


def worker(spec: dict[str, Any]) -> None:
    """One of the concurrent processes (``--worker``): prints what it did as one JSON line."""
    from flowlib import Flow
    from flowlib.errors import FlowError

    rng = random.Random(spec["seed"])
    report: dict[str, Any] = {"names": {}, "returned": [], "cancelled": [], "errors": []}
    mine: list[tuple[str, str]] = []
    try:
        with Flow() as flow:
            for i in range(spec["tasks"]):
                name, k = f"chaos-w{spec['worker']}-{i}", rng.randrange(0, 4)
                report["names"][name] = k
                fields: dict[str, Any] = {"name": name, "upload_code": False}
                if spec["instance_type"]:
                    fields["instance_type"] = spec["instance_type"]
                try:
                    task = flow.run(SHELL.format(k=k), **fields)
                    report["returned"].append(task.task_id)
                    mine.append((task.task_id, name))
                except FlowError as exc:
                    report["errors"].append(f"{name}: submit: {exc.message[:200]}")
                if mine and rng.random() < 0.4:
                    task_id, victim = rng.choice(mine)
                    try:
                        if flow.cancel(task_id).status.value == "cancelled":
                            report["cancelled"].append(victim)  # else: it had ended first
                    except FlowError as exc:
                        if "already ended" not in exc.message:
                            report["errors"].append(f"{victim}: cancel: {exc.message[:200]}")
                try:
                    flow.list_tasks(limit=50)
                except FlowError as exc:
                    report["errors"].append(f"poll: {exc.message[:200]}")
    except Exception as exc:  # report it: the parent counts what it can
        report["errors"].append(f"worker crashed: {type(exc).__name__}: {str(exc)[:160]}")
    print(json.dumps(report))


WATCH_WAIT_S = 20.0  # how long nobody looks, at most


def watch_scenario(keeper: str) -> Callable[..., Outcome]:
    """Nobody watching: detached ``flow run`` processes that exit at once, then no flowlib call
    at all for up to WATCH_WAIT_S (until every finished machine stopped billing). ``keeper``:
    "on" (the keeper looks), "killed" (``kill -9`` of the keeper after the submits; the next
    submit starts it again) or "off" (no background process: only the settle's look ends it)."""

    def scenario(cloud: Cloud, flow: Any, rng: random.Random, size: Size) -> Outcome:
        from flowlib.keeper import read_state

        out = Outcome()
        if keeper != "off":
            cloud.env.update(FLOW_KEEPER="1", FLOW_KEEPER_INTERVAL_S="0.5", FLOW_KEEPER_IDLE_S="3")
        count = size.tasks + (1 if keeper == "killed" else 0)
        for i in range(count):
            if keeper == "killed" and i == count - 1:
                state = read_state(cloud.home)
                if state is not None and state.get("running"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(state["pid"]), signal.SIGKILL)
                else:
                    out.errors.append("no keeper ran to kill")
            name, k = f"chaos-{i}", rng.randrange(0, 4)
            out.names[name] = k
            _returned(cloud.cli(*cloud.run_args(name, k)).stdout, out)
        deadline = time.monotonic() + WATCH_WAIT_S
        while time.monotonic() < deadline:
            machines = cloud.machines()
            ran = [m for m in machines if m.exit_code is not None]
            if len(ran) >= count and not any(m.live for m in ran):
                break
            time.sleep(0.25)
        cloud.env["FLOW_KEEPER"] = "0"
        return out

    return scenario


def _returned(stdout: str, out: Outcome) -> None:
    """The task id ``flow run --json`` printed, if it got that far."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        out.returned.add(str(json.loads(stdout)["task_id"]))


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Cloud, Any, random.Random, Size], Outcome]
    clouds: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)  # top-level config keys


SCENARIOS = [
    Scenario("5xx every 4th call", faults_scenario(arm_5xx), ("fcp", "hyperstack")),
    Scenario("429 bursts (Retry-After)", faults_scenario(arm_429), ("fcp", "hyperstack")),
    Scenario(
        "reset after accepted POST (also the last retry)",
        faults_scenario(arm_reset),
        ("fcp", "hyperstack"),
    ),
    Scenario(
        "slow answers (1.5 s > 1 s timeout)",
        faults_scenario(arm_slow),
        ("fcp", "hyperstack"),
        {"timeout_s": 1.0},
    ),
    Scenario("kill -9 of flow run during submit", kill_scenario, ("fcp", "hyperstack", "local")),
    Scenario("flow cancel during submit", cancel_scenario, ("fcp", "hyperstack", "local")),
    Scenario("8 processes submit/cancel/poll", concurrent_scenario, ("fcp", "hyperstack", "local")),
    Scenario("nobody watching, keeper", watch_scenario("on"), ("fcp", "hyperstack")),
    Scenario("nobody watching, keeper killed", watch_scenario("killed"), ("fcp", "hyperstack")),
    Scenario("nobody watching, no keeper", watch_scenario("off"), ("fcp", "hyperstack")),
    Scenario(
        "nobody watching, no client, results location",
        watch_scenario("off"),
        ("fcp", "hyperstack"),
        top={"results": "file://{root}/results"},
    ),
]


# -- settle and judge ---------------------------------------------------------------------------
def settle(cloud: Cloud, flow: Any, size: Size) -> tuple[list[Any], list[str]]:
    """What a user does afterwards: look at the tasks a bounded number of times."""
    from flowlib.errors import FlowError

    tasks: list[Any] = []
    failures: list[str] = []
    for _ in range(size.settle_rounds):
        try:
            tasks = flow.list_tasks(limit=10_000)
        except FlowError as exc:  # said in the notes: a settle that cannot read the store
            failures.append(f"Flow.list_tasks failed: {type(exc).__name__}: {exc.message[:200]}")
        live = [m for m in cloud.machines() if m.live]
        if tasks and all(t.status.value in TERMINAL for t in tasks) and not live:
            break
        time.sleep(size.settle_pause_s)
    return tasks, list(dict.fromkeys(failures))


def integrity(home: Path) -> str:
    """``PRAGMA integrity_check`` of tasks.db, from another process (opening the file here
    while this process's Flow holds it would drop that connection's locks)."""
    db = home / "tasks.db"
    if not db.exists():
        return "no tasks.db"
    code = (
        "import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True, "
        "timeout=30); print('; '.join(r[0] for r in c.execute('PRAGMA integrity_check')))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    return (done.stdout.strip() or done.stderr.strip().splitlines()[-1])[:80]


def judge(
    scenario: Scenario, cloud: Cloud, tasks: list[Any], out: Outcome
) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    machines = cloud.machines()
    by_task: dict[str, list[Machine]] = {}
    for m in machines:
        by_task.setdefault(m.task_id or "?", []).append(m)
    stored = {t.task_id: t for t in tasks}
    now = time.time()

    duplicates = 0
    if cloud.name != "local":
        resources: dict[str, set[str]] = {}
        for m in machines:
            if cloud.name == "fcp":
                with cloud.emu.lock:
                    bids = {
                        b.fid
                        for b in cloud.emu.state.bids.values()
                        if "task-" + b.name.rsplit("-", 1)[-1] == m.task_id
                    }
                resources[m.task_id or "?"] = bids
            else:
                resources.setdefault(m.task_id or "?", set()).add(m.machine_id)
        for task_id, owned in sorted(resources.items()):
            if len(owned) > 1:
                duplicates += 1
                notes.append(f"{task_id}: {len(owned)} machines created for one task")

    orphans = 0
    for m in machines:
        if not m.live:
            continue
        task = stored.get(m.task_id or "")
        if task is None:
            orphans += 1
            notes.append(
                f"machine {m.machine_id} is live and no task in the store owns it "
                f"(named for {m.task_id})"
            )
        elif task.status.value in TERMINAL:
            orphans += 1
            notes.append(
                f"{task.task_id} ({task.name}) is {task.status.value} but its machine "
                f"{m.machine_id} is still live"
            )

    lost = sorted(out.returned - set(stored))
    for task_id in lost:
        notes.append(f"{task_id}: its submit returned the id, the store has no such task")

    wrong = unresolved = no_machine = 0
    for task in tasks:
        mine = by_task.get(task.task_id, [])
        exits = [m.exit_code for m in mine if m.exit_code is not None]
        status = task.status.value
        if status not in TERMINAL:
            unresolved += 1
            age = now - task.created_at.timestamp()
            if not mine:
                no_machine += 1
            notes.append(
                f"{task.task_id} ({task.name}) still {status} ({task.provider_state}) after "
                f"settle, {age:.0f} s old, "
                + ("no machine" if not mine else f"machine(s) {[m.machine_id for m in mine]}")
            )
            continue
        if task.name in out.cancelled:
            expected = "cancelled"
        elif exits:
            expected = "completed" if exits[0] == 0 else "failed"
        elif cloud.name == "local" and task.exit_code is not None:
            k = out.names.get(task.name)
            expected = "completed" if k == 0 else "failed"
        else:
            expected = "failed|cancelled"  # the workload never ran
        truth_code = (
            exits[0] if exits else (out.names.get(task.name) if cloud.name == "local" else None)
        )
        ok = status in expected.split("|")
        if ok and status != "cancelled" and exits and task.exit_code != truth_code:
            ok = False
        if ok and cloud.name == "local" and status != "cancelled" and task.exit_code is not None:
            ok = task.exit_code == truth_code
        if not ok:
            wrong += 1
            notes.append(
                f"{task.task_id} ({task.name}) is {status} (exit {task.exit_code}, "
                f"{task.provider_state}: {task.message}) but the truth is {expected}"
                + (f" (workload exit {exits[0]})" if exits else "")
            )

    billed = sorted(m.billed_after_exit for m in machines if m.billed_after_exit is not None)
    still = [m for m in machines if m.live and m.exit_code is not None]
    if still:
        notes.append(
            f"{len(still)} machine(s) still billing at inspection after their workload "
            "ended (billed seconds counted up to then)"
        )
    shown = (
        "-"
        if cloud.name == "local"
        else (f"{statistics.median(billed):.1f} / {max(billed):.1f}" if billed else "none ran")
    )
    kept = ran = 0  # the workload's own result came back: its exit code and its log
    for task in tasks:
        exits = [m.exit_code for m in by_task.get(task.task_id, []) if m.exit_code is not None]
        truth = exits[0] if exits else (out.names.get(task.name) if cloud.name == "local" else None)
        if truth is None or task.name in out.cancelled or task.status.value not in TERMINAL:
            continue
        if task.provider_state == "submit-lost":  # killed before its process started: it never ran
            continue
        ran += 1
        try:
            log = task.logs(tail=20)
        except Exception as exc:  # a log that cannot be read is not kept
            log = f"({type(exc).__name__})"
        if task.exit_code == truth and f"result {truth}" in log:
            kept += 1
        else:
            notes.append(
                f"{task.task_id} ({task.name}): result not kept (exit {task.exit_code}, "
                f"truth {truth}; log {log[-60:]!r})"
            )
    for err in out.errors:
        notes.append(f"client: {err}")
    if cloud.emu is not None:  # proof the faults were there: what the clients were answered
        calls = list(cloud.emu.calls)
        dropped = sum(1 for c in calls if c.dropped or c.status is None)
        errors = sum(1 for c in calls if c.status is not None and c.status >= 500)
        limited = sum(1 for c in calls if c.status == 429)
        if dropped or errors or limited:
            notes.append(
                f"the emulator saw {len(calls)} calls: {dropped} dropped, "
                f"{errors} answered 5xx, {limited} answered 429"
            )
    row = {
        "scenario": scenario.name,
        "cloud": cloud.name,
        "tasks": len(tasks),
        "duplicates": "-" if cloud.name == "local" else duplicates,
        "orphaned machines": orphans,
        "lost records": len(lost),
        "wrong final status": wrong,
        "unresolved": unresolved,
        "of which no machine": no_machine,
        "client errors": len(out.errors),
        "billed s after exit (median / max)": shown,
        "billed_after_exit": billed,
        "results kept": f"{kept} / {ran}",
        "integrity_check": integrity(cloud.home),
    }
    return row, notes


def run_row(scenario: Scenario, cloud_name: str, rng: random.Random, size: Size) -> dict[str, Any]:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flowlib-chaos-") as tmp:
        cloud = Cloud(cloud_name, Path(tmp), scenario.top, **scenario.settings)
        mark = _environ(CHAOS_RUN=cloud.token)  # what this process starts is marked too
        mark.__enter__()
        try:
            flow = cloud.flow()
            try:
                out = scenario.run(cloud, flow, rng, size)
                tasks, failures = settle(cloud, flow, size)
                out.errors.extend(f"settle: {f}" for f in failures)
                if cloud.emu is not None:
                    cloud.emu.faults.clear()
                row, notes = judge(scenario, cloud, tasks, out)
            finally:
                flow.close()
        finally:
            mark.__exit__(None, None, None)
            cloud.close()
    row["seconds"] = round(time.monotonic() - start, 1)
    row["notes"] = notes
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * (len(COLUMNS) - 3) + "---|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def run(
    quick: bool = True, seed: int = 0, only: str | None = None, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    size = QUICK if quick else FULL
    rows = []
    for scenario in SCENARIOS:
        for cloud in scenario.clouds:
            label = f"{scenario.name} / {cloud}"
            if only and only not in label:
                continue
            rng = random.Random(f"{seed}:{label}")
            row = run_row(scenario, cloud, rng, size)
            log(f"# {label}: {row['tasks']} tasks, {row['seconds']} s")
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks (well under 3 minutes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--only", metavar="TEXT", help="only rows whose 'scenario / cloud' has TEXT"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    start = time.monotonic()
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    rows = run(quick=args.quick, seed=args.seed, only=args.only, log=log)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    print()
    print(table(rows))
    print(f"\n{len(rows)} rows in {time.monotonic() - start:.0f} s (seed {args.seed})")
    for row in rows:
        for note in row["notes"]:
            print(f"- {row['scenario']} / {row['cloud']}: {note}")


if __name__ == "__main__":
    main()
