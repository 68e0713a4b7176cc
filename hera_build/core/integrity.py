"""Is a cached file still the file that was cached? Answered cheaply, without missing a same-size change.

Caches key files by what went into them and hand them out build after build; a file changed on disk afterwards
(a disk error, an interrupted copy, another tool) must not be handed out, or a wrong blob lands in an image
under a digest it does not have. Hashing every file on every build costs about 0.08 s per 80 MB, too much for a
warm rebuild, so a file is hashed once and its *stat stamp* kept beside the digest: size, device, inode, and the
modification and change times in nanoseconds. Any write to the file moves its ctime, which no program can set
back (``os.utime`` sets only atime and mtime), so an unchanged stamp means unchanged bytes; a changed stamp
means the file is hashed again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _stat_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_dev} {stat.st_ino} {stat.st_mtime_ns} {stat.st_ctime_ns}"


def record_digest(path: Path, digest: str, stamp: Path) -> None:
    """Remember in ``stamp`` that ``path`` holds ``digest`` (which the caller has just computed or checked)."""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".stamp-", dir=stamp.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{digest} {_stat_stamp(path)}")
    os.replace(tmp_name, stamp)


def recorded_digest(path: Path, stamp: Path) -> str | None:
    """The digest ``stamp`` records for ``path`` while the file's stat stamp is unchanged (no hashing); ``None``
    when there is no stamp, or the file changed since (then only hashing can tell)."""
    try:
        recorded = stamp.read_text(encoding="utf-8").split(" ", 1)
        current = _stat_stamp(path)
    except OSError:
        return None
    return recorded[0] if len(recorded) == 2 and recorded[1] == current else None


def check_digest(path: Path, stamp: Path, digest: str | None = None) -> bool | None:
    """Whether ``path`` holds ``digest`` (default: the digest recorded in ``stamp``).

    ``None`` when there is nothing to compare with (no ``digest`` and no stamp) or no file. A file whose stamp
    changed is hashed again; when it still matches, the stamp is renewed.
    """
    try:
        recorded = stamp.read_text(encoding="utf-8").split(" ", 1)
    except OSError:
        recorded = []
    expected = digest or (recorded[0] if recorded else None)
    if expected is None or not path.is_file():
        return None
    if recorded == [expected, _stat_stamp(path)]:
        return True
    if file_sha256(path) != expected:
        return False
    record_digest(path, expected, stamp)
    return True
