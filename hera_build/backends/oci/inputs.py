"""The dependency layer's cache key: everything that decides its bytes, and nothing of the project's code.

Wheels are identified by their *contents* (:func:`hera_build.inputs.wheel_content_digest`: member names and
bytes), not by the zip file's bytes: a wheel rebuilt with other zip timestamps installs the same files, so it
must not invalidate the cached layer. The image's input digest (the label release pipelines compare) is the
shared one of :mod:`hera_build.inputs`, so every backend labels its images the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hera_build.backends.oci.model import canonical_json, sha256_digest
from hera_build.inputs import wheel_content_digest

__all__ = ["FORMAT_VERSION", "wheel_inputs", "dependency_layer_key"]

FORMAT_VERSION = 1
"""Bumped whenever the backend lays files out differently, so old cache entries are not reused."""


def wheel_inputs(wheels: Sequence[Path]) -> list[list[str]]:
    """``[file name, content digest]`` per wheel, sorted: the file name carries the tags, the digest the files."""
    return [[wheel.name, wheel_content_digest(wheel)] for wheel in sorted(wheels, key=lambda path: path.name)]


def dependency_layer_key(
    *, wheels: list[list[str]], venv: str, python: Mapping[str, str], epoch: int, compress_level: int, zlib: str
) -> str:
    """``sha256:`` of the dependency layer's inputs: wheels, venv path, interpreter, epoch and compression."""
    return sha256_digest(
        canonical_json(
            {
                "format": FORMAT_VERSION,
                "layer": "dependencies",
                "wheels": wheels,
                "venv": venv,
                "python": dict(python),
                "epoch": epoch,
                "gzip": {"level": compress_level, "zlib": zlib},
            }
        )
    )
