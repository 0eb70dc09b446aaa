"""The ``fcp`` provider plugin: spot GPUs on FCP (Mithril, formerly ML Foundry). Registered
through the ``flowlib.providers`` entry point like any third-party provider.

Settings come from the ``providers.fcp`` config section over the top-level keys (see
:mod:`flowlib.providers.fcp._settings`). Tests and the emulator demo build the provider with an
injected transport and host factory (:func:`make_provider`), or name a plugin's remote-host kind
(``remote_host: flowlib.testing.emulators:sandbox``, what the emulator writes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import Feature, ProviderSpec

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from flowlib.catalog import Catalog
    from flowlib.core.hosts import HostFactory
    from flowlib.providers.base import Provider, ProviderContext
    from flowlib.providers.fcp._provider import FcpProvider

__all__ = ["UNSUPPORTED", "flowlib_catalog_offers", "flowlib_providers", "make_provider"]

UNSUPPORTED = {
    Feature.HIBERNATE: "fcp bids can be paused, but flowlib does not expose it yet",
}


def make_provider(
    settings: dict[str, Any],
    home: Path,
    *,
    transport: httpx.BaseTransport | None = None,
    host_factory: HostFactory | None = None,
) -> FcpProvider:
    """An FCP provider from settings (the ``providers.fcp`` keys); ``transport`` and
    ``host_factory`` replace the network and SSH (tests, the in-process emulator)."""
    from flowlib.providers.fcp._provider import FcpProvider
    from flowlib.providers.fcp._settings import FcpSettings

    return FcpProvider(
        FcpSettings.from_mapping(settings), home, transport=transport, host_factory=host_factory
    )


def _factory(context: ProviderContext) -> Provider:
    return make_provider(dict(context.settings), context.home)


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "fcp", _factory, "FCP (Mithril) spot GPUs, bought at auction", unsupported=UNSUPPORTED
        )
    ]


@hookimpl
def flowlib_catalog_offers(provider: str, settings: dict[str, Any], catalog: Catalog) -> None:
    if provider != "fcp":
        return
    from pathlib import Path

    live = make_provider(settings, Path(".")).catalog.offers()
    catalog.replace_offers("fcp", live)
