"""pack's exit code and output → one typed error with a message a user can act on.

pack exits 1 for almost everything (2 for "soft" errors such as no builder chosen) and says what happened in
``ERROR:`` lines; when a lifecycle phase fails in its container, pack adds ``failed with status code: N`` with
the lifecycle's exit code (the platform spec: 20-22 detect, 51/52 build, 62 export, …). We read both, most
specific first. The patterns were taken from pack 0.40 and lifecycle 0.21 output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from buildpacks._process import ProcessResult
from buildpacks.errors import (
    BuildpackBuildError,
    DaemonUnavailableError,
    DetectionFailedError,
    ExportError,
    ImageNotFoundError,
    LifecycleError,
    PackFailedError,
    RegistryError,
    UntrustedBuilderError,
)

__all__ = ["STATUS_CODES", "classify_failure", "status_code", "error_lines"]

STATUS_CODES: dict[int, str] = {
    11: "the lifecycle does not support pack's platform API",
    12: "the lifecycle does not support a buildpack's API",
    20: "no buildpack group passed detection",
    21: "no buildpack group passed detection, and a buildpack's detect failed with an error",
    22: "detection failed",
    32: "the analyze phase failed",
    42: "the restore phase failed",
    51: "a buildpack failed during build",
    52: "the build phase failed",
    62: "the export phase failed",
    72: "the rebase phase failed",
    82: "the launch phase failed",
}
"""Lifecycle exit codes (platform spec; lifecycle ``platform/exit.go``) and what they mean."""

_STATUS_RE = re.compile(r"failed with status code: (\d+)")
_MISSING_RE = re.compile(r"image '([^']+)' does not exist on the daemon")
_FETCH_RE = re.compile(r"failed to fetch (builder|run) image '([^']+)'|invalid (run)-image '([^']+)'")
_DAEMON_MARKERS = (
    "cannot connect to the docker daemon",
    "failed to connect to the docker api",
    "is the docker daemon running",
    "error during connect",
)
_REGISTRY_MARKERS = (
    "unauthorized",
    "denied",
    "authentication required",
    "server gave http response to https client",
    "connection refused",
    "no such host",
)
_PACK_SUMMARIES = ("failed to build", "failed to export", "failed to detect", "exit status ")
_TAIL = 15


def status_code(output: str) -> int | None:
    """The lifecycle's exit code from pack's ``failed with status code: N``, if a phase failed."""
    found = _STATUS_RE.findall(output)
    return int(found[-1]) if found else None


def error_lines(lines: Sequence[str]) -> list[str]:
    """``ERROR:`` lines, without the prefix, in order (pack's own and the buildpacks')."""
    return [line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line]


@dataclass(frozen=True)
class _Failure:
    """What every classification needs: the output, pack's exit code and the lifecycle's status."""

    lines: tuple[str, ...]
    exit_code: int
    status: int | None

    @property
    def text(self) -> str:
        return "\n".join(self.lines).lower()

    @property
    def tail(self) -> tuple[str, ...]:
        return tuple(line for line in self.lines if line.strip())[-_TAIL:]

    @property
    def summary(self) -> str:
        """pack's last ``ERROR:`` line, else its last line."""
        errors = error_lines(self.lines)
        if errors:
            return errors[-1]
        return self.tail[-1].strip() if self.tail else "no output"

    @property
    def buildpack_error(self) -> str | None:
        """The last error a buildpack printed (not pack's own ``failed to build`` summary)."""
        for text in reversed(error_lines(self.lines)):
            if not text.startswith(_PACK_SUMMARIES):
                return text
        return None

    @property
    def detect_results(self) -> str:
        """The lifecycle's ``fail: id@version`` lines of the detect phase."""
        return "; ".join(line.strip() for line in self.lines if line.strip().startswith(("fail:", "err:")))

    def error(self, cls: type[PackFailedError], message: str, fix: str) -> PackFailedError:
        return cls(message, fix, exit_code=self.exit_code, status_code=self.status, output=self.tail)


