"""The package surface: `__all__` tells the truth, and importing it costs nothing."""

from __future__ import annotations

import subprocess
import sys

import flowlib.catalog as catalog_package


def test_all_is_sorted_constants_first_and_unique() -> None:
    names = catalog_package.__all__
    assert names == sorted(set(names), key=lambda n: (not n.isupper(), n))


def test_every_exported_name_resolves_and_is_defined_in_the_package() -> None:
    for name in catalog_package.__all__:
        value = getattr(catalog_package, name)
        module = getattr(value, "__module__", "flowlib.catalog._aliases")
        assert module.startswith("flowlib.catalog"), (name, module)


def test_every_public_name_of_the_private_modules_is_exported() -> None:
    from flowlib.catalog import _aliases, _catalog, _parse, _types

    exported = set(catalog_package.__all__)
    for module in (_catalog, _parse, _types):
        assert set(module.__all__) <= exported, module.__name__
    assert "GPU_ALIASES" in exported and "GPU_ALIASES" in _aliases.__all__


def test_import_reads_no_data_and_loads_nothing_heavy() -> None:
    code = (
        "import sys, flowlib.catalog as c\n"
        "loaded = [m for m in ('flowlib.catalog._data', 'pydantic') if m in sys.modules]\n"
        "print(','.join(loaded), c._catalog._CATALOG)\n"
        "c.parse_instance_type('8xh100')\n"
        "print('pydantic' in sys.modules, c._catalog._CATALOG)\n"
        "c.get_catalog()\n"
        "print(c._catalog._CATALOG is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == " None"  # nothing loaded, no catalog built
    assert out[1] == "False None"  # parsing needs no data
    assert out[2] == "True"  # the first get_catalog() reads the bundled file
