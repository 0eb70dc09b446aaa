"""The emulator's own control routes, beside the cloud's API: ``/_emulator/...``.

They let a person (or a demo script, through ``python -m flowlib.testing.emulators control``)
do what tests do in-process: preempt a bid, move a market price, make the next N calls of a
route fail. They take the emulator's API key as ``Authorization: Bearer KEY``, are never subject
to injected faults and are not recorded among the cloud calls (``emulator.calls``).

Routes (JSON bodies):

- ``GET /_emulator``: what this emulator can do (``{"cloud", "controls"}``)
- ``POST /_emulator/faults`` ``{"path": "/v2/spot/bids*", "method": "GET", "times": 3,
  "status": 503}``: the next ``times`` matching calls answer ``status``
- ``DELETE /_emulator/faults``: remove every injected fault
- ``POST /_emulator/bids/{bid}/preempt`` (FCP): preempt an allocated bid now
- ``POST /_emulator/market`` ``{"instance_type", "region", "price": "$X.XX"}`` (FCP): set the
  market price; allocated bids whose limit is below it are preempted
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from ._faults import FaultPlan
from ._wire import WireRequest, WireResponse

__all__ = ["ADMIN_PREFIX", "AdminControls", "admin_answer"]

ADMIN_PREFIX = "/_emulator"
Control = Callable[[dict[str, Any], dict[str, str]], Any]


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminControls:
    """The controls one emulator offers: ``(method, path pattern) -> handler(body, params)``."""

    def __init__(self, cloud: str, api_key: str, faults: FaultPlan) -> None:
        self.cloud = cloud
        self.api_key = api_key
        self._routes: dict[tuple[str, str], Control] = {}
        self.add("POST", "/faults", lambda body, _p: _add_fault(faults, body))
        self.add("DELETE", "/faults", lambda _b, _p: faults.clear())

    def add(self, method: str, pattern: str, handler: Control) -> None:
        self._routes[(method, pattern)] = handler

    def find(self, method: str, path: str) -> tuple[Control, dict[str, str]] | None:
        parts = path.split("/")
        for (m, pattern), handler in self._routes.items():
            wanted = pattern.split("/")
            if m != method or len(wanted) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(wanted, parts, strict=True):
                if want.startswith("{") and want.endswith("}"):
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return handler, params
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "controls": [f"{m} {ADMIN_PREFIX}{p}" for m, p in sorted(self._routes)],
        }


def admin_answer(controls: AdminControls, request: WireRequest) -> WireResponse:
    """Answer a request under :data:`ADMIN_PREFIX`."""
    header = request.header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), controls.api_key):
        return WireResponse(401, {"detail": "the emulator's API key is needed (Bearer)"})
    path = request.path[len(ADMIN_PREFIX) :] or "/"
    if request.method == "GET" and path in ("", "/"):
        return WireResponse(200, controls.describe())
    found = controls.find(request.method, path)
    if found is None:
        return WireResponse(404, {"detail": f"no control {request.method} {request.path}"})
    handler, params = found
    try:
        body = json.loads(request.body) if request.body.strip() else {}
        if not isinstance(body, dict):
            raise AdminError(422, "the body must be a JSON object")
        result = handler(body, params)
    except AdminError as exc:
        return WireResponse(exc.status, {"detail": str(exc)})
    except (KeyError, ValueError, TypeError) as exc:
        return WireResponse(400, {"detail": str(exc).strip("'\"")})
    return WireResponse(200, {"ok": True, **(result if isinstance(result, dict) else {})})


def _add_fault(faults: FaultPlan, body: dict[str, Any]) -> dict[str, Any]:
    times = body.get("times", 1)
    status = body.get("status", 503)
    if not isinstance(times, int) or times < 1:
        raise AdminError(422, "times must be a whole number of calls, at least 1")
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise AdminError(422, "status must be an HTTP error status (400-599)")
    method = body.get("method")
    path = body.get("path")
    if status == 429:
        rule = faults.rate_limit(times=times, method=method, path=path)
    else:
        rule = faults.server_errors(status=status, method=method, path=path, times=times)
    return {"fault": {"method": rule.method, "path": rule.path, "times": times, "status": status}}
