"""The provider registry: the only code that imports provider plugins.

Providers (built-in and third-party) announce themselves through the ``flowlib.providers`` entry
point group. A plugin that fails to import or register is logged and skipped: ``import flowlib``
and every other provider keep working.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from flowlib.errors import ProviderError, ValidationError

if TYPE_CHECKING:
    import pluggy

    from flowlib.models import FlowConfig
    from flowlib.providers.base import Provider, ProviderSpec

__all__ = ["ENTRY_POINT_GROUP", "Registry", "get_registry"]

ENTRY_POINT_GROUP = "flowlib.providers"
log = logging.getLogger(__name__)


class Registry:
    """Provider specs discovered from plugins, and the providers built from them."""

    def __init__(self, plugin_manager: pluggy.PluginManager | None = None) -> None:
        self._pm = plugin_manager
        self._specs: dict[str, ProviderSpec] | None = None
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
        pm = self.plugin_manager
        specs: dict[str, ProviderSpec] = {}
        owners: dict[str, str] = {}
        for impl in pm.hook.flowlib_providers.get_hookimpls():
            plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                offered: list[ProviderSpec] = list(impl.function())  # type: ignore[call-overload]
            except Exception as exc:  # a broken plugin must not break the others
                log.warning("flowlib plugin %s failed to list its providers: %s", plugin, exc)
                self.skipped[plugin] = str(exc)
                continue
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

    def create(self, name: str, flow_config: FlowConfig) -> Provider:
        from flowlib.providers.base import ProviderContext

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


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (plugins load on first use)."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry
