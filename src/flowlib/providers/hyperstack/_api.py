"""Calls to the Hyperstack (Infrahub) API, through flowlib's one HTTP client factory.

Every success body is ``{"status": true, "message", <payload>}`` except ``/pricebook`` (a bare
array) and ``/core/stocks``; errors are ``{"status": false, "message", "error_reason"}``.
Lifecycle actions are GETs. There is no idempotency key: creates are guarded by names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flowlib.core.http import ApiClient, RetryPolicy, build_client
from flowlib.errors import APIError, AuthenticationError, ResourceNotFoundError
from flowlib.providers.hyperstack._settings import KEY_HINT, HyperstackSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from flowlib.providers.hyperstack._shapes import (
        Attachment,
        CreateVm,
        EnvironmentRef,
        Flavor,
        Keypair,
        VirtualMachine,
        VolumeRow,
    )

__all__ = ["HyperstackApi", "Json"]

Json = dict[str, Any]
PAGE_SIZE = 100


class HyperstackApi:
    def __init__(
        self,
        settings: HyperstackSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._retry = retry
        self._api: ApiClient | None = None

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            key = self.settings.api_key
            if key is None or not key.get_secret_value():
                raise AuthenticationError(
                    "no Hyperstack API key is configured (it is sent as the `api_key` header)",
                    suggestions=[KEY_HINT],
                    provider="hyperstack",
                )
            client = build_client(
                self.settings.api_url,
                headers={"api_key": key.get_secret_value()},
                timeout=self.settings.timeout_s,
                transport=self._transport,
            )
            kwargs: dict[str, Any] = {"retry": self._retry, "key_hint": KEY_HINT}
            if self._sleep is not None:
                kwargs["sleep"] = self._sleep
            self._api = ApiClient(client, provider="hyperstack", **kwargs)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.client.close()
            self._api = None

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        try:
            response = self.api.request(method, path, params=params, json=json)
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"Hyperstack rejected the key sent in the `api_key` header "
                f"(HTTP {exc.context.get('status_code') or 401}): {exc.message}",
                suggestions=[KEY_HINT],
                provider="hyperstack",
                request=f"{method} {path}",
            ) from exc
        body = response.json() if response.content else None
        if isinstance(body, dict) and body.get("status") is False:  # an error dressed as 200
            raise APIError(
                f"hyperstack: {method} {path} failed: {body.get('message') or 'no message'}",
                status_code=response.status_code,
                provider="hyperstack",
            )
        return body

    # -- catalog -------------------------------------------------------------------------------
    def flavors(self, region: str | None = None) -> list[Flavor]:
        params = {"region": region} if region else None
        groups = self.call("GET", "/core/flavors", params=params).get("data") or []
        return [f for g in groups for f in (g.get("flavors") or [])]

    def pricebook(self) -> dict[str, float]:
        rows = self.call("GET", "/pricebook") or []
        return {str(r["name"]): float(r["value"]) for r in rows if r.get("value") is not None}

    def stock(self) -> dict[tuple[str, str], dict[str, int]]:
        """``(region, gpu model) -> {"1x": n, ...}``: how many VMs of each GPU count fit now."""
        body = self.call("GET", "/core/stocks") or {}
        out: dict[tuple[str, str], dict[str, int]] = {}
        for region in body.get("stocks") or []:
            for model in region.get("models") or []:
                configs = model.get("configurations") or {}
                counts = {k: int(v) for k, v in configs.items() if v is not None}
                out[(str(region.get("region")), str(model.get("model")))] = counts
        return out

    # -- environments and keypairs -------------------------------------------------------------
    def environments(self) -> list[EnvironmentRef]:
        return list(self._pages("/core/environments", "environments"))

    def create_environment(self, name: str, region: str) -> EnvironmentRef:
        body = {"name": name, "region": region}
        env: EnvironmentRef = self.call("POST", "/core/environments", json=body)["environment"]
        return env

    def keypairs(self) -> list[Keypair]:
        return list(self._pages("/core/keypairs", "keypairs"))

    def import_keypair(self, name: str, environment: str, public_key: str) -> Keypair:
        body = {"name": name, "environment_name": environment, "public_key": public_key}
        key: Keypair = self.call("POST", "/core/keypairs", json=body)["keypair"]
        return key

    # -- virtual machines ----------------------------------------------------------------------
    def vms(self, search: str | None = None) -> list[VirtualMachine]:
        """Every VM (whose name contains ``search``), one call per page of 100."""
        params = {"search": search} if search else {}
        return list(self._pages("/core/virtual-machines", "instances", params))

    def create_vm(self, body: CreateVm) -> list[VirtualMachine]:
        created: list[VirtualMachine] = self.call("POST", "/core/virtual-machines", json=body)[
            "instances"
        ]
        return created

    def vm(self, vm_id: int) -> VirtualMachine | None:
        """The VM, or None once it is gone (404)."""
        try:
            found: VirtualMachine = self.call("GET", f"/core/virtual-machines/{vm_id}")["instance"]
        except ResourceNotFoundError:
            return None
        return found

    def delete_vm(self, vm_id: int) -> None:
        """Start deleting; a VM already gone or already being deleted is fine."""
        try:
            self.call("DELETE", f"/core/virtual-machines/{vm_id}")
        except ResourceNotFoundError:
            return
        except APIError as exc:
            if exc.status_code != 409:  # 409: a delete is already under way
                raise

    def action(self, vm_id: int, action: str, **params: str) -> None:
        """``start``, ``stop``, ``hibernate`` (``retain_ip="true"``), ``hibernate-restore``."""
        self.call("GET", f"/core/virtual-machines/{vm_id}/{action}", params=params or None)

    # -- volumes -------------------------------------------------------------------------------
    def volume_types(self) -> list[str]:
        return [str(t) for t in self.call("GET", "/core/volume-types").get("volume_types") or []]

    def volumes(self) -> list[VolumeRow]:
        return list(self._pages("/core/volumes", "volumes"))

    def volume(self, volume_id: int) -> VolumeRow | None:
        """The volume, or None when there is none with that id (404)."""
        try:
            found: VolumeRow = self.call("GET", f"/core/volumes/{volume_id}")["volume"]
        except ResourceNotFoundError:
            return None
        return found

    def create_volume(self, body: Json) -> VolumeRow:
        created: VolumeRow = self.call("POST", "/core/volumes", json=body)["volume"]
        return created

    def delete_volume(self, volume_id: int) -> None:
        self.call("DELETE", f"/core/volumes/{volume_id}")

    def attach_volumes(self, vm_id: int, volume_ids: list[int]) -> list[Attachment]:
        """Attach; each answer row names the ``device`` the volume got (``/dev/vdb``)."""
        body = {"volume_ids": volume_ids, "protected": False}
        path = f"/core/virtual-machines/{vm_id}/attach-volumes"
        rows: list[Attachment] = self.call("POST", path, json=body).get("volume_attachments") or []
        return rows

    def _pages(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        page = 1
        while True:
            query = {**(params or {}), "page": page, "pageSize": PAGE_SIZE}
            items = self.call("GET", path, params=query).get(key) or []
            yield from items
            if len(items) < PAGE_SIZE:
                return
            page += 1
