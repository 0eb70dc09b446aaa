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

from flowlib.core.files import write_private
from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import (
    FlowError,
    ProviderError,
    ValidationError,
    VolumeNotFoundError,
)
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus, Volume
from flowlib.providers.base import Capabilities, Feature, TaskState
from flowlib.providers.fcp import _hosts, _status
from flowlib.providers.fcp._api import FcpApi, Json
from flowlib.providers.fcp._catalog import FcpCatalog, dollars
from flowlib.providers.fcp._settings import FcpSettings

if TYPE_CHECKING:
    import httpx

    from flowlib.catalog import Offer
    from flowlib.core.hosts import HostFactory, PortForward, RemoteHost
    from flowlib.core.store import TaskRecord

__all__ = ["FcpProvider", "bid_name"]

log = logging.getLogger(__name__)
# A task with no bid recorded this long after it was created: its submit died before the POST.
SUBMIT_LOST_S = 600.0
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
        return Capabilities(
            {
                Feature.VOLUME_MOUNTS: "fcp attaches volumes to the bid but does not mount "
                "them at a path yet: use s3:// data, or volumes= and mount them yourself",
                Feature.HIBERNATE: "fcp bids can be paused, but flowlib does not expose it yet",
            }
        )

    def offers(self, config: TaskConfig) -> list[Offer]:
        return self.catalog.offers(config)

    def prepare(self, config: TaskConfig) -> TaskConfig:
        """Choose the market now (cheapest with room under the price cap) and fix the instance
        type's canonical name and the region in the task; raises before anything is created."""
        placement = self.catalog.place(config)
        for volume in config.volumes:
            if volume.volume_id is None and volume.size_gb is None and volume.name:
                self._volume_by_name(volume.name)  # must exist
        update: dict[str, Any] = {"region": placement.region}
        if config.min_gpu_memory_gb is None:
            update["instance_type"] = placement.offer.name
        return config.model_copy(update=update)

    # -- submit ----------------------------------------------------------------------------
    def submit(self, record: TaskRecord) -> dict[str, Any]:
        from flowlib.providers.fcp._script import ReleaseKey, render

        config = record.config
        project = self.project()
        placement = self.catalog.place(config)
        name = bid_name(record)
        archive = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            archive = package_directory(Path(config.code_dir or Path.cwd()))
        volumes = self._bid_volumes(record, project, placement.region)
        ssh_keys = self.ssh_key_fids(project, config.ssh_keys)
        release = None
        data: dict[str, Any] = {"project": project, "bid_name": name, "region": placement.region}
        if config.auto_terminate:
            key = self.api.create_api_key(name, _expiry(config))
            data["release_key"] = key["fid"]
            release = ReleaseKey(
                self.settings.api_url, project, name, str(key["fid"]), str(key["secret"])
            )
        script = render(
            record.task_id,
            config,
            archive=archive,
            release=release,
            exit_grace_s=self.settings.exit_grace_s,
        )
        if script.mode == "upload" and archive is not None:
            path = self._task_dir(record.task_id) / "code.tar.gz"
            write_private(path, archive.data)
            data["code_upload"] = str(path)
        cap = config.max_price_per_hour
        limit = cap if cap is not None else placement.market_price * (1 + config.priority / 100)
        body: Json = {
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
        data.update(
            bid=bid["fid"],
            limit_price=bid.get("limit_price"),
            instance_type_fid=placement.instance_type_fid,
            script_mode=script.mode,
            volumes=volumes,
        )
        return data

    def _task_dir(self, task_id: str) -> Path:
        path = self.home / "fcp" / task_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    # -- status ----------------------------------------------------------------------------
    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        bids = self._bids(records)
        by_bid: dict[str, list[Json]] = {}
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

    def _bids(self, records: Sequence[TaskRecord]) -> dict[str, Json]:
        """Each task's bid: GET by FID for a few tasks, else the project's list, newest first,
        until every one is found (one request per 100 bids)."""
        found: dict[str, Json] = {}
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
        self, record: TaskRecord, bid: Json | None, by_bid: dict[str, list[Json]]
    ) -> TaskState:
        data = record.provider_data
        updates: dict[str, Any] = {}
        if bid is not None and not data.get("bid"):
            updates["bid"] = bid["fid"]
        instances = by_bid.get(str(bid["fid"]), []) if bid is not None else []
        current = _current(bid, instances)
        preempted = sum(1 for i in instances if i.get("status") == "STATUS_PREEMPTED")
        quantity = max(1, int((bid or {}).get("instance_quantity") or 1))
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
            for inst in reachable:
                found = self._read_exit(record, inst, keep=inst is current[0])
                if found is not None:
                    codes[str(inst["fid"])] = found[0]
                    if found[1]:
                        messages[str(inst["fid"])] = found[1]
                    if found[2]:
                        stopped.add(str(inst["fid"]))
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
        return TaskState(
            status=verdict.status,
            exit_code=verdict.exit_code,
            provider_state=verdict.provider_state,
            message=verdict.message,
            started_at=now if running and not record.started_at else None,
            completed_at=now if terminal else None,
            provider_data=updates,
        )

    def _read_exit(
        self, record: TaskRecord, inst: Json, *, keep: bool
    ) -> tuple[int, str | None, bool] | None:
        """The exit code the startup script left on the instance, its message and whether a
        stop signal had reached the script, marking it read so the instance may release
        itself; None when absent or unreachable. With ``keep``, the task's results (remote
        calls) are copied home first."""
        try:
            host = self.host(inst)
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
            host.run('touch "${FLOW_ROOT:-}/var/run/flow/exit_code.read"', timeout=30)
        except (FlowError, OSError, ValueError) as exc:
            log.debug("fcp: cannot read the exit code of %s: %s", inst.get("fid"), exc)
            return None
        text = message.decode("utf-8", "replace").strip() if message else None
        return code, text or None, stopped

    def _prepare_nodes(
        self, record: TaskRecord, current: list[Json], updates: dict[str, Any]
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
            self.api.delete_bid(str(fid))
        self._revoke_key(record)

    # -- instances, ssh, ports ----------------------------------------------------------------
    def _bid_and_instances(self, record: TaskRecord) -> tuple[Json | None, list[Json]]:
        """The task's bid (its FID recorded) and every instance of it, ended ones included."""
        fid = record.provider_data.get("bid")
        bid = self.api.get_bid(str(fid)) if fid else None
        if bid is None:
            return None, []
        return bid, self.api.instances(self._project_of(record), [str(fid)])

    def _nodes(self, record: TaskRecord) -> list[Json]:
        record = self._fresh(record)
        fid = record.provider_data.get("bid")
        if not fid:
            return []
        bid = self.api.get_bid(str(fid))
        if bid is None or not bid.get("instances"):
            return []
        return _current(bid, self.api.instances(self._project_of(record), [str(fid)]))

    def _node(self, record: TaskRecord, node: int) -> Json | None:
        nodes = self._nodes(record)
        if node >= len(nodes) or node < 0:
            if nodes:
                raise ValidationError(
                    f"task {record.task_id} has {len(nodes)} node(s); node {node} does not exist",
                    suggestions=[f"use a node between 0 and {len(nodes) - 1}"],
                )
            return None
        return nodes[node]

    def host(self, inst: Json) -> RemoteHost:
        """The remote host of an instance (from the API's instance object)."""
        if self._host_factory is None:
            from flowlib.core.cloud import host_factory

            s = self.settings
            self._host_factory = host_factory(s.remote_host, s.sandbox_dir, self.home)
        return self._host_factory(_hosts.address(inst, self.settings.ssh_user, self._login_key()))

    def _login_key(self) -> str | None:
        if self.settings.ssh_key_path is not None:
            return str(self.settings.ssh_key_path)
        return _hosts.saved_key_path(self.home, self._project)

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

    def _running_node(self, record: TaskRecord, node: int) -> Json:
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
    def _volume_by_name(self, name: str) -> Json:
        for vol in self.api.volumes(self.project()):
            if vol.get("name") == name or vol.get("fid") == name:
                return vol
        raise VolumeNotFoundError(
            f"no FCP volume called {name!r}",
            suggestions=["`flow volumes` lists them; give size_gb to create one"],
            provider="fcp",
        )

    def _bid_volumes(self, record: TaskRecord, project: str, region: str) -> list[str]:
        fids = []
        for index, spec in enumerate(record.config.volumes):
            if spec.volume_id is not None or (spec.name and spec.size_gb is None):
                vol = self._volume_by_name(spec.volume_id or spec.name or "")
                if vol.get("region") != region:
                    raise ValidationError(
                        f"volume {vol.get('name')} is in {vol.get('region')}, the task runs in "
                        f"{region}",
                        suggestions=[f"set region={vol.get('region')!r} on the task"],
                        provider="fcp",
                    )
                fids.append(str(vol["fid"]))
                continue
            name = spec.name or f"flowlib-{record.task_id.removeprefix('task-')}-{index}"
            body = {
                "name": name,
                "project": project,
                "disk_interface": "File" if spec.interface.value == "file" else "Block",
                "region": region,
                "size_gb": spec.size_gb,
            }
            created = self.api.create_volume(body, idempotency_key=f"flowlib-{name}")
            fids.append(str(created["fid"]))
        return fids

    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        import secrets

        region = self.settings.region or _default_region(self.catalog.offers())
        name = name or f"flowlib-{secrets.token_hex(4)}"
        body = {
            "name": name,
            "project": self.project(),
            "disk_interface": "Block",
            "region": region,
            "size_gb": size_gb,
        }
        return _volume(self.api.create_volume(body, idempotency_key=f"flowlib-{name}"))

    def list_volumes(self) -> list[Volume]:
        return [_volume(v) for v in self.api.volumes(self.project())]

    def delete_volume(self, volume_id: str) -> None:
        from flowlib.errors import ResourceNotFoundError

        fid = volume_id if volume_id.startswith("vol_") else self._volume_by_name(volume_id)["fid"]
        try:
            self.api.delete_volume(str(fid))
        except ResourceNotFoundError as exc:
            raise VolumeNotFoundError(
                f"no FCP volume {volume_id}", suggestions=["`flow volumes` lists them"]
            ) from exc


def _current(bid: Json | None, instances: list[Json]) -> list[Json]:
    """The bid's current instances (its ``instances`` list, in order) among ``instances``."""
    by_fid = {str(i["fid"]): i for i in instances}
    return [by_fid[f] for f in (bid or {}).get("instances", []) if f in by_fid]


def _expiry(config: TaskConfig) -> str:
    hours = (config.max_run_time_hours or 168.0) + 24
    when = datetime.now(timezone.utc) + timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_region(offers: list[Offer]) -> str:
    regions = sorted({o.region for o in offers if o.region})
    if not regions:
        raise ProviderError("fcp lists no regions", provider="fcp")
    return regions[0]


def _volume(row: Json) -> Volume:
    from flowlib.models import StorageInterface

    created = str(row.get("created_at") or "").replace("Z", "+00:00")
    return Volume(
        volume_id=str(row["fid"]),
        name=str(row.get("name")),
        size_gb=int(row.get("capacity_gb") or 0),
        region=row.get("region"),
        interface=StorageInterface.FILE
        if row.get("interface") == "File"
        else StorageInterface.BLOCK,
        created_at=datetime.fromisoformat(created) if created else datetime.now(timezone.utc),
        attached_to=list(row.get("bids") or []),
    )
