"""The provider registry: the only code that imports provider plugins.

Providers (built-in and third-party) announce themselves through the ``flowlib.providers`` entry
point group. A plugin that fails to import or register is logged and skipped: ``import flowlib``
and every other provider keep working.

The registry also knows the remote-host kinds (how the cloud providers reach the machines they
rent): ``ssh`` (OpenSSH) is built in; any other kind is a plugin's (``flowlib_remote_hosts``),
named by a provider section's ``remote_host: NAME`` or ``remote_host: MODULE:NAME`` (a plugin
module that is not installed as an entry point, registered when first named: the emulators'
``flowlib.testing.emulators:sandbox`` is one). :func:`check_remote_host` checks a section's
choice when its settings are read; :func:`host_factory` builds the factory it chose.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import ConfigError, ProviderError, ValidationError
from flowlib.providers.base import ProviderContext

if TYPE_CHECKING:
    import pluggy

    from flowlib.core.hosts import HostFactory
    from flowlib.models import FlowConfig
    from flowlib.providers.base import Provider, ProviderSpec, RemoteHostSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "SSH",
    "Registry",
    "check_remote_host",
    "get_registry",
    "host_factory",
]

ENTRY_POINT_GROUP = "flowlib.providers"
SSH = "ssh"  # the built-in remote-host kind: OpenSSH
log = logging.getLogger(__name__)


class Registry:
    """Provider specs discovered from plugins, and the providers built from them."""

    def __init__(self, plugin_manager: pluggy.PluginManager | None = None) -> None:
        self._pm = plugin_manager
        self._specs: dict[str, ProviderSpec] | None = None
        self._remote_hosts: dict[str, dict[str, RemoteHostSpec]] | None = None
        self._named_modules: set[str] = set()  # registered because a remote_host named them
        self.skipped: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        if self._pm is None:
            self._pm = _load_plugin_manager(self.skipped)
        return self._pm

    def specs(self) -> dict[str, ProviderSpec]:
        with self._lock:
            if self._specs is None:
                self._specs = self._collect()
            return self._specs

    def _collect(self) -> dict[str, ProviderSpec]:
        specs: dict[str, ProviderSpec] = {}
        owners: dict[str, str] = {}
        for plugin, offered in self._offers("flowlib_providers", "providers"):
            for spec in offered:
                if spec.name in specs:
                    raise ProviderError(
                        f"provider '{spec.name}' is offered by two plugins: "
                        f"{owners[spec.name]} and {plugin}",
                        suggestions=["uninstall one of the two distributions"],
                    )
                specs[spec.name] = spec
                owners[spec.name] = plugin
        return specs

    def names(self) -> list[str]:
        return sorted(self.specs())

    def remote_hosts(self, plugin: str | None = None) -> dict[str, RemoteHostSpec]:
        """The remote-host kinds by name: those the installed plugins offer (what a plain
        ``remote_host: NAME`` reaches; ``ssh`` is built in, never one of them), or with
        ``plugin`` those of that one registered plugin (``remote_host: MODULE:NAME``)."""
        with self._lock:
            if self._remote_hosts is None:
                self._remote_hosts = self._collect_remote_hosts()
            by_plugin = self._remote_hosts
        if plugin is not None:
            return dict(by_plugin.get(plugin, {}))
        kinds: dict[str, RemoteHostSpec] = {}
        owners = {SSH: "flowlib (built in)"}
        for owner, offered in sorted(by_plugin.items()):
            if owner in self._named_modules:  # reached only as MODULE:NAME
                continue
            for name, spec in offered.items():
                if name in owners:
                    raise ProviderError(
                        f"remote-host kind '{name}' is offered twice: by {owners[name]} and "
                        f"by {owner}",
                        suggestions=["uninstall one of the two distributions"],
                    )
                kinds[name] = spec
                owners[name] = owner
        return kinds

    def _collect_remote_hosts(self) -> dict[str, dict[str, RemoteHostSpec]]:
        return {
            plugin: {spec.name: spec for spec in offered}
            for plugin, offered in self._offers("flowlib_remote_hosts", "remote hosts")
        }

    def _offers(self, hook: str, what: str) -> Iterator[tuple[str, list[Any]]]:
        """Each registered plugin's name and what its ``hook`` offers; a plugin whose hook
        raises is skipped (and named in ``skipped``): a broken plugin must not break the
        others."""
        pm = self.plugin_manager
        for impl in getattr(pm.hook, hook).get_hookimpls():
            plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                offered = list(impl.function())
            except Exception as exc:
                log.warning("flowlib plugin %s failed to list its %s: %s", plugin, what, exc)
                self.skipped[plugin] = str(exc)
                continue
            yield plugin, offered

    def remote_host(self, provider: str, kind: str) -> RemoteHostSpec:
        """The plugin's remote-host kind that ``providers.<provider>.remote_host`` names:
        ``NAME`` (an installed plugin's), or ``MODULE:NAME`` (that module's: it is imported and
        registered as a plugin first, once per process). Raises ConfigError, with the kinds
        there are, when none is found."""
        module, colon, name = kind.rpartition(":")
        plugin = self._add_plugin_module(provider, module) if colon else None
        offered = self.remote_hosts(plugin)
        if name in offered:
            return offered[name]
        import difflib

        from flowlib.core.cloud import FORMER_REMOTE_HOSTS

        known = sorted(offered) if colon else [SSH, *sorted(offered)]
        close = difflib.get_close_matches(name, known, n=1)
        tips = [f"did you mean '{module + ':' if colon else ''}{close[0]}'?"] if close else []
        if not colon and kind in FORMER_REMOTE_HOSTS:
            tips.append(FORMER_REMOTE_HOSTS[kind].format(provider=provider))
        elif not colon:
            tips.append(
                "a plugin that is not installed is named with its module: "
                f"remote_host: MODULE:{name}"
            )
        tips.append(f"kinds {'it offers' if colon else 'here'}: {', '.join(known) or 'none'}")
        where = f"plugin module {module}" if colon else "installed plugin"
        raise ConfigError(
            f"providers.{provider}.remote_host is {kind!r}, but no {where} offers a remote-host "
            f"kind '{name}'",
            suggestions=tips,
            provider=provider,
        )

    def _add_plugin_module(self, provider: str, module_name: str) -> str:
        """Register ``module_name`` as a plugin (once); returns its plugin name."""
        import importlib

        if not all(part.isidentifier() for part in module_name.split(".")):
            raise ConfigError(
                f"providers.{provider}.remote_host names the plugin module {module_name!r}, "
                "which is not a module name",
                suggestions=["write remote_host: NAME or remote_host: package.module:NAME"],
                provider=provider,
            )
        pm = self.plugin_manager
        with self._lock:
            if pm.has_plugin(module_name):
                return module_name
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ConfigError(
                    f"providers.{provider}.remote_host names the plugin module {module_name}, "
                    f"which cannot be imported: {exc}",
                    suggestions=[
                        f"install the distribution that provides {module_name}",
                        f"or set providers.{provider}.remote_host: {SSH}",
                    ],
                    provider=provider,
                ) from None
            installed = pm.get_name(module)  # an installed plugin, under its entry point's name
            if installed is not None:
                return installed
            pm.register(module, name=module_name)
            self._named_modules.add(module_name)
            self._remote_hosts = None
            return module_name

    def create(self, name: str, flow_config: FlowConfig) -> Provider:
        specs = self.specs()
        if name not in specs:
            import difflib

            close = difflib.get_close_matches(name, list(specs), n=1)
            tips = [f"did you mean '{close[0]}'?"] if close else []
            tips.append(f"installed providers: {', '.join(sorted(specs)) or 'none'}")
            if self.skipped:
                tips.append(f"plugins that failed to load: {', '.join(sorted(self.skipped))}")
            raise ValidationError(f"unknown provider '{name}'", suggestions=tips)
        context = ProviderContext(
            name=name,
            settings=flow_config.provider_settings(name),
            home=flow_config.home,
            flow_config=flow_config,
        )
        provider: Provider = specs[name].factory(context)
        return provider


def _load_plugin_manager(skipped: dict[str, str]) -> pluggy.PluginManager:
    import pluggy

    from flowlib import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin: Any = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # logged and skipped, never fatal
            log.warning("skipping flowlib plugin %r (%s): %s", ep.name, ep.value, exc)
            skipped[ep.name] = f"{type(exc).__name__}: {exc}"
    return pm


def check_remote_host(provider: str, kind: str, options: Mapping[str, Any]) -> None:
    """``providers.<provider>.remote_host`` names a kind there is, and its
    ``remote_host_options`` are ones that kind accepts. Raises ConfigError (with the kinds or
    the keys there are) when not; registers a ``MODULE:NAME`` kind's plugin module."""
    if kind == SSH:
        if options:
            raise ConfigError(
                f"providers.{provider}.remote_host_options: remote_host {SSH} takes no options, "
                f"got {', '.join(sorted(options))}",
                suggestions=[
                    f"ssh_user, ssh_key_path ... are providers.{provider} keys of their own",
                    "remove remote_host_options",
                ],
                provider=provider,
            )
        return
    _plugin_factory(provider, kind, options)


