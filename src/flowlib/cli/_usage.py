"""Usage errors that say what you probably meant. Standard library only (``flow --help`` path).

argparse answers a typo with ``invalid choice`` or, for an option of a subcommand, with the
top-level usage (``flow status --limt 5``: ``flow: error: unrecognized arguments``). Here every
parser raises :class:`UsageError` instead of exiting; it carries the usage of the (sub)command
the words were meant for and a close match when there is one, and ``parse_args`` prints it as
text (stderr) or, under ``--json``, as a JSON object on stdout shaped like a ``FlowError``'s.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

__all__ = ["Parser", "UsageError", "closest", "unknown_words_error"]


class UsageError(Exception):
    """A command line that does not parse: exit status 2, as argparse's own."""

    exit_code = 2

    def __init__(
        self, message: str, *, prog: str, usage: str, suggestions: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog
        self.usage = usage.strip()
        self.suggestions = list(suggestions)

    def to_dict(self) -> dict[str, Any]:
        """The same keys as :meth:`flowlib.errors.FlowError.to_dict`."""
        return {
            "error": "UsageError",
            "message": self.message,
            "suggestions": self.suggestions,
            "error_code": "usage",
            "context": {"command": self.prog, "usage": self.usage.removeprefix("usage: ")},
        }

    def print(self, *, as_json: bool = False) -> None:
        if as_json:
            import json  # only on the error path, as difflib below: --help stays quick

            print(json.dumps(self.to_dict(), indent=2))
            return
        print(self.usage, file=sys.stderr)
        print(f"error: {self.message}", file=sys.stderr)
        for tip in self.suggestions:
            print(f"  hint: {tip}", file=sys.stderr)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` is most likely a typo of, if any is close enough."""
    import difflib

    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _what_help_lists(parser: argparse.ArgumentParser) -> str:
    if parser._subparsers is not None:
        return "lists its commands" if parser.prog == "flow" else "lists its actions"
    return "describes every option"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError` with a "did you mean"."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(
            message,
            prog=self.prog,
            usage=self.format_usage(),
            suggestions=[f"`{self.prog} --help` {_what_help_lists(self)}"],
        )

    # argparse calls this for every value of an argument with choices (subcommands included).
    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(c) for c in choices]
        close = closest(str(value), names)
        if isinstance(action, argparse._SubParsersAction):
            kind = "command" if action.dest == "command" else "action"
            what = f"unknown {kind} {value!r}"
            meant = f"; did you mean {close!r}?" if close else f" (one of: {', '.join(names)})"
        else:
            what = f"{value!r} is not one of {', '.join(names)}"
            meant = f"; did you mean {close!r}?" if close else ""
        raise argparse.ArgumentError(None, what + meant)


def unknown_words_error(parser: argparse.ArgumentParser, words: Sequence[str]) -> UsageError:
    """``flow status --limt 5``: the words no option of ``parser`` took, with the option
    probably meant (options of the subcommand itself, not of the top level)."""
    options = sorted({o for a in parser._actions for o in a.option_strings if o.startswith("--")})
    unknown = [w for w in words if w.startswith("-") and w != "-"]
    tips = [f"`{parser.prog} --help` describes every option"]
    if not unknown:
        message = f"unexpected argument{'s' if len(words) > 1 else ''}: {' '.join(words)}"
    else:
        name = unknown[0].split("=", 1)[0]
        close = closest(name, options)
        message = f"unknown option {name}"
        if close:
            message += f"; did you mean {close}?"
        else:
            tips.insert(0, f"its options: {', '.join(o for o in options if o != '--help')}")
        if len(unknown) > 1:
            message += f" (also unknown: {' '.join(u.split('=', 1)[0] for u in unknown[1:])})"
    return UsageError(message, prog=parser.prog, usage=parser.format_usage(), suggestions=tips)
