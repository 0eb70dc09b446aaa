"""``flow ui``: a local web dashboard over this machine's task store (needs ``flowlib[ui]``).

Pages: Tasks (paged on the server, filters, live), Task (live log and metric charts over
server-sent events, checkpoints, config with env values masked, cancel / resume / run again),
Compare (2-10 runs), Instances (persistent instances), Catalog (offers, cheapest first).
Every request needs the token the server prints (see :mod:`flowlib.ui._security`). Nothing of
this package is imported by ``import flowlib`` or ``flow --help``; Starlette and uvicorn are
imported only when the dashboard starts. docs/ui.md describes each page.
"""

from __future__ import annotations

from flowlib.ui._server import DEFAULT_PORT, serve

__all__ = ["DEFAULT_PORT", "serve"]
