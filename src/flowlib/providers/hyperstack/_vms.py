"""VMs by name: found, created exactly once, kept single, waited out of existence.

Shared by one-VM tasks (:mod:`._provider`) and persistent instances (:mod:`._persistent`): both
find their VM again by its name (:mod:`._names`), because the API has no idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlib.errors import TimeoutError
from flowlib.providers.hyperstack._names import vm_id

if TYPE_CHECKING:
    from flowlib.core.seams import Clock
    from flowlib.providers.hyperstack._api import HyperstackApi
    from flowlib.providers.hyperstack._shapes import CreateVm, VirtualMachine

__all__ = ["VirtualMachines"]

log = logging.getLogger(__name__)
_CREATE_ATTEMPTS = 3


class VirtualMachines:
    """The VM calls that go by name, over one API client and clock."""

    def __init__(
        self,
        api: HyperstackApi,
        clock: Clock,
        *,
        delete_timeout_s: float,
        poll_interval_s: float,
    ) -> None:
        self.api = api
        self.clock = clock
        self.delete_timeout_s = delete_timeout_s
        self.poll_interval_s = poll_interval_s

    def find(self, name: str) -> list[VirtualMachine]:
        """Live VMs called exactly ``name``, oldest first."""
        return sorted((v for v in self.api.vms(search=name) if v.get("name") == name), key=vm_id)

    def keep_one(self, vms: list[VirtualMachine]) -> VirtualMachine:
        """The oldest of ``vms`` (never two VMs for one name: the newer ones are deleted)."""
        for extra in vms[1:]:
            self.api.delete_vm(vm_id(extra))
        return vms[0]

    def find_one(self, name: str) -> VirtualMachine | None:
        """The VM called ``name`` (the oldest; any other of that name is deleted), or None."""
        found = self.find(name)
        return self.keep_one(found) if found else None

    def delete_extras(self, vms: list[VirtualMachine], kept: VirtualMachine | None) -> None:
        """A create the API answered too late can still make a second VM of the task's name
        after the look-up by name found none: any VM of that name but the task's own goes."""
        for extra in vms:
            if (
                kept is not None
                and vm_id(extra) != vm_id(kept)
                and extra.get("status") != "DELETING"
            ):
                log.warning(
                    "hyperstack: deleting VM %s, a duplicate of %s", vm_id(extra), vm_id(kept)
                )
                self.api.delete_vm(vm_id(extra))

    def create(self, name: str, body: CreateVm) -> VirtualMachine:
        """Create the VM called ``name`` exactly once: a VM of that name is adopted, and a
        create whose answer was lost is looked up by name before it is sent again (after the
        last try too). Raises :class:`~flowlib.core.http.AmbiguousRequestError` when it stays
        unknown whether the VM exists: a later status looks it up by name."""
        from flowlib.core.cloud import create_once

        def find() -> VirtualMachine | None:
            return self.find_one(name)

        return find() or create_once(
            lambda: self.api.create_vm(body)[0], find, attempts=_CREATE_ATTEMPTS
        )

    def wait_gone(self, ids: Sequence[int], owner: str, again: str = "it") -> None:
        """Wait until each VM answers 404 (at most ``delete_timeout_s``)."""
        deadline = self.clock.monotonic() + self.delete_timeout_s
        for each in ids:
            while self.api.vm(each) is not None:
                if self.clock.monotonic() >= deadline:
                    raise TimeoutError(
                        f"hyperstack VM {each} of {owner} is still not deleted "
                        f"after {self.delete_timeout_s:g} s",
                        suggestions=[f"run {again} again"],
                        provider="hyperstack",
                    )
                self.clock.sleep(min(self.poll_interval_s, 2.0))
