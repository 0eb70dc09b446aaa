"""The public surface: `import flowlib` is light and `__all__` tells the truth."""

from __future__ import annotations

import subprocess
import sys

import flowlib


def test_all_is_sorted_and_unique() -> None:
    assert flowlib.__all__ == sorted(set(flowlib.__all__))


def test_every_public_name_resolves() -> None:
    for name in flowlib.__all__:
        assert getattr(flowlib, name) is not None, name


def test_no_public_name_is_missing_from_all() -> None:
    public = {n for n in flowlib._EXPORTS} | {
        n
        for n, v in vars(flowlib).items()
        if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == "flowlib"
    }
    assert public <= set(flowlib.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        flowlib.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_flowlib_loads_nothing_heavy() -> None:
    code = (
        "import sys, flowlib\n"
        "heavy = [m for m in ('pydantic', 'httpx', 'yaml', 'opentelemetry', 'pluggy', 'sqlite3')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
