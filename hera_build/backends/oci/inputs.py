"""Digests of what goes into an image: the dependency layer's cache key and the image's input digest.

Wheels are identified by their *contents* (member names and bytes), not by the zip file's bytes: a wheel rebuilt
with other zip timestamps installs the same files, so it must not change the layer cache key or the input
digest. The input digest is computed before any layer is written, so a release can compare it with the label
of what the registry already has and skip the build.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hera_build.backends.oci.model import canonical_json, sha256_digest
from hera_build.errors import BuildError

__all__ = ["FORMAT_VERSION", "wheel_content_digest", "wheel_inputs", "dependency_layer_key", "input_digest"]

FORMAT_VERSION = 1
"""Bumped whenever the backend lays out files differently, so old cache entries and digests are not reused."""


def wheel_content_digest(path: Path) -> str:
    """``sha256:`` over the wheel's file name and its sorted members' names and content digests."""
    sha = hashlib.sha256(path.name.encode() + b"\n")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda item: item.filename):
                if info.is_dir():
                    continue
                member = hashlib.sha256(archive.read(info)).hexdigest()
                sha.update(f"{info.filename}\0{member}\0{info.external_attr >> 16 & 0o111:o}\n".encode())
    except (zipfile.BadZipFile, OSError) as exc:
        raise BuildError(f"cannot read the wheel {path}: {exc}", "remove it from the wheel cache and build again") from None
    return "sha256:" + sha.hexdigest()


def wheel_inputs(wheels: Sequence[Path]) -> list[list[str]]:
    return [[wheel.name, wheel_content_digest(wheel)] for wheel in sorted(wheels, key=lambda path: path.name)]


def dependency_layer_key(
    *, wheels: list[list[str]], venv: str, python: Mapping[str, str], epoch: int, compress_level: int, zlib: str
) -> str:
    """Everything that decides the dependency layer's bytes (and nothing else: not the project's code)."""
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


def input_digest(inputs: Mapping[str, Any]) -> str:
    return sha256_digest(canonical_json({"format": FORMAT_VERSION, **inputs}))
