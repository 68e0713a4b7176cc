"""hera-build: the Python package as the single source of truth for Hera WorkflowTemplates and runner images."""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("hera-build")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
