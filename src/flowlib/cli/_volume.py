"""``flow volume create|list|delete``: persistent volumes of a provider."""

from __future__ import annotations

import argparse

from flowlib.cli._output import ago, print_error, print_json, table
from flowlib.errors import FlowError
from flowlib.flow import Flow
from flowlib.models import Volume

__all__ = ["cmd_volume", "volume_view"]


def volume_view(volume: Volume) -> dict[str, object]:
    return {
        "volume_id": volume.volume_id,
        "name": volume.name,
        "size_gb": volume.size_gb,
        "region": volume.region,
        "interface": volume.interface.value,
        "created_at": volume.created_at.isoformat(),
        "attached_to": list(volume.attached_to),
    }


def _delete(flow: Flow, args: argparse.Namespace) -> int:
    """Delete each volume; one refusal does not stop the others (as ``flow cancel``). The exit
    status is the first failure's. ``--json``: one entry per volume, in the order given."""
    failed: list[FlowError] = []
    results: list[dict[str, object]] = []
    for ref in args.volumes:
        try:
            gone = flow.delete_volume(ref)
        except FlowError as exc:
            failed.append(exc)
            results.append({"volume": ref, "deleted": False, **exc.to_dict()})
            if not args.json:
                print_error(exc)
            continue
        results.append({**volume_view(gone), "deleted": True})
        if not args.json:
            print(f"deleted {gone.volume_id} ({gone.name})")
    if args.json:
        print_json(results)
    return failed[0].exit_code if failed else 0


def cmd_volume(args: argparse.Namespace) -> int:
    with Flow(provider=args.provider, home=args.home) as flow:
        if args.volume_command == "create":
            volume = flow.create_volume(args.size, args.name)
            if args.json:
                print_json(volume_view(volume))
            else:
                print(f"created {volume.volume_id} ({volume.name}, {volume.size_gb} GB)")
                print(f'  use it: data={{"/data": "volume://{volume.name}"}}')
            return 0
        if args.volume_command == "delete":
            return _delete(flow, args)
        volumes = flow.list_volumes()
    if args.json:
        print_json([volume_view(v) for v in volumes])
        return 0
    if not volumes:
        print("no volumes yet; try: flow volume create NAME --size 10")
        return 0
    rows = [
        [
            v.volume_id,
            v.name,
            f"{v.size_gb} GB",
            v.region or "-",
            ago(v.created_at),
            ", ".join(v.attached_to) or "-",
        ]
        for v in volumes
    ]
    print(table(["ID", "NAME", "SIZE", "REGION", "CREATED", "IN USE BY"], rows))
    return 0
