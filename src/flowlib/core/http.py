"""The one way providers talk HTTP: a client factory and a request helper.

:func:`build_client` makes the ``httpx.Client`` (base URL, auth, timeouts, user agent; a
transport can be injected, which is how tests and in-process emulators plug in).
:class:`ApiClient` sends requests through it with the retry rules below, and turns every failure
into a :class:`flowlib.errors.FlowError` at this boundary: no ``httpx`` exception escapes.

Retry rules (decided on the error's class and status, never on message text):

- Idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, PATCH of a field to a value) are retried on
  connection failures, timeouts, 429 and 5xx, with exponential backoff and jitter, honouring
  ``Retry-After``.
- A POST is retried only when it surely was not processed: the connection could not be opened, or
  the server answered 429. Any other failure of a POST is *ambiguous* (the resource may exist):
  it raises :class:`AmbiguousRequestError`, and the provider must look the resource up (by the
  name it gave it) before creating it again. A POST may carry an ``Idempotency-Key``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowlib._version import __version__
from flowlib.errors import (
    APIError,
    AuthenticationError,
    NetworkError,
    ResourceNotFoundError,
    TimeoutError,
    ValidationAPIError,
)
from flowlib.telemetry import traced_transport

if TYPE_CHECKING:
    import httpx

__all__ = ["AmbiguousRequestError", "ApiClient", "RetryPolicy", "build_client"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})


class AmbiguousRequestError(NetworkError):
    """A create request failed in a way that leaves unknown whether it took effect."""


_jitter = random.Random()
"""flowlib's own generator: a retry never moves the sequence of a user who seeded ``random``."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({429, 500, 502, 503, 504})
    )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base: float = min(self.backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)
        return base * (0.5 + _jitter.random() / 2)  # jitter: spread retries of many clients


def build_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with flowlib's defaults. ``headers`` may hold the credential
    (``Authorization``, ``api_key``): httpx keeps it out of reprs, and so does flowlib.
    Every request is an OpenTelemetry span (method, route template, status; see
    :mod:`flowlib.telemetry`), a no-op unless an SDK is configured."""
    import httpx

    transport = traced_transport(transport or httpx.HTTPTransport())

    return httpx.Client(
        base_url=base_url,
        headers={"User-Agent": f"flowlib/{__version__}", **(headers or {})},
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=transport,
        follow_redirects=False,
    )


class ApiClient:
    """Requests with retries, and errors translated for one provider."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        provider: str,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        key_hint: str | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.key_hint = key_hint or f"set FLOW_API_KEY, or providers.{provider}.api_key in config"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx response or raise a FlowError (see module doc)."""
        import httpx

        method = method.upper()
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        safe = method in _IDEMPOTENT
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = self.client.request(
                    method, path, params=params, json=json, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise self._network(exc, method, path, attempt) from exc
                self.sleep(self.retry.delay(attempt, None))
                continue
            except httpx.TimeoutException as exc:
                if not safe:
                    raise self._ambiguous(exc, method, path) from exc
                if last:
                    raise TimeoutError(
                        f"{self.provider}: {method} {path} timed out {attempt} times",
                        suggestions=["the provider may be slow or unreachable; try again"],
                        provider=self.provider,
                        attempts=attempt,
                    ) from exc
                self.sleep(self.retry.delay(attempt, None))
                continue
            except httpx.TransportError as exc:  # dropped connection, protocol error
                if not safe:
                    raise self._ambiguous(exc, method, path) from exc
                if last:
                    raise self._network(exc, method, path, attempt) from exc
                self.sleep(self.retry.delay(attempt, None))
                continue
            status = response.status_code
            if status < 400:
                return response
            retryable = status in self.retry.retry_statuses and (safe or status == 429)
            if retryable and not last:
                self.sleep(self.retry.delay(attempt, _retry_after(response)))
                continue
            if not safe and status >= 500:
                raise self._ambiguous(None, method, path, response)
            raise self._api_error(response, method, path, attempt)

    # -- error translation -----------------------------------------------------------------
    def _network(self, exc: Exception, method: str, path: str, attempts: int) -> NetworkError:
        return NetworkError(
            f"{self.provider}: cannot reach {self.client.base_url} ({type(exc).__name__})",
            suggestions=["check your network connection", "check the provider's api_url"],
            provider=self.provider,
            request=f"{method} {path}",
            attempts=attempts,
        )

    def _ambiguous(
        self, exc: Exception | None, method: str, path: str, response: httpx.Response | None = None
    ) -> AmbiguousRequestError:
        what = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        return AmbiguousRequestError(
            f"{self.provider}: {method} {path} failed ({what}) after it may have been processed",
            suggestions=["flowlib looks the resource up by name before creating it again"],
            provider=self.provider,
            request=f"{method} {path}",
            status_code=response.status_code if response is not None else None,
        )

    def _api_error(
        self, response: httpx.Response, method: str, path: str, attempts: int
    ) -> APIError | AuthenticationError | ResourceNotFoundError:
        status = response.status_code
        body = response.text[:2000]
        detail = _detail(response)
        context: dict[str, Any] = {
            "provider": self.provider,
            "request": f"{method} {path}",
            "request_id": response.headers.get("x-request-id"),
            "attempts": attempts,
        }
        if status in (401, 403):
            return AuthenticationError(
                f"{self.provider} rejected the API key ({status}): {detail}",
                suggestions=[self.key_hint],
                **context,
            )
        if status == 404:
            return ResourceNotFoundError(f"{self.provider}: {detail}", **context)
        if status == 422:
            errors = _validation_errors(response)
            return ValidationAPIError(
                f"{self.provider} refused the request: {detail if not errors else 'invalid'}",
                validation_errors=errors,
                response_body=body,
                **context,
            )
        hint = (
            ["the provider is rate limiting: wait a minute and try again"] if status == 429 else []
        )
        return APIError(
            f"{self.provider}: {method} {path} failed with HTTP {status}: {detail}",
            status_code=status,
            response_body=body,
            suggestions=hint,
            **context,
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to backoff


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict):
        for key in ("detail", "message", "error_reason", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    return response.reason_phrase


def _validation_errors(response: httpx.Response) -> list[dict[str, object]]:
    try:
        data = response.json()
    except ValueError:
        return []
    detail = data.get("detail") if isinstance(data, dict) else None
    return [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []
