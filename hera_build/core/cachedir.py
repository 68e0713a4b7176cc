"""Where hera-build keeps its caches (images' layers and probes, emitted templates)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$HERA_BUILD_CACHE_DIR``, else ``$XDG_CACHE_HOME/hera-build``, else ``~/.cache/hera-build``."""
    explicit = os.environ.get("HERA_BUILD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hera-build"
