"""``flow ui``: the command's function. The CLI names it in its command table
(``flowlib.ui._command:cmd_ui``) and imports it only when the command runs: the dashboard is a
surface above the CLI (it shows tasks the way ``flow status`` does, with the CLI's formatting),
so the CLI never imports this package."""

from __future__ import annotations

import argparse

from flowlib.ui._server import serve

__all__ = ["cmd_ui"]


def cmd_ui(args: argparse.Namespace) -> int:
    serve(args.home, host=args.host, port=args.port, open_browser=not args.no_open)
    return 0
