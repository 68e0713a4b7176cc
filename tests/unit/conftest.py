from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


@pytest.fixture
def sample_packages(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make tests/packages importable by dotted name, as an installed project is."""
    monkeypatch.syspath_prepend(str(PACKAGES))
    yield PACKAGES
