"""The ``hyperstack`` provider plugin: on-demand GPU VMs on Hyperstack (NexGen Cloud).
Registered through the ``flowlib.providers`` entry point like any third-party provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import ProviderSpec

if TYPE_CHECKING:
    from flowlib.providers.base import Provider, ProviderContext


def _factory(context: ProviderContext) -> Provider:
    from flowlib.providers.hyperstack._provider import HyperstackProvider
    from flowlib.providers.hyperstack._settings import load_settings

    return HyperstackProvider(load_settings(context.settings), home=context.home)


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "hyperstack", _factory, "Hyperstack on-demand GPU VMs (A6000, A100, H100, L40)"
        )
    ]
