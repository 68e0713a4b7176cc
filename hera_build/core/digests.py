"""Content digests: one serialization per document and one sha256 form, shared by every cache and image writer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any

from hera_build.errors import BuildError

_CHUNK = 1 << 20


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one serialization per document, so one digest per content."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """``sha256:<hex>`` → ``<hex>``; other algorithms are refused (the layout and caches are sha256 only)."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64 or not all(c in "0123456789abcdef" for c in hex_part):
        raise BuildError(f"unsupported digest {digest!r}", "hera-build handles sha256 digests only")
    return hex_part


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def copy_and_hash(source: IO[bytes], target: IO[bytes]) -> tuple[str, int]:
    """Copy a stream, returning the ``sha256:`` digest and size of what was copied."""
    sha, size = hashlib.sha256(), 0
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        sha.update(chunk)
        size += len(chunk)
        target.write(chunk)
    return "sha256:" + sha.hexdigest(), size
