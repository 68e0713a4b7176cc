"""Replace one file atomically: readers see the old content or the new, never half a file.

``output.write_output`` swaps whole release folders; this is its single-file counterpart for files that live
among the user's own (pyproject.toml, documentation pages), where swapping the folder would be wrong.

A writer holds an ``flock`` on its temporary file (``.<name>.<random>.tmp``) until it is renamed into place, so
a temporary file that nobody holds was left by a killed writer, and the next write of the same file removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import tempfile
import time
from pathlib import Path

from hera_build.errors import OutputError


def write_text_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename; keep the file's mode.

    Returns False (and leaves the file, and its mtime, alone) when it already holds ``text``, so watchers such as
    ``mkdocs serve`` are not woken by writes that change nothing.
    """
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise unwritable(path, exc) from None
    held = os.dup(fd)  # the lock lives until this is closed, after the rename (the file object closes fd)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # ours while we write: see _remove_abandoned
        _remove_abandoned(path, keep=Path(temp))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise unwritable(path, exc) from None
        raise
    finally:
        os.close(held)
    return True


def unwritable(path: Path, exc: OSError) -> OutputError:
    """An ``OSError`` met while writing ``path``, as the one-line error the CLI prints (no errno, no traceback)."""
    if isinstance(exc, IsADirectoryError):
        return OutputError(f"cannot write {path}: it is a folder", "pass a file path")
    return OutputError(
        f"cannot write {path}: {exc.strerror or type(exc).__name__}",
        "choose a writable location with free space, or fix its permissions",
    )


_ABANDONED_AFTER = 10.0
"""Seconds a temporary file must be old before it counts as abandoned: a writer locks its file right after
creating it, and this covers that instant."""


def _remove_abandoned(path: Path, *, keep: Path) -> None:
    """Remove temporary files of ``path`` that no writer holds: what killed writers left behind."""
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")
    for name in glob.glob(pattern):
        candidate = Path(name)
        if candidate == keep:
            continue
        try:
            if time.time() - candidate.stat().st_mtime < _ABANDONED_AFTER:
                continue
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            candidate.unlink()
