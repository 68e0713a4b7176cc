"""One rule for tests that need a component outside Python (git, a Docker engine, a registry, pack, Argo's CRDs).

A missing component skips the test *loudly*, with a reason that names the component and how to get it. With
``CI=true`` it fails instead: CI (``.ci/run``) installs and starts every component, so a skip there would hide a
broken set-up.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["IN_CI", "require_component", "require_executable"]

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_component(reason: str) -> NoReturn:
    """Skip loudly, or fail when ``CI=true``: call it when a component a test needs is missing."""
    if IN_CI:
        pytest.fail(f"CI=true but a required component is missing: {reason}", pytrace=False)
    pytest.skip(f"COMPONENT MISSING: {reason}")


def require_executable(name: str, how: str) -> str:
    """The path of executable ``name`` on PATH; a missing one is :func:`require_component` with ``how``."""
    path = shutil.which(name)
    if path is None:
        require_component(f"{name} is not on PATH ({how})")
    return path
