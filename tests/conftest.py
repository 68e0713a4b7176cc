"""Suite-wide set-up: the test environment written by scripts/setup.sh (``.env.sh``), so that the README's
plain ``.venv/bin/python -m pytest`` finds the Docker engine, registry, base image and pack that it started.
Variables already set in the environment win."""

from __future__ import annotations

import os
import re
from pathlib import Path

_ENV_FILE = Path(__file__).resolve().parent.parent / ".env.sh"
_EXPORT = re.compile(r"^export ([A-Z_][A-Z0-9_]*)=(.*)$")


def _load_env_file(path: Path) -> None:
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        match = _EXPORT.match(line.strip())
        if match:
            os.environ.setdefault(match[1], match[2].strip("'\""))


_load_env_file(_ENV_FILE)
