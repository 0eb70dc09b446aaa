"""Emulated clouds for tests and offline demos: real HTTP over loopback or in-process.

``python -m flowlib.testing.emulators fcp --port 8080`` serves the FCP (Mithril) emulator,
``... hyperstack`` the Hyperstack one. ``flowlib.testing.emulators.fcp`` and ``.hyperstack`` are the
modules to use in tests; :func:`cloud_flow` is the one-liner for examples.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowlib.flow import Flow

__all__ = ["cloud_flow"]


@contextlib.contextmanager
def cloud_flow(cloud: str, **emulator_options: Any) -> Iterator[Flow]:
    """A :class:`~flowlib.Flow` on ``cloud`` (``"fcp"`` or ``"hyperstack"``): the real one when
    ``FLOW_API_KEY`` is set, else its emulator served on loopback for the duration, with instances
    that really run their startup scripts in sandbox directories."""
    from flowlib.flow import Flow

    if os.environ.get("FLOW_API_KEY"):
        with Flow(provider=cloud) as flow:
            yield flow
        return
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
