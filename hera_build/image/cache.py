"""The on-disk cache of the OCI backend: content-addressed blobs plus small JSON records keyed by input digests.

Blobs are stored by digest (``blobs/sha256/<hex>``, the OCI layout's own naming), and a blob is handed out only
while its bytes still match that name (checked cheaply by :mod:`hera_build.core.integrity`): a file changed on
disk, even to other bytes of the same size, would otherwise go into ``--output`` archives under a digest it does
not have and be refused by every registry (``DIGEST_INVALID``), build after build. A blob that no longer
matches is removed, said in one progress line, and so rebuilt or downloaded again. Records (the dependency layer
for a set of inputs, the probe of a base image, a compressed form of an uncompressed base layer) are written
atomically and re-validated against the blobs they name before they are trusted.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from hera_build.core.cachedir import default_cache_dir as hera_build_cache_dir
from hera_build.core.digests import copy_and_hash, digest_hex, file_digest
from hera_build.core.integrity import check_digest, record_digest
from hera_build.errors import BuildError


def default_cache_dir() -> Path:
    """``oci/`` in hera-build's cache directory (``$HERA_BUILD_CACHE_DIR``, else the XDG cache)."""
    return hera_build_cache_dir() / "oci"


class BuildCache:
    """Blobs and records under one directory."""

    def __init__(self, root: Path | None = None, *, report: Callable[[str], None] | None = None) -> None:
        self.root = root or default_cache_dir()
        self.blobs = self.root / "blobs" / "sha256"
        self.report: Callable[[str], None] = report or (lambda message: None)
        """Where the one line about a removed corrupt blob goes (a build's progress)."""

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest_hex(digest)

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        """Whether the cache holds ``digest`` with the right bytes (and ``size``); a corrupt copy is removed."""
        path = self.blob_path(digest)
        try:
            stat = path.stat()
        except OSError:
            return False
        if size is not None and stat.st_size != size:
            return False
        if check_digest(path, self._stamp_path(digest), digest):
            return True
        path.unlink(missing_ok=True)
        self.report(f"cache: blob {digest[:19]} was changed on disk: removed, rebuilding or downloading it again")
        return False

    def record_blob(self, digest: str) -> None:
        """Remember that the blob just written under ``digest`` (by a writer that hashed what it wrote) has those
        bytes, so that the next :meth:`has_blob` needs no hashing."""
        record_digest(self.blob_path(digest), digest, self._stamp_path(digest))

    def _stamp_path(self, digest: str) -> Path:
        return self.root / "verified" / digest_hex(digest)

    def put_blob_stream(self, chunks: Iterable[bytes], digest: str) -> Path:
        """Store a downloaded blob, verifying it: a blob whose bytes do not match its name is never kept."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=self.blobs)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            actual = file_digest(tmp)
            if actual != digest:
                raise BuildError(f"downloaded blob {digest} has digest {actual}", "retry; the source may be corrupt")
            os.replace(tmp, self.blob_path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        record_digest(self.blob_path(digest), digest, self._stamp_path(digest))
        return self.blob_path(digest)

    def put_blob_file(self, stream: IO[bytes]) -> tuple[str, int]:
        """Store a blob from a stream whose digest is not known yet; returns its digest and size."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".copy-", dir=self.blobs)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = copy_and_hash(stream, out)
            os.replace(tmp, self.blob_path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        record_digest(self.blob_path(digest), digest, self._stamp_path(digest))
        return digest, size

    def put_blob_bytes(self, data: bytes, digest: str) -> Path:
        return self.put_blob_stream([data], digest)

    def record_path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{digest_hex(key) if key.startswith('sha256:') else key}.json"

    def read_record(self, kind: str, key: str) -> dict[str, Any] | None:
        path = self.record_path(kind, key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write_record(self, kind: str, key: str, value: dict[str, Any]) -> None:
        path = self.record_path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".record-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
        os.replace(tmp_name, path)
