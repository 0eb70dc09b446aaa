"""``python -m flowlib.testing.emulators fcp --port N``: serve an emulated cloud on loopback."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


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
    args = parser.parse_args(argv)

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
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
