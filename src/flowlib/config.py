"""Where flowlib's settings come from, highest precedence first:

1. arguments (CLI flags, ``Flow(...)`` keywords)
2. ``FLOW_*`` environment variables (``FLOW_API_KEY``, ``FLOW_PROJECT``, ``FLOW_REGION``,
   ``FLOW_API_URL``, ``FLOW_PROVIDER``, ``FLOW_HOME``)
3. ``./.flow/config.yaml`` (this project)
4. ``~/.flow/config.yaml`` (this user)
5. defaults (provider ``local``, home ``~/.flow``)

A config file holds top-level keys (``provider``, ``project``, ``region``, ``api_url``,
``api_key``; for planning ``default_gpu``, ``max_total_cost``, ``catalog_ttl_s``, and
``provider: auto`` for the cheapest offer across the configured providers) and a ``providers:``
mapping with a section per provider whose keys override the top-level ones for that provider.
Files that hold an API key are written 0600. The key itself is a ``SecretStr``: never printed,
logged or put in a repr.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowlib._modelbase import suggest_key
from flowlib.errors import ConfigError
from flowlib.models import FlowConfig

__all__ = ["ENV_VARS", "load_config", "project_config_path", "user_config_path", "write_config"]

ENV_VARS: dict[str, str] = {
    "FLOW_PROVIDER": "provider",
    "FLOW_API_KEY": "api_key",
    "FLOW_PROJECT": "project",
    "FLOW_REGION": "region",
    "FLOW_API_URL": "api_url",
    "FLOW_HOME": "home",
    "FLOW_SUBMIT_SETTLE_S": "submit_settle_s",
    "FLOW_KEEPER": "keeper",
    "FLOW_DEFAULT_GPU": "default_gpu",
    "FLOW_MAX_TOTAL_COST": "max_total_cost",
    "FLOW_CATALOG_TTL_S": "catalog_ttl_s",
    "FLOW_RESULTS": "results",
}
_FILE_KEYS = {
    "provider",
    "api_key",
    "project",
    "region",
    "api_url",
    "providers",
    "submit_settle_s",
    "keeper",
    "default_gpu",
    "max_total_cost",
    "catalog_ttl_s",
    "results",
}


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    return home / ".flow" / "config.yaml"


def project_config_path(cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / ".flow" / "config.yaml"


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> FlowConfig:
    """Merge every source into one :class:`FlowConfig` (see the module docstring)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    for path in (user_config_path(environ), project_config_path(cwd)):
        _merge(merged, _read_file(path))
    for var, key in ENV_VARS.items():
        if environ.get(var):
            merged[key] = environ[var]
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
    if "home" in merged:
        merged["home"] = Path(str(merged["home"])).expanduser()
    config: FlowConfig = FlowConfig.model_validate(merged)
    return config


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if key == "providers" and isinstance(value, Mapping):
            sections = into.setdefault("providers", {})
            for name, section in value.items():
                sections.setdefault(str(name), {}).update(dict(section or {}))
        else:
            into[key] = value


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import yaml  # only when a config file exists: keeps `import flowlib` light

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc}",
            suggestions=[f"check the permissions of {path}"],
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(
            f"config file {path} is not valid YAML{where}",
            suggestions=[f"fix or remove {path}", "run `flow init` to write a fresh one"],
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of settings",
            suggestions=["run `flow init` to write a fresh one"],
        )
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        tips = [f"did you mean '{g}'?" for k in unknown if (g := suggest_key(k, _FILE_KEYS))]
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {path}",
            suggestions=tips or [f"valid keys: {', '.join(sorted(_FILE_KEYS))}"],
        )
    return data


def write_config(path: Path, settings: Mapping[str, Any]) -> Path:
    """Write ``settings`` to ``path`` as YAML, readable by its owner only (it may hold a key)."""
    import yaml

    clean = {k: v for k, v in settings.items() if v is not None}
    if hasattr(clean.get("api_key"), "get_secret_value"):
        clean["api_key"] = clean["api_key"].get_secret_value()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        yaml.safe_dump(clean, fh, sort_keys=True)
    return path
