"""Image backends behind one small protocol, registered by name.

A backend turns a :class:`BuildRequest` (what to build, where it goes) into a :class:`BuildResult` (what came
out), as Jib separates the three. Backends are looked up lazily from :data:`BACKENDS`, so the ``docker`` SDK or
``pack`` is only needed by the backend that uses it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hera_build.core.project import Project
from hera_build.core.references import ImageRef, is_local_image_spec, parse_image_ref
from hera_build.errors import ConfigError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "BuildRequest",
    "BuildResult",
    "Builder",
    "backend_for",
    "default_base_image",
    "get_builder",
    "resolve_base_image",
    "runner_command_for",
]

BACKENDS: dict[str, str] = {
    "docker": "hera_build.image.backends.docker:DockerBuilder",
    "buildpacks": "hera_build.image.backends.buildpacks:BuildpacksBuilder",
    "oci": "hera_build.image.backends.oci:OciBuilder",
}
"""Backend name → ``module:class`` implementing :class:`Builder`."""
DEFAULT_BACKEND = "oci"
"""No engine needed: the default when ``backend`` is not configured."""

_CNB_LAUNCHER = ("/cnb/lifecycle/launcher", "--", "python")


def _no_progress(message: str) -> None:
    del message


@dataclass(frozen=True)
class BuildRequest:
    """What to build and where it goes; backends never read flags or pyproject themselves."""

    project: Project
    image: ImageRef
    """``repository:tag`` (the version's tag)."""
    base_image: str
    extra_tags: tuple[str, ...] = ()
    push: bool = False
    force: bool = False
    lock: Path | None = None
    source_date_epoch: int | None = None
    verbose: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    """Extra image labels every backend must apply (e.g. the release pipeline's input digest)."""
    output: Path | None = None
    """Write the image to a file or folder (OCI layout, ``docker load`` archive) instead of / as well as pushing."""
    progress: Callable[[str], None] = field(default=_no_progress, compare=False)


@dataclass(frozen=True)
class BuildResult:
    """What came out: enough for ``--json``, the release manifest and ``templates --digest``."""

    backend: str
    image: ImageRef
    tags: tuple[str, ...]
    image_id: str | None = None
    digest: str | None = None
    pushed: bool = False
    skipped: bool = False
    """True when the registry already had this tag with the same inputs and nothing was built."""
    input_digest: str | None = None
    base_image: str | None = None
    backend_version: str | None = None
    layers: tuple[str, ...] = ()


class Builder(Protocol):
    name: str

    def build(self, request: BuildRequest) -> BuildResult: ...


def get_builder(name: str) -> Builder:
    """Instantiate a backend by name; unknown names are configuration errors."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}", f"use one of: {', '.join(BACKENDS)}")
    module_name, _, class_name = BACKENDS[name].partition(":")
    builder: Builder = getattr(importlib.import_module(module_name), class_name)()
    return builder


def runner_command_for(backend: str | None) -> tuple[str, ...] | None:
    """The ``command`` runner scripts need in images of ``backend``.

    Argo's ``command`` replaces the image entrypoint; in a buildpacks image that entrypoint is the CNB launcher,
    which is what puts the buildpack layers' ``python`` on PATH, so runner scripts must call it themselves.
    """
    return _CNB_LAUNCHER if backend == "buildpacks" else None


def default_base_image() -> str:
    """``python:<major.minor>-slim`` of the Python running hera-build: templates and image agree on Python."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def resolve_base_image(project: Project, override: str | None = None) -> str:
    """``--base-image``, else ``base-image`` in [tool.hera-build], else :func:`default_base_image`."""
    if override:
        if not is_local_image_spec(override):
            parse_image_ref(override, what="--base-image")
        return override
    return project.config.base_image or default_base_image()


def backend_for(project: Project, override: str | None = None) -> str:
    """``--backend``, else ``backend`` in [tool.hera-build], else :data:`DEFAULT_BACKEND` (no engine needed)."""
    return override or project.config.backend or DEFAULT_BACKEND
