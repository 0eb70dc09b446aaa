"""The ``flow`` command line: a thin layer over flowlib's public API.

``main`` parses the arguments, imports the one command that runs (``--help`` imports nothing
heavy), and turns a :class:`~flowlib.errors.FlowError` into ``error: ...`` plus ``hint:`` lines
on stderr and the error class's ``exit_code`` (docs/cli.md lists them). Any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flow`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    from importlib import import_module

    from flowlib.cli._parser import parse_args

    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: --help and --version (0), usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    from flowlib.telemetry import wants_console  # standard library only

    module, _, name = args.handler.partition(":")
    handler = getattr(import_module(module), name)
    fmt = wants_console(args.trace)  # FLOW_TRACE=0 / off: no tracing
    return _call(handler, args) if fmt is None else _traced_call(handler, args, fmt)


def _traced_call(
    handler: Callable[[argparse.Namespace], int], args: argparse.Namespace, fmt: str
) -> int:
    """``flow --trace`` / ``FLOW_TRACE=console|json``: the command's spans on stderr."""
    from flowlib.cli._output import print_error
    from flowlib.errors import FlowError
    from flowlib.telemetry import console_tracing, span

    try:
        flush = console_tracing(fmt)
    except FlowError as exc:
        print_error(exc)
        return exc.exit_code
    try:
        with span(f"flow {args.command}"):
            return _call(handler, args)
    finally:
        flush()


def _call(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command's handler; a FlowError becomes its message, hints and exit code."""
    from flowlib.cli._output import print_error
    from flowlib.errors import FlowError

    try:
        return handler(args)
    except FlowError as exc:
        print_error(exc, as_json=getattr(args, "json", False))
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `flow logs X | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # final flush does not fail again, and exit as a program killed by SIGPIPE would.
        import contextlib
        import os

        with contextlib.suppress(OSError, ValueError):  # stdout without a descriptor (captured)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
