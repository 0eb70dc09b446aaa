"""Optional dependencies: one place that knows which extra brings which module.

Every import of an optional package goes through :func:`import_optional`, so a missing one is one
:class:`~flowlib.errors.ConfigError` line that names what needed it and the extra to install
(``pip install 'flowlib[s3]'``), never a raw ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from flowlib.errors import ConfigError

__all__ = ["EXTRAS", "import_optional", "install_hint"]

#: top-level module -> (the flowlib extra that installs it, its package on PyPI)
EXTRAS: dict[str, tuple[str, str]] = {
    "fsspec": ("s3", "fsspec"),
    "s3fs": ("s3", "s3fs"),
    "opentelemetry.sdk": ("trace", "opentelemetry-sdk"),
    "matplotlib": ("plot", "matplotlib"),
    "starlette": ("ui", "starlette"),
    "uvicorn": ("ui", "uvicorn"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "moto": ("test", "moto[server]"),
}


def install_hint(module: str) -> str:
    """``pip install 'flowlib[EXTRA]'  (or: pip install PACKAGE)`` for an optional module."""
    extra, package = _extra_of(module)
    return f"pip install 'flowlib[{extra}]'  (or: pip install '{package}')"


def import_optional(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` (one of :data:`EXTRAS`, or a submodule of one); when it (or what it
    needs) is not installed, raise ConfigError: ``{needed_for} needs PACKAGE, which is not
    installed``, with the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, package = _extra_of(module)
        missing = getattr(exc, "name", None) or module
        raise ConfigError(
            f"{needed_for} needs {package}, which is not installed (no module {missing!r})",
            suggestions=[install_hint(module)],
            missing_module=missing,
            extra=extra,
        ) from None


def _extra_of(module: str) -> tuple[str, str]:
    for name, found in EXTRAS.items():
        if module == name or module.startswith(name + "."):
            return found
    raise KeyError(f"{module} is not an optional dependency of flowlib (see EXTRAS)")
