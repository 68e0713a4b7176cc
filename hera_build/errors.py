"""One exception family for everything a user can get wrong.

Every error carries the problem *and* the fix, so the CLI can print one clear line
(``error: <problem> (fix: <fix>)``) and exit non-zero. The library never prints or exits.
"""

from __future__ import annotations

__all__ = [
    "HeraBuildError",
    "ConfigError",
    "VersionError",
    "DiscoveryError",
    "ResolveError",
    "LintError",
    "OutputError",
    "EngineError",
    "BuildError",
    "PublishError",
    "ImmutableTagError",
    "CheckError",
    "ClusterError",
    "ImmutableObjectError",
    "RunError",
    "ExitCode",
]


class ExitCode:
    """Process exit codes, defined once (cibuildwheel keeps them in one file too)."""

    OK = 0
    USER_ERROR = 1
    USAGE_ERROR = 2


class HeraBuildError(Exception):
    """Base class: ``message`` says what is wrong, ``fix`` says what to do about it."""

    exit_code = ExitCode.USER_ERROR

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if not self.fix:
            return self.message
        # A message that carries a diff or a list ends with its last line: the fix gets a line of its own.
        return f"{self.message}\nfix: {self.fix}" if "\n" in self.message else f"{self.message} (fix: {self.fix})"


class ConfigError(HeraBuildError):
    """pyproject.toml is missing, malformed, or has an unknown/invalid key."""


class VersionError(HeraBuildError):
    """A version is not PEP 440, or a name derived from it is invalid or collides."""


class DiscoveryError(HeraBuildError):
    """A configured module cannot be imported, or defines no Hera objects."""


class ResolveError(HeraBuildError):
    """A templateRef cannot be pinned: no provider, two providers, or a version outside the specifier."""


class LintError(HeraBuildError):
    """Emitted objects would be rejected by Argo."""


class OutputError(HeraBuildError):
    """Output cannot be written, or would overwrite different content."""


class EngineError(HeraBuildError):
    """A build engine (Docker, pack) is not installed, not running or too old."""


class BuildError(HeraBuildError):
    """A build step failed."""


class PublishError(HeraBuildError):
    """The registry is unreachable, refuses auth, or rejects the push."""


class ImmutableTagError(PublishError):
    """A released tag already exists with other content."""


class CheckError(HeraBuildError):
    """The image check found an image that would not run the project's templates."""


class ClusterError(HeraBuildError):
    """The Kubernetes API server is unreachable, refuses a request, or lacks Argo's CRDs."""


class ImmutableObjectError(ClusterError):
    """A released object of this version exists on the cluster with other content."""


class RunError(HeraBuildError):
    """A workflow cannot be run locally: an unsupported feature, a bad argument, a missing template or image."""
