"""The ``local`` provider plugin: runs tasks on this machine. Registered through the
``flowlib.providers`` entry point like any third-party provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import Feature, ProviderSpec

if TYPE_CHECKING:
    from flowlib.providers.base import Provider, ProviderContext

UNSUPPORTED = {
    Feature.SPOT: "the local provider runs on this machine; there is no spot market",
    Feature.MULTI_NODE: "the local provider runs on one machine (num_instances must be 1)",
    Feature.SSH: "a local task runs on this machine: open a shell here",
    Feature.HIBERNATE: "the local provider does not hibernate",
    Feature.REGION: "the local provider runs on this machine, which has no region",
}


def _factory(context: ProviderContext) -> Provider:
    from flowlib.providers.local._machine import GovernorSettings
    from flowlib.providers.local._provider import LocalProvider

    return LocalProvider(
        home=context.home, governor=GovernorSettings.from_settings(context.settings)
    )


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "local",
            _factory,
            "this machine: real processes, no account needed",
            unsupported=UNSUPPORTED,
            runs_here=True,
        )
    ]
