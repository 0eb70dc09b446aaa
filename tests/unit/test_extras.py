"""A missing optional dependency is one ConfigError line naming the extra to install."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flowlib._extras import EXTRAS, import_optional, install_hint
from flowlib.errors import ConfigError

SRC = Path(__file__).parents[1].parent / "src" / "flowlib"


def test_a_missing_module_names_its_extra() -> None:
    EXTRAS["flowlib_no_such_module"] = ("s3", "no-such-package")
    try:
        with pytest.raises(ConfigError) as info:
            import_optional("flowlib_no_such_module.sub", "s3:// data")
    finally:
        del EXTRAS["flowlib_no_such_module"]
    assert info.value.message.startswith("s3:// data needs no-such-package, which is not installed")
    assert info.value.suggestions == [
        "pip install 'flowlib[s3]'  (or: pip install 'no-such-package')"
    ]


def test_each_extra_is_a_real_extra_of_the_package() -> None:
    pyproject = (SRC.parents[1] / "pyproject.toml").read_text()
    for module in EXTRAS:
        extra = install_hint(module).split("[", 1)[1].split("]", 1)[0]
        assert f"\n{extra} = [" in pyproject, (module, extra)


def test_no_module_imports_an_optional_dependency_directly() -> None:
    """Every optional import goes through import_optional (imports for type checkers aside)."""
    optional = {m.split(".")[0] for m in EXTRAS} | {"opentelemetry.sdk"}
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                node.body = []
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in optional or name.startswith("opentelemetry.sdk"):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    # Each imports its package right after import_optional checked it (flowlib.ui._server.serve
    # checks starlette and uvicorn before it imports the dashboard's app).
    allowed = {"telemetry.py", "ui/_app.py"}
    assert [o for o in offenders if o.split(":")[0] not in allowed] == []
