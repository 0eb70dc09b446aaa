"""What every emulated cloud shares: the request pipeline (faults, tick, dispatch, record), the
two ways to reach it (an ``httpx`` transport in-process, or a loopback server with a ticker) and
the waiting helpers tests use.

A cloud's emulator subclasses :class:`EmulatorBase`, sets :attr:`EmulatorBase.state` (its
:class:`MachineState`: lock, tick, machines' disks and scripts) and says how to route a request
(:meth:`EmulatorBase._dispatch`, called under :attr:`EmulatorBase.lock` after a tick), how its
errors look (its :class:`~._wire.ApiError` subclass, :meth:`EmulatorBase._fault_response`,
:meth:`EmulatorBase._internal_error`) and which headers carry its credential.
"""

from __future__ import annotations

import email.utils
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import httpx

from flowlib.core.packaging import tag_as_cache

from ._admin import ADMIN_PREFIX, AdminControls, admin_answer
from ._boot import SCRIPT_LOG, Sandbox, ScriptProcess
from ._clock import EmulatorClock, ManualClock, SystemClock
from ._faults import FaultPlan
from ._server import LoopbackServer, httpx_handler
from ._wire import ApiError, WireRequest, WireResponse

__all__ = ["WORKLOAD_EXIT", "EmulatorBase", "MachineState", "RecordedCall", "billed_between"]

#: where a flowlib startup script leaves the workload's exit code, relative to the machine's root
WORKLOAD_EXIT = "var/run/flow/exit_code"

_E = TypeVar("_E", bound="EmulatorBase[Any]")
_Id = TypeVar("_Id")
_Id_contra = TypeVar("_Id_contra", contravariant=True)


class MachineState(Protocol[_Id_contra]):
    """What the shared plumbing needs of a cloud's state."""

    @property
    def lock(self) -> threading.RLock: ...

    def tick(self) -> None:
        """Apply every due transition (the lock is held)."""

    def sandbox_root(self, machine_id: _Id_contra, /) -> Path:
        """A machine's disk (``FLOW_ROOT``)."""
        ...

    def script_processes(self) -> list[ScriptProcess]:
        """Every script the machines started, ended ones included (the lock is held)."""
        ...

    def billing_history(self, machine_id: _Id_contra, /) -> list[tuple[float, bool]]:
        """When the machine started and stopped being billed: ``(at, billed from then on)``,
        oldest first (the lock is held)."""
        ...


