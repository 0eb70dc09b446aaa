"""The FCP (Mithril v2) emulator: state, fault plan and the two ways to reach it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .._admin import AdminControls, AdminError
from .._base import EmulatorBase, RecordedCall
from .._clock import EmulatorClock
from .._disks import VolumeDisks
from .._vm import vm_paths_missing
from .._wire import WireRequest, WireResponse
from . import _machines, _platform, _reservations  # noqa: F401  (their routes register on import)
from ._api import route
from ._catalog import CPU_TYPES, DEFAULT_MARKETS, CpuType, Market
from ._entities import Auction, Bid, Instance, InstanceType, Project, Timing, parse_price
from ._keys import new_api_key
from ._state import FcpState, Options

__all__ = ["FcpEmulator", "RecordedCall"]


class FcpEmulator(EmulatorBase[str]):
    """An emulated Mithril cloud.

    In-process (no socket)::

        emu = FcpEmulator(clock=ManualClock(), timing=Timing.instant())
        client = emu.client()                      # httpx.Client on an httpx.MockTransport
        emu.advance(30)                            # step time; transitions that are due happen

    Over loopback HTTP (instances' scripts can call back)::

        with FcpEmulator() as emu:
            url = emu.start()                      # http://127.0.0.1:PORT
            httpx.get(f"{url}/v2/me", headers={"Authorization": f"Bearer {emu.api_key}"})

    With ``ssh=True`` every instance that boots runs its own sshd on a loopback port, reported
    as ``ssh_destination: "127.0.0.1:PORT"`` and logged into with the bid's SSH keys, as the
    emulator's user; ``provider_settings()`` then reaches instances over OpenSSH.
    Volumes listed in a bid appear on its instances as ``/dev/disk/by-id/virtio-<FID>``
    (emulated disks: directories, see ``_disks.py``).

    With ``vm_paths=True`` (root only) startup scripts and SSH sessions see the instance's disk
    at a VM's absolute paths (``/var/log/...``, ``/tmp``, ``/home``) in a private mount
    namespace, with emulator shims for ``sudo`` and ``docker`` (``_vm.py``): what a vendor's own
    startup script and ``flow logs`` need. SSH then also lets in ``ubuntu``.
    """

    state: FcpState

    def __init__(
        self,
        *,
        clock: EmulatorClock | None = None,
        timing: Timing | None = None,
        options: Options | None = None,
        markets: Iterable[Market] = DEFAULT_MARKETS,
        cpu_types: Iterable[CpuType] = CPU_TYPES,
        workdir: Path | None = None,
        boot: bool = True,
        seed: int = 0,
        api_key: str | None = None,
        project_name: str = "default",
        boot_env: Callable[[Instance], dict[str, str]] | None = None,
        ssh: bool = False,
        vm_paths: bool = False,
    ) -> None:
        if vm_paths:
            missing = vm_paths_missing() if boot else "needs boot=True"
            if missing is not None:
                raise RuntimeError(f"vm_paths=True: {missing}")
        super().__init__(clock, workdir, boot, "fcp-emulator-", ssh=ssh)
        if self.sandbox is not None:
            self.sandbox.vm_paths = vm_paths
        self.state = FcpState(
            clock=self.clock,
            timing=timing or Timing(),
            options=options or Options(),
            sandbox=self.sandbox,
            seed=seed,
            ssh=ssh,
        )
        if self.workdir is not None and self.sandbox is not None:
            self.state.disks = VolumeDisks(self.workdir)
            self.state.disks.install_tools()
        if boot_env is not None:
            self.state.boot_env = boot_env
        self.api_key = api_key or new_api_key()
        self.state.add_api_key(self.api_key, "emulator")
        with self.state.lock:
            self.project = self.add_project(project_name)
            for market in markets:
                self.add_market(market)
            for cpu in cpu_types:
                self.add_cpu_type(cpu)

    # ---- setup ---------------------------------------------------------------------------

    def add_project(self, name: str) -> str:
        """A new project; returns its FID."""
        with self.state.lock:
            project = Project(self.state.new_fid("proj"), name, self.clock.time())
            self.state.projects[project.fid] = project
            return project.fid

    def add_api_key(self, name: str = "test") -> str:
        """Another valid key (its secret)."""
        with self.state.lock:
            key = new_api_key()
            self.state.add_api_key(key, name)
            return key

    def revoke_api_key(self, secret: str) -> None:
        with self.state.lock:
            self.state.revoke_api_key(self.state.api_keys[secret].fid)

    def add_market(self, market: Market) -> str:
        """Sell ``market`` (an instance type in its regions); returns the instance type FID."""
        minimum = parse_price(market.minimum_price)
        assert minimum is not None, market.minimum_price
        with self.state.lock:
            itype = InstanceType(
                fid=market.fid or self.state.new_fid("it"),
                name=market.name,
                num_gpus=market.num_gpus,
                gpu_type=market.gpu_type,
                gpu_memory_gb=market.gpu_memory_gb,
                num_cpus=market.num_cpus,
                ram_gb=market.ram_gb,
                local_storage_gb=market.local_storage_gb,
                gpu_socket=market.gpu_socket,
                network_type=market.network_type,
                ib_count=market.ib_count,
                hourly_price=min(_cents(p) for p, _ in market.regions.values()) / 100,
            )
            self.state.instance_types[itype.fid] = itype
            for region, (price, capacity) in market.regions.items():
                auction = Auction(
                    fid=self.state.new_fid("auc"),
                    instance_type=itype.fid,
                    region=region,
                    capacity=capacity,
                    price_cents=_cents(price),
                    minimum_cents=minimum,
                    adjustable_memory=market.adjustable_memory,
                    history=[(self.clock.time(), _cents(price))],
                )
                self.state.auctions[auction.fid] = auction
            return itype.fid

    def add_cpu_type(self, cpu: CpuType) -> str:
        """Sell CPU-only VMs of this type (``/v2/cpu/instances``); returns its FID."""
        with self.state.lock:
            itype = InstanceType(
                fid=self.state.new_fid("it"),
                name=cpu.name,
                num_gpus=0,
                gpu_type="",
                gpu_memory_gb=0,
                num_cpus=cpu.num_cpus,
                ram_gb=cpu.ram_gb,
                local_storage_gb=cpu.local_storage_gb,
                gpu_socket="",
                hourly_price=cpu.hourly_price,
            )
            self.state.cpu_types[itype.fid] = itype
            self.state.cpu_regions[itype.fid] = cpu.regions
            return itype.fid

    def instance_type_fid(self, name: str) -> str:
        for itype in self.state.instance_types.values():
            if itype.name == name:
                return itype.fid
        raise KeyError(f"no instance type named {name!r}")

    def auction(self, instance_type: str, region: str) -> Auction:
        """The market of ``instance_type`` (name or FID) in ``region``."""
        fid = (
            instance_type
            if instance_type.startswith("it_")
            else self.instance_type_fid(instance_type)
        )
        found = self.state.auction_for(fid, region)
        if found is None:
            raise KeyError(f"{instance_type} is not sold in {region}")
        return found

    def set_market_price(self, instance_type: str, region: str, price: str) -> None:
        """Move the market price (``"$X.XX"``); allocated bids below it are preempted."""
        with self.state.lock:
            self.state.tick()  # what was due happens under the old conditions
            self.state.set_market_price(self.auction(instance_type, region), _cents(price))
            self.state.tick()

    def set_capacity(self, instance_type: str, region: str, capacity: int) -> None:
        with self.state.lock:
            self.state.tick()  # what was due happens under the old conditions
            self.auction(instance_type, region).capacity = capacity
            self.state.tick()

    # ---- control -------------------------------------------------------------------------

    def preempt(self, bid_fid: str) -> None:
        """Preempt an allocated bid now: ``Preempting``, then (after the notice period)
        instances ``STATUS_PREEMPTED`` and the bid back to ``Open``."""
        with self.state.lock:
            self.state.tick()  # what was due happens under the old conditions
            bid = self.state.bids[bid_fid]
            if bid.status != "Allocated":
                raise ValueError(f"bid {bid_fid} is {bid.status}, not Allocated")
            self.state.preempt(bid)
            self.state.tick()

    def admin_controls(self) -> AdminControls:
        controls = super().admin_controls()
        controls.add("POST", "/bids/{bid}/preempt", lambda _b, p: self._control_preempt(p["bid"]))
        controls.add("POST", "/market", lambda body, _p: self._control_market(body))
        return controls

    def _control_preempt(self, bid_fid: str) -> dict[str, Any]:
        if bid_fid not in self.state.bids:
            raise AdminError(404, f"no bid {bid_fid}")
        self.preempt(bid_fid)  # ValueError (400) unless it is Allocated
        return {"bid": bid_fid, "status": self.bid(bid_fid).status}

    def _control_market(self, body: dict[str, Any]) -> dict[str, Any]:
        instance_type, region, price = body["instance_type"], body["region"], body["price"]
        try:
            market = self.auction(instance_type, region)
        except KeyError as exc:
            raise AdminError(404, str(exc).strip("'\"")) from None
        cents = _cents(price)
        with self.state.lock:
            self.state.tick()
            outbid = sorted(
                b.fid
                for b in self.state.bids.values()
                if b.status == "Allocated" and b.limit_cents < cents
                and (b.instance_type, b.region) == (market.instance_type, market.region)
            )  # fmt: skip
            self.set_market_price(instance_type, region, price)
        return {
            "instance_type": instance_type,
            "region": region,
            "price": price,
            "preempted": outbid,
        }

    def fail_instance(self, instance_fid: str) -> None:
        """The instance breaks: ``STATUS_ERROR``, its script is stopped."""
        with self.state.lock:
            self.state.tick()  # what was due happens under the old conditions
            self.state.fail_instance(self.state.instances[instance_fid])

    # ---- inspection ----------------------------------------------------------------------

    def bid(self, fid: str) -> Bid:
        return self.state.bids[fid]

    def volume_data(self, volume_fid: str) -> Path:
        """What an emulated volume holds (its filesystem's contents; see ``_disks.py``)."""
        if self.state.disks is None:
            raise ValueError("this emulator does not boot instances (boot=False)")
        return self.state.disks.path(volume_fid) / "data"

    def instance(self, fid: str) -> Instance:
        return self.state.instances[fid]

    def live_bids(self) -> list[Bid]:
        """Bids not terminated: the ones that can cost money."""
        with self.state.lock:
            return self.state.live_bids()

    def bid_count(self, *statuses: str) -> int:
        """How many bids have one of ``statuses`` (``"Open"``, ...); with none given, how many
        are live (not ``Terminated``)."""
        with self.state.lock:
            bids = self.state.bids.values()
            if not statuses:
                return sum(1 for b in bids if b.live)
            return sum(1 for b in bids if b.status in statuses)

    def bids_named(self, name: str) -> list[Bid]:
        return [b for b in self.state.bids.values() if b.name == name]

    def billed(self, bid_fid: str) -> float:
        """Dollars billed so far for a bid's instances (at the market price)."""
        with self.state.lock:
            return self.state.billed_cents(self.state.bids[bid_fid]) / 100

    # ---- serving (the pipeline itself is EmulatorBase's) -------------------------------

    secret_headers = ("authorization",)
    inprocess_url = "http://fcp.emulator"
    ticker_name = "fcp-ticker"

    def _dispatch(self, request: WireRequest) -> WireResponse:
        return route(self.state, request, _bearer(request))

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def _bearer(request: WireRequest) -> str | None:
    value = request.header("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _cents(price: str) -> int:
    cents = parse_price(price)
    if cents is None:
        raise ValueError(f"not a dollar price: {price!r}")
    return cents
