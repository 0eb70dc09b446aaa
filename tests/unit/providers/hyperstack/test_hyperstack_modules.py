"""How the Hyperstack package's modules depend on each other.

The shared names live in one leaf (``_names``, with the API's shapes in ``_shapes``); no module
reaches for another's private helpers, and none imports a sibling inside a function to dodge an
import cycle (the package's ``__init__`` is the registry's lazy entry point: the exception).
"""

from __future__ import annotations

import ast
from pathlib import Path

import flowlib.providers.hyperstack as package

PACKAGE = "flowlib.providers.hyperstack"
ROOT = Path(package.__file__).parent
LEAVES = {"_names", "_shapes"}


def _imports(path: Path) -> list[tuple[ast.ImportFrom, bool]]:
    """The package-internal ``from ... import`` statements of a module, each with whether it
    sits inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    return [
        (node, id(node) in nested)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + ".")
    ]


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.glob("_*.py") if p.name != "__init__.py")


def test_no_module_imports_another_modules_private_names() -> None:
    private = [
        f"{path.name}: {alias.name} from {node.module}"
        for path in _modules()
        for node, _ in _imports(path)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


def test_no_sibling_is_imported_inside_a_function() -> None:
    lazy = [
        f"{path.name}:{node.lineno} {node.module}"
        for path in _modules()
        for node, inside in _imports(path)
        if inside
    ]
    assert lazy == []


def test_the_shared_names_are_a_leaf() -> None:
    for leaf in LEAVES:
        modules = {str(n.module).rsplit(".", 1)[1] for n, _ in _imports(ROOT / f"{leaf}.py")}
        assert modules <= LEAVES, f"{leaf} imports {modules - LEAVES}"


def test_collaborators_are_not_handed_the_provider() -> None:
    for name in ("_persistent.py", "_volumes.py", "_vms.py", "_records.py", "_status.py"):
        modules = {str(n.module) for n, _ in _imports(ROOT / name)}
        assert f"{PACKAGE}._provider" not in modules, name
