"""hera-build: the Python package as the single source of truth for Hera WorkflowTemplates and runner images.

The library API is :mod:`hera_build.api` (and the errors in :mod:`hera_build.errors`); everything else is
internal. The command line is ``hera-build`` (:mod:`hera_build._cli`).
"""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("hera-build")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
