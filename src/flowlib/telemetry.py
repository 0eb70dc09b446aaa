"""OpenTelemetry traces of what flowlib does: API calls, provider calls, HTTP requests, commands.

The library depends on ``opentelemetry-api`` only, so every span here is a no-op until the
application (or ``flow --trace``) installs an SDK tracer provider. Standard ``OTEL_*`` variables
are the SDK's business (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, exporters under
``opentelemetry-instrument``...); see docs/observability.md.

Span names and attributes (a contract: dashboards key on them)::

    flow.<method>          Flow.run / submit / wait / logs / cancel / get_task / status / ...
    provider.<method>      a call into the provider: prepare, submit, status, logs, cancel
    HTTP <METHOD>          one HTTP request of a provider (child of the provider call)
    command <program>      one subprocess or remote command (CommandRunner, RemoteHost)
    flow <command>         the CLI command, root of the tree under ``flow --trace``

    flow.task.id, flow.task.ref, flow.provider, flow.instance_type, flow.task.status
    http.request.method, url.template, server.address, server.port, http.response.status_code
    process.executable.name, flow.command.kind, process.exit.code

Never recorded: env values, API keys, headers, query strings, request or response bodies, command
arguments (they may carry tokens). URL paths keep their shape with ids replaced by ``{id}``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

from flowlib._extras import import_optional
from flowlib._version import __version__
from flowlib.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "annotate",
    "command_name",
    "command_span",
    "console_tracing",
    "route_template",
    "span",
    "traced",
]

_F = TypeVar("_F", bound=Callable[..., Any])
TRACE_ENV = "FLOW_TRACE"
INSTALL_HINT = "pip install 'flowlib[trace]'  (or: pip install opentelemetry-sdk)"

# Short attribute names callers use -> the attribute key on the span.
_KEYS = {
    "task_id": "flow.task.id",
    "ref": "flow.task.ref",
    "provider": "flow.provider",
    "instance_type": "flow.instance_type",
    "status": "flow.task.status",
    "tasks": "flow.task.count",
}
_ID_SEGMENT = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuid
    r"|\d+"  # numeric id
    r"|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{8,})\Z",  # long token with a digit: task-3f9a.., ins_01H..
    re.I,
)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _tracer() -> Tracer:
    from opentelemetry import trace

    return trace.get_tracer("flowlib", __version__)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
            value = value.value  # enums (TaskStatus)
        if not isinstance(value, (str, int, float, bool)):
            value = str(value)
        out[_KEYS.get(key, key)] = value
    return out


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span around the ``with`` body; an exception marks it failed (type and message: flowlib
    messages never carry secrets) and goes on. ``attributes`` take the short names of the
    module docstring (``task_id=...``) or full keys; None values are left out."""
    with _tracer().start_as_current_span(
        name, attributes=_clean(attributes), record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            if not isinstance(exc, (GeneratorExit, KeyboardInterrupt)):
                _failed(current, exc)
            raise


def _failed(current: Span, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    current.set_attribute("error.type", type(exc).__name__)
    current.set_status(
        Status(StatusCode.ERROR, getattr(exc, "message", None) or type(exc).__name__)
    )


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span (a no-op when nothing records)."""
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_clean(attributes))


def traced(name: str) -> Callable[[_F], _F]:
    """Run the decorated method in a span ``name``. A ``ref`` argument (a task id, prefix or
    name) becomes ``flow.task.ref``; a returned task sets id, provider, instance type and status.
    A generator function's span lasts from its first ``next`` until it ends (not made current:
    its consumer runs in between)."""

    def decorate(func: _F) -> _F:
        import inspect

        signature = inspect.signature(func)
        wants_ref = "ref" in signature.parameters

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            if not wants_ref:
                return {}
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return {}
            ref = bound.arguments.get("ref")
            return {"ref": ref} if isinstance(ref, str) else {}

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                # Not made current: the consumer runs between our yields, in its own context.
                current = _tracer().start_span(name, attributes=_clean(start(args, kwargs)))
                try:
                    return (yield from func(*args, **kwargs))
                except BaseException as exc:
                    if not isinstance(exc, (GeneratorExit, KeyboardInterrupt)):
                        _failed(current, exc)
                    raise
                finally:
                    current.end()

            return cast(_F, gen_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(name, **start(args, kwargs)) as current:
                result = func(*args, **kwargs)
                if current.is_recording():
                    _describe_result(current, result)
                return result

        return cast(_F, wrapper)

    return decorate


def _describe_result(current: Span, result: Any) -> None:
    task_id = getattr(result, "task_id", None)
    if isinstance(task_id, str) and hasattr(result, "provider"):
        current.set_attributes(
            _clean(
                {
                    "task_id": task_id,
                    "provider": getattr(result, "provider", None),
                    "instance_type": getattr(result, "instance_type", None),
                    "status": getattr(result, "status", None),
                }
            )
        )
    elif isinstance(result, list):
        current.set_attribute("flow.result.count", len(result))


# -- HTTP -----------------------------------------------------------------------------------
def route_template(path: str) -> str:
    """A URL path with its ids replaced by ``{id}``: ``/v2/instances/inst_8f3a91c2`` ->
    ``/v2/instances/{id}`` (the query string is dropped: it may hold tokens)."""
    path = path.split("?", 1)[0]
    return "/".join("{id}" if _ID_SEGMENT.match(p) else p for p in path.split("/")) or "/"


def http_attributes(request: Any) -> dict[str, Any]:
    """The span attributes of an ``httpx.Request``: method, route template, server."""
    url = request.url
    route = request.extensions.get("flow.route") or route_template(url.path)
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.template": route,
        "server.address": url.host,
        "url.scheme": url.scheme,
    }
    if url.port is not None:
        attributes["server.port"] = url.port
    return attributes


def traced_transport(inner: Any) -> Any:
    """Wrap an ``httpx.BaseTransport`` so that each request is an ``HTTP <METHOD>`` span."""
    import httpx

    class TracingTransport(httpx.BaseTransport):
        def __init__(self, wrapped: httpx.BaseTransport) -> None:
            self.wrapped = wrapped

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            with span(f"HTTP {request.method}", **http_attributes(request)) as current:
                response = self.wrapped.handle_request(request)
                current.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    from opentelemetry.trace import Status, StatusCode

                    current.set_attribute("error.type", str(response.status_code))
                    current.set_status(Status(StatusCode.ERROR))
                return response

        def close(self) -> None:
            self.wrapped.close()

    return TracingTransport(inner)


# -- commands -------------------------------------------------------------------------------
def command_name(command: str | Sequence[str]) -> str:
    """The program a command runs, without its arguments or variable assignments:
    ``["ssh", "-i", key, host, ...]`` -> ``ssh``; ``"TOKEN=x python a.py"`` -> ``python``."""
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
    else:
        words = list(command)
    for word in words:
        if not _ASSIGNMENT.match(word) and word not in ("env", "exec", "sudo"):
            return os.path.basename(word) or word
    return "?"


@contextlib.contextmanager
def command_span(command: str | Sequence[str], *, kind: str, **attributes: Any) -> Iterator[Span]:
    """A span for one command: ``kind`` says where it ran (``subprocess``, ``remote``...).
    Only the program's name is recorded, never its arguments."""
    name = command_name(command)
    with span(
        f"command {name}",
        **{"process.executable.name": name, "flow.command.kind": kind},
        **attributes,
    ) as current:
        yield current


def record_exit(current: Span, returncode: int) -> None:
    current.set_attribute("process.exit.code", returncode)


# -- console view ---------------------------------------------------------------------------
def wants_console(flag: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """The console format asked for by ``--trace`` or ``FLOW_TRACE`` (``console``, ``json``)."""
    environ = os.environ if environ is None else environ
    value = environ.get(TRACE_ENV, "").strip().lower()
    if value in ("", "0", "off", "false", "no", "none"):
        return "console" if flag else None
    return value


def console_tracing(fmt: str = "console", stream: TextIO | None = None) -> Callable[[], None]:
    """Print the spans of this process on ``stream`` (stderr): ``console`` as an indented tree
    when the process ends, ``json`` as the SDK's ConsoleSpanExporter writes each span. Returns
    the function that flushes (call it before exiting). Needs ``opentelemetry-sdk``."""
    if fmt not in ("console", "json"):
        raise ConfigError(
            f"{TRACE_ENV}={fmt!r} is not a trace format",
            suggestions=[f"use {TRACE_ENV}=console (a tree) or {TRACE_ENV}=json (every span)"],
        )
    try:
        import_optional("opentelemetry.sdk.trace.export", "tracing to the console")
    except ConfigError as exc:
        exc.suggestions.append(f"or run without --trace / {TRACE_ENV}")
        raise
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    out = stream or sys.stderr
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the application may have set one already
        provider = TracerProvider()  # honours OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES...
        trace.set_tracer_provider(provider)
        provider = cast(TracerProvider, trace.get_tracer_provider())
    if fmt == "json":
        exporter: Any = ConsoleSpanExporter(out=out)
    else:
        exporter = _tree_exporter(out)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def flush() -> None:
        provider.force_flush()
        if hasattr(exporter, "print_tree"):
            exporter.print_tree()

    return flush


# Attributes worth a place on the one-line view of a span.
_SHOWN = (
    "flow.task.id",
    "flow.task.ref",
    "flow.provider",
    "flow.instance_type",
    "flow.task.status",
    "url.template",
    "http.response.status_code",
    "process.exit.code",
    "error.type",
)


def _tree_exporter(out: TextIO) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class TreeExporter(SpanExporter):
        """Keeps the spans, and prints them as an indented tree with durations."""

        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans: Any) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

        def print_tree(self) -> None:
            out.write(format_tree(self.spans))
            out.flush()
            self.spans.clear()

    return TreeExporter()


def format_tree(spans: list[Any]) -> str:
    """Finished SDK spans as an indented tree: ``name  12.3 ms  key=value ...``."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[Any]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        children.setdefault(parent, []).append(s)
    lines = ["trace (flow --trace):"]

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6
            attrs = " ".join(f"{k}={s.attributes[k]}" for k in _SHOWN if k in s.attributes)
            failed = " ERROR" if s.status.status_code.name == "ERROR" else ""
            lines.append(f"{'  ' * (depth + 1)}{s.name}  {ms:.1f} ms{failed}  {attrs}".rstrip())
            walk(s.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines) + "\n"
