"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and cover what they must.

import-linter checks the contracts (imports under ``if TYPE_CHECKING:`` count: a type is a
dependency too); this test runs it, so ``pytest`` enforces them as CI's ``lint-imports`` does,
and checks what import-linter cannot: that every provider plugin and every top-level module is
named where a contract needs it (a new plugin would otherwise be free to import another).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the contracts are the same on 3.10
pytest.importorskip("importlinter")

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "flowlib"


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_every_contract_is_kept() -> None:
    # This tree's source, whatever flowlib the environment has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), *sys.path])}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_settings_count_type_only_imports_and_flowlib_alone() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_package"] == "flowlib"
    assert config["include_external_packages"] is False
    assert not config.get("exclude_type_checking_imports", False)


def test_every_provider_plugin_is_held_to_the_plugin_contracts() -> None:
    plugins = sorted(
        f"flowlib.providers.{p.name}"
        for p in (SRC / "providers").iterdir()
        if p.is_dir() and (p / "__init__.py").is_file()
    )
    found = contracts()
    assert sorted(found["plugins-independent"]["modules"]) == plugins
    assert sorted(found["plugins-through-the-registry"]["forbidden_modules"]) == plugins
    named = [names(layer) for layer in found["layers"]["layers"]]
    assert sorted(f"flowlib.{m}" for m in named[plugin_layer(found)]) == plugins


def names(layer: str) -> list[str]:
    return [part.strip() for part in layer.replace(":", "|").split("|")]


def plugin_layer(found: dict[str, dict[str, Any]]) -> int:
    layers = found["layers"]["layers"]
    return next(i for i, layer in enumerate(layers) if "providers.local" in names(layer))


def test_the_registry_may_import_nothing_the_plugins_may_not() -> None:
    # The layers contract holds the plugins; flowlib.providers' own module (the registry) is
    # held by a forbidden contract that must name every layer above the plugins'.
    found = contracts()
    above = found["layers"]["layers"][: plugin_layer(found)]
    wanted = {f"flowlib.{m}" for layer in above for m in names(layer)}
    assert set(found["registry-below-the-engine"]["forbidden_modules"]) == wanted


def top_level() -> set[str]:
    """flowlib's top-level modules and packages, as import-linter names them."""
    return {
        f"flowlib.{p.name.removesuffix('.py')}"
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()
    }


def test_the_forbidden_contracts_hold_every_top_level_module() -> None:
    found = contracts()
    registry = found["plugins-through-the-registry"]["source_modules"]
    assert set(registry) == top_level() - {"flowlib.providers"} | {"flowlib.providers.base"}
    production = found["no-test-support-in-production"]["source_modules"]
    assert set(production) == top_level() - {"flowlib.testing"}


def test_the_layers_name_every_top_level_module_but_the_test_support() -> None:
    # exhaustive = true makes import-linter refuse an unnamed module; this keeps it on.
    layers = contracts()["layers"]
    assert layers["exhaustive"] is True
    assert sorted(layers["exhaustive_ignores"]) == ["providers", "testing"]
    bottom = layers["layers"][-1].replace(" ", "").split("|")
    assert {"errors", "_version"} <= set(bottom)


def test_no_package_of_flowlib_is_left_out_of_the_cycle_contract() -> None:
    # acyclic_siblings looks `depth` packages down from each ancestor (10 unless set): every
    # package flowlib has must be within it, and none skipped or excused.
    acyclic = contracts()["acyclic"]
    assert acyclic["type"] == "acyclic_siblings"
    assert acyclic["ancestors"] == ["flowlib"]
    assert not acyclic.get("ignore_imports") and not acyclic.get("skip_descendants")
    deepest = max(len(p.relative_to(SRC).parts) for p in SRC.rglob("__init__.py"))
    assert deepest <= acyclic.get("depth", 10)
