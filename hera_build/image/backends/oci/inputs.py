"""Cache keys of the dependency layers: everything that decides their bytes, and nothing of the project's code.

Wheels are identified by their *contents* (:func:`hera_build.image.inputs.wheel_content_digest`: member names and
bytes), not by the zip file's bytes: a wheel rebuilt with other zip timestamps installs the same files, so it
must not invalidate the cached layer. The image's input digest (the label release pipelines compare) is the
shared one of :mod:`hera_build.image.inputs`, so every backend labels its images the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hera_build.core.digests import canonical_json, sha256_digest
from hera_build.core.integrity import file_sha256
from hera_build.image.cache import BuildCache
from hera_build.image.inputs import wheel_content_digest

FORMAT_VERSION = 2
"""Bumped whenever the backend lays files out differently, so old cache entries are not reused."""


def content_digest(wheel: Path, cache: BuildCache | None = None, sha256: str | None = None) -> str:
    """:func:`wheel_content_digest`, remembered by the file's own digest: hashing a wheel's bytes costs a tenth
    of decompressing every member, and (unlike the file's inode or mtime) says exactly which bytes were seen.
    ``sha256`` is that digest when the caller knows it (:meth:`Wheelhouse.sha256_of`)."""
    if cache is None:
        return wheel_content_digest(wheel)
    key = sha256_digest(f"{sha256 or file_sha256(wheel)} {wheel.name}".encode())
    record = cache.read_record("wheel-content", key)
    if record is not None and isinstance(record.get("digest"), str):
        return str(record["digest"])
    digest = wheel_content_digest(wheel)
    cache.write_record("wheel-content", key, {"digest": digest, "wheel": wheel.name})
    return digest


def wheel_inputs(wheels: Sequence[Path], cache: BuildCache | None = None) -> list[list[str]]:
    """``[file name, content digest]`` per wheel, sorted: the file name carries the tags, the digest the files."""
    return [[wheel.name, content_digest(wheel, cache)] for wheel in sorted(wheels, key=lambda path: path.name)]


def layer_key(kind: str, **inputs: object) -> str:
    """``sha256:`` of one hera-build layer's inputs (members, venv path, interpreter, epoch, compression) and the
    layout version: the cache key of a layer, shared by every project whose layer has the same inputs."""
    return sha256_digest(canonical_json({"format": FORMAT_VERSION, "layer": kind, **inputs}))
