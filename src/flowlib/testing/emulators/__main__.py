"""``python -m flowlib.testing.emulators fcp|hyperstack --port N``: serve an emulated cloud on
loopback; ``... control --url URL --api-key KEY preempt|market|fail|clear`` steers a running one
(through its ``/_emulator`` routes, see ``_admin.py``)."""

from __future__ import annotations

import argparse
import signal
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
    fcp = _common(sub.add_parser("fcp", help="FCP / Mithril v2 spot API"), "fkey_...")
    fcp.add_argument("--no-boot", action="store_true", help="do not run startup scripts")
    hs = _common(
        sub.add_parser("hyperstack", help="Hyperstack (NexGen Cloud Infrahub) v1 API"), "api_key"
    )
    hs.add_argument("--no-boot", action="store_true", help="do not run user_data scripts")
    hs.add_argument("--rate-limit", type=int, default=500, help="requests per minute (0: no limit)")
    _control_parser(sub)
    args = parser.parse_args(argv)
    if args.cloud == "control":
        return _control(args)
    if args.ssh:
        from ._sshd import sshd_missing

        missing = "--ssh needs the instances to boot (drop --no-boot)" if args.no_boot else None
        missing = missing or sshd_missing()
        if missing is not None:
            parser.error(f"--ssh: {missing}")
    return _serve(args, _hyperstack(args) if args.cloud == "hyperstack" else _fcp(args))


def _control_parser(sub: Any) -> None:
    ctl = sub.add_parser(
        "control",
        help="steer a running emulator: preempt a bid, set a market price, fail calls",
        description="Steer a running emulator through its /_emulator routes.",
    )
    ctl.add_argument("--url", required=True, help="the emulator's URL, as it printed it")
    ctl.add_argument("--api-key", required=True, help="the emulator's API key, as it printed it")
    actions = ctl.add_subparsers(dest="action", required=True)
    preempt = actions.add_parser("preempt", help="FCP: preempt an allocated bid now")
    preempt.add_argument("bid", help="the bid's FID (bid_...): flow status shows it")
    market = actions.add_parser("market", help="FCP: set a market price (preempts bids below it)")
    market.add_argument("instance_type", help="name (a100-80gb.sxm.1x) or FID (it_...)")
    market.add_argument("region", help="e.g. us-central1-b")
    market.add_argument("price", help="dollars per instance-hour, e.g. 2.40 or '$2.40'")
    fail = actions.add_parser("fail", help="the next N calls of a route answer an error")
    fail.add_argument("path", help="a path or glob: /v2/spot/bids, '/v2/spot/bids/*'")
    fail.add_argument("--method", help="only this method (GET, POST, ...); default: any")
    fail.add_argument("--times", type=int, default=1, help="how many calls (default 1)")
    fail.add_argument("--status", type=int, default=503, help="the error status (default 503)")
    actions.add_parser("clear", help="remove every injected failure")


