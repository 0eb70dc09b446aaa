"""The emulator package's public names are exactly what ``__all__`` says, sorted."""

from __future__ import annotations

import flowlib.testing.emulators.fcp as fcp


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ruff keeps ``__all__`` in."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists() -> None:
    assert fcp.__all__ == sorted(set(fcp.__all__), key=_isort_key)
    for name in fcp.__all__:
        assert hasattr(fcp, name), name


def test_public_names_are_exported() -> None:
    public = {
        name
        for name, value in vars(fcp).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(fcp.__name__)
    }
    assert public <= set(fcp.__all__)
