"""Modal-style apps: ``@app.function`` makes a Python function run as flowlib tasks.

>>> import flowlib
>>> app = flowlib.App("demo")
>>> @app.function(gpu="H100:8", timeout=600, retries=2)
... def train(lr: float) -> float:
...     return lr * 2
>>> train.local(0.5)                       # in this process
1.0
>>> train.remote(0.5)                      # as a task, on the configured provider  # doctest: +SKIP
1.0
>>> list(train.map([0.1, 0.2]))            # one task per batch of inputs           # doctest: +SKIP
[0.2, 0.4]

The decorated function keeps its signature for type checkers (``ParamSpec``): ``.remote`` and
``.spawn`` take exactly its arguments. Calls run through :mod:`flowlib.remote` (cloudpickle
payloads, the runner, the result channel); many inputs run as batch tasks with bounded
concurrency, per-input retries and preempted inputs re-run (:mod:`flowlib.remote._batch`).
``flow run app.py`` runs the app's local entrypoint; ``flow run app.py::fn --arg value`` one
function, its options read from the function's signature (:func:`run_from_cli`).
"""

from __future__ import annotations

from flowlib.frontends.app._app import App, Function, FunctionCall
from flowlib.frontends.app._cli import (
    import_app_file,
    is_app_target,
    parse_cli_arguments,
    run_from_cli,
)
from flowlib.frontends.app._options import FunctionOptions, resolve_gpu
from flowlib.remote._batch import Retries

__all__ = [
    "App",
    "Function",
    "FunctionCall",
    "FunctionOptions",
    "Retries",
    "import_app_file",
    "is_app_target",
    "parse_cli_arguments",
    "resolve_gpu",
    "run_from_cli",
]
