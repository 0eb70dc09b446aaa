"""``flow init``: write a config file (0600, :func:`flowlib.config.write_config`) and an example
task file. It prompts only when stdin is a terminal; an API key is read hidden or from an
environment variable (``--api-key-env``), never from the command line, and never printed."""

from __future__ import annotations

import argparse
import difflib
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.config import project_config_path, user_config_path, write_config
from flowlib.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from flowlib.providers.base import ProviderSpec

__all__ = ["EXAMPLE_TASK", "cmd_init"]

EXAMPLE_TASK = """\
# A flowlib task file: every key is a TaskConfig field (docs/configuration.md).
# Run it with:  flow run flow.yaml --wait      (or --follow to stream its output)
name: hello
shell: echo "hello from $FLOW_TASK_NAME in $PWD" && ls
env:
  GREETING: hello
max_run_time_hours: 0.5
"""


def cmd_init(args: argparse.Namespace) -> int:
    path = project_config_path() if args.local else user_config_path()
    settings = _existing(path)
    as_json = getattr(args, "json", False)
    interactive = sys.stdin.isatty() and not as_json  # --json: for scripts, never a prompt

    provider = args.provider or (
        _ask("provider", settings.get("provider") or "local") if interactive else None
    )
    provider = provider or settings.get("provider") or "local"
    remote = not _check_provider(provider).runs_here  # one to rent: an account, a region
    settings["provider"] = provider
    for key in ("project", "region"):
        value = getattr(args, key)
        if value is None and interactive and remote:
            value = _ask(key, settings.get(key) or "") or None
        if value is not None:
            settings[key] = value

    key_note, key_state = "", None
    api_key = _api_key(args, provider, interactive and remote)
    if api_key:
        section = dict(settings.get("providers", {}).get(provider) or {})
        section["api_key"] = api_key
        settings.setdefault("providers", {})[provider] = section
        key_note, key_state = ", API key stored", "stored"
    elif (settings.get("providers", {}).get(provider) or {}).get("api_key") or settings.get(
        "api_key"
    ):
        key_note, key_state = ", existing API key kept", "kept"

    write_config(path, settings)
    example = Path("flow.yaml")
    wrote_example = not args.no_example and not example.exists()
    if wrote_example:
        example.write_text(EXAMPLE_TASK, encoding="utf-8")
    run_next = f"flow run {example} --wait" if example.exists() else 'flow run "echo hello" --wait'
    if as_json:
        from flowlib.cli._output import print_json

        print_json(
            {
                "config": str(path),
                "provider": provider,
                "api_key": key_state,  # "stored", "kept" or null; the key itself never
                "example": str(example.absolute()) if wrote_example else None,
                "next": run_next,
            }
        )
        return 0
    print(f"wrote {path} (provider: {provider}{key_note}; readable by you only)")
    if args.local and api_key:
        print("  hint: .flow/config.yaml now holds a secret: add .flow/ to .gitignore")
    if wrote_example:
        print(f"wrote {example.absolute()} (an example task)")
    print(f"next: {run_next}")
    if remote:
        print("      flow catalog          # what you can rent, cheapest first")
    print("      flow doctor           # check the setup")
    return 0


def _existing(path: Path) -> dict[str, Any]:
    """The settings already in ``path``: init adds to them rather than dropping them."""
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path} exists but cannot be read as YAML: {type(exc).__name__}",
            suggestions=[f"fix it, or remove it and run `flow init` again: rm {path}"],
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} exists but does not hold a mapping of settings",
            suggestions=[f"remove it and run `flow init` again: rm {path}"],
        )
    return data


def _check_provider(name: str) -> ProviderSpec:
    from flowlib.providers import get_registry

    specs = get_registry().specs()
    known = sorted(specs)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        tips = [f"did you mean '{close[0]}'?"] if close else []
        tips.append(f"installed providers: {', '.join(known) or 'none'}")
        raise ValidationError(f"unknown provider '{name}'", suggestions=tips)
    return specs[name]


def _api_key(args: argparse.Namespace, provider: str, ask: bool) -> str | None:
    if args.api_key_env:
        value = os.environ.get(args.api_key_env, "").strip()
        if not value:
            raise ConfigError(
                f"--api-key-env: the environment variable {args.api_key_env} is empty or unset",
                suggestions=[
                    f"export {args.api_key_env}=... first (your shell keeps it out of "
                    "the command line), or leave --api-key-env out to be asked"
                ],
            )
        return value
    if ask:
        value = getpass.getpass(f"API key for {provider} (hidden; Enter to skip): ").strip()
        return value or None
    return None


def _ask(what: str, default: str) -> str:
    shown = f" [{default}]" if default else ""
    try:
        answer = input(f"{what}{shown}: ").strip()
    except EOFError:
        answer = ""
    return answer or default
