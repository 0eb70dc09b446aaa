"""The ``hyperstack`` provider plugin: on-demand GPU VMs on Hyperstack (NexGen Cloud).
Registered through the ``flowlib.providers`` entry point like any third-party provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import Feature, ProviderSpec

if TYPE_CHECKING:
    from flowlib.providers.base import Provider, ProviderContext

UNSUPPORTED = {
    Feature.SPOT: "Hyperstack rents on-demand VMs; there is no spot market",
    Feature.MULTI_NODE: "one VM per task on hyperstack for now (num_instances=1)",
    Feature.CONTAINER_IMAGE: "`image` is not run on hyperstack yet (no Docker set-up)",
}


def _factory(context: ProviderContext) -> Provider:
    from flowlib.providers.hyperstack._provider import HyperstackProvider
    from flowlib.providers.hyperstack._settings import load_settings

    return HyperstackProvider(load_settings(context.settings), home=context.home)


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "hyperstack",
            _factory,
            "Hyperstack on-demand GPU VMs (A6000, A100, H100, L40)",
            unsupported=UNSUPPORTED,
        )
    ]
