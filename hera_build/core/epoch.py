"""``SOURCE_DATE_EPOCH``: read and checked in one place, before any work (a wheel build, a push) depends on it.

Reproducible-builds.org defines it as whole seconds since 1970-01-01 UTC. A malformed value must fail at once
with one clear line: passed on to a build backend, it fails deep inside the wheel build instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from hera_build.errors import ConfigError

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
MAX_EPOCH = 253402300799
"""9999-12-31T23:59:59Z: later timestamps overflow date handling (and tar and zip headers)."""
_DIGITS = re.compile(r"^[0-9]+$")


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int | None:
    """The value of ``SOURCE_DATE_EPOCH`` (``None`` when unset or empty), or a :class:`ConfigError`."""
    text = (os.environ if environ is None else environ).get(SOURCE_DATE_EPOCH, "").strip()
    if not text:
        return None
    if not _DIGITS.match(text) or int(text) > MAX_EPOCH:
        raise ConfigError(
            f"{SOURCE_DATE_EPOCH}={text!r} is not a timestamp: it must be whole seconds since 1970-01-01 UTC",
            f"set it to e.g. the commit time ({SOURCE_DATE_EPOCH}=$(git log -1 --format=%ct)), or unset it",
        )
    return int(text)
