"""The Hyperstack emulator: state, fault plan and the two ways to reach it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .._base import EmulatorBase
from .._clock import EmulatorClock
from .._disks import VolumeDisks
from .._wire import WireRequest, WireResponse
from ._api import route
from ._catalog import (
    DEFAULT_FLAVORS,
    DEFAULT_IMAGES,
    DEFAULT_PRICES,
    DEFAULT_REGIONS,
    DEFAULT_STOCK,
    FlavorSpec,
)
from ._entities import REASONS, Options, Timing, Vm
from ._state import USER_DATA_LOG, HyperstackState

__all__ = ["HyperstackEmulator"]


class HyperstackEmulator(EmulatorBase[int]):
    """An emulated Hyperstack (Infrahub API ``/v1``).

    In-process (no socket)::

        emu = HyperstackEmulator(clock=ManualClock(), boot=False)
        client = emu.client()                   # httpx.Client, base URL .../v1, api_key header
        emu.advance(5)                          # step time; transitions that are due happen

    Over loopback HTTP (VMs' scripts can call back)::

        with HyperstackEmulator() as emu:
            url = emu.start()                   # http://127.0.0.1:PORT  (the API is under /v1)
    """

    def provider_settings(self, **extra: Any) -> dict[str, Any]:
        """As :meth:`EmulatorBase.provider_settings`; with ``ssh=True`` also the port every VM's
        sshd answers on at its floating IP (``ssh_port``)."""
        if self.ssh:
            extra = {"ssh_port": self.state.ssh_port, **extra}
        return super().provider_settings(**extra)

    secret_headers = ("api_key", "authorization")
    inprocess_url = "http://hyperstack.emulator"
    ticker_name = "hyperstack-ticker"
    script_log = USER_DATA_LOG
    state: HyperstackState

    def __init__(
        self,
        *,
        clock: EmulatorClock | None = None,
        timing: Timing | None = None,
        options: Options | None = None,
        flavors: Iterable[FlavorSpec] = DEFAULT_FLAVORS,
        prices: Mapping[str, float] | None = None,
        stock: Mapping[tuple[str, str], int] | None = None,
        workdir: Path | None = None,
        boot: bool = True,
        api_key: str | None = None,
        boot_env: Callable[[Vm], dict[str, str]] | None = None,
        ssh: bool = False,
    ) -> None:
        super().__init__(clock, workdir, boot, "hyperstack-emulator-", ssh=ssh)
        self.state = HyperstackState(
            clock=self.clock,
            timing=timing or Timing(),
            options=options or Options(),
            sandbox=self.sandbox,
            prices=dict(DEFAULT_PRICES if prices is None else prices),
            stock=dict(DEFAULT_STOCK if stock is None else stock),
            regions=DEFAULT_REGIONS,
            images=DEFAULT_IMAGES,
        )
        if boot_env is not None:
            self.state.boot_env = boot_env
        if ssh:
            from .._sshd import free_port

            self.state.ssh, self.state.ssh_port = True, free_port()
        if self.sandbox is not None and self.workdir is not None:
            self.state.disks = VolumeDisks(self.workdir)
            self.state.disks.install_tools()
        self.api_key = api_key or _new_key()
        self.state.api_keys.add(self.api_key)
        with self.state.lock:
            for spec in flavors:
                self.state.add_flavor(spec)

    # ---- setup and control -----------------------------------------------------------------

    def add_api_key(self) -> str:
        key = _new_key()
        with self.state.lock:
            self.state.api_keys.add(key)
        return key

    def revoke_api_key(self, key: str) -> None:
        with self.state.lock:
            self.state.api_keys.discard(key)

    def set_stock(self, region: str, gpu: str, gpus: int) -> None:
        """How many ``gpu`` (model string, ``"RTX-A6000"``) exist in ``region``, busy included."""
        with self.state.lock:
            self.state.tick()
            self.state.stock[(region, gpu)] = gpus

    def fail_vm(self, vm_id: int) -> None:
        """The VM breaks: ``ERROR``, its scripts are stopped."""
        with self.state.lock:
            self.state.tick()
            self.state.fail(self.state.vm(vm_id))

    # ---- inspection ------------------------------------------------------------------------

    def vm(self, vm_id: int) -> Vm:
        """A VM, deleted ones included (``vm.gone``)."""
        return self.state.vms[vm_id]

    def vms_named(self, name: str) -> list[Vm]:
        """Live (not yet deleted) VMs called ``name``."""
        with self.state.lock:
            return [vm for vm in self.state.live_vms() if vm.name == name]

    def live_vms(self) -> list[Vm]:
        """VMs not deleted yet: the ones that can cost money."""
        with self.state.lock:
            return self.state.live_vms()

    def vm_count(self, *statuses: str) -> int:
        """How many live VMs have one of ``statuses``; with none given, how many are live."""
        with self.state.lock:
            return sum(1 for vm in self.state.live_vms() if not statuses or vm.status in statuses)

    def volume_files(self, volume_id: int) -> Path:
        """What an emulated volume holds (its filesystem's contents; see ``_disks.py``)."""
        if self.state.disks is None:
            raise ValueError("this emulator does not boot VMs (boot=False): volumes hold nothing")
        return self.state.disks.path(volume_id) / "data"

    def billed(self, vm_id: int) -> float:
        """Dollars billed so far for a VM's GPUs (nothing while hibernated)."""
        with self.state.lock:
            return self.state.billed(self.state.vms[vm_id])

    # ---- serving (the pipeline itself is EmulatorBase's) -----------------------------------

    def _dispatch(self, request: WireRequest) -> WireResponse:
        return route(self.state, request)

    def _fault_response(self, answer: WireResponse) -> WireResponse:
        # Hyperstack's envelope, and no Retry-After: the service documents none.
        text = answer.body.get("detail") if isinstance(answer.body, dict) else None
        body = {
            "status": False,
            "message": str(text or "Error"),
            "error_reason": REASONS.get(answer.status, "server_error"),
        }
        return WireResponse(answer.status, body)

    def _internal_error(self) -> WireResponse:
        return WireResponse(
            500, {"message": "Internal Server Error"}
        )  # no error_reason, as documented

    def _auth_headers(self) -> dict[str, str]:
        return {"api_key": self.api_key}

    @property
    def url(self) -> str:
        """The API's base URL (with ``/v1``)."""
        return super().url + "/v1"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over loopback HTTP; returns the API's base URL (``http://127.0.0.1:PORT/v1``)."""
        super().start(host, port)
        return self.url


def _new_key() -> str:
    return secrets.token_hex(16)
