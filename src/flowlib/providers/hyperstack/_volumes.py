"""Hyperstack volumes: made in flowlib's environment of a region, attached once the VM runs.

::

    flow volume create   POST /core/volumes in flowlib's environment of the default region, the
                         type from GET /core/volume-types (``volume_type`` setting)
    prepare              names checked; an existing volume fixes the task's region (another
                         region asked for: refused before anything is created)
    submit               the volumes' names go into the store, missing ones are created (looked
                         up by name first: never two of one name), then the VM; both land in the
                         volumes' environment
    status               once the VM is ACTIVE and reachable: attach every volume in one call,
                         then write the devices the API answered to ``var/lib/flow/
                         volumes.devices`` on the VM, where the startup script waits for them
                         (``flowlib.data.volumes_section``); recorded, so it is done once
    delete VM            the API detaches its volumes; they stay, with their data
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from flowlib.errors import (
    APIError,
    FlowError,
    ProviderError,
    ValidationError,
    VolumeNotFoundError,
)
from flowlib.models import Volume
from flowlib.providers.hyperstack._names import region_of, task_of_vm

if TYPE_CHECKING:
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.store import TaskRecord
    from flowlib.models import TaskConfig, VolumeSpec
    from flowlib.providers.hyperstack._api import HyperstackApi
    from flowlib.providers.hyperstack._offers import FlavorOffer
    from flowlib.providers.hyperstack._settings import HyperstackSettings
    from flowlib.providers.hyperstack._shapes import VirtualMachine, VolumeRow

__all__ = ["NAME_RULE", "HyperstackVolumes", "PlannedVolume", "check_name", "to_volume"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")
NAME_RULE = "1-50 letters, digits, '.', '-' or '_', starting with a letter or digit"
PREFERRED_TYPE = "Cloud-SSD"
_CREATE_ATTEMPTS = 3


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        fixed = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:50] or "data"
        raise ValidationError(
            f"{name!r} is not a valid Hyperstack volume name: {NAME_RULE}",
            suggestions=[f"e.g. volume://{fixed}"],
            provider="hyperstack",
        )


class PlannedVolume(TypedDict):
    """A task's volume as the store keeps it before anything is created (``volumes``)."""

    name: str
    mount_path: str
    ref: str | None  # the volume id the task named, if it named one


def environment_of(row: VolumeRow) -> str | None:
    return (row.get("environment") or {}).get("name")


