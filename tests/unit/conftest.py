from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


@pytest.fixture
def sample_packages(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make tests/packages importable by dotted name, as an installed project is."""
    monkeypatch.syspath_prepend(str(PACKAGES))
    yield PACKAGES


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the user's cache (``hera-build templates`` keeps its results there): one of the session's own."""
    if "HERA_BUILD_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("HERA_BUILD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "hera-build-cache"))
