"""What the cloud providers (fcp, hyperstack) share: the settings that choose how instances are
reached, the host factory they choose, and creating a named resource exactly once.

``remote_host: ssh`` reaches real instances over OpenSSH; ``remote_host: sandbox`` reaches an
emulated cloud's instances, one directory per instance id under ``sandbox_dir``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import ConfigError, FlowError

if TYPE_CHECKING:
    from flowlib.core.hosts import HostFactory

__all__ = ["REMOTE_HOSTS", "check_remote_host", "create_once", "host_factory", "unknown_keys"]

REMOTE_HOSTS = ("ssh", "sandbox")
T = TypeVar("T")


def unknown_keys(provider: str, given: Collection[str], known: Collection[str]) -> None:
    """Raise a ConfigError naming the keys of ``given`` not in ``known`` (with a close match
    for each, when there is one)."""
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    import difflib

    valid = sorted(known)
    tips = [
        f"did you mean '{close[0]}'?"
        for key in unknown
        if (close := difflib.get_close_matches(key, valid, n=1))
    ]
    raise ConfigError(
        f"unknown setting(s) for provider {provider}: {', '.join(unknown)}",
        suggestions=tips or [f"valid keys: {', '.join(valid)}"],
        provider=provider,
    )


def check_remote_host(provider: str, remote_host: str, sandbox_dir: Path | None) -> None:
    """``remote_host`` is ssh or sandbox, and sandbox comes with its ``sandbox_dir``."""
    if remote_host not in REMOTE_HOSTS:
        raise ConfigError(
            f"providers.{provider}.remote_host must be 'ssh' or 'sandbox', got {remote_host!r}",
            suggestions=["ssh reaches real instances; sandbox is for the emulator"],
            provider=provider,
        )
    if remote_host == "sandbox" and sandbox_dir is None:
        raise ConfigError(
            f"providers.{provider}.remote_host=sandbox needs providers.{provider}.sandbox_dir",
            suggestions=["set sandbox_dir to the emulator's instances directory (it prints it)"],
            provider=provider,
        )


def host_factory(
    remote_host: str, sandbox_dir: Path | None, home: Path, *, clock: Clock = SYSTEM_CLOCK
) -> HostFactory:
    """The host factory the settings ask for: OpenSSH, or the emulator's sandboxes (one root
    per instance id under ``sandbox_dir``)."""
    if remote_host == "sandbox":
        from flowlib.core.hosts import sandbox_factory

        base = Path(sandbox_dir) if sandbox_dir is not None else None
        assert base is not None  # checked with the settings
        return sandbox_factory(lambda a: base / a.instance_id)
    from flowlib.core.ssh import ssh_factory

    return ssh_factory(home, clock=clock)


def create_once(
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    attempts: int,
    retry: Callable[[FlowError], bool] | None = None,
) -> T:
    """``create()`` a named resource exactly once. After a failure that leaves unknown whether it
    took effect (an :class:`~flowlib.core.http.AmbiguousRequestError`) ``find()`` looks the
    resource up by its name (and may clean up an orphan, returning None) before the create is
    sent again; the last such failure is raised. A refusal that ``retry`` accepts (one saying the
    name is taken) is looked up too, after the last attempt as well, and raised if not found."""
    from flowlib.core.http import AmbiguousRequestError

    failure: FlowError | None = None
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except AmbiguousRequestError as exc:
            if attempt == attempts:
                raise
            failure = exc
        except FlowError as exc:
            if retry is None or not retry(exc):
                raise
            failure = exc
        found = find()
        if found is not None:
            return found
    assert failure is not None
    raise failure
