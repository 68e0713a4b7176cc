""":class:`PackClient`: the ``pack`` CLI as a small typed API.

Every call is one ``pack`` process through an injectable :class:`~buildpacks._process.Runner` (an argument list,
never a shell). Results come from files pack writes (``report.toml``), never from its logs; failures come back
as the typed errors of :mod:`buildpacks.errors`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from buildpacks._process import LineHandler, ProcessResult, Runner, run_process
from buildpacks.errors import PackFailedError, PackNotFoundError, PackVersionError
from buildpacks.failures import classify_failure
from buildpacks.options import BuilderCreateOptions, BuildOptions
from buildpacks.report import REPORT_FILE, BuildReport, read_report
from buildpacks.version import MINIMUM_PACK_VERSION, PackVersion, parse_pack_version

__all__ = ["DEFAULT_TIMEOUT", "PackClient"]

DEFAULT_TIMEOUT = 1800.0
"""Seconds a build may take before pack is stopped (a cold build with large wheels takes minutes)."""
_SHORT_TIMEOUT = 60.0


class PackClient:
    """Runs ``executable`` (default ``pack`` on PATH) with ``env`` added to the environment (e.g. ``PACK_HOME``,
    ``DOCKER_HOST``)."""

    def __init__(
        self,
        executable: str | os.PathLike[str] = "pack",
        *,
        runner: Runner = run_process,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.executable = os.fspath(executable)
        self.runner = runner
        self.env = dict(env or {})
        self.timeout = timeout
        self._version: PackVersion | None = None

    def _run(self, args: Sequence[str], *, timeout: float, on_line: LineHandler | None = None) -> ProcessResult:
        try:
            return self.runner([self.executable, *args], env=self.env or None, timeout=timeout, on_line=on_line)
        except PackNotFoundError as exc:
            raise PackNotFoundError(
                exc.message if exc.message.startswith("pack ") else f"pack cannot be run: {exc.message}",
                f"install pack >= {MINIMUM_PACK_VERSION} and put it on PATH, or pass its path",
            ) from None

    def version(self) -> PackVersion:
        """``pack --version``, asked once per client."""
        if self._version is None:
            result = self._run(["--version"], timeout=_SHORT_TIMEOUT)
            if result.returncode != 0:
                raise PackVersionError(
                    f"{self.executable} --version failed with exit code {result.returncode}: "
                    f"{result.output.strip()[-200:]}",
                    "reinstall pack",
                )
            self._version = parse_pack_version(result.output)
        return self._version

    def preflight(self, minimum: PackVersion = MINIMUM_PACK_VERSION) -> PackVersion:
        """Check that pack is installed and at least ``minimum``; returns its version."""
        version = self.version()
        if version < minimum:
            raise PackVersionError(
                f"pack {version} is too old: this needs pack >= {minimum} (0.40.0 and 0.40.1 refuse Docker engines "
                "that speak API 1.41, such as Debian's docker.io 20.10; older ones lack flags we pass)",
                f"install pack {minimum} or newer",
            )
        return version

    def build(self, options: BuildOptions, *, on_line: LineHandler | None = None) -> BuildReport:
        """Run ``pack build`` and return what ``report.toml`` says was made.

        Without ``options.report_output_dir`` the report goes to a temporary folder that is removed afterwards.
        """
        if options.report_output_dir is None:
            with tempfile.TemporaryDirectory(prefix="pack-report-") as tmp:
                return self._build(options, Path(tmp), on_line)
        return self._build(options, options.report_output_dir, on_line)

    def _build(self, options: BuildOptions, report_dir: Path, on_line: LineHandler | None) -> BuildReport:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / REPORT_FILE).unlink(missing_ok=True)  # never read a report of an earlier build
        args = replace(options, report_output_dir=report_dir).to_args()
        result = self._run(args, timeout=self.timeout, on_line=on_line)
        if result.returncode != 0:
            raise classify_failure(result, builder=options.builder, image=options.image)
        return read_report(report_dir)

    def create_builder(self, options: BuilderCreateOptions, *, on_line: LineHandler | None = None) -> None:
        """Run ``pack builder create``."""
        result = self._run(options.to_args(), timeout=self.timeout, on_line=on_line)
        if result.returncode != 0:
            raise classify_failure(result, builder=options.name, image=options.name)

    def trust_builder(self, name: str) -> None:
        """``pack config trusted-builders add NAME``: lets pack run the builder's lifecycle in one container."""
        result = self._run(["config", "trusted-builders", "add", name], timeout=_SHORT_TIMEOUT)
        if result.returncode != 0:
            raise PackFailedError(
                f"pack could not trust builder {name}: {result.output.strip()[-200:]}",
                "check PACK_HOME is writable",
                exit_code=result.returncode,
                output=result.lines[-15:],
            )
