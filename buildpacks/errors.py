"""Typed errors for everything pack can tell us, each with the problem and the fix.

pack reports most failures as exit code 1 plus an ``ERROR: …`` line; the lifecycle phases that it runs in
containers add ``failed with status code: N``. :mod:`buildpacks.failures` turns those into these classes, so
callers can react to *what* failed (an untrusted builder, a missing image) instead of parsing text again.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "PackError",
    "PackNotFoundError",
    "PackVersionError",
    "PackTimeoutError",
    "PackFailedError",
    "DaemonUnavailableError",
    "ImageNotFoundError",
    "UntrustedBuilderError",
    "DetectionFailedError",
    "BuildpackBuildError",
    "ExportError",
    "RegistryError",
    "LifecycleError",
    "ReportError",
]


class PackError(Exception):
    """Base class: ``message`` says what went wrong, ``fix`` what to do about it."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class PackNotFoundError(PackError):
    """The ``pack`` executable is not installed where we looked."""


class PackVersionError(PackError):
    """pack is too old (or reports a version we cannot read)."""


class PackTimeoutError(PackError):
    """pack did not finish in time and was stopped."""


class PackFailedError(PackError):
    """pack exited non-zero. ``exit_code`` is pack's, ``status_code`` the lifecycle's (``None`` if it never ran)."""

    def __init__(
        self,
        message: str,
        fix: str | None = None,
        *,
        exit_code: int = 1,
        status_code: int | None = None,
        output: Sequence[str] = (),
    ) -> None:
        super().__init__(message, fix)
        self.exit_code = exit_code
        self.status_code = status_code
        self.output = tuple(output)
        """The last lines pack printed: what a user needs to see of the failure."""


class DaemonUnavailableError(PackFailedError):
    """pack could not reach the Docker engine."""


class ImageNotFoundError(PackFailedError):
    """The builder, run image or lifecycle image is neither local (pull policy ``never``) nor pullable."""

    def __init__(
        self,
        message: str,
        fix: str | None = None,
        *,
        image: str = "",
        exit_code: int = 1,
        status_code: int | None = None,
        output: Sequence[str] = (),
    ) -> None:
        super().__init__(message, fix, exit_code=exit_code, status_code=status_code, output=output)
        self.image = image


class UntrustedBuilderError(PackFailedError):
    """The builder is not trusted, so pack needs the lifecycle image, which it cannot get."""


class DetectionFailedError(PackFailedError):
    """No buildpack group passed detection (lifecycle status 20-22)."""


class BuildpackBuildError(PackFailedError):
    """A buildpack's ``bin/build`` failed (lifecycle status 51) or the build phase failed (52)."""


class ExportError(PackFailedError):
    """The image could not be written to the daemon or registry (lifecycle status 62)."""


class RegistryError(PackFailedError):
    """The registry refused or could not be reached while publishing."""


class LifecycleError(PackFailedError):
    """Any other lifecycle phase failure (analyze, restore, API incompatibility)."""


class ReportError(PackError):
    """pack succeeded but ``report.toml`` is missing or unreadable."""
