"""Every hook a flowlib plugin can implement. Plugin authors mark implementations with
``flowlib.hookimpl`` and announce the plugin module through the ``flowlib.providers`` entry point
group (the built-in providers are registered exactly the same way)::

    # pyproject.toml of your distribution
    [project.entry-points."flowlib.providers"]
    myprovider = "my_package.flow_plugin"

    # my_package/flow_plugin.py
    import flowlib

    @flowlib.hookimpl
    def flowlib_providers():
        return [flowlib.ProviderSpec("myprovider", factory=make_provider)]

Hooks discover; the provider chosen for a task is then called through the
:class:`flowlib.providers.base.Provider` Protocol.

A plugin module can also be named where it is used instead of installed: a provider section's
``remote_host: MODULE:NAME`` registers ``MODULE`` as a plugin (once per process) before it looks
up the remote-host kind ``NAME`` (see :func:`flowlib_remote_hosts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flowlib._provider import ProviderSpec, RemoteHostSpec
    from flowlib.catalog import Catalog

PROJECT = "flowlib"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def flowlib_providers() -> list[ProviderSpec]:
    """Return the providers this plugin offers.

    Called once per process, when a provider is first needed (never at ``import flowlib``).
    Not firstresult: every plugin's lists are collected; a name offered twice is an error that
    names both plugins.

    :return: a list of :class:`~flowlib.providers.base.ProviderSpec` (name, factory, description).
        The factory is called with a :class:`~flowlib.providers.base.ProviderContext` and returns
        an object satisfying the ``Provider`` Protocol. Import heavy modules inside the factory.
    """
    raise NotImplementedError


@hookspec
def flowlib_catalog_offers(provider: str, settings: dict[str, Any], catalog: Catalog) -> None:
    """Refresh ``catalog`` with live offers for ``provider`` (e.g. prices from its API).

    Called by ``flow catalog --refresh``. Implementations that do not own ``provider`` return
    without doing anything; the owner calls ``catalog.replace_offers(provider, offers)``.

    :param provider: the provider name to refresh.
    :param settings: that provider's resolved settings (credentials included).
    :param catalog: the process-wide catalog to update.
    """
    raise NotImplementedError


@hookspec
def flowlib_remote_hosts() -> list[RemoteHostSpec]:
    """Return the remote-host kinds this plugin offers: other ways than OpenSSH for the cloud
    providers (fcp, hyperstack) to reach the machines they rent, chosen by a provider section's
    ``remote_host`` and configured by its ``remote_host_options``.

    Called when a section names a kind other than ``ssh``, once per process and again after a
    ``MODULE:NAME`` setting registered a new plugin module. Not firstresult: every plugin's
    lists are collected; a name offered twice, or ``ssh``, is an error that names the plugins.

    :return: a list of :class:`~flowlib.providers.base.RemoteHostSpec` (name, factory,
        description, option keys).
    """
    raise NotImplementedError
