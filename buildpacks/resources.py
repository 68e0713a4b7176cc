"""The files this package ships: the ``hera-runner`` buildpack and a builder definition.

They are package data inside the wheel. Wheels and some checkouts do not always keep executable bits, and pack
copies a buildpack folder's file modes into the builder as they are, so :func:`copy_buildpack` makes a copy with
``bin/*`` executable: that copy is what gets handed to pack.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from importlib.resources import files
from pathlib import Path

__all__ = [
    "BUILDPACK_ID",
    "buildpack_dir",
    "builder_dir",
    "buildpack_version",
    "copy_buildpack",
    "copy_builder",
]

BUILDPACK_ID = "hera-build/hera-runner"
_VERSION_RE = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)


def _data_dir(name: str) -> Path:
    path = Path(str(files("buildpacks"))) / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: reinstall hera-build (the buildpacks package data is incomplete)")
    return path


def buildpack_dir() -> Path:
    """The ``hera-runner`` buildpack as installed (may lack executable bits: use :func:`copy_buildpack`)."""
    return _data_dir("hera-runner")


def builder_dir() -> Path:
    """The builder definition: ``builder.toml`` and ``stack.Dockerfile``."""
    return _data_dir("builder")


@cache
def buildpack_version() -> str:
    """The ``[buildpack] version`` of the shipped ``buildpack.toml``."""
    match = _VERSION_RE.search((buildpack_dir() / "buildpack.toml").read_text(encoding="utf-8"))
    if match is None:
        raise ValueError("buildpack.toml has no version")
    return match.group(1)


def copy_buildpack(destination: Path) -> Path:
    """Copy the buildpack to ``destination/hera-runner`` with ``bin/*`` executable; returns that folder."""
    target = destination / "hera-runner"
    shutil.copytree(buildpack_dir(), target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    for script in (target / "bin").iterdir():
        script.chmod(0o755)
    return target


def copy_builder(destination: Path) -> Path:
    """Copy ``builder/`` and ``hera-runner/`` side by side into ``destination`` (builder.toml points at
    ``../hera-runner``); returns the builder folder, ready for ``pack builder create --config``."""
    target = destination / "builder"
    shutil.copytree(builder_dir(), target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    copy_buildpack(destination)
    return target
