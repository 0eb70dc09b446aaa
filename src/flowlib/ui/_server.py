"""Starting the dashboard: a socket on loopback (or where asked), the URL with its token on
stdout, a browser when there is one, uvicorn until Ctrl-C."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from flowlib.errors import ValidationError
from flowlib.ui._security import is_loopback, new_token

__all__ = ["DEFAULT_PORT", "bind", "exposure_warning", "serve", "url_of"]

DEFAULT_PORT = 8765


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host``: ``port``, or DEFAULT_PORT and a free port when that one
    is taken (a port asked for that is taken is an error)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for wanted in [port] if port is not None else [DEFAULT_PORT, 0]:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted))
        except OSError as exc:
            sock.close()
            if port is None and exc.errno == errno.EADDRINUSE:
                continue
            if exc.errno == errno.EADDRINUSE:
                raise ValidationError(
                    f"port {port} on {host} is taken",
                    suggestions=["flow ui --port 0 (any free port)", "or leave --port out"],
                ) from None
            raise ValidationError(
                f"cannot listen on {host}:{wanted}: {exc.strerror}",
                suggestions=["flow ui --host 127.0.0.1 (this machine only)"],
            ) from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise AssertionError("port 0 always binds")  # pragma: no cover


def url_of(sock: socket.socket, host: str, token: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def exposure_warning(host: str) -> str | None:
    """What ``flow ui`` says on stderr when it listens beyond this machine (None on loopback)."""
    if is_loopback(host):
        return None
    return (
        f"warning: flow ui listens on {host}: anyone who can reach this machine and has the "
        "token can see your tasks and cancel or start them; the token is required all the "
        "same (an SSH tunnel to 127.0.0.1 is safer)"
    )


def serve(
    home: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    out: TextIO | None = None,
) -> None:
    """Serve the dashboard of the store under ``home`` (default: FLOW_HOME) until interrupted."""
    from flowlib._extras import import_optional

    uvicorn: Any = import_optional("uvicorn", "flow ui")
    import_optional("starlette", "flow ui")
    from flowlib.ui._app import build_app

    out = out or sys.stdout
    token = new_token()
    sock = bind(host, port)
    loopback = is_loopback(host)
    app = build_app(home, token, cookie=f"flow_ui_{sock.getsockname()[1]}", loopback_only=loopback)
    url = url_of(sock, host, token)
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    print(f"flow ui: {url}", file=out, flush=True)
    if open_browser:
        _open(url)
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on", access_log=False
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def has_display() -> bool:
    """Whether a graphical browser can open here. Without one, Python's webbrowser would pick a
    text browser (lynx, w3m) and take over the terminal: the printed URL is better."""
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _open(url: str) -> None:
    import contextlib
    import webbrowser

    if not has_display():
        return
    with contextlib.suppress(Exception):  # no browser after all: the printed URL is enough
        webbrowser.open(url)
