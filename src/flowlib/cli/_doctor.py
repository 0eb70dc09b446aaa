"""``flow doctor``: is this machine set up to run tasks? One line per check, ok / warn / fail.

Checks, in order: the config files parse; the default provider is installed (and no plugin
failed to load); for the default provider and every provider with a ``providers:`` section, its
credentials and whether it answers (one read-only call, bounded by ``--timeout``); then the tools
that configured features need (ssh for cloud machines, sbatch for a SLURM on this machine, s3fs
and credentials when an S3 endpoint or key is set). Secrets are never printed, only whether set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowlib.cli._output import print_json
from flowlib.errors import AuthenticationError, FlowError

__all__ = ["Check", "cmd_doctor", "run_checks"]


@dataclass
class Check:
    """One check's outcome: ``verdict`` is ok, warn or fail; ``hints`` say what to do."""

    name: str
    verdict: str
    detail: str
    hints: list[str] = field(default_factory=list)


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(home=args.home, timeout=args.timeout)
    failed = any(c.verdict == "fail" for c in checks)
    if args.json:
        print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
        return 1 if failed else 0
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.verdict:<4}  {c.name.ljust(width)}  {c.detail}")
        for hint in c.hints:
            print(f"      {' ' * width}  hint: {hint}")
    warned = sum(c.verdict == "warn" for c in checks)
    verdict = "some checks failed" if failed else "all good" if not warned else "ok, with warnings"
    print(f"\n{verdict} ({len(checks)} checks)")
    return 1 if failed else 0


def run_checks(*, home: str | None = None, timeout: float = 3.0) -> list[Check]:
    from flowlib.config import load_config, project_config_path, user_config_path
    from flowlib.providers import get_registry

    files = [p for p in (user_config_path(), project_config_path()) if p.is_file()]
    try:
        config = load_config({"home": home} if home else None)
    except FlowError as exc:
        return [Check("config", "fail", exc.message, exc.suggestions)]
    shown = ", ".join(_tilde(p) for p in files) or "no config file (defaults: provider local)"
    checks = [Check("config", "ok", f"{shown}; FLOW_HOME {_tilde(config.home)}")]
    if not files:
        checks[0].hints.append("flow init writes one")

    registry = get_registry()
    names = registry.names()
    if config.provider in names:
        checks.append(Check("provider", "ok", f"{config.provider} (the default)"))
    else:
        from flowlib.cli._usage import closest

        close = closest(config.provider, names)
        hints = [f"did you mean '{close}'?"] if close else []
        hints.append(f"installed providers: {', '.join(names)}")
        checks.append(Check("provider", "fail", f"{config.provider!r} is not installed", hints))
    for plugin, why in sorted(registry.skipped.items()):
        checks.append(Check("plugins", "warn", f"{plugin} failed to load: {why}"))

    wanted = [n for n in dict.fromkeys([config.provider, *config.providers]) if n in names]
    over_ssh: list[str] = []  # the providers whose machines flow reaches with ssh
    for name in wanted:
        checks.extend(_provider_checks(config, name, timeout, over_ssh))
    checks.append(_keeper_check(config))
    checks.extend(_tool_checks(wanted, over_ssh, config))
    return checks


def _keeper_check(config: Any) -> Check:
    """The keeper: off, never run, idle, or running, and whether its last look asked every
    cloud (a cloud it cannot ask has its finished machines released only by their own grace)."""
    from flowlib.core.keeper_process import read_state

    if not config.keeper:
        detail = "off (keeper: false or FLOW_KEEPER=0); cloud machines release themselves"
        return Check("keeper", "ok", detail)
    state = read_state(Path(config.home))
    if state is None:
        return Check("keeper", "ok", "none has run here; one starts with the first cloud task")
    if not state["running"]:
        return Check("keeper", "ok", "not running; the next cloud task starts it")
    detail = f"running (pid {state['pid']}), watching {state['live_tasks']} live task(s)"
    unanswered = state.get("unanswered", {})
    if not unanswered:
        return Check("keeper", "ok", detail)
    why = "; ".join(f"{name}: {reason}" for name, reason in sorted(unanswered.items()))
    hints = ["until it can, their finished machines are released by their own grace"]
    return Check("keeper", "warn", f"{detail}; its last look could not ask {why}", hints)


def _provider_checks(config: Any, name: str, timeout: float, over_ssh: list[str]) -> list[Check]:
    """Credentials, then one read-only call (its volumes), in a thread given ``timeout``
    seconds (a daemon thread: a provider still retrying does not keep flow from exiting)."""
    from flowlib.providers import get_registry
    from flowlib.providers.base import Feature, Volumes

    settings = config.provider_settings(name)
    has_key = "api_key" in settings
    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            provider = get_registry().create(name, config)
            if provider.capabilities.supports(Feature.SSH):
                over_ssh.append(name)
            if isinstance(provider, Volumes):
                outcome["answered"] = provider.list_volumes() or True
            else:
                outcome["answered"] = False
        except FlowError as exc:
            outcome["error"] = exc
        except Exception as exc:  # doctor reports whatever a provider raises, never crashes
            outcome["error"] = FlowError(f"{type(exc).__name__}: {exc}")

    started = time.monotonic()
    worker = threading.Thread(target=probe, name=f"flow-doctor-{name}", daemon=True)
    worker.start()
    worker.join(timeout)  # the provider's own timeouts and retries are longer: bounded here
    took = time.monotonic() - started
    error: FlowError | None = outcome.get("error")
    checks = []
    if isinstance(error, AuthenticationError):
        checks.append(Check(f"{name} credentials", "fail", error.message, error.suggestions))
    elif has_key:
        checks.append(Check(f"{name} credentials", "ok", "an API key is set (not shown)"))
    else:
        checks.append(Check(f"{name} credentials", "ok", "none needed"))
    if worker.is_alive():
        checks.append(
            Check(
                f"{name} reachable",
                "fail",
                f"no answer within {timeout:g} s",
                ["check the network, api_url in the config, or try --timeout 10"],
            )
        )
    elif error is not None and not isinstance(error, AuthenticationError):
        checks.append(Check(f"{name} reachable", "fail", error.message, error.suggestions))
    elif error is None and outcome.get("answered"):
        checks.append(Check(f"{name} reachable", "ok", f"answered in {took:.2f} s"))
    elif error is None:
        checks.append(Check(f"{name} reachable", "ok", "built (it has no read-only call to try)"))
    return checks


def _tool_checks(providers: list[str], over_ssh: list[str], config: Any) -> list[Check]:
    checks = []
    if over_ssh:
        if shutil.which("ssh"):
            checks.append(Check("ssh", "ok", f"{shutil.which('ssh')} (flow ssh, flow tunnel)"))
        else:
            checks.append(
                Check(
                    "ssh",
                    "warn",
                    f"no ssh client on PATH: flow ssh and flow tunnel cannot reach "
                    f"{', '.join(over_ssh)} machines",
                    ["install OpenSSH's client (apt install openssh-client)"],
                )
            )
    if "slurm" in providers:
        login = config.provider_settings("slurm").get("login_host")
        if login:
            checks.append(Check("slurm", "ok", f"jobs go through the login host {login}"))
        elif shutil.which("sbatch"):
            checks.append(Check("slurm", "ok", f"{shutil.which('sbatch')}"))
        else:
            checks.append(
                Check(
                    "slurm",
                    "fail",
                    "no sbatch on PATH and no providers.slurm.login_host",
                    ["run flow on a login node, or set providers.slurm.login_host: user@host"],
                )
            )
    checks.extend(_s3_checks())
    return checks


def _s3_checks() -> list[Check]:
    """Only when S3 is configured: an endpoint variable or AWS credentials."""
    from flowlib.data import ENDPOINT_VARS

    endpoint = next((os.environ[v] for v in ENDPOINT_VARS if os.environ.get(v)), None)
    aws_files = [Path.home() / ".aws" / "credentials", Path.home() / ".aws" / "config"]
    has_keys = bool(os.environ.get("AWS_ACCESS_KEY_ID")) or any(p.is_file() for p in aws_files)
    if not endpoint and not has_keys:
        return []
    import importlib.util

    checks = []
    if importlib.util.find_spec("s3fs") is None:
        checks.append(
            Check(
                "s3",
                "warn",
                "S3 is configured but s3fs is not installed",
                ["pip install 'flowlib[s3]'"],
            )
        )
    else:
        where = f"endpoint {endpoint}" if endpoint else "AWS's endpoint"
        keys = "credentials set (not shown)" if has_keys else "no credentials (anonymous)"
        checks.append(Check("s3", "ok" if has_keys else "warn", f"{where}; {keys}"))
    return checks


def _tilde(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text
