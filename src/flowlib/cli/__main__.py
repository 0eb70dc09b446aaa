"""``python -m flowlib.cli``: the same as the ``flow`` command."""

from flowlib.cli import main

raise SystemExit(main())
