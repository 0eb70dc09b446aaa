"""The provider HTTP client: retries that are safe, and every failure as a FlowError."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flowlib.core.http import AmbiguousRequestError, ApiClient, RetryPolicy, build_client
from flowlib.errors import (
    APIError,
    AuthenticationError,
    NetworkError,
    ResourceNotFoundError,
    TimeoutError,
    ValidationAPIError,
)

Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """Answers requests from a script of responses (or exceptions), recording what it saw."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(server: Server, sleeps: list[float] | None = None) -> ApiClient:
    http = build_client(
        "https://api.example.test",
        headers={"Authorization": "Bearer fkey_secret"},
        transport=httpx.MockTransport(server),
    )
    return ApiClient(
        http,
        provider="fcp",
        retry=RetryPolicy(attempts=4),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def test_a_success_is_returned_with_flowlib_user_agent() -> None:
    server = Server(httpx.Response(200, json={"ok": True}))
    response = client(server).request("GET", "/v2/me")
    assert response.json() == {"ok": True}
    assert server.requests[0].headers["user-agent"].startswith("flowlib/")


def test_gets_are_retried_through_5xx_and_dropped_connections() -> None:
    sleeps: list[float] = []
    server = Server(
        httpx.Response(503),
        httpx.RemoteProtocolError("connection dropped"),
        httpx.Response(200, json=[]),
    )
    assert client(server, sleeps).request("GET", "/v2/projects").json() == []
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    server = Server(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    client(server, sleeps).request("GET", "/v2/spot/bids")
    assert sleeps == [7.0]


def test_a_post_is_retried_only_when_it_surely_was_not_processed() -> None:
    server = Server(
        httpx.ConnectError("refused"),
        httpx.Response(429),
        httpx.Response(201, json={"fid": "bid_1"}),
    )
    response = client(server).request("POST", "/v2/spot/bids", json={}, idempotency_key="k1")
    assert response.status_code == 201
    assert [r.headers["idempotency-key"] for r in server.requests[1:]] == ["k1", "k1"]


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["503", "read-timeout", "dropped"],
)
def test_an_ambiguous_post_failure_is_not_retried(failure: httpx.Response | Exception) -> None:
    server = Server(failure, httpx.Response(201))
    with pytest.raises(AmbiguousRequestError) as err:
        client(server).request("POST", "/v2/spot/bids", json={})
    assert len(server.requests) == 1
    assert isinstance(err.value, NetworkError)


def test_giving_up_after_the_last_attempt() -> None:
    server = Server(*[httpx.Response(502)] * 4)
    with pytest.raises(APIError) as err:
        client(server).request("GET", "/v2/me")
    assert err.value.status_code == 502 and err.value.context["attempts"] == 4


def test_unreachable_is_a_network_error() -> None:
    server = Server(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(NetworkError, match="cannot reach"):
        client(server).request("GET", "/v2/me")


def test_timeouts_on_reads_are_a_timeout_error() -> None:
    server = Server(*[httpx.ReadTimeout("slow")] * 4)
    with pytest.raises(TimeoutError):
        client(server).request("GET", "/v2/me")


def test_401_says_where_to_set_the_key_and_never_shows_it() -> None:
    server = Server(httpx.Response(401, json={"detail": "Invalid API key"}))
    with pytest.raises(AuthenticationError) as err:
        client(server).request("GET", "/v2/me")
    assert "FLOW_API_KEY" in err.value.suggestions[0]
    assert "fkey_secret" not in str(err.value) + repr(err.value.context)


def test_404_and_422_become_their_own_errors() -> None:
    with pytest.raises(ResourceNotFoundError, match="Bid not found"):
        client(Server(httpx.Response(404, json={"detail": "Bid not found"}))).request(
            "GET", "/v2/spot/bids/bid_x"
        )
    errors = [{"loc": ["body", "limit_price"], "msg": "field required", "type": "missing"}]
    with pytest.raises(ValidationAPIError) as err:
        client(Server(httpx.Response(422, json={"detail": errors}))).request(
            "POST", "/v2/spot/bids", json={}
        )
    assert err.value.status_code == 422
    assert err.value.validation_errors == errors
    assert "body.limit_price: field required" in err.value.message


def test_an_http_error_body_of_either_provider_is_read() -> None:
    hyperstack = {"status": False, "message": "Flavor not found", "error_reason": "bad_flavor"}
    with pytest.raises(APIError, match="Flavor not found"):
        client(Server(httpx.Response(400, json=hyperstack))).request("GET", "/v1/core/flavors")


def test_retry_jitter_leaves_the_users_random_sequence_alone() -> None:
    # A training script that seeds `random` must draw the same numbers whether or not flowlib
    # retried a request in between.
    import random

    random.seed(1234)
    expected = [random.random() for _ in range(3)]
    random.seed(1234)
    delays = [RetryPolicy(backoff_s=1.0).delay(attempt, None) for attempt in (1, 2, 3)]
    assert [random.random() for _ in range(3)] == expected
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