class HyperstackVolumes:
    """The volume calls of one Hyperstack account (``provider.volumes``): the API client and
    settings, and from the provider flowlib's environment of a region and the flavor choice
    (a volume made outside a task goes where tasks go by default)."""

    def __init__(
        self,
        api: HyperstackApi,
        settings: HyperstackSettings,
        *,
        environment: Callable[[str], str],
        choose: Callable[[TaskConfig], FlavorOffer],
    ) -> None:
        self.api = api
        self.settings = settings
        self.environment_of_region = environment
        self.choose = choose
        self._type: str | None = None

    # -- lookups -------------------------------------------------------------------------------
    def volume_type(self) -> str:
        """The configured ``volume_type`` (checked), else Cloud-SSD, else the first listed."""
        if self._type is None:
            types = self.api.volume_types()
            wanted = self.settings.volume_type
            if wanted is not None and wanted not in types:
                raise ValidationError(
                    f"hyperstack has no volume type {wanted!r}",
                    suggestions=[f"set providers.hyperstack.volume_type to one of: {types}"],
                    provider="hyperstack",
                )
            if not types:
                raise ProviderError("hyperstack lists no volume types", provider="hyperstack")
            self._type = wanted or (PREFERRED_TYPE if PREFERRED_TYPE in types else types[0])
        return self._type

    def find(self, ref: str, rows: list[VolumeRow] | None = None) -> VolumeRow | None:
        """The volume whose id or name is ``ref``; a name held by several is an error."""
        rows = self.api.volumes() if rows is None else rows
        if ref.isdigit():
            by_id = [r for r in rows if str(r.get("id")) == ref]
            if by_id:
                return by_id[0]
        named = sorted((r for r in rows if r.get("name") == ref), key=lambda r: int(r["id"]))
        if len(named) > 1:
            ids = ", ".join(str(r["id"]) for r in named)
            raise ValidationError(
                f"{len(named)} hyperstack volumes are called {ref!r} (ids {ids})",
                suggestions=["name the one you mean by its id (`flow volume list`)"],
                provider="hyperstack",
            )
        return named[0] if named else None

    def require(self, ref: str, rows: list[VolumeRow] | None = None) -> VolumeRow:
        found = self.find(ref, rows)
        if found is None:
            raise VolumeNotFoundError(
                f"no hyperstack volume {ref!r}",
                suggestions=[
                    "`flow volume list` shows them",
                    f"create it: flow volume create {ref} --size GB, or give size_gb",
                ],
                provider="hyperstack",
            )
        return found

    # -- flow volume create | list | delete ----------------------------------------------------
    def create(self, size_gb: int, name: str | None = None) -> Volume:
        """A volume in the region tasks go to by default (``region`` setting, else the region of
        the cheapest GPU flavor in stock)."""
        if size_gb < 1:
            raise ValidationError(f"a volume needs at least 1 GB, got {size_gb}")
        name = name or f"flowlib-{secrets.token_hex(4)}"
        check_name(name)
        region = self.settings.region or self._default_region()
        row = self.ensure(name, size_gb, self.environment_of_region(region))
        return to_volume(row)

    def _default_region(self) -> str:
        from flowlib.models import TaskConfig

        return self.choose(TaskConfig(command=["true"])).region

    def all(self) -> list[Volume]:
        return [to_volume(r) for r in self.api.volumes()]

    def delete(self, ref: str) -> None:
        """Delete by id or name; refused while attached (naming the VM and its task)."""
        from flowlib.errors import ResourceNotFoundError

        row = self.require(ref)
        for attachment in row.get("attachments") or []:
            vm_id = attachment.get("instance_id")
            vm = self.api.vm(int(vm_id)) if vm_id is not None else None
            if vm is None:
                continue  # the VM is gone; the API detaches on its own
            raise ValidationError(
                f"volume {row.get('name')} ({row['id']}) is attached to {_user(vm)}",
                suggestions=_free_hints(vm),
                provider="hyperstack",
                volume_id=str(row["id"]),
            )
        try:
            self.api.delete_volume(int(row["id"]))
        except ResourceNotFoundError as exc:
            raise VolumeNotFoundError(
                f"no hyperstack volume {ref!r}",
                suggestions=["`flow volume list` shows them"],
                provider="hyperstack",
            ) from exc
        except APIError as exc:  # attached meanwhile, or being created
            raise ValidationError(
                f"hyperstack refused to delete volume {row.get('name')}: {exc.message}",
                suggestions=["`flow volume list` shows what uses it; try again once it is free"],
                provider="hyperstack",
            ) from exc

    # -- tasks -----------------------------------------------------------------------------------
    def place(self, config: TaskConfig) -> TaskConfig:
        """Check the task's volumes before anything exists; an existing volume puts the task in
        its region (one asked for elsewhere is refused, with the volume's region suggested)."""
        if not config.volumes:
            return config
        rows = self.api.volumes()
        where: dict[str, str] = {}  # volume name -> region
        for spec in config.volumes:
            if spec.name:
                check_name(spec.name)
            ref = spec.volume_id or spec.name
            row = self.find(ref, rows) if ref else None
            if row is None:
                if spec.volume_id or spec.size_gb is None:
                    self.require(ref or "", rows)
                continue
            region = region_of(row)
            if region:
                where[str(row.get("name"))] = region
        regions = sorted(set(where.values()))
        if len(regions) > 1:
            listing = ", ".join(f"{n} in {r}" for n, r in sorted(where.items()))
            raise ValidationError(
                f"the task's volumes are in different regions ({listing}); a VM reaches volumes "
                "of its own region only",
                suggestions=["use volumes of one region"],
                provider="hyperstack",
            )
        if not regions:
            return config
        region = regions[0]
        if config.region and config.region != region:
            name = next(n for n, r in where.items() if r == region)
            raise ValidationError(
                f"volume {name} is in {region}; the task asks for {config.region}",
                suggestions=[
                    f"run the task in {region} (region={region!r}, --region {region})",
                    f"or use a volume in {config.region}",
                ],
                provider="hyperstack",
            )
        return config.model_copy(update={"region": region})

    def environment(self, config: TaskConfig, region: str) -> str:
        """The environment the task's VM goes to: that of its existing volumes (a VM attaches
        volumes of its own environment), else flowlib's environment of ``region``."""
        envs: set[str] = set()
        rows = self.api.volumes() if any(s.volume_id for s in config.volumes) else []
        for spec in config.volumes:
            if spec.volume_id:
                row = self.require(spec.volume_id, rows)
                if region_of(row) != region:
                    raise ValidationError(
                        f"volume {row.get('name')} is in {region_of(row)}; the task runs in "
                        f"{region}",
                        suggestions=[f"run the task in {region_of(row)}"],
                        provider="hyperstack",
                    )
                envs.add(str(environment_of(row)))
        if len(envs) > 1:
            raise ValidationError(
                f"the task's volumes are in different environments ({', '.join(sorted(envs))})",
                suggestions=["use volumes of one environment"],
                provider="hyperstack",
            )
        return envs.pop() if envs else self.environment_of_region(region)

    def planned(self, record: TaskRecord) -> list[PlannedVolume]:
        """What the store keeps before anything is created: each volume's name and path."""
        out: list[PlannedVolume] = []
        for index, spec in enumerate(record.config.volumes):
            name = spec.name or _task_volume_name(record.task_id, index)
            out.append({"name": name, "mount_path": spec.mount_path, "ref": spec.volume_id})
        return out

    def provide(
        self, record: TaskRecord, planned: list[PlannedVolume], environment: str
    ) -> list[dict[str, Any]]:
        """Each volume of the task, created (in ``environment``) when it does not exist yet."""
        rows = self.api.volumes()
        out = []
        for spec, plan in zip(record.config.volumes, planned, strict=True):
            row = self.find(plan["ref"] or plan["name"], rows)
            if row is None:
                row = self.ensure(plan["name"], _size(spec), environment)
            elif environment_of(row) != environment:
                raise ValidationError(
                    f"volume {row.get('name')} is in environment {environment_of(row)}; the "
                    f"task's VM goes to {environment}",
                    suggestions=["use volumes of one environment"],
                    provider="hyperstack",
                )
            out.append({"id": int(row["id"]), "name": row.get("name"), **_path(plan)})
        return out

    def ensure(self, name: str, size_gb: int, environment: str) -> VolumeRow:
        """The volume called ``name``, created once: looked up before each try."""
        from flowlib.core.cloud import create_once

        def find() -> VolumeRow | None:
            return self.find(name)

        body = {
            "name": name,
            "environment_name": environment,
            "size": size_gb,
            "volume_type": self.volume_type(),
            "description": "made by flowlib",
        }
        found = find()
        if found is not None:
            return found
        return create_once(
            lambda: self.api.create_volume(body),
            find,
            attempts=_CREATE_ATTEMPTS,
            retry=lambda exc: isinstance(exc, APIError) and exc.status_code == 409,
        )

    def attach(
        self, record: TaskRecord, vm: VirtualMachine, host: RemoteHost
    ) -> tuple[dict[str, Any], str | None]:
        """Attach the task's volumes to its running VM and tell the script their devices:
        (provider_data updates, why it waits). Safe to repeat: what is attached stays so."""
        wanted: list[dict[str, Any]] = list(record.provider_data.get("volumes") or [])
        if any(v.get("id") is None for v in wanted):  # a submit that stopped after the VM
            rows = self.api.volumes()
            found = [self.find(v.get("ref") or v["name"], rows) for v in wanted]
            if None in found:
                return {}, "a volume of this task does not exist (its submit was interrupted)"
            wanted = [
                {**v, "id": int(row["id"])} for v, row in zip(wanted, found, strict=True) if row
            ]
        devices = _attached(vm)
        missing = [v for v in wanted if int(v["id"]) not in devices]
        if missing:
            for vol in missing:
                row = self.api.volume(int(vol["id"]))
                if row is None:
                    return {}, f"volume {vol['name']} no longer exists"
                status = str(row.get("status", "")).lower()
                if status != "available":
                    using = [a.get("instance_id") for a in row.get("attachments") or []]
                    note = f" by VM {using[0]}" if using else ""
                    return {}, f"waiting for volume {vol['name']} ({status}{note})"
            try:
                answer = self.api.attach_volumes(int(vm["id"]), [int(v["id"]) for v in missing])
            except FlowError as exc:
                return {}, f"attaching volumes: {exc.message}"
            devices.update({int(r["volume_id"]): str(r["device"]) for r in answer})
        ordered = [devices.get(int(v["id"])) for v in wanted]
        if None in ordered:
            return {}, "the API did not say where the volumes are attached"
        from flowlib.data import WRITE_VOLUME_DEVICES, volume_devices_file

        text = volume_devices_file([str(d) for d in ordered])
        result = host.run(WRITE_VOLUME_DEVICES, input=text.encode(), timeout=60)
        updated = [{**v, "device": d} for v, d in zip(wanted, ordered, strict=True)]
        if result.returncode != 0:
            return {"volumes": updated}, "cannot tell the VM where its volumes are (retrying)"
        return {"volumes": updated, "volumes_ready": True}, None


