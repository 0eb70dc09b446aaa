"""The ``slurm`` provider plugin: flowlib tasks as real SLURM batch jobs, submitted on this
machine or on a login node (``providers.slurm.login_host``). Registered through the
``flowlib.providers`` entry point like any third-party provider. See ``docs/slurm.md``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flowlib.hookspecs import hookimpl
from flowlib.providers.base import Feature, ProviderSpec

if TYPE_CHECKING:
    from flowlib.core.hosts import HostAddress, HostFactory
    from flowlib.providers.base import Provider, ProviderContext


UNSUPPORTED = {
    Feature.SPOT: "a SLURM cluster has no spot market (use a preemptible QOS)",
    Feature.VOLUMES: "SLURM jobs use the cluster's shared filesystems, not volumes",
    Feature.VOLUME_MOUNTS: "volume:// needs provider volumes; on SLURM mount a "
    "directory of the shared filesystem instead: data={'/models': '/shared/models'}",
    Feature.CONTAINER_IMAGE: "container images on SLURM need a site plugin "
    "(pyxis/enroot) flowlib does not drive yet",
    Feature.SSH: "reach a running job with `srun --jobid=ID --pty bash` on the cluster",
    Feature.HIBERNATE: "SLURM jobs cannot be hibernated",
    Feature.MAX_PRICE: "a SLURM cluster does not bill per hour",
}


def parse_login_host(text: str, key_path: str | None = None) -> HostAddress:
    """``user@host[:port]`` (user defaults to the local user) as a :class:`HostAddress`."""
    import getpass
    import re

    from flowlib.core.hosts import HostAddress
    from flowlib.errors import ConfigError

    user, _, rest = text.rpartition("@")
    host, _, port = rest.partition(":")
    if not host or (port and not re.fullmatch(r"[0-9]+", port, re.ASCII)):  # isdigit() takes ²
        raise ConfigError(
            f"providers.slurm.login_host {text!r} is not user@host[:port]",
            suggestions=["e.g. login_host: alice@login.cluster.example.org"],
            provider="slurm",
        )
    key = str(Path(key_path).expanduser()) if key_path else None
    return HostAddress(
        host=host, port=int(port or 22), user=user or getpass.getuser(), key_path=key
    )


def create(context: ProviderContext, *, host_factory: HostFactory | None = None) -> Provider:
    """Build the provider from ``providers.slurm`` settings; ``host_factory`` reaches the login
    node (default: OpenSSH, :func:`flowlib.core.ssh.ssh_factory`)."""
    from flowlib.providers.slurm._cluster import LocalCluster, RemoteCluster
    from flowlib.providers.slurm._provider import SlurmProvider
    from flowlib.providers.slurm._render import SlurmSettings

    settings = SlurmSettings.from_mapping(context.settings)
    env = {"SLURM_CONF": settings.slurm_conf} if settings.slurm_conf else {}
    if settings.login_host:
        address = parse_login_host(settings.login_host, settings.login_key)
        if host_factory is None:
            from flowlib.core.ssh import ssh_factory

            host_factory = ssh_factory(context.home, boot_timeout=20)  # a login node is up
        return SlurmProvider(RemoteCluster(host_factory(address), env), settings, home=context.home)
    from flowlib.core.seams import SubprocessRunner

    job_dir = settings.job_dir or str(context.home / "slurm")
    return SlurmProvider(
        LocalCluster(SubprocessRunner(), env), settings, job_dir=job_dir, home=context.home
    )


def _factory(context: ProviderContext) -> Provider:
    return create(context)


@hookimpl
def flowlib_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "slurm", _factory, "a SLURM cluster: batch jobs via sbatch", unsupported=UNSUPPORTED
        )
    ]


__all__ = ["create", "flowlib_providers", "parse_login_host"]
