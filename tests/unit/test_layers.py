"""Imports point down only; nothing but the registry imports a provider plugin."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "flowlib"
FOUNDATION = {"models.py", "errors.py", "config.py", "_modelbase.py", "_extras.py"}


def imported_modules(path: Path) -> set[str]:
    """Modules imported at run time (imports under `if TYPE_CHECKING:` are for types only)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_registry_imports_provider_plugins() -> None:
    plugin_dirs = [
        p for p in (SRC / "providers").iterdir() if p.is_dir() and p.name != "__pycache__"
    ]
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        for module in imported_modules(path):
            for plugin in plugin_dirs:
                own = rel.parts[:2] == ("providers", plugin.name)
                if module.startswith(f"flowlib.providers.{plugin.name}") and not own:
                    raise AssertionError(f"{rel} imports the provider plugin {module}")


def test_the_foundation_imports_nothing_above_it() -> None:
    for name in FOUNDATION:
        for module in imported_modules(SRC / name):
            if module.startswith("flowlib."):
                assert module.removeprefix("flowlib.") + ".py" in FOUNDATION, (name, module)
