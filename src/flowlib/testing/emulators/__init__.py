"""Emulated clouds for tests and offline demos: real HTTP over loopback or in-process.

``python -m flowlib.testing.emulators fcp --port 8080`` serves the FCP (Mithril) emulator,
``... hyperstack`` the Hyperstack one. ``flowlib.testing.emulators.fcp`` and ``.hyperstack`` are the
modules to use in tests; :func:`cloud_flow` is the one-liner for examples.

This package is also a flowlib plugin that production flowlib does not load on its own: it
offers the remote-host kind ``sandbox`` (an emulated instance is a directory, commands run
locally with ``FLOW_ROOT`` set to it). A provider section names it as ``remote_host:
flowlib.testing.emulators:sandbox`` (:data:`SANDBOX_HOSTS`) with ``remote_host_options: {dir:
<the emulator's instances directory>}``, which registers this package as a plugin in whichever
process reads the section: a ``flow`` command, a keeper, a test. ``emulator.provider_settings()``
and ``--flow-config`` write exactly that.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.hookspecs import hookimpl

if TYPE_CHECKING:
    from flowlib.core.hosts import HostAddress, HostFactory
    from flowlib.flow import Flow
    from flowlib.providers.base import RemoteHostSpec

__all__ = [
    "REAL_CLOUD_FLAG",
    "SANDBOX_HOSTS",
    "cloud_flow",
    "flowlib_remote_hosts",
    "sandbox_factory",
    "sandbox_settings",
]


REAL_CLOUD_FLAG = "--real-cloud"
SANDBOX_HOSTS = f"{__name__}:sandbox"  # the remote_host that names this plugin's sandboxes


def sandbox_factory(roots: Callable[[HostAddress], Path]) -> HostFactory:
    """A :data:`~flowlib.core.hosts.HostFactory` for emulated clouds: ``roots`` maps an
    address to its sandbox (a :class:`~flowlib.core.hosts.SandboxHost`'s root)."""
    from flowlib.core.hosts import RemoteHost, SandboxHost

    def factory(address: HostAddress) -> RemoteHost:
        return SandboxHost(address, roots(address))

    return factory


def sandbox_settings(instances: Path | str) -> dict[str, Any]:
    """The provider settings that reach an emulator's instances through their sandboxes, one
    directory per instance id under ``instances``."""
    return {"remote_host": SANDBOX_HOSTS, "remote_host_options": {"dir": str(instances)}}


def _sandbox_hosts(options: Mapping[str, Any]) -> HostFactory:
    from flowlib.errors import ConfigError

    where = options.get("dir")
    if not where:
        raise ConfigError(
            "remote_host sandbox needs remote_host_options.dir: the emulator's instances directory",
            suggestions=["the emulator prints it as `Instances: DIR` (or use --flow-config)"],
        )
    base = Path(str(where)).expanduser()
    return sandbox_factory(lambda address: base / address.instance_id)


@hookimpl
def flowlib_remote_hosts() -> list[RemoteHostSpec]:
    """The emulators' ``sandbox`` remote-host kind (option ``dir``)."""
    from flowlib.providers.base import RemoteHostSpec

    return [
        RemoteHostSpec(
            "sandbox",
            _sandbox_hosts,
            "an emulated cloud's instances: one directory per instance id under `dir`",
            options=("dir",),
        )
    ]


@contextlib.contextmanager
def cloud_flow(cloud: str, *, real: bool = False, **emulator_options: Any) -> Iterator[Flow]:
    """A :class:`~flowlib.Flow` on ``cloud`` (``"fcp"`` or ``"hyperstack"``): its emulator served
    on loopback for the duration, with instances that really run their startup scripts in sandbox
    directories.

    The real, billed cloud only with ``real=True`` (the examples pass it for ``--real-cloud``) and
    credentials (``FLOW_API_KEY`` or the config file). A key exported for other work never turns
    an offline example into one that spends money.
    """
    from flowlib.flow import Flow

    if real:
        sys.stderr.write(f"cloud_flow: using the real {cloud} cloud; this spends money\n")
        with Flow(provider=cloud) as flow:
            yield flow
        return
    if os.environ.get("FLOW_API_KEY"):
        sys.stderr.write(
            f"cloud_flow: FLOW_API_KEY is set, but this runs the {cloud} emulator; "
            f"pass {REAL_CLOUD_FLAG} (real=True) to use the real, billed cloud\n"
        )
    emulator: Any
    if cloud == "fcp":
        from flowlib.testing.emulators.fcp import FcpEmulator

        emulator = FcpEmulator(**emulator_options)
    elif cloud == "hyperstack":
        from flowlib.testing.emulators.hyperstack import HyperstackEmulator

        emulator = HyperstackEmulator(**emulator_options)
    else:
        from flowlib.errors import ValidationError

        raise ValidationError(
            f"no emulator for {cloud!r}", suggestions=["use 'fcp' or 'hyperstack'"]
        )
    with emulator:
        emulator.start()
        with Flow(provider=cloud, providers={cloud: emulator.provider_settings()}) as flow:
            yield flow
