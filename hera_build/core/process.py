"""The one way hera-build runs another program: an argument list (never a shell), logged, with a timeout.

cibuildwheel and PyPA build keep every subprocess behind one helper so that commands can be logged, faked in
tests and, when the program is missing, reported by name instead of as a bare ``FileNotFoundError``.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hera_build.errors import BuildError, EngineError, HeraBuildError

_log = logging.getLogger("hera_build.core.process")
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandFailed(BuildError):
    """A program exited non-zero; ``result`` holds its output for callers that want to explain it."""

    def __init__(self, message: str, fix: str | None, result: CommandResult) -> None:
        super().__init__(message, fix)
        self.result = result


def last_lines(text: str, count: int = 15) -> list[str]:
    """The last ``count`` non-empty lines: what a user needs to see of a failed step."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return lines[-count:]


def run_command(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    what: str | None = None,
    missing_fix: str | None = None,
) -> CommandResult:
    """Run ``args`` and capture its output.

    ``env`` is added to (not replacing) the current environment, so the host's configuration (pip indexes,
    proxies, credentials) reaches the program. With ``check`` a non-zero exit raises :class:`CommandFailed`
    whose message names ``what`` ran and ends with the last line of its error output.
    """
    argv = tuple(os.fspath(arg) for arg in args)
    label = what or Path(argv[0]).name
    _log.debug("$ %s%s", shlex.join(argv), f"  (in {cwd})" if cwd else "")
    try:
        completed = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise EngineError(
            f"{argv[0]} is not installed (not found on PATH)", missing_fix or f"install {argv[0]}"
        ) from None
    except subprocess.TimeoutExpired:
        raise HeraBuildError(
            f"{label} did not finish within {timeout:.0f}s", "check the network and try again"
        ) from None
    result = CommandResult(argv, completed.returncode, completed.stdout or "", completed.stderr or "")
    if check and not result.ok:
        tail = last_lines(result.stderr or result.stdout, 1)
        detail = f": {tail[0]}" if tail else ""
        raise CommandFailed(f"{label} failed with exit code {result.returncode}{detail}", None, result)
    return result
