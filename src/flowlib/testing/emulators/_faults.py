"""Fault injection, switchable per test: 5xx every Nth call, 429 bursts, slow answers, drops.

Each rule matches requests by method and path (a glob: ``/v2/spot/bids/*``) and fires on every
``every``-th matching call, at most ``times`` times. A rule is also a context manager that removes
itself on exit::

    with emulator.faults.server_errors(every=3):
        ...  # every third call answers 503
    emulator.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True)
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from ._wire import ConnectionDropped, WireResponse

__all__ = ["FaultPlan", "FaultRule"]

FaultKind = Literal["error", "rate_limit", "delay", "drop"]


@dataclass
class FaultRule:
    kind: FaultKind
    method: str | None = None
    path: str | None = None
    every: int = 1
    times: int | None = None
    status: int = 503
    retry_after: float = 1.0
    seconds: float = 0.0
    after_processing: bool = False
    reset: bool = False
    matched: int = 0
    fired: int = 0
    _plan: FaultPlan | None = field(default=None, repr=False, compare=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def remove(self) -> None:
        if self._plan is not None:
            self._plan.remove(self)

    def __enter__(self) -> FaultRule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


@dataclass
class FaultDecision:
    """What the rules say about one request."""

    answer: WireResponse | None = None  # answer this instead of processing
    delay_s: float = 0.0
    drop_before: ConnectionDropped | None = None
    drop_after: ConnectionDropped | None = None


class FaultPlan:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.every < 1:
            raise ValueError("every must be at least 1")
        rule._plan = self
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def server_errors(
        self,
        *,
        every: int = 1,
        status: int = 503,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Answer ``status`` (a 5xx) to every ``every``-th matching call, before processing it."""
        return self.add(FaultRule("error", method, path, every, times, status=status))

    def rate_limit(
        self,
        *,
        times: int | None = 1,
        retry_after: float = 1.0,
        every: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> FaultRule:
        """Answer 429 with ``Retry-After`` (seconds) to the next ``times`` matching calls."""
        return self.add(
            FaultRule("rate_limit", method, path, every, times, status=429, retry_after=retry_after)
        )

    def slow(
        self,
        seconds: float,
        *,
        every: int = 1,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Answer matching calls ``seconds`` late (the request still takes effect)."""
        return self.add(FaultRule("delay", method, path, every, times, seconds=seconds))

    def drop_connection(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        after_processing: bool = False,
        reset: bool = False,
        every: int = 1,
        times: int | None = 1,
    ) -> FaultRule:
        """Close the connection without answering. ``after_processing=True``: the request took
        effect first (a bid POST accepted, then the answer lost)."""
        return self.add(
            FaultRule(
                "drop", method, path, every, times, after_processing=after_processing, reset=reset
            )
        )

    def decide(self, method: str, path: str) -> FaultDecision:
        decision = FaultDecision()
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, path):
                    continue
                rule.matched += 1
                if rule.matched % rule.every:
                    continue
                rule.fired += 1
                self._apply(rule, decision)
        return decision

    @staticmethod
    def _apply(rule: FaultRule, decision: FaultDecision) -> None:
        if rule.kind == "delay":
            decision.delay_s += rule.seconds
        elif rule.kind == "drop":
            dropped = ConnectionDropped(reset=rule.reset)
            if rule.after_processing:
                decision.drop_after = decision.drop_after or dropped
            else:
                decision.drop_before = decision.drop_before or dropped
        elif decision.answer is None and rule.kind == "rate_limit":
            seconds = f"{rule.retry_after:g}"
            decision.answer = WireResponse(
                429, {"detail": "Too Many Requests"}, {"Retry-After": seconds}
            )
        elif decision.answer is None:
            decision.answer = WireResponse(rule.status, {"detail": _reason(rule.status)})


def _reason(status: int) -> str:
    return {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Server Error")
