"""The ``hyperstack`` provider's settings: the ``providers.hyperstack`` config section over the
top-level keys.

Every key, its default and what it is for::

    api_key         FLOW_API_KEY, or providers.hyperstack.api_key; sent as the `api_key` header
    api_url         https://infrahub-api.nexgencloud.com/v1
    region          CANADA-1 | NORWAY-1 | US-1 (default: the cheapest region with stock)
    instance_type   used when a task names none (default: the cheapest GPU flavor in stock)
    image           the OS image of new VMs (Ubuntu Server 22.04 LTS R535 CUDA 12.2)
    environment     the environment flowlib creates and uses per region (flowlib-<region>)
    ssh_key_path    the private key to log in with (default: FLOW_HOME/ssh/id_ed25519, made once)
    ssh_user        ubuntu
    ssh_port        22: where the VMs' sshd answers at their floating IP (another port only
                    behind a NAT; the emulator with ssh=True uses one)
    remote_host     how VMs are reached: ssh (OpenSSH), or a kind a plugin offers, by name
                    or as MODULE:NAME (the emulators': flowlib.testing.emulators:sandbox)
    remote_host_options  that kind's own options, a mapping (ssh takes none)
    poll_interval_s how often `wait` asks the API at most (5)
    delete_timeout_s how long a cancel waits for the VM to be gone (600)
    volume_type     the type of volumes flowlib creates (default: Cloud-SSD, else the first listed)
    volume_attach_timeout_s how long a VM's startup script waits for its volumes (1800); they
                    are attached when flowlib polls the task once the VM runs
    timeout_s       HTTP timeout (30)

Self-release (``auto_terminate`` tasks; :mod:`._release`, docs/providers.md)::

    self_release    the VM deletes itself once its workload ended, even if no client looks (true)
    exit_grace_s    how long it first waits for a client to read its exit code (120; with a
                    results location, not once the exit code reached it); 0 is allowed
    release_api_key the key the VM holds for that (default: api_key); make a second key for it
                    in the Hyperstack console so it can be revoked on its own

Persistent instances (``instance_name`` / ``flow run --on NAME``, docs/persistent-instances.md)::

    idle_policy     hibernate | stop | delete: what an idle instance does to itself (hibernate)
    idle_cooldown_s how long the queue stays empty before that happens (300)
    wake_timeout_s  how long a submit waits for the instance to be reachable (1200); past it the
                    task stays queued here and the next `flow status` delivers it
    agent_poll_s    how often the on-instance agent looks at its queue (5)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from flowlib.core.cloud import retired_keys
from flowlib.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "DEFAULT_IMAGE", "KEY_HINT", "HyperstackSettings", "load_settings"]

DEFAULT_API_URL = "https://infrahub-api.nexgencloud.com/v1"
DEFAULT_IMAGE = "Ubuntu Server 22.04 LTS R535 CUDA 12.2"
KEY_HINT = (
    "set FLOW_API_KEY to your Hyperstack API key (flowlib sends it in the `api_key` header), "
    "or providers.hyperstack.api_key in ~/.flow/config.yaml"
)
_IGNORED = frozenset({"project"})  # top-level keys other providers use


class HyperstackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    region: str | None = None
    instance_type: str | None = None
    image: str = DEFAULT_IMAGE
    environment: str | None = None
    ssh_key_path: Path | None = None
    ssh_user: str = "ubuntu"
    ssh_port: int = Field(default=22, gt=0, le=65535)
    remote_host: str = "ssh"
    remote_host_options: dict[str, Any] = Field(default_factory=dict)
    poll_interval_s: float = 5.0
    delete_timeout_s: float = 600.0
    volume_type: str | None = None
    volume_attach_timeout_s: float = Field(default=1800.0, gt=0)
    timeout_s: float = 30.0
    idle_policy: Literal["hibernate", "stop", "delete"] = "hibernate"
    idle_cooldown_s: float = Field(default=300.0, ge=0)
    wake_timeout_s: float = Field(default=1200.0, gt=0)
    agent_poll_s: float = Field(default=5.0, gt=0)
    self_release: bool = True
    exit_grace_s: float = Field(default=120.0, ge=0)
    release_api_key: SecretStr | None = None


def load_settings(raw: Mapping[str, Any]) -> HyperstackSettings:
    """The settings from a config section; unknown or invalid keys are a ConfigError."""
    data = {k: v for k, v in raw.items() if k not in _IGNORED}
    retired_keys("hyperstack", data)
    try:
        settings = HyperstackSettings.model_validate(data)
    except ValidationError as exc:
        import difflib

        problems, tips = [], []
        fields = list(HyperstackSettings.model_fields)
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
            close = difflib.get_close_matches(where, fields, n=1)
            if err["type"] == "extra_forbidden" and close:
                tips.append(f"did you mean '{close[0]}'?")
        raise ConfigError(
            "invalid providers.hyperstack settings: " + "; ".join(problems),
            suggestions=tips or [f"valid keys: {', '.join(sorted(fields))}"],
            provider="hyperstack",
        ) from None
    from flowlib.providers import check_remote_host

    check_remote_host("hyperstack", settings.remote_host, settings.remote_host_options)
    return settings
