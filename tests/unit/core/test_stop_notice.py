"""The stop notice a provider gives before it takes machines away (``give_notice``): bounded,
so a cancel never waits out a machine that is still booting while that machine bills."""

from __future__ import annotations

import socket
from pathlib import Path

from flowlib.core.hosts import HostAddress
from flowlib.core.ssh import OpenSSHHost
from flowlib.core.startup import NOTICE_REACH_S, give_notice
from flowlib.testing import ManualClock


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


def test_a_host_still_booting_gets_no_notice_and_does_not_hold_up_the_cancel(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=0.0)
    booting = OpenSSHHost(
        HostAddress("127.0.0.1", closed_port(), "root", None, "booting"),
        home=tmp_path,
        clock=clock,
        boot_timeout=300.0,  # what a first command would wait for a machine still booting
        connect_timeout=1.0,
    )
    give_notice([booting], "cancelled: flow cancel", grace_s=30.0, clock=clock)
    assert clock.monotonic() <= NOTICE_REACH_S  # not the 300 s boot timeout
