"""``flow run app.py`` (the local entrypoint) and ``flow run app.py::name --param value``."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flowlib.errors import FlowError, RemoteError, ValidationError
from flowlib.frontends.app._app import App, Function

__all__ = ["import_app_file", "is_app_target", "parse_cli_arguments", "run_from_cli"]


def is_app_target(target: str) -> bool:
    """``file.py::name``, or a ``.py`` file that defines a flowlib App."""
    path, sep, _ = target.partition("::")
    if not path.endswith(".py"):
        return False
    if sep:
        return True
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "flowlib" in text and re.search(r"\bApp\(", text) is not None


def run_from_cli(target: str, argv: Sequence[str], *, provider: str | None = None) -> int:
    """``flow run app.py`` (the local entrypoint) or ``flow run app.py::name --arg value``.

    A function of the app runs remotely and its value is printed; a local entrypoint runs
    here. The options come from the signature: ``--name VALUE`` per parameter (``--flag`` /
    ``--no-flag`` for a bool), typed by its annotation; a parameter without a default is
    required."""
    path_text, _, name = target.partition("::")
    module = import_app_file(Path(path_text))
    apps = [v for v in vars(module).values() if isinstance(v, App)]
    if not apps:
        raise ValidationError(
            f"{path_text} defines no flowlib.App",
            suggestions=['add `app = flowlib.App("name")` and decorate with @app.function'],
        )
    if provider:
        for app in apps:
            app.provider = app.provider or provider
            if app._flow is None:
                from flowlib.flow import Flow

                app._flow = Flow(provider=provider)
    entrypoints = {k: v for app in apps for k, v in app.local_entrypoints.items()}
    functions = {k: v for app in apps for k, v in app.registered_functions.items()}
    chosen: Callable[..., Any]
    if name:
        if name in entrypoints:
            chosen = entrypoints[name]
        elif name in functions:
            chosen = functions[name]
        else:
            known = {**functions, **entrypoints}
            raise ValidationError(
                f"{path_text} has no function or local entrypoint {name!r}",
                suggestions=[f"flow run {path_text}::{n}" for n in sorted(known)],
            )
    elif len(entrypoints) == 1:
        chosen = next(iter(entrypoints.values()))
    elif not entrypoints and len(functions) == 1:
        chosen = next(iter(functions.values()))
    else:
        names = sorted(entrypoints) or sorted(functions)
        raise ValidationError(
            f"{path_text}: which one? It has "
            + (f"local entrypoints {names}" if entrypoints else f"functions {names}"),
            suggestions=[f"flow run {path_text}::{n}" for n in names],
        )
    raw = chosen.raw_f if isinstance(chosen, Function) else chosen
    kwargs = parse_cli_arguments(raw, argv, prog=f"flow run {target}")
    if isinstance(chosen, Function):
        try:
            value = chosen.remote(**kwargs)
        except FlowError:
            raise
        except Exception as exc:  # the function's own exception, rebuilt here
            notes = "\n".join(getattr(exc, "__notes__", []))
            print(notes, file=sys.stderr)  # the remote traceback; the error line follows
            raise RemoteError(
                f"{chosen.__name__} raised {type(exc).__name__}: {exc}",
                remote_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                remote_traceback=notes,
            ) from exc
        if value is not None:
            print(value)
        return 0
    chosen(**kwargs)
    return 0


def import_app_file(path: Path) -> types.ModuleType:
    """Import ``path`` as a module named after the file, its directory first on sys.path."""
    if not path.is_file():
        raise ValidationError(f"no file {path}", suggestions=["give the path of the app's .py"])
    name = re.sub(r"\W", "_", path.stem)
    folder = str(path.absolute().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path.absolute())
    if spec is None or spec.loader is None:  # pragma: no cover - a .py always has a loader
        raise ValidationError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def parse_cli_arguments(
    fn: Callable[..., Any], argv: Sequence[str], *, prog: str
) -> dict[str, Any]:
    """``--param value`` options for ``fn``'s parameters, parsed and typed."""
    parser = argparse.ArgumentParser(prog=prog, description=inspect.getdoc(fn))
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # annotations that do not evaluate here: plain strings
        hints = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ValidationError(
                f"{fn.__name__} takes *{param.name}: `flow run` passes named options only",
                suggestions=["give the function named parameters, or call it from Python"],
            )
        kind, many = _cli_type(hints.get(param.name, str))
        flags = [f"--{param.name}"]
        if "_" in param.name:
            flags.append(f"--{param.name.replace('_', '-')}")
        required = param.default is inspect.Parameter.empty
        default = None if required else param.default
        if kind is bool:
            parser.add_argument(
                *flags,
                dest=param.name,
                action=argparse.BooleanOptionalAction,
                required=required,
                default=default,
            )
        else:
            parser.add_argument(
                *flags,
                dest=param.name,
                type=kind,
                required=required,
                default=default,
                nargs="*" if many else None,
                metavar=param.name.upper(),
            )
    return dict(vars(parser.parse_args(list(argv))))


def _cli_type(hint: Any) -> tuple[Callable[[str], Any], bool]:
    """The converter for one annotation, and whether it takes many values (a list)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return _cli_type(rest[0]) if len(rest) == 1 else (str, False)
    if origin in (list, tuple, set, Sequence):
        inner = typing.get_args(hint)
        return (_cli_type(inner[0])[0] if inner else str), True
    if hint in (int, float, str, bool, Path):
        return hint, False
    return str, False
