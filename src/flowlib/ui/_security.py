"""The dashboard's door: a random token on every request, as Jupyter's local server does.

* A request carries the token as ``?token=`` (the URL ``flow ui`` prints), the ``X-Flow-Token``
  header, or the cookie set on the first visit (HttpOnly, SameSite=Strict, named after the port:
  cookies are shared by every port of a host). A page visit with ``?token=`` sets the cookie
  and is redirected to the same address without it, so the token stays out of the history.
* A state-changing request (any method but GET/HEAD) needs the header: a cookie alone is not
  enough, so another site cannot make the browser cancel or start tasks (no CSRF). The page's
  script reads the token from a ``<meta>`` tag that only a same-origin reader can see.
* Bound to loopback, a request whose ``Host`` is not a loopback name is refused (DNS rebinding).

Pure ASGI, so that streamed answers (the live log) pass through untouched.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["LOOPBACK_NAMES", "TokenGate", "is_loopback", "new_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = "x-flow-token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def _host_name(value: str) -> str:
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class TokenGate:
    """ASGI middleware: lets through only requests that carry ``token`` (see the module)."""

    def __init__(self, app: ASGIApp, token: str, *, cookie: str, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.loopback_only and not is_loopback(_host_name(headers.get("host", ""))):
            await _refuse(send, 403, "this dashboard answers on its loopback address only")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        header = headers.get(HEADER, "")
        if scope["method"] not in SAFE_METHODS:
            if not self._matches(header):
                await _refuse(send, 403, "a change needs the token in the X-Flow-Token header")
                return
            await self.app(scope, receive, send)
            return
        cookie = _cookie(headers.get("cookie", ""), self.cookie)
        if self._matches(query.get("token", "")) and not scope["path"].startswith("/api/"):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            await _redirect(send, scope["path"] + (f"?{rest}" if rest else ""), self._set_cookie())
            return
        if self._matches(header) or self._matches(cookie) or self._matches(query.get("token", "")):
            await self.app(scope, receive, send)
            return
        await _refuse(
            send, 403, "open the address `flow ui` printed (it carries the token), or run it again"
        )

    def _matches(self, given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())

    def _set_cookie(self) -> str:
        return f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"


def _cookie(header: str, name: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no token
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


async def _refuse(send: Send, status: int, why: str) -> None:
    body = f"403 Forbidden: {why}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, cookie: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode("latin-1")),
                (b"set-cookie", cookie.encode("latin-1")),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
