"""The ``fcp`` provider's settings: the ``providers.fcp`` config section over the top-level keys.

Every key, its default and what it is for::

    api_key         fkey_...: FLOW_API_KEY, or providers.fcp.api_key (a secret: never printed)
    api_url         https://api.mithril.ai (legacy: https://api.mlfoundry.com)
    project         the project to bill, by name or proj_ FID (default: the only one there is)
    region          preferred region (default: the cheapest one with capacity)
    ssh_keys        sshkey_ FIDs or key names installed on every instance (default: a key
                    flowlib creates once per project, its private half kept in FLOW_HOME/keys)
    ssh_key_path    the private key to log in with (default: the one flowlib created)
    ssh_user        ubuntu
    remote_host     how instances are reached: ssh (OpenSSH), or a kind a plugin offers, by
                    name or as MODULE:NAME (the emulators': flowlib.testing.emulators:sandbox)
    remote_host_options  that kind's own options, a mapping (ssh takes none)
    catalog_ttl_s   how long instance types and spot prices are reused (60)
    poll_interval_s how often `wait` asks the API at most (5)
    exit_grace_s    how long a finished instance waits for flowlib to read its exit code before
                    it releases itself (120; see docs/providers.md)
    timeout_s       HTTP timeout (30)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlib.core.cloud import unknown_keys
from flowlib.errors import AuthenticationError, ConfigError

__all__ = ["DEFAULT_API_URL", "FcpSettings"]

DEFAULT_API_URL = "https://api.mithril.ai"
KEY_HINT = (
    "set FLOW_API_KEY=fkey_..., or run `flow init --provider fcp --api-key-env` "
    "(stores providers.fcp.api_key in ~/.flow/config.yaml, readable by you only)"
)
_KEY = re.compile(r"fkey_[A-Za-z0-9]{20,}")
_KEYS = {
    "api_key",
    "api_url",
    "project",
    "region",
    "ssh_keys",
    "ssh_key_path",
    "ssh_user",
    "remote_host",
    "remote_host_options",
    "catalog_ttl_s",
    "poll_interval_s",
    "exit_grace_s",
    "timeout_s",
}


@dataclass(frozen=True)
class FcpSettings:
    api_key: Any = field(default=None, repr=False)  # SecretStr | str | None
    api_url: str = DEFAULT_API_URL
    project: str | None = None
    region: str | None = None
    ssh_keys: tuple[str, ...] = ()
    ssh_key_path: Path | None = None
    ssh_user: str = "ubuntu"
    remote_host: str = "ssh"
    remote_host_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    catalog_ttl_s: float = 60.0
    poll_interval_s: float = 5.0
    exit_grace_s: float = 120.0
    timeout_s: float = 30.0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> FcpSettings:
        unknown_keys("fcp", settings, _KEYS)
        values = dict(settings)
        try:
            keys = values.get("ssh_keys", ())
            values["ssh_keys"] = tuple([keys] if isinstance(keys, str) else keys)
            if values.get("ssh_key_path") is not None:
                values["ssh_key_path"] = Path(str(values["ssh_key_path"])).expanduser()
            values["remote_host"] = str(values.get("remote_host", "ssh"))
            values["remote_host_options"] = dict(values.get("remote_host_options") or {})
            for key in ("catalog_ttl_s", "poll_interval_s", "exit_grace_s", "timeout_s"):
                if key in values:
                    values[key] = float(values[key])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"invalid setting for provider fcp: {exc}",
                suggestions=[
                    "numbers for *_s keys, a list for ssh_keys, a path for ssh_key_path, a "
                    "mapping for remote_host_options"
                ],
            ) from None
        made = cls(**values)
        from flowlib.providers import check_remote_host

        check_remote_host("fcp", made.remote_host, made.remote_host_options)
        return made

    def secret(self) -> str:
        """The API key's value, checked; raises AuthenticationError saying where to set it."""
        key = self.api_key
        value = key.get_secret_value() if hasattr(key, "get_secret_value") else key
        if not value:
            raise AuthenticationError("no API key for provider fcp", suggestions=[KEY_HINT])
        if not _KEY.fullmatch(str(value)):
            raise AuthenticationError(
                "the fcp API key is malformed: keys look like fkey_ followed by at least 20 "
                "letters and digits",
                suggestions=[KEY_HINT],
            )
        return str(value)
