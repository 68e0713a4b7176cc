"""Progress reporting: every long step takes a ``progress`` callable (the CLI passes one that writes to stderr)."""

from __future__ import annotations


def no_progress(message: str) -> None:
    """The default ``progress``: library callers that pass none hear nothing."""
    del message
