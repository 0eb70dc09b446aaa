"""The FCP (Mithril, formerly ML Foundry) spot provider.

A task is one bid, named after the task (``<name>-<task id>``), so any later process can find it
from the task store alone: the engine records the task before :meth:`FcpProvider.submit` runs, the
bid POST carries an ``Idempotency-Key`` derived from the task id, and a lost answer is settled by
looking the bid up by name. Instances are reached only through the remote-host seam
(:mod:`flowlib.core.hosts`): logs, exit codes, ``ssh`` and port forwarding.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core._results_script import EXIT_READ
from flowlib.core.files import write_private
from flowlib.core.hosts import reach
from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.core.startup import give_notice, notice_command
from flowlib.errors import (
    FlowError,
    ProviderError,
    ValidationError,
)
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus, Volume
from flowlib.providers.base import MASK as PREVIEW_MASK
from flowlib.providers.base import Capabilities, TaskState
from flowlib.providers.fcp import UNSUPPORTED, _hosts, _status
from flowlib.providers.fcp._api import FcpApi
from flowlib.providers.fcp._catalog import FcpCatalog, dollars
from flowlib.providers.fcp._settings import FcpSettings
from flowlib.providers.fcp._volumes import FcpVolumes, mounts

if TYPE_CHECKING:
    import httpx

    from flowlib.catalog import Offer
    from flowlib.core.hosts import HostFactory, RemoteHost
    from flowlib.core.packaging import CodeArchive
    from flowlib.core.store import TaskRecord
    from flowlib.models import PortForward
    from flowlib.providers.fcp._catalog import Placement
    from flowlib.providers.fcp._script import ReleaseKey, StartupScript
    from flowlib.providers.fcp._shapes import (
        BidJson,
        BidRequest,
        FcpTaskData,
        InstanceJson,
    )

__all__ = ["FcpProvider", "bid_name"]

log = logging.getLogger(__name__)
# A task with no bid recorded this long after it was created: its submit died before the POST.
SUBMIT_LOST_S = 600.0
# The stop notice when FCP says the bid is outbid: its instances stop 5 minutes later.
PREEMPT_NOTICE = "preempted: outbid on the spot market; the machine stops within 5 minutes"
FEW = 3  # up to this many tasks: GET each bid; more: list the project's bids page by page


def bid_name(record: TaskRecord) -> str:
    """The bid's name: a pure function of the stored task, so it can always be found again."""
    return f"{record.config.name[:40]}-{record.task_id.removeprefix('task-')}"


