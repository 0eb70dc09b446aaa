"""``python -m flowlib.testing.emulators fcp|hyperstack --port N``: serve an emulated cloud on
loopback."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowlib.testing.emulators",
        description="Serve an emulated cloud API on loopback, for tests and offline demos.",
    )
    sub = parser.add_subparsers(dest="cloud", required=True)
    fcp = sub.add_parser("fcp", help="FCP / Mithril v2 spot API")
    fcp.add_argument("--host", default="127.0.0.1")
    fcp.add_argument("--port", type=int, default=0, help="0 picks a free port")
    fcp.add_argument("--api-key", help="accept this key (fkey_...) instead of a generated one")
    fcp.add_argument("--workdir", type=Path, help="where instance sandboxes live")
    fcp.add_argument(
        "--timing",
        choices=("default", "instant", "realistic"),
        default="default",
        help="how long state transitions take",
    )
    fcp.add_argument("--no-boot", action="store_true", help="do not run startup scripts")
    fcp.add_argument(
        "--flow-config",
        type=Path,
        metavar="PATH",
        help="write a flowlib config there (0600) that points provider fcp at this emulator, "
        "e.g. .flow/config.yaml of a demo project",
    )
    hs = sub.add_parser("hyperstack", help="Hyperstack (NexGen Cloud Infrahub) v1 API")
    hs.add_argument("--host", default="127.0.0.1")
    hs.add_argument("--port", type=int, default=0, help="0 picks a free port")
    hs.add_argument("--api-key", help="accept this api_key instead of a generated one")
    hs.add_argument("--workdir", type=Path, help="where VM sandboxes live (DIR/instances/<id>)")
    hs.add_argument(
        "--timing",
        choices=("default", "instant", "realistic"),
        default="default",
        help="how long state transitions take",
    )
    hs.add_argument("--no-boot", action="store_true", help="do not run user_data scripts")
    hs.add_argument("--rate-limit", type=int, default=500, help="requests per minute (0: no limit)")
    args = parser.parse_args(argv)
    if args.cloud == "hyperstack":
        return _serve_hyperstack(args)

    from .fcp import FcpEmulator, Timing

    timing = {"default": Timing(), "instant": Timing.instant(), "realistic": Timing.realistic()}
    emulator = FcpEmulator(
        timing=timing[args.timing],
        workdir=args.workdir,
        boot=not args.no_boot,
        api_key=args.api_key,
    )
    url = emulator.start(args.host, args.port)
    print(f"FCP emulator: {url}", flush=True)
    print(f"API key: {emulator.api_key}", flush=True)
    print(f"Project: {emulator.project} (default)", flush=True)
    if emulator.workdir is not None:
        print(f"Instances: {emulator.workdir / 'instances'}", flush=True)
    if args.flow_config is not None:
        _write_flow_config(args.flow_config, emulator, url)
        print(f"flowlib config: {args.flow_config} (flow run --provider fcp ...)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


def _serve_hyperstack(args: argparse.Namespace) -> int:
    from .hyperstack import HyperstackEmulator, Options, Timing

    timing = {"default": Timing(), "instant": Timing.instant(), "realistic": Timing.realistic()}
    emulator = HyperstackEmulator(
        timing=timing[args.timing],
        options=Options(rate_limit_per_minute=args.rate_limit or None),
        workdir=args.workdir,
        boot=not args.no_boot,
        api_key=args.api_key,
    )
    url = emulator.start(args.host, args.port)
    print(f"Hyperstack emulator: {url}", flush=True)
    print(f"API key: {emulator.api_key}", flush=True)
    if emulator.workdir is not None:
        print(f"Instances: {emulator.workdir / 'instances'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


def _write_flow_config(path: Path, emulator: Any, url: str) -> None:
    from flowlib.config import write_config

    section: dict[str, Any] = {"api_url": url, "api_key": emulator.api_key, "poll_interval_s": 0.2}
    if emulator.workdir is not None:
        section.update(remote_host="sandbox", sandbox_dir=str(emulator.workdir / "instances"))
    write_config(path, {"provider": "fcp", "providers": {"fcp": section}})


if __name__ == "__main__":
    sys.exit(main())
