"""``flow completion bash|zsh|fish``: a static completion script, generated from flow's own
argument parser by shtab (https://github.com/iterative/shtab), so it never drifts from it."""

from __future__ import annotations

import argparse

from flowlib.errors import ConfigError

__all__ = ["cmd_completion", "completion_script"]


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (one of ``flowlib.cli._parser.SHELLS``)."""
    try:
        import shtab
    except ImportError:  # a trimmed install: shtab is a dependency of flowlib
        raise ConfigError(
            "flow completion needs the shtab package, which is not installed",
            suggestions=["pip install shtab (or reinstall flowlib: pip install flowlib)"],
        ) from None
    from flowlib.cli._parser import build_parser

    script: str = shtab.complete(build_parser(), shell=shell)
    return script


def cmd_completion(args: argparse.Namespace) -> int:
    print(completion_script(args.shell), end="")
    return 0
