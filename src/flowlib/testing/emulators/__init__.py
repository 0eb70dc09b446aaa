"""Emulated clouds for tests and offline demos: real HTTP over loopback or in-process.

``python -m flowlib.testing.emulators fcp --port 8080`` serves the FCP (Mithril) emulator.
Nothing is imported here eagerly: ``flowlib.testing.emulators.fcp`` is the module to use.
"""

from __future__ import annotations

__all__: list[str] = []
