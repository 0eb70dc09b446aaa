"""What travels between a client and an emulator, whichever way it arrives (socket or transport)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

__all__ = ["ApiError", "ConnectionDropped", "EmulatorApp", "WireRequest", "WireResponse"]


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case
    body: bytes = b""

    @classmethod
    def build(
        cls, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> WireRequest:
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class WireResponse:
    status: int
    body: Any = None  # JSON-ready; None with 204 means no body at all
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # a slow response: the server waits this long before answering

    def content(self) -> bytes:
        if self.status == 204 or (self.body is None and self.status < 300):
            return b""
        return json.dumps(self.body).encode("utf-8")


class ApiError(Exception):
    """An error answer, FastAPI style: ``{"detail": "..."}`` or, for 422, a list of errors."""

    def __init__(
        self,
        status: int,
        detail: str | list[dict[str, Any]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def response(self) -> WireResponse:
        return WireResponse(self.status, {"detail": self.detail}, dict(self.headers))


class ConnectionDropped(Exception):
    """The emulator closes the connection without an answer (``reset``: with a TCP RST)."""

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__("connection dropped by fault injection")
        self.reset = reset


class EmulatorApp(Protocol):
    def serve(self, request: WireRequest) -> WireResponse:
        """Answer one request; may raise :class:`ConnectionDropped`."""
        ...

    def http_date(self) -> str:
        """The ``Date`` header value, from the emulator's clock."""
        ...
