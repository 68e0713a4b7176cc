"""hera-build: the Python package as the single source of truth for Hera WorkflowTemplates and runner images.

The library API is :mod:`hera_build.api` (and the errors in :mod:`hera_build.errors`); everything else is
internal. The command line is ``hera-build`` (:mod:`hera_build._cli`).
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__`` is read from the installed metadata on first use: importing ``importlib.metadata`` costs a
    tenth of a second that most commands never need."""
    if name != "__version__":
        raise AttributeError(f"module 'hera_build' has no attribute {name!r}")
    import importlib.metadata

    try:
        return importlib.metadata.version("hera-build")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"
