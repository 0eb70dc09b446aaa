"""Serving an emulator: over real loopback HTTP (stdlib ``ThreadingHTTPServer``) or in-process
through an ``httpx`` transport. Both hand the same :class:`WireRequest` to the same app."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._wire import ConnectionDropped, EmulatorApp, WireRequest, WireResponse

__all__ = ["LoopbackServer", "httpx_handler"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        super().__init__(address, _Handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a timeout, a reset) is no emulator bug:
        stay quiet about it; anything else is printed as the stdlib does."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def date_time_string(self, timestamp: float | None = None) -> str:
        return self.server.app.http_date()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the app records every request itself

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = WireRequest.build(
            self.command, parts.path, parts.query, dict(self.headers.items()), body
        )
        try:
            response = self.server.app.serve(request)
        except ConnectionDropped as dropped:
            self._drop(reset=dropped.reset)
            return
        if response.delay_s > 0:
            time.sleep(response.delay_s)
        try:
            self._answer(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout): nothing to answer

    def _answer(self, response: WireResponse) -> None:
        content = response.content()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if content:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if content:
            self.wfile.write(content)

    def _drop(self, *, reset: bool) -> None:
        self.close_connection = True
        if reset:  # RST instead of FIN: the client reads ECONNRESET
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class LoopbackServer:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) from a background thread."""

    def __init__(self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), app)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="emulator-http",
                daemon=True,
            )
            self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command line), until interrupted."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()


def httpx_handler(
    app: EmulatorApp, sleep: Callable[[float], None] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A handler for ``httpx.MockTransport``: the emulator in-process, no socket.

    A slow answer calls ``sleep`` (the emulator's clock, so no real waiting) and, when it is
    longer than the request's read timeout, raises ``httpx.ReadTimeout`` after the request took
    effect, as a real client would see it. A dropped connection raises
    ``httpx.RemoteProtocolError`` (or ``httpx.ReadError`` for a reset).
    """

    def handle(request: httpx.Request) -> httpx.Response:
        wire = WireRequest.build(
            request.method,
            request.url.path,
            request.url.query.decode("ascii"),
            dict(request.headers.items()),
            request.read(),
        )
        try:
            response = app.serve(wire)
        except ConnectionDropped as dropped:
            if dropped.reset:
                raise httpx.ReadError(
                    "[Errno 104] Connection reset by peer", request=request
                ) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        if response.delay_s > 0:
            timeouts = request.extensions.get("timeout", {})
            read_timeout = timeouts.get("read")
            if read_timeout is not None and response.delay_s >= read_timeout:
                if sleep is not None:
                    sleep(read_timeout)
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            if sleep is not None:
                sleep(response.delay_s)
        return _to_httpx(response, app)

    return handle


def _to_httpx(response: WireResponse, app: EmulatorApp) -> httpx.Response:
    content = response.content()
    headers = {"Date": app.http_date(), **response.headers}
    if content:
        headers["Content-Type"] = "application/json"
    return httpx.Response(response.status, headers=headers, content=content)