def classify_failure(result: ProcessResult, *, builder: str = "", image: str = "") -> PackFailedError:
    """Turn a failed ``pack build`` (or ``builder create``) into the most specific :class:`PackFailedError`."""
    failure = _Failure(tuple(result.lines), result.returncode, status_code(result.output))
    text = failure.text
    if any(marker in text for marker in _DAEMON_MARKERS):
        return failure.error(
            DaemonUnavailableError,
            f"pack cannot reach the Docker engine: {failure.summary}",
            "start the engine (or point DOCKER_HOST at it) and check that this user may use its socket",
        )
    if "lifecycle image" in text or "builder must be trusted" in text:
        name = builder or "BUILDER"
        return failure.error(
            UntrustedBuilderError,
            f"builder {name} is not trusted (or buildpacks were added to it), so pack needs a separate lifecycle "
            f"image, which it could not get: {failure.summary}",
            f"trust the builder (pack config trusted-builders add {name}, or --trust-builder); for buildpacks "
            "added to a trusted builder, --trust-extra-buildpacks",
        )
    missing = _missing_image(failure)
    if missing is not None:
        return missing
    if failure.status is not None:
        return _from_status(failure, image)
    if result.returncode == 2 or "select a default builder" in text:
        return failure.error(PackFailedError, f"pack needs a builder: {failure.summary}", "pass a builder (--builder)")
    if "--publish" in result.args and any(marker in text for marker in _REGISTRY_MARKERS):
        return failure.error(
            RegistryError, f"cannot publish {image or 'the image'}: {failure.summary}", _registry_fix(text)
        )
    return failure.error(PackFailedError, f"pack failed: {failure.summary}", "see pack's output above")


def _missing_image(failure: _Failure) -> ImageNotFoundError | None:
    output = "\n".join(failure.lines)
    fetch = _FETCH_RE.search(output)
    missing = _MISSING_RE.search(output)
    if fetch is None and missing is None:
        return None
    if fetch is not None:
        kind, name = (fetch.group(1), fetch.group(2)) if fetch.group(1) else (fetch.group(3), fetch.group(4))
    else:
        kind, name = "", missing.group(1) if missing else ""
    what = f"{kind} image {name}" if kind else f"image {name}"
    if missing is not None:
        message = f"{what} is not in the Docker engine and the pull policy forbids pulling it"
        if kind == "builder":
            fix = f"create the builder (pack builder create {name} …) or load it, or use pull policy if-not-present"
        else:
            fix = f"load {name} into the engine (docker pull/load), or use pull policy if-not-present"
    else:
        message = f"cannot get {what}: {failure.summary}"
        fix = f"check the name and that its registry is reachable, or create/load {name} locally"
    return ImageNotFoundError(
        message, fix, image=name, exit_code=failure.exit_code, status_code=failure.status, output=failure.tail
    )


def _registry_fix(text: str) -> str:
    if "http response to https client" in text:
        return "let the lifecycle use plain HTTP for this registry (--insecure-registry HOST:PORT)"
    if "unauthorized" in text or "denied" in text or "authentication required" in text:
        return "log in to the registry (docker login) with an account that may push there"
    return "check that the registry is up and reachable from the build containers (--network host for a loopback one)"


def _from_status(failure: _Failure, image: str) -> PackFailedError:
    code = failure.status or 0
    meaning = STATUS_CODES.get(code, "a lifecycle phase failed")
    if 20 <= code <= 29:
        detail = failure.detect_results
        return failure.error(
            DetectionFailedError,
            f"{meaning} (lifecycle status {code}){': ' + detail if detail else ''}",
            "check that the builder has the buildpacks this app needs (pack builder inspect) and that the app dir "
            "holds their input files",
        )
    if code in (51, 52):
        return failure.error(
            BuildpackBuildError,
            f"{meaning} (lifecycle status {code}): {failure.buildpack_error or failure.summary}",
            "fix the cause shown in the buildpack's output",
        )
    if code == 62:
        text = failure.text
        if any(marker in text for marker in _REGISTRY_MARKERS):
            return failure.error(
                RegistryError, f"{meaning}: cannot write {image or 'the image'}: {failure.summary}", _registry_fix(text)
            )
        return failure.error(
            ExportError, f"{meaning} (lifecycle status {code}): {failure.summary}", "see the export output"
        )
    return failure.error(
        LifecycleError, f"{meaning} (lifecycle status {code}): {failure.summary}", "see the lifecycle's output"
    )