class FcpProvider:
    """Spot GPUs on FCP. See ``docs/providers.md`` for settings and behaviour."""

    name = "fcp"
    # A finished task's machine is released when flowlib looks at it: a keeper looks.
    needs_keeper = True

    def __init__(
        self,
        settings: FcpSettings,
        home: Path,
        *,
        transport: httpx.BaseTransport | None = None,
        host_factory: HostFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.home = Path(home)
        self.clock = clock
        self._transport = transport
        self._host_factory = host_factory
        self._api: FcpApi | None = None
        self._catalog: FcpCatalog | None = None
        self._project: str | None = None
        self._ssh_keys: dict[str, list[str]] = {}
        self.volumes = FcpVolumes(lambda: self.api, self.project)
        from flowlib.core.cloud import KeptResults

        self.kept = KeptResults(self.home, self.name)

    def __repr__(self) -> str:
        return f"FcpProvider(api_url={self.settings.api_url!r}, project={self.settings.project!r})"

    @property
    def poll_interval_s(self) -> float:
        return self.settings.poll_interval_s

    # -- plumbing ------------------------------------------------------------------------
    @property
    def api(self) -> FcpApi:
        if self._api is None:
            from flowlib.core.http import build_client

            client = build_client(
                self.settings.api_url,
                headers={"Authorization": f"Bearer {self.settings.secret()}"},
                timeout=self.settings.timeout_s,
                transport=self._transport,
            )
            self._api = FcpApi(client, sleep=self.clock.sleep)
        return self._api

    @property
    def catalog(self) -> FcpCatalog:
        if self._catalog is None:
            self._catalog = FcpCatalog(
                self.api, ttl_s=self.settings.catalog_ttl_s, monotonic=self.clock.monotonic
            )
        return self._catalog

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def project(self) -> str:
        """The project FID, from the configured name or FID (or the only project there is)."""
        if self._project is None:
            projects = self.api.projects()
            wanted = self.settings.project
            names = sorted(str(p.get("name")) for p in projects)
            if wanted is None:
                if len(projects) != 1:
                    raise ValidationError(
                        f"your FCP account has {len(projects)} projects; say which one to use",
                        suggestions=[f"set FLOW_PROJECT or providers.fcp.project: {names}"],
                        provider="fcp",
                    )
                self._project = str(projects[0]["fid"])
            else:
                found = [p for p in projects if wanted in (p.get("fid"), p.get("name"))]
                if not found:
                    raise ValidationError(
                        f"no FCP project called {wanted!r}",
                        suggestions=[f"your projects: {', '.join(names) or 'none'}"],
                        provider="fcp",
                    )
                self._project = str(found[0]["fid"])
        return self._project

    # -- what this provider can do -------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(UNSUPPORTED)

    def offers(self, config: TaskConfig) -> list[Offer]:
        return self.catalog.offers(config)

    def prepare(self, config: TaskConfig) -> TaskConfig:
        """Choose the market now (cheapest with room under the price cap) and fix the instance
        type's canonical name and the region in the task; raises before anything is created."""
        placement = self.catalog.place(config)
        for volume in config.volumes:
            if volume.volume_id is None and volume.size_gb is None and volume.name:
                self.volumes.by_name(volume.name)  # must exist
        update: dict[str, str] = {"region": placement.region}
        if config.min_gpu_memory_gb is None:
            update["instance_type"] = placement.offer.name
        return config.model_copy(update=update)

    # -- submit ----------------------------------------------------------------------------
    def submit(self, record: TaskRecord) -> dict[str, Any]:
        from flowlib.providers.fcp._script import ReleaseKey

        config = record.config
        project = self.project()
        placement = self.catalog.place(config)
        name = bid_name(record)
        archive = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            archive = package_directory(Path(config.code_dir or Path.cwd()), exclude=[self.home])
        volumes = self.volumes.for_bid(record, placement.region)
        ssh_keys = self.ssh_key_fids(project, config.ssh_keys)
        release = None
        data: FcpTaskData = {
            "project": project,
            "bid_name": name,
            "region": placement.region,
            "price_per_hour": placement.market_price,  # the task's price, kept (flow cost)
        }
        if config.auto_terminate:
            key = self.api.create_api_key(name, _expiry(config))
            data["release_key"] = key["fid"]
            release = ReleaseKey(
                self.settings.api_url, project, name, str(key["fid"]), str(key["secret"])
            )
        script = self._render(record, placement, archive, release, volumes)
        if script.mode == "upload" and archive is not None:
            path = self._task_dir(record.task_id) / "code.tar.gz"
            write_private(path, archive.data)
            data["code_upload"] = str(path)
        cap = config.max_price_per_hour
        limit = cap if cap is not None else placement.market_price * (1 + config.priority / 100)
        body: BidRequest = {
            "project": project,
            "region": placement.region,
            "instance_type": placement.instance_type_fid,
            "limit_price": dollars(max(limit, placement.market_price)),
            "instance_quantity": config.num_instances,
            "name": name,
            "launch_specification": {
                "volumes": volumes,
                "ssh_keys": ssh_keys,
                "startup_script": script.text,
            },
        }
        bid = self.api.create_bid(body, idempotency_key=f"flowlib-{record.task_id}")
        data["bid"] = bid["fid"]
        data["limit_price"] = bid.get("limit_price")
        data["instance_type_fid"] = placement.instance_type_fid
        data["script_mode"] = script.mode
        data["volumes"] = volumes
        return dict(data)

    def _render(
        self,
        record: TaskRecord,
        placement: Placement,
        archive: CodeArchive | None,
        release: ReleaseKey | None,
        volume_fids: list[str],
    ) -> StartupScript:
        """The startup script of the bid: one render for :meth:`submit` and the dry run."""
        from flowlib.providers.fcp._script import render

        return render(
            record.task_id,
            record.config,
            archive=archive,
            release=release,
            exit_grace_s=self.settings.exit_grace_s,
            gpus_per_node=placement.offer.instance_type.gpu_count,
            volume_mounts=mounts(record.config, volume_fids),
        )

    def preview_script(self, record: TaskRecord, code: CodeArchive | None) -> str:
        """The startup script :meth:`submit` would send for ``record``, by the same render,
        creating nothing: the release key's id and secret masked, the project as configured
        (its FID once this process has asked for it), and volumes not created yet named by
        their spec (a new volume's FID, hence its device path, exists only after the submit)."""
        from flowlib.providers.fcp._script import ReleaseKey

        config = record.config
        placement = self.catalog.place(config)
        release = None
        if config.auto_terminate:
            project = self._project or self.settings.project or "PROJECT"
            release = ReleaseKey(
                self.settings.api_url, project, bid_name(record), "KEY_FID", PREVIEW_MASK
            )
        fids = [
            spec.volume_id or f"vol_{spec.name or f'new{index}'}"
            for index, spec in enumerate(config.volumes)
        ]
        return self._render(record, placement, code, release, fids).text

    def _task_dir(self, task_id: str) -> Path:
        path = self.home / "fcp" / task_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    # -- status ----------------------------------------------------------------------------
    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        bids = self._bids(records)
        by_bid: dict[str, list[InstanceJson]] = {}
        wanted = [
            str(b["fid"])
            for r in records
            if (b := bids.get(r.task_id)) is not None
            and not (b.get("status") == "Terminated" and r.provider_data.get("exit_codes"))
        ]
        if wanted:
            project = self._project_of(records[0])
            for inst in self.api.instances(project, wanted):
                by_bid.setdefault(str(inst.get("bid")), []).append(inst)
        states: dict[str, TaskState] = {}
        for r in records:
            try:
                states[r.task_id] = self._state(r, bids.get(r.task_id), by_bid)
            except FlowError as exc:  # this task is answered next time; the others now
                log.warning("fcp: status of %s failed: %s", r.task_id, exc)
        return states

    def _project_of(self, record: TaskRecord) -> str:
        return str(record.provider_data.get("project") or self.project())

    def _bids(self, records: Sequence[TaskRecord]) -> dict[str, BidJson]:
        """Each task's bid: GET by FID for a few tasks, else the project's list, newest first,
        until every one is found (one request per 100 bids)."""
        found: dict[str, BidJson] = {}
        if not records:
            return found
        known = {str(r.provider_data["bid"]): r for r in records if r.provider_data.get("bid")}
        unnamed = [r for r in records if not r.provider_data.get("bid")]
        if len(known) <= FEW:
            for fid, record in known.items():
                bid = self.api.get_bid(fid)
                if bid is not None:
                    found[record.task_id] = bid
        else:
            left = dict(known)
            for bid in self.api.bids(self._project_of(next(iter(known.values())))):
                match = left.pop(str(bid.get("fid")), None)
                if match is not None:
                    found[match.task_id] = bid
                if not left:
                    break
        for record in unnamed:  # an interrupted submit: the bid, if any, carries the task's name
            bid = self.api.find_bid(self._project_of(record), bid_name(record))
            if bid is not None:
                found[record.task_id] = bid
        return found

    def _state(
        self, record: TaskRecord, bid: BidJson | None, by_bid: dict[str, list[InstanceJson]]
    ) -> TaskState:
        data = record.provider_data
        updates: FcpTaskData = {}
        if bid is not None and not data.get("bid"):
            updates["bid"] = bid["fid"]
        instances = by_bid.get(str(bid["fid"]), []) if bid is not None else []
        current = _current(bid, instances)
        preempted = sum(1 for i in instances if i.get("status") == "STATUS_PREEMPTED")
        quantity = max(1, int((bid.get("instance_quantity") if bid else None) or 1))
        codes: dict[str, int] = {k: int(v) for k, v in (data.get("exit_codes") or {}).items()}
        stopped = set(data.get("stopped_nodes") or ())
        for fid, (code, stop) in self.kept.exits(record.task_id).items():
            codes.setdefault(fid, code)  # read before a status whose answer was lost
            if stop:
                stopped.add(fid)
        messages: dict[str, str] = {}
        if current and bid is not None and not all(str(i["fid"]) in codes for i in current):
            reachable = [
                i
                for i in current
                if i.get("status") in _status.UP or bid.get("status") == "Terminated"
            ]
            if reachable and bid.get("status") != "Terminated":
                self._prepare_nodes(record, current, updates)
            if reachable and bid.get("status") == "Preempting" and not data.get("stop_notice"):
                for inst in reachable:  # the machine goes in 5 minutes: no waiting here
                    with contextlib.suppress(FlowError, OSError):
                        reach(self.host(inst)).run(notice_command(PREEMPT_NOTICE), timeout=30)
                updates["stop_notice"] = True
            read = []
            for inst in reachable:
                found = self._read_exit(record, inst, keep=inst is current[0])
                if found is not None:
                    read.append(inst)
                    codes[str(inst["fid"])] = found[0]
                    if found[1]:
                        messages[str(inst["fid"])] = found[1]
                    if found[2]:
                        stopped.add(str(inst["fid"]))
            if all(str(i["fid"]) in codes for i in current):
                # Only now may the nodes release themselves: the first node's release ends
                # the whole bid, and a node whose exit code was not read yet with it.
                for inst in read:
                    self._mark_read(inst)
        if bid is not None and bid.get("status") == "Terminated" and current:
            first = str(current[0]["fid"])  # released by itself: its results location knows
            if first not in codes and record.config.results and len(current) == 1:
                found_exit = self.kept.adopt(record, first)
                if found_exit is not None:
                    codes[first] = found_exit[0]
                    if found_exit[1]:
                        stopped.add(first)
        if codes != data.get("exit_codes", {}):
            updates["exit_codes"] = codes
        if sorted(stopped) != sorted(data.get("stopped_nodes") or ()):
            updates["stopped_nodes"] = sorted(stopped)
        if current:
            updates["instances"] = [str(i["fid"]) for i in current]
        age = (datetime.now(timezone.utc) - record.created_at).total_seconds()
        facts = _status.Facts(
            bid=bid,
            current=current,
            preemptions=-(-preempted // quantity),
            exit_codes=codes,
            messages=messages,
            stopped=bool(stopped),
            cancel_requested=record.cancel_requested,
            retries=record.config.retries,
            submitted=bool(data.get("bid"))
            or bool(data.get("submit_abandoned"))
            or age > SUBMIT_LOST_S,
        )
        verdict = _status.decide(facts)
        if verdict.release and record.config.auto_terminate and bid is not None:
            self._release(record, str(bid["fid"]))
        elif verdict.release and verdict.provider_state in ("preempted", "STATUS_ERROR"):
            self._release(record, str(bid["fid"]) if bid else None)
        now = datetime.now(timezone.utc)
        terminal = verdict.status.is_terminal
        if terminal and not data.get("key_revoked"):
            self._revoke_key(record)  # every way a task ends ends its task-scoped key
            updates["key_revoked"] = True
        running = verdict.status == TaskStatus.RUNNING
        started = None
        if not record.started_at and running:
            started = now
        elif not record.started_at and terminal and codes:  # it ran between two looks
            started = _first_created(current) or now
        return TaskState(
            status=verdict.status,
            exit_code=verdict.exit_code,
            provider_state=verdict.provider_state,
            message=verdict.message,
            started_at=started,
            completed_at=now if terminal else None,
            provider_data=dict(updates),
        )

    def _read_exit(
        self, record: TaskRecord, inst: InstanceJson, *, keep: bool
    ) -> tuple[int, str | None, bool] | None:
        """The exit code the startup script left on the instance, its message and whether a
        stop signal had reached the script (kept home); None when absent or unreachable.
        With ``keep``, the task's results (remote calls) are copied home first."""
        if self.settings.remote_host == "ssh" and not inst.get("ssh_destination"):
            return None  # gone (or not up yet): nothing answers over SSH
        try:
            # One try: a status never waits out a boot (the next look tries again) nor a
            # machine going away, which would hold up every task polled with this one.
            host = reach(self.host(inst))
            raw = host.read_file("/var/run/flow/exit_code")
            if raw is None:
                return None
            code = int(raw.decode().strip())
            message = host.read_file("/var/run/flow/message")
            stopped = host.read_file("/var/run/flow/stop_requested") is not None
            if keep:
                self.kept.keep(record.task_id, record.config.working_dir, host)
                self.kept.keep_log(record.task_id, host, "/var/log/flow/task.log")
            # Home first: once marked read, the instance may release itself at once.
            self.kept.keep_exit(record.task_id, str(inst["fid"]), code, stopped)
        except (FlowError, OSError, ValueError) as exc:
            log.debug("fcp: cannot read the exit code of %s: %s", inst.get("fid"), exc)
            return None
        text = message.decode("utf-8", "replace").strip() if message else None
        return code, text or None, stopped

    def _mark_read(self, inst: InstanceJson) -> None:
        """Tell the instance its exit code was read (and kept): it may release itself now.
        One try: a machine that stopped answering since (a cancel took it) is not waited for;
        it releases itself after its grace, or the release behind this does."""
        try:
            reach(self.host(inst)).run(f'touch "${{FLOW_ROOT:-}}/{EXIT_READ}"', timeout=30)
        except (FlowError, OSError) as exc:
            log.debug("fcp: cannot mark the exit code of %s read: %s", inst.get("fid"), exc)

    def _prepare_nodes(
        self, record: TaskRecord, current: list[InstanceJson], updates: FcpTaskData
    ) -> None:
        """Once every node runs: copy the code in (when it did not fit the script) and tell
        multi-node tasks who is who."""
        if not all(i.get("status") in _status.UP for i in current):
            return
        data = record.provider_data
        upload = data.get("code_upload")
        if upload and not data.get("code_uploaded"):
            for inst in current:
                _hosts.upload_code(self.host(inst), Path(str(upload)))
            updates["code_uploaded"] = True
        if record.config.num_instances > 1 and not data.get("cluster_written"):
            _hosts.write_cluster_env(self.host, current)
            updates["cluster_written"] = True

    def _release(self, record: TaskRecord, fid: str | None) -> None:
        if fid is not None:
            self.api.delete_bid(fid)
        self._revoke_key(record)

    def _revoke_key(self, record: TaskRecord) -> None:
        """Revoke the task's own API key (the one its instance releases itself with), found by
        the bid's name when an interrupted submit did not record it."""
        if not record.config.auto_terminate:
            return  # no key was made
        key = record.provider_data.get("release_key")
        if not key:
            name = bid_name(record)
            live = [k for k in self.api.api_keys() if k.get("name") == name]
            key = live[0]["fid"] if live else None
        if key:
            self.api.revoke_api_key(str(key))

    # -- logs --------------------------------------------------------------------------------
    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        if follow:
            return self._follow(record, tail)
        inst = self._node(record, 0)
        kept = self.kept.log(record.task_id)
        if inst is not None and (kept is None or inst.get("status") in _status.UP):
            try:
                return iter(_hosts.tail(self.host(inst), tail))
            except FlowError:
                pass
        return iter(self._kept_lines(record, tail))

    def _kept_lines(self, record: TaskRecord, tail: int | None) -> list[str]:
        """The log kept home when the task ended (its instance may be gone since)."""
        from flowlib.core.follow import tail_lines

        return tail_lines(self.kept.log(record.task_id) or b"", tail)

    def _follow(self, record: TaskRecord, tail: int | None) -> Iterator[str]:
        while True:
            # One look at the bid and its instances serves the task's state and its node 0.
            record = self._fresh(record)
            bid, instances = self._bid_and_instances(record)
            finished = (
                bid is not None
                and bid.get("status") == "Terminated"
                and record.provider_data.get("exit_codes")
            )
            by_bid = {str(bid["fid"]): instances} if bid is not None and not finished else {}
            state = self._state(record, bid, by_bid)  # as status() sees it
            nodes = _current(bid, instances)
            inst = nodes[0] if nodes else None
            up = inst is not None and inst.get("status") in _status.UP
            if up and inst is not None and not state.status.is_terminal:
                yield from self.host(inst).stream(_hosts.follow_command(tail))
                return
            if state.status.is_terminal:
                kept = self.kept.log(record.task_id)
                if kept is not None:
                    yield from self._kept_lines(record, tail)
                elif inst is not None:
                    with contextlib.suppress(FlowError):
                        yield from _hosts.tail(self.host(inst), tail)
                return
            self.clock.sleep(min(self.poll_interval_s, 1.0))

    def _fresh(self, record: TaskRecord) -> TaskRecord:
        if record.provider_data.get("bid"):
            return record
        bid = self.api.find_bid(self._project_of(record), bid_name(record))
        if bid is not None:
            record.provider_data = {**record.provider_data, "bid": bid["fid"]}
        return record

    # -- control -----------------------------------------------------------------------------
    def cancel(self, record: TaskRecord) -> None:
        fid = record.provider_data.get("bid")
        if not fid:
            bid = self.api.find_bid(self._project_of(record), bid_name(record))
            fid = bid["fid"] if bid is not None else None
        if fid:
            self._notice_before_cancel(record, str(fid))
            self.api.delete_bid(str(fid))
        self._revoke_key(record)

    def _notice_before_cancel(self, record: TaskRecord, fid: str) -> None:
        """The stop notice and up to ``stop_grace_s`` for the workload to save and end, before
        the bid (and its instances) go."""
        try:
            bid = self.api.get_bid(fid)
            instances = self.api.instances(self._project_of(record), [fid]) if bid else []
        except FlowError as exc:
            log.debug("fcp: no stop notice before the cancel of %s: %s", fid, exc)
            return
        up = [i for i in _current(bid, instances) if i.get("status") in _status.UP]
        hosts = [self.host(i) for i in up]
        give_notice(hosts, "cancelled: flow cancel", record.config.stop_grace_s, self.clock)

    # -- instances, ssh, ports ----------------------------------------------------------------
    def _bid_and_instances(self, record: TaskRecord) -> tuple[BidJson | None, list[InstanceJson]]:
        """The task's bid (its FID recorded) and every instance of it, ended ones included."""
        fid = record.provider_data.get("bid")
        bid = self.api.get_bid(str(fid)) if fid else None
        if bid is None:
            return None, []
        return bid, self.api.instances(self._project_of(record), [str(fid)])

    def _nodes(self, record: TaskRecord) -> list[InstanceJson]:
        record = self._fresh(record)
        fid = record.provider_data.get("bid")
        if not fid:
            return []
        bid = self.api.get_bid(str(fid))
        if bid is None or not bid.get("instances"):
            return []
        return _current(bid, self.api.instances(self._project_of(record), [str(fid)]))

    def _node(self, record: TaskRecord, node: int) -> InstanceJson | None:
        nodes = self._nodes(record)
        if node >= len(nodes) or node < 0:
            if nodes:
                raise ValidationError(
                    f"task {record.task_id} has {len(nodes)} node(s); node {node} does not exist",
                    suggestions=[f"use a node between 0 and {len(nodes) - 1}"],
                )
            return None
        return nodes[node]

    def host(self, inst: InstanceJson) -> RemoteHost:
        """The remote host of an instance (from the API's instance object)."""
        if self._host_factory is None:
            from flowlib.providers import host_factory

            s = self.settings
            self._host_factory = host_factory(
                "fcp", s.remote_host, s.remote_host_options, self.home
            )
        key = self._login_key(inst.get("project") or self._project)
        return self._host_factory(_hosts.address(inst, self.settings.ssh_user, key))

    def _login_key(self, project: str | None) -> str | None:
        """``ssh_key_path``, else the key flowlib made for the instance's project (known from
        the instance itself: a fresh process, ``flow ssh``, has not looked the project up)."""
        if self.settings.ssh_key_path is not None:
            return str(self.settings.ssh_key_path)
        return _hosts.saved_key_path(self.home, project)

    def instances(self, record: TaskRecord) -> list[Instance]:
        out = []
        for inst in self._nodes(record):
            dest = _hosts.address(inst, self.settings.ssh_user, None)
            state = str(inst.get("status"))
            status = (
                InstanceStatus.RUNNING
                if state in _status.UP
                else InstanceStatus.TERMINATED
                if state in _status.ENDED
                else InstanceStatus.STOPPED
                if state in ("STATUS_PAUSED", "STATUS_STOPPING")
                else InstanceStatus.PENDING
            )
            out.append(
                Instance(
                    instance_id=str(inst["fid"]),
                    status=status,
                    instance_type=self.catalog.name_of(str(inst.get("instance_type"))),
                    region=inst.get("region"),
                    public_ip=dest.host or None,
                    private_ip=inst.get("private_ip"),
                    ssh_host=dest.host or None,
                    ssh_port=dest.port,
                    ssh_user=dest.user,
                )
            )
        return out

    def _running_node(self, record: TaskRecord, node: int) -> InstanceJson:
        inst = self._node(record, node)
        if inst is None or inst.get("status") not in _status.UP:
            state = inst.get("status") if inst else "no instance yet"
            raise ProviderError(
                f"task {record.task_id} has no running instance to connect to ({state})",
                suggestions=[f"wait until `flow status {record.task_id}` says running"],
                provider="fcp",
            )
        return inst

    def read_file(self, record: TaskRecord, path: str) -> bytes | None:
        """A file of the task's first node: from the machine while it runs, else the copy of
        its results kept when it ended (remote Python calls read their results through it)."""
        kept = self.kept.read(record.task_id, record.config.working_dir, path)
        if kept is not None:
            return kept
        node = self._node(record, 0)
        if node is None or node.get("status") not in _status.UP:
            return None
        return self.host(node).read_file(path)

    def ssh(self, record: TaskRecord, command: str | None = None, node: int = 0) -> int:
        """A shell (or ``command``) on node ``node`` of the task, attached to this terminal."""
        return self.host(self._running_node(record, node)).interactive(command)

    def forward(
        self, record: TaskRecord, remote_port: int, local_port: int = 0, node: int = 0
    ) -> PortForward:
        """Make ``remote_port`` of node ``node`` reachable at ``127.0.0.1:<local_port>``."""
        return self.host(self._running_node(record, node)).forward(remote_port, local_port)

    # -- SSH keys ---------------------------------------------------------------------------
    def ssh_key_fids(self, project: str, wanted: Sequence[str] = ()) -> list[str]:
        """FIDs of the configured keys (by FID or name), else of flowlib's own key for the
        project, created once (its private half saved under FLOW_HOME/keys, 0600)."""
        names = [*self.settings.ssh_keys, *wanted]
        cache_key = f"{project}:{','.join(names)}"
        if cache_key in self._ssh_keys:
            return self._ssh_keys[cache_key]
        listed = self.api.ssh_keys(project)
        fids = _hosts.resolve_keys(names, listed) if names else []
        if not names:
            fids = [_hosts.own_key(self.api, self.home, project, listed)]
        self._ssh_keys[cache_key] = fids
        return fids

    # -- volumes -----------------------------------------------------------------------------
    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        region = self.settings.region or _default_region(self.catalog.offers())
        return self.volumes.create(size_gb, region, name)

    def list_volumes(self) -> list[Volume]:
        return self.volumes.list()

    def delete_volume(self, volume_id: str) -> None:
        self.volumes.delete(volume_id)


def _current(bid: BidJson | None, instances: list[InstanceJson]) -> list[InstanceJson]:
    """The bid's current instances (its ``instances`` list, in order) among ``instances``."""
    by_fid = {str(i["fid"]): i for i in instances}
    wanted = bid.get("instances", []) if bid is not None else []
    return [by_fid[f] for f in wanted if f in by_fid]


def _expiry(config: TaskConfig) -> str:
    hours = (config.max_run_time_hours or 168.0) + 24
    when = datetime.now(timezone.utc) + timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_region(offers: list[Offer]) -> str:
    regions = sorted({o.region for o in offers if o.region})
    if not regions:
        raise ProviderError("fcp lists no regions", provider="fcp")
    return regions[0]


def _first_created(instances: Sequence[InstanceJson]) -> datetime | None:
    """When the first of a bid's instances was created (billing starts there): the start of a
    task whose whole run fell between two status looks."""
    times = []
    for inst in instances:
        with contextlib.suppress(TypeError, ValueError):
            times.append(datetime.fromisoformat(str(inst.get("created_at")).replace("Z", "+00:00")))
    return min(times, default=None)