@dataclass(frozen=True)
class RecordedCall:
    """One request as the emulator saw it, and its answer (``status`` None: dropped before an
    answer was made)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; credential headers are not kept
    request_body: Any
    status: int | None
    response_body: Any
    dropped: bool
    at: float


class EmulatorBase(Generic[_Id]):
    """The plumbing of an emulated cloud; subclasses hold the cloud itself (``_Id``: how a
    machine is named)."""

    #: lower-case header names that carry a credential: never recorded
    secret_headers: tuple[str, ...] = ("authorization",)
    #: the base URL in-process (no socket), a name only
    inprocess_url: str = "http://emulator.invalid"
    ticker_name: str = "emulator-ticker"
    #: where a machine's startup script writes its output, relative to its root
    script_log: str = SCRIPT_LOG
    state: MachineState[_Id]

    def __init__(
        self,
        clock: EmulatorClock | None,
        workdir: Path | None,
        boot: bool,
        workdir_prefix: str,
        ssh: bool = False,
    ) -> None:
        """``workdir`` None with ``boot``: a temporary one, removed on close. ``self.sandbox``
        is where machines boot (None: they do not run their scripts). ``ssh``: each booted
        machine also runs a real sshd on a loopback port (``_sshd.py``), reported in the API
        the way the cloud reports SSH access."""
        if ssh and not boot:
            raise ValueError("ssh=True needs boot=True: sshd runs inside the booted machine")
        if ssh:
            from ._sshd import sshd_missing

            missing = sshd_missing()
            if missing is not None:
                raise RuntimeError(f"ssh=True: {missing}")
        self.ssh = ssh
        self.clock: EmulatorClock = clock if clock is not None else SystemClock()
        self._own_workdir = workdir is None and boot
        if workdir is None and boot:
            workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
        self.workdir = workdir
        if workdir is not None:
            tag_as_cache(workdir)  # never part of a code upload, even inside the project
        self.sandbox = Sandbox(workdir / "instances") if boot and workdir is not None else None
        self.faults = FaultPlan()
        self.calls: list[RecordedCall] = []
        self.errors: list[BaseException] = []  # bugs of the emulator itself (answered 500)
        self._server: LoopbackServer | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- what a cloud provides -------------------------------------------------------------

    def _dispatch(self, request: WireRequest) -> WireResponse:
        """Answer one request (the lock is held, the state ticked). May raise ApiError."""
        raise NotImplementedError

    def _fault_response(self, answer: WireResponse) -> WireResponse:
        """An injected error, shaped like this cloud's errors."""
        return WireResponse(answer.status, answer.body, dict(answer.headers))

    def _internal_error(self) -> WireResponse:
        return WireResponse(500, {"detail": "Internal Server Error"})

    def _auth_headers(self) -> dict[str, str]:
        return {}

    # ---- state -----------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self.state.lock

    def instance_root(self, machine_id: _Id) -> Path:
        """The machine's disk: the ``FLOW_ROOT`` its startup script ran with."""
        return self.state.sandbox_root(machine_id)

    def startup_log(self, machine_id: _Id) -> str:
        """What the machine's startup script printed (:attr:`script_log` under its disk)."""
        path = self.instance_root(machine_id) / self.script_log
        return path.read_text(errors="replace") if path.exists() else ""

    def workload_exit(self, machine_id: _Id) -> tuple[int, float] | None:
        """The exit code a flowlib startup script left on the machine
        (``var/run/flow/exit_code``) and when it was written (the file's mtime, epoch seconds:
        comparable with the system clock); None before the workload ended."""
        path = self.instance_root(machine_id) / WORKLOAD_EXIT
        try:
            written = path.stat().st_mtime
            return int(path.read_text(encoding="utf-8").strip()), written
        except (OSError, ValueError):
            return None

    def billed_seconds(self, machine_id: _Id, since: float | None = None) -> float:
        """Seconds the machine has been billed so far (on the emulator's clock), only those
        after ``since`` (epoch seconds) when given."""
        with self.lock:
            self.state.tick()
            changes = self.state.billing_history(machine_id)
        return billed_between(changes, since, self.clock.time())

    def billed_after_exit(self, machine_id: _Id) -> float | None:
        """Seconds the machine was billed after its workload ended (:meth:`workload_exit`):
        what a release that came late cost. None while the workload has not ended."""
        ended = self.workload_exit(machine_id)
        return None if ended is None else self.billed_seconds(machine_id, since=ended[1])

    def wait_for_scripts(self, timeout: float = 10.0) -> bool:
        """Wait (real time, at most ``timeout``) until no machine's script runs; then tick."""
        deadline = time.monotonic() + timeout
        self.tick()  # boot what is due first, so a machine created a moment ago is waited for
        with self.lock:
            processes = self.state.script_processes()
        for proc in processes:
            left = deadline - time.monotonic()
            if left <= 0 or proc.wait(left) is None:
                return False
        self.tick()
        return True

    def _stop_machines(self) -> None:
        """Stop whatever the emulated machines still run (on close)."""
        for proc in self.state.script_processes():  # a script may be gone and its workload not
            proc.kill()
        if self.sandbox is not None:
            self.sandbox.stop_ssh()

    # ---- time ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply every transition due at the clock's time (and notice ended scripts)."""
        with self.lock:
            self.state.tick()

    def advance(self, seconds: float) -> None:
        """Move a :class:`ManualClock` forward and apply what became due."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the emulator to run on a ManualClock")
        self.clock.advance(seconds)
        self.tick()

    def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02
    ) -> bool:
        """Poll ``predicate`` (ticking between tries) for at most ``timeout`` real seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    # ---- serving ---------------------------------------------------------------------------

    def admin_controls(self) -> AdminControls:
        """The controls under ``/_emulator`` (see ``_admin.py``); clouds add their own."""
        return AdminControls(
            self.ticker_name.removesuffix("-ticker"), self._admin_key(), self.faults
        )

    def _admin_key(self) -> str:
        key = getattr(self, "api_key", None)
        return key if isinstance(key, str) else ""

    def serve(self, request: WireRequest) -> WireResponse:
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            return admin_answer(self.admin_controls(), request)  # not faulted, not recorded
        decision = self.faults.decide(request.method, request.path)
        if decision.drop_before is not None:
            self._record(request, None, dropped=True)
            raise decision.drop_before
        if decision.answer is not None:
            response = self._fault_response(decision.answer)
        else:
            with self.lock:
                self.state.tick()
                try:
                    response = self._dispatch(request)
                except ApiError as exc:
                    response = exc.response()
                except Exception as exc:  # a bug here must not look like the cloud's answer
                    self.errors.append(exc)
                    response = self._internal_error()
        self._record(request, response, dropped=decision.drop_after is not None)
        if decision.drop_after is not None:
            raise decision.drop_after
        response.delay_s = decision.delay_s
        return response

    def http_date(self) -> str:
        return email.utils.formatdate(self.clock.time(), usegmt=True)

    def handler(self) -> Callable[[httpx.Request], httpx.Response]:
        """A handler for ``httpx.MockTransport``. Slow answers advance a ManualClock."""
        sleep = self.clock.sleep if isinstance(self.clock, ManualClock) else None
        return httpx_handler(self, sleep)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler())

    @property
    def url(self) -> str:
        """The base URL: the loopback server's once started, else a name for in-process use."""
        return self._server.url if self._server is not None else self.inprocess_url

    def provider_settings(self, **extra: Any) -> dict[str, Any]:
        """The flowlib provider section that reaches this emulator (its URL and key; its
        instances over OpenSSH as this user when they run sshd, else through their
        sandboxes), ``extra`` settings added."""
        section: dict[str, Any] = {
            "api_url": self.url,
            "api_key": getattr(self, "api_key", None),
            "poll_interval_s": 0.2,
        }
        if self.ssh:
            import getpass

            section.update(remote_host="ssh", ssh_user=getpass.getuser())
        elif self.workdir is not None:
            from flowlib.testing.emulators import sandbox_settings

            section.update(sandbox_settings(self.workdir / "instances"))
        return {**section, **extra}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` with base URL and key: over loopback when started, else
        in-process."""
        kwargs.setdefault("headers", self._auth_headers())
        kwargs.setdefault("timeout", 10.0)
        if self._server is None:
            kwargs.setdefault("transport", self.transport())
        return httpx.Client(base_url=self.url, **kwargs)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over loopback HTTP from background threads; returns the base URL. A ticker
        moves the state machines while nobody calls."""
        if self._server is None:
            self._server = LoopbackServer(self, host, port)
            self._server.start()
            self._stop.clear()
            self._ticker = threading.Thread(
                target=self._tick_loop, name=self.ticker_name, daemon=True
            )
            self._ticker.start()
        return self._server.url

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.05):
            self.tick()

    def close(self) -> None:
        """Stop serving, stop every machine's scripts, remove a temporary workdir."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._stop_machines()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: WireRequest, response: WireResponse | None, dropped: bool) -> None:
        headers = {k: v for k, v in request.headers.items() if k not in self.secret_headers}
        self.calls.append(
            RecordedCall(
                method=request.method,
                path=request.path,
                query={k: list(v) for k, v in request.query.items()},
                headers=headers,
                request_body=_json_or_none(request.body),
                status=response.status if response is not None else None,
                response_body=response.body if response is not None else None,
                dropped=dropped,
                at=self.clock.time(),
            )
        )


def billed_between(changes: list[tuple[float, bool]], since: float | None, now: float) -> float:
    """Billed seconds in ``[since, now]`` from ``(at, billed from then on)`` changes."""
    total, start = 0.0, None
    for at, billed in [*changes, (now, False)]:
        if start is not None:
            total += max(0.0, min(at, now) - max(start, since if since is not None else start))
        start = at if billed else None
    return total


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
