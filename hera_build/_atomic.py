"""Replace one file atomically: readers see the old content or the new, never half a file.

``output.write_output`` swaps whole release folders; this is its single-file counterpart for files that live
among the user's own (pyproject.toml, documentation pages), where swapping the folder would be wrong.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename; keep the file's mode.

    Returns False (and leaves the file, and its mtime, alone) when it already holds ``text``, so watchers such as
    ``mkdocs serve`` are not woken by writes that change nothing.
    """
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True
