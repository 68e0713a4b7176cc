"""The one way this package runs pack: an argument list (never a shell), logged, bounded, streamed.

:class:`PackClient` takes any :class:`Runner`, so tests drive it with a fake that returns canned output and
records the arguments, as PyPA build's ``runner`` does.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from buildpacks.errors import PackNotFoundError, PackTimeoutError

__all__ = ["LineHandler", "ProcessResult", "Runner", "run_process"]

_log = logging.getLogger("buildpacks")

LineHandler = Callable[[str], None]
"""Called with each line of output (without its newline) as the program prints it."""


@dataclass(frozen=True)
class ProcessResult:
    args: tuple[str, ...]
    returncode: int
    output: str
    """stdout and stderr interleaved, as a user would have seen them in a terminal."""

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


class Runner(Protocol):
    def __call__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        on_line: LineHandler | None = None,
    ) -> ProcessResult: ...


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def run_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    on_line: LineHandler | None = None,
) -> ProcessResult:
    """Run ``args``, streaming its merged output to ``on_line``; ``env`` is added to the current environment.

    A missing executable raises :class:`PackNotFoundError` naming it; running past ``timeout`` seconds kills the
    program (and its process group) and raises :class:`PackTimeoutError`.
    """
    argv = tuple(str(arg) for arg in args)
    _log.info("$ %s%s", shlex.join(argv), f"  (in {cwd})" if cwd else "")
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
    except FileNotFoundError:
        where = "does not exist" if os.sep in argv[0] else "is not installed (not found on PATH)"
        raise PackNotFoundError(f"{argv[0]} {where}") from None
    except PermissionError:
        raise PackNotFoundError(f"{argv[0]} is not executable") from None
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill_group(process)

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            text = line.rstrip("\n")
            lines.append(text)
            if on_line:
                on_line(text)
        returncode = process.wait()
    finally:
        if timer:
            timer.cancel()
        if process.poll() is None:
            _kill_group(process)
            process.wait()
    if timed_out.is_set():
        raise PackTimeoutError(
            f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} did not finish within {timeout:.0f}s and was "
            "stopped",
            "look at the output above for a step that hangs (a pull, a download) or raise the timeout",
        )
    return ProcessResult(argv, returncode, "\n".join(lines) + ("\n" if lines else ""))
