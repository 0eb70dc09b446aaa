"""A small request router for emulators: ``{name}`` path parameters, 404 vs 405."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Router"]

H = TypeVar("H", bound=Callable[..., object])


class Router(Generic[H]):
    """Routes registered with ``@router("GET", "/v1/things/{thing_id}")``; :meth:`find` gives
    the handler and the path parameters."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], H]] = []

    def __call__(self, method: str, pattern: str) -> Callable[[H], H]:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + r"\Z")

        def register(handler: H) -> H:
            self._routes.append((method.upper(), regex, handler))
            return handler

        return register

    def find(self, method: str, path: str) -> tuple[H, dict[str, str]] | bool:
        """``(handler, params)``; else True when the path exists under another method (405),
        False when nothing matches it (404)."""
        path_known = False
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found is None:
                continue
            if route_method == method.upper():
                return handler, found.groupdict()
            path_known = True
        return path_known