def _attached(vm: VirtualMachine) -> dict[int, str]:
    """volume id -> device, from the VM's ``volume_attachments``."""
    out = {}
    for row in vm.get("volume_attachments") or []:
        volume = row.get("volume") or {}
        if volume.get("id") is not None and row.get("device"):
            out[int(volume["id"])] = str(row["device"])
    return out


def _task_volume_name(task_id: str, index: int) -> str:
    return f"flowlib-{task_id.removeprefix('task-')}-{index}"


def _size(spec: VolumeSpec) -> int:
    from flowlib.data import DEFAULT_VOLUME_GB

    return spec.size_gb or DEFAULT_VOLUME_GB


def _path(plan: PlannedVolume) -> dict[str, Any]:
    return {"mount_path": plan["mount_path"]}


def _user(vm: VirtualMachine) -> str:
    name = str(vm.get("name"))
    task = task_of_vm(name)
    if task is not None:
        return f"VM {name} (task {task})"
    return f"VM {name} ({vm.get('id')})"


def _free_hints(vm: VirtualMachine) -> list[str]:
    name = str(vm.get("name"))
    task = task_of_vm(name)
    if task is not None:
        return [
            f"wait for task {task} to end, or cancel it first: flow cancel {task}",
            "a task with auto_terminate=False keeps its VM: delete the VM to free the volume",
        ]
    return [f"detach it from VM {name}, or delete that VM, first"]


def to_volume(row: VolumeRow) -> Volume:
    created = str(row.get("created_at") or "").replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(created) if created else datetime.now(timezone.utc)
    except ValueError:
        when = datetime.now(timezone.utc)
    return Volume(
        volume_id=str(row["id"]),
        name=str(row.get("name")),
        size_gb=int(row.get("size") or 0),
        region=region_of(row),
        created_at=when,
        attached_to=[str(a.get("instance_id")) for a in row.get("attachments") or []],
    )