def host_factory(
    provider: str,
    kind: str,
    options: Mapping[str, Any],
    home: Path,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> HostFactory:
    """The host factory ``providers.<provider>.remote_host`` chose: OpenSSH (keys and known
    hosts under ``home``), or the plugin kind's, built from ``remote_host_options``."""
    if kind == SSH:
        from flowlib.core.ssh import ssh_factory

        check_remote_host(provider, kind, options)
        return ssh_factory(home, clock=clock)
    return _plugin_factory(provider, kind, options)


def _plugin_factory(provider: str, kind: str, options: Mapping[str, Any]) -> HostFactory:
    spec = get_registry().remote_host(provider, kind)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        import difflib

        valid = sorted(spec.options)
        tips = [
            f"did you mean '{close[0]}'?"
            for key in unknown
            if (close := difflib.get_close_matches(key, valid, n=1))
        ]
        raise ConfigError(
            f"unknown providers.{provider}.remote_host_options for remote_host {kind}: "
            f"{', '.join(unknown)}",
            suggestions=tips or [f"{spec.name} accepts: {', '.join(valid) or 'no options'}"],
            provider=provider,
        )
    try:
        return spec.factory(options)
    except ConfigError as exc:  # the plugin's words, said of the section they are about
        raise ConfigError(
            f"providers.{provider}: {exc.message}", suggestions=exc.suggestions, provider=provider
        ) from None


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (plugins load on first use)."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry
