"""Deterministic ``tar+gzip`` layers from a staging tree: the same files give the same bytes on every machine.

Everything a tar or gzip header could leak about the machine or the moment is fixed: entries are sorted by path,
owner ``0:0`` with empty user and group names, modes normalized to ``0755``/``0644``, every mtime set to
``SOURCE_DATE_EPOCH`` (or :data:`DEFAULT_EPOCH`), PAX format, and a gzip header with mtime 0, no file name and a
fixed compression level. The remaining dependency is zlib itself: the same zlib version and level give the same
compressed bytes (the uncompressed ``diff_id`` does not depend even on that).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hera_build.core.digests import digest_hex
from hera_build.errors import BuildError
from hera_build.image.backends.oci.model import OCI_LAYER_GZIP, Descriptor

DEFAULT_EPOCH = 315532800
"""1980-01-01T00:00:00Z, the earliest time a zip (wheel) can hold: used when ``SOURCE_DATE_EPOCH`` is not set."""
COMPRESS_LEVEL = 6
_DIR_MODE = 0o755
_FILE_MODE = 0o644
_EXEC_MODE = 0o755


@dataclass(frozen=True)
class Layer:
    """A layer blob on disk with its descriptor and ``diff_id`` (the digest of the uncompressed tar)."""

    path: Path
    descriptor: Descriptor
    diff_id: str

    @property
    def digest(self) -> str:
        return self.descriptor.digest


class _HashingWriter:
    """A write-only stream that hashes and counts what goes through it."""

    def __init__(self, target: BinaryIO | gzip.GzipFile) -> None:
        self._target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)

    def flush(self) -> None:
        self._target.flush()

    def tell(self) -> int:
        return self.size


def tree_paths(root: Path) -> Iterator[Path]:
    """Every path under ``root`` (not ``root`` itself), parents before children, in a machine-independent order.

    Sorting by path components (not by the raw string) keeps ``a/`` and its contents together before ``a-b``.
    """
    entries: list[tuple[tuple[str, ...], Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in (*dirnames, *filenames):
            path = base / name
            entries.append((path.relative_to(root).parts, path))
    for _, path in sorted(entries):
        yield path


def _tarinfo(path: Path, root: Path, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    st = path.lstat()
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = _DIR_MODE
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = _EXEC_MODE if st.st_mode & 0o111 else _FILE_MODE
    else:
        raise BuildError(f"cannot put {path} in a layer: not a file, directory or symlink", "remove it from the tree")
    return info


def write_layer(root: Path, blobs: Path, *, epoch: int = DEFAULT_EPOCH, level: int = COMPRESS_LEVEL) -> Layer:
    """Write the tree under ``root`` (which stands for ``/`` in the image) as a layer blob into ``blobs``.

    The blob is named by its digest (``blobs/<hex>``), written to a temporary file first and renamed, so a
    crash never leaves a blob whose name lies about its content.
    """
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".layer-", dir=blobs)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=level) as gz:
                uncompressed = _HashingWriter(gz)
                with tarfile.open(fileobj=uncompressed, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                    for path in tree_paths(root):
                        info = _tarinfo(path, root, epoch)
                        if info.isreg():
                            with path.open("rb") as stream:
                                tar.addfile(info, stream)
                        else:
                            tar.addfile(info)
        digest = "sha256:" + compressed.sha.hexdigest()
        target = blobs / digest_hex(digest)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Layer(
        path=target,
        descriptor=Descriptor(OCI_LAYER_GZIP, digest, compressed.size),
        diff_id="sha256:" + uncompressed.sha.hexdigest(),
    )
