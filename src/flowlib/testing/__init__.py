"""Testing helpers for flowlib itself and for provider plugin authors.

- :class:`FakeProvider` (:mod:`flowlib.testing.fake`): an in-memory provider on a manual clock,
  and :func:`fake_flow`, a :class:`~flowlib.Flow` that uses it.
- :mod:`flowlib.testing.conformance`: the suite every provider passes (needs pytest).
- :mod:`flowlib.testing.emulators`: the emulated clouds, over real HTTP on loopback.
"""

from __future__ import annotations

from flowlib.testing.fake import FakeArrayProvider, FakeProvider, ManualClock, Outcome, fake_flow

__all__ = ["FakeArrayProvider", "FakeProvider", "ManualClock", "Outcome", "fake_flow"]
