"""The Mithril v2 API as the fcp provider uses it: one method per call, JSON in and out.

Retries, ``Retry-After`` and error translation are :class:`flowlib.core.http.ApiClient`'s; this
module adds what is Mithril's own: cursor pagination (``data``/``next_cursor``), comma-separated
array filters, and creating a bid so that a lost answer never makes a second one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowlib.core.cloud import create_once
from flowlib.core.http import ApiClient
from flowlib.errors import APIError, FlowError, ResourceNotFoundError

if TYPE_CHECKING:
    import httpx

    from flowlib.providers.fcp._shapes import (
        ApiKeyJson,
        AuctionJson,
        BidJson,
        BidRequest,
        InstanceJson,
        InstanceTypeJson,
        ProjectJson,
        SshKeyJson,
        VolumeJson,
        VolumeRequest,
    )

__all__ = ["FcpApi"]

log = logging.getLogger(__name__)
PAGE = 100  # the API's largest page
BID_FID_CHUNK = 50  # bid FIDs per instances query (keeps the URL short)
CREATE_ATTEMPTS = 4


class FcpApi:
    """Typed calls on one ``httpx.Client`` (base URL and bearer key set by the factory)."""

    def __init__(
        self, client: httpx.Client, *, sleep: Callable[[float], None] | None = None
    ) -> None:
        from flowlib.providers.fcp._settings import KEY_HINT

        self.http = (
            ApiClient(client, provider="fcp", key_hint=KEY_HINT)
            if sleep is None
            else ApiClient(client, provider="fcp", key_hint=KEY_HINT, sleep=sleep)
        )
        self.calls = 0  # requests sent (for benchmarks and tests)

    def close(self) -> None:
        self.http.client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.calls += 1
        return self.http.request(method, path, **kwargs)

    # The JSON as decoded (Any): each public method below says which shape it answers.
    def _post(self, path: str, body: object, idempotency_key: str | None = None) -> Any:
        return self._send("POST", path, json=body, idempotency_key=idempotency_key).json()

    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self._send("GET", path, params=params).json()

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            query: dict[str, str | int] = {**params, "limit": PAGE}
            if cursor:
                query["next_cursor"] = cursor
            page = self._get(path, query)
            yield from page.get("data", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- account and catalog ---------------------------------------------------------------
    def me(self) -> dict[str, object]:
        result: dict[str, object] = self._get("/v2/me")
        return result

    def projects(self) -> list[ProjectJson]:
        return list(self._get("/v2/projects"))

    def instance_types(self) -> list[InstanceTypeJson]:
        return list(self._get("/v2/instance-types"))

    def availability(self) -> list[AuctionJson]:
        return list(self._get("/v2/spot/availability"))

    # -- bids ------------------------------------------------------------------------------
    def create_bid(self, body: BidRequest, *, idempotency_key: str) -> BidJson:
        """POST a bid exactly once. After an answer that was lost (a dropped connection, a 5xx
        to the POST) the bid is looked up by its name before it is sent again, with the same
        ``Idempotency-Key``; a duplicate-name refusal also means the first one went through."""

        def find() -> BidJson | None:
            log.info("bid %s: answer lost or name taken; looking it up by name", body["name"])
            return self.find_bid(body["project"], body["name"])

        bid: BidJson = create_once(
            lambda: self._post("/v2/spot/bids", body, idempotency_key),
            find,
            attempts=CREATE_ATTEMPTS,
            retry=_name_taken,
        )
        return bid

    def find_bid(self, project: str, name: str) -> BidJson | None:
        """The live bid called ``name`` (else the newest one), or None."""
        query = {"project": project, "name": name}
        bids: list[BidJson] = list(self._pages("/v2/spot/bids", query))
        live = [b for b in bids if b.get("status") != "Terminated"]
        chosen = live or bids
        return chosen[-1] if chosen else None

    def get_bid(self, fid: str) -> BidJson | None:
        try:
            bid: BidJson = self._get(f"/v2/spot/bids/{fid}")
            return bid
        except ResourceNotFoundError:
            return None

    def bids(self, project: str, *, newest_first: bool = True) -> Iterator[BidJson]:
        """Every bid of ``project``, page by page (one request per 100)."""
        params = {"project": project, "sort_by": "created_at"}
        params["sort_dir"] = "desc" if newest_first else "asc"
        return self._pages("/v2/spot/bids", params)

    def delete_bid(self, fid: str) -> None:
        """Cancel; a bid already gone (404) counts as cancelled."""
        with contextlib.suppress(ResourceNotFoundError):
            self._send("DELETE", f"/v2/spot/bids/{fid}")

    # -- instances -------------------------------------------------------------------------
    def instances(self, project: str, bid_fids: Sequence[str]) -> list[InstanceJson]:
        """Instances of these bids (ended ones included), 50 bids per query, every page."""
        found: list[InstanceJson] = []
        fids = list(dict.fromkeys(bid_fids))
        for start in range(0, len(fids), BID_FID_CHUNK):
            chunk = ",".join(fids[start : start + BID_FID_CHUNK])
            found.extend(self._pages("/v2/instances", {"project": project, "bid_fid_in": chunk}))
        return found

    # -- keys ------------------------------------------------------------------------------
    def ssh_keys(self, project: str) -> list[SshKeyJson]:
        return list(self._get("/v2/ssh-keys", {"project": project}))

    def create_ssh_key(self, project: str, name: str, public_key: str | None = None) -> SshKeyJson:
        """Create a key. A lost answer to a generated pair cannot be recovered (the private half
        is given once): the orphan is deleted and the key made again."""
        body: dict[str, str] = {"project": project, "name": name}
        if public_key is not None:
            body["public_key"] = public_key

        def find() -> SshKeyJson | None:
            for key in self.ssh_keys(project):
                if key.get("name") == name:
                    if public_key is not None:
                        return key
                    with contextlib.suppress(ResourceNotFoundError):
                        self._send("DELETE", f"/v2/ssh-keys/{key['fid']}")
            return None

        key: SshKeyJson = create_once(
            lambda: self._post("/v2/ssh-keys", body), find, attempts=CREATE_ATTEMPTS
        )
        return key

    def api_keys(self) -> list[ApiKeyJson]:
        return list(self._get("/v2/api-keys"))

    def create_api_key(self, name: str, expires_at: str) -> ApiKeyJson:
        """Create a key; after a lost answer the orphan (its secret is given once) is revoked
        and the key made again."""
        body = {"name": name, "expires_at": expires_at}

        def revoke_orphans() -> ApiKeyJson | None:
            for key in self.api_keys():
                if key.get("name") == name and not key.get("deactivated_at"):
                    self.revoke_api_key(str(key["fid"]))
            return None

        key: ApiKeyJson = create_once(
            lambda: self._post("/v2/api-keys", body), revoke_orphans, attempts=CREATE_ATTEMPTS
        )
        return key

    def revoke_api_key(self, fid: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._send("DELETE", f"/v2/api-keys/{fid}")

    # -- volumes ---------------------------------------------------------------------------
    def volumes(self, project: str) -> list[VolumeJson]:
        return list(self._get("/v2/volumes", {"project": project}))

    def create_volume(self, body: VolumeRequest, *, idempotency_key: str) -> VolumeJson:
        """Create a volume once: after a lost answer, look it up by name before sending again."""

        def find() -> VolumeJson | None:
            named = (v for v in self.volumes(body["project"]) if v.get("name") == body["name"])
            return next(named, None)

        volume: VolumeJson = create_once(
            lambda: self._post("/v2/volumes", body, idempotency_key),
            find,
            attempts=CREATE_ATTEMPTS,
        )
        return volume

    def delete_volume(self, fid: str) -> None:
        self._send("DELETE", f"/v2/volumes/{fid}")


def _name_taken(exc: FlowError) -> bool:
    """A bid refused because its name is taken: the first POST went through."""
    return isinstance(exc, APIError) and exc.status_code == 400 and "already" in exc.message.lower()
