"""The ``local`` provider plugin: runs tasks on this machine. Registered through the
``flowlib.providers`` entry point like any third-party provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import ProviderSpec

if TYPE_CHECKING:
    from flowlib.providers.base import Provider, ProviderContext


def _factory(context: ProviderContext) -> Provider:
    from flowlib.providers.local._governor import GovernorSettings
    from flowlib.providers.local._provider import LocalProvider

    return LocalProvider(
        home=context.home, governor=GovernorSettings.from_settings(context.settings)
    )


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [ProviderSpec("local", _factory, "this machine: real processes, no account needed")]