def _control(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    import httpx

    parts = urlsplit(args.url)
    base = f"{parts.scheme}://{parts.netloc}/_emulator"
    if args.action == "preempt":
        method, path, body = "POST", f"/bids/{args.bid}/preempt", None
    elif args.action == "market":
        price = args.price if args.price.startswith("$") else f"${args.price}"
        body = {"instance_type": args.instance_type, "region": args.region, "price": price}
        method, path = "POST", "/market"
    elif args.action == "fail":
        body = {"path": args.path, "method": args.method, "times": args.times,
                "status": args.status}  # fmt: skip
        method, path = "POST", "/faults"
    else:
        method, path, body = "DELETE", "/faults", None
    headers = {"Authorization": f"Bearer {args.api_key}"}
    try:
        answer = httpx.request(method, base + path, json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the emulator at {base}: {exc}", file=sys.stderr)
        return 2
    data = answer.json() if answer.content else {}
    if answer.status_code >= 400:
        print(f"error: {data.get('detail', answer.text)}", file=sys.stderr)
        return 1
    print(_done(args.action, data))
    return 0


def _done(action: str, data: dict[str, Any]) -> str:
    if action == "preempt":
        return f"bid {data['bid']} preempted (now {data['status']})"
    if action == "market":
        hit = ", ".join(data["preempted"]) or "none"
        return f"{data['instance_type']} in {data['region']} now {data['price']}; preempted: {hit}"
    if action == "fail":
        fault = data["fault"]
        what = f"{fault['method'] or 'any'} {fault['path']}"
        return f"the next {fault['times']} call(s) of {what} answer {fault['status']}"
    return "every injected failure removed"


def _common(p: argparse.ArgumentParser, key_kind: str) -> argparse.ArgumentParser:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--api-key", help=f"accept this key ({key_kind}) instead of a generated one")
    p.add_argument("--workdir", type=Path, help="instance sandboxes go in DIR/instances/<id>")
    p.add_argument(
        "--ssh",
        action="store_true",
        help="give every instance its own sshd on a loopback port (needs openssh-server); "
        "flowlib then reaches instances over real OpenSSH",
    )
    p.add_argument(
        "--timing",
        choices=("default", "instant", "realistic"),
        default="default",
        help="how long state transitions take",
    )
    p.add_argument(
        "--flow-config",
        type=Path,
        metavar="PATH",
        help="once serving, add a section to the flowlib config there (0600) that points this "
        "provider at the emulator, e.g. .flow/config.yaml of a demo project; the default "
        "provider stays as it was (see --default)",
    )
    p.add_argument(
        "--default",
        action="store_true",
        help="with --flow-config: also make this provider the config's default provider",
    )
    return p


def _fcp(args: argparse.Namespace) -> Any:
    from .fcp import FcpEmulator, Timing

    timing = {"default": Timing(), "instant": Timing.instant(), "realistic": Timing.realistic()}
    return FcpEmulator(
        timing=timing[args.timing],
        workdir=args.workdir,
        boot=not args.no_boot,
        api_key=args.api_key,
        ssh=args.ssh,
    )


def _hyperstack(args: argparse.Namespace) -> Any:
    from .hyperstack import HyperstackEmulator, Options, Timing

    timing = {"default": Timing(), "instant": Timing.instant(), "realistic": Timing.realistic()}
    return HyperstackEmulator(
        timing=timing[args.timing],
        options=Options(rate_limit_per_minute=args.rate_limit or None),
        workdir=args.workdir,
        boot=not args.no_boot,
        api_key=args.api_key,
        ssh=args.ssh,
    )


def _serve(args: argparse.Namespace, emulator: Any) -> int:
    title = {"fcp": "FCP", "hyperstack": "Hyperstack"}[args.cloud]
    url = emulator.start(args.host, args.port)
    print(f"{title} emulator: {url}", flush=True)
    print(f"API key: {emulator.api_key}", flush=True)
    if getattr(emulator, "project", None):
        print(f"Project: {emulator.project} (default)", flush=True)
    if emulator.workdir is not None:
        print(f"Instances: {emulator.workdir / 'instances'}", flush=True)
    stop = threading.Event()
    # SIGTERM (`kill`, a shell's EXIT trap) and SIGINT end the emulator the same way: every
    # process its machines started is stopped and its temporary work dir removed. Python's
    # default SIGTERM would end the process on the spot and leave both behind.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.flow_config is not None:
            _write_flow_config(args.flow_config, args.cloud, emulator, url, default=args.default)
            print(f"flowlib config: {args.flow_config} (flow run --provider {args.cloud} ...)")
        print(
            f"Controls: python -m flowlib.testing.emulators control --url {url} --api-key KEY "
            "preempt|market|fail|clear"
        )
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0


def _write_flow_config(
    path: Path, cloud: str, emulator: Any, url: str, *, default: bool = False
) -> None:
    """Add (or replace) this cloud's section in the config at ``path``, keeping the rest, so one
    demo project can point at several emulators. The default provider changes only when asked
    (``default``): a demo's emulator is gone after the demo, and a plain ``flow run`` there must
    not try to reach it."""
    import yaml

    from flowlib.config import write_config

    settings: dict[str, Any] = {}
    if path.exists():
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    settings.setdefault("providers", {})[cloud] = emulator.provider_settings(api_url=url)
    if default:
        settings["provider"] = cloud
    write_config(path, settings)


if __name__ == "__main__":
    sys.exit(main())
