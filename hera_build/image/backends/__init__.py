"""Image backends behind one small protocol, registered by name.

A backend turns a :class:`BuildRequest` (what to build, where it goes) into a :class:`BuildResult` (what came
out), as Jib separates the three. Backends are looked up lazily from :data:`BACKENDS`, so the ``docker`` SDK or
``pack`` is only needed by the backend that uses it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hera_build.core.project import Project
from hera_build.core.references import ImageRef, is_local_image_spec, parse_image_ref

if TYPE_CHECKING:
    from hera_build.image.inputs import BuildInputs
    from hera_build.image.wheelhouse import Wheelhouse
from hera_build.core.progress import no_progress
from hera_build.errors import ConfigError

BACKENDS: dict[str, str] = {
    "docker": "hera_build.image.backends.docker:DockerBuilder",
    "buildpacks": "hera_build.image.backends.buildpacks:BuildpacksBuilder",
    "oci": "hera_build.image.backends.oci:OciBuilder",
}
"""Backend name → ``module:class`` implementing :class:`Builder`."""
DEFAULT_BACKEND = "oci"
"""No engine needed: the default when ``backend`` is not configured."""

_CNB_LAUNCHER = ("/cnb/lifecycle/launcher", "--", "python")


@dataclass(frozen=True)
class BuildRequest:
    """What to build; backends never read flags or pyproject themselves, and never push (publishing is
    :mod:`hera_build.publish`'s job, after the image check)."""

    project: Project
    image: ImageRef
    """``repository:tag`` (the version's tag)."""
    base_image: str
    extra_tags: tuple[str, ...] = ()
    lock: Path | None = None
    source_date_epoch: int | None = None
    verbose: bool = False
    output: Path | None = None
    """Also write the image to a file or folder (OCI layout, ``docker load`` archive)."""
    platforms: tuple[str, ...] = ()
    """``os/architecture[/variant]`` to build for (``--platform``, ``platforms`` in [tool.hera-build]); empty:
    the backend's default. Only the oci backend builds for more than one (one image each, under an index)."""
    load: bool = True
    """The image should end up in a local engine (to be checked or run there). ``False`` lets a backend that
    builds without an engine (oci) skip loading: ``image --push --no-check`` has no use for the copy."""
    progress: Callable[[str], None] = field(default=no_progress, compare=False)

    @property
    def tags(self) -> tuple[ImageRef, ...]:
        """The version's reference, then ``--tag`` values (a bare tag for the same repository, or a reference)."""
        refs = [self.image]
        for extra in self.extra_tags:
            if "/" in extra or ":" in extra:
                ref = parse_image_ref(extra, what="--tag")
                ref = ref if ref.tag else ref.with_tag("latest")
            else:
                ref = self.image.with_tag(extra)
            if ref not in refs:
                refs.append(ref)
        return tuple(refs)


@dataclass(frozen=True)
class Prepared:
    """What a backend settled before building: the wheelhouse it installs and the inputs they hash to.

    ``inputs.digest`` is the image's identity (:mod:`hera_build.image.inputs`): the publish policy compares it
    with the registry's before anything is built, and the built image carries it as a label.
    """

    request: BuildRequest
    wheelhouse: Wheelhouse
    inputs: BuildInputs
    state: Any = field(default=None, repr=False, compare=False)
    """The backend's own facts for :meth:`Builder.build` (base image, builder, Python target …)."""
    wheelhouses: Mapping[str, Wheelhouse] = field(default_factory=dict, repr=False, compare=False)
    """A multi-platform build's wheelhouse per platform (``linux/arm64`` → …), each image's SBOM lists its own;
    empty for one platform (:attr:`wheelhouse` is its)."""
    base_manifest: str | None = field(default=None, compare=False)
    """The base image manifest the image is built on when the base reference names an index (``inputs.
    base_digest`` is then the index's digest): what the image's SBOM names as its base. ``None``: the base is
    ``inputs.base_digest`` itself."""
    base_manifests: Mapping[str, str] = field(default_factory=dict, compare=False)
    """:attr:`base_manifest` of each platform's image of a multi-platform build (``linux/arm64`` → …)."""


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image of a multi-platform build, and whether a local engine can run it for the check."""

    platform: str
    digest: str
    image_id: str
    local: str | None
    """Its id in the local engine, ``None`` when it was not loaded there."""
    unchecked: str | None = None
    """Why the image check cannot run it here (a platform this machine does not run), else ``None``."""


@dataclass(frozen=True)
class BuiltImage:
    """What came out of a build, before anything is published: enough to check it, push it and report it."""

    backend: str
    image: ImageRef
    tags: tuple[ImageRef, ...]
    inputs: BuildInputs
    image_id: str
    """The config digest, which is also the image id in an engine."""
    local: str | None
    """What a local engine can run for the image check (its id there), ``None`` when it is in no engine."""
    backend_version: str
    layers: tuple[str, ...] = ()
    digest: str | None = None
    """The manifest digest when the backend knows it before pushing (the oci backend writes the manifest)."""
    oci: Any = field(default=None, repr=False, compare=False)
    """The oci backend's image (manifest, config and cached layer blobs), pushed without an engine; for more
    than one platform its image index."""
    output: Path | None = None
    platforms: tuple[PlatformImage, ...] = ()
    """More than one platform: each one's image (:attr:`digest` is then the index's); empty for one."""
    unchecked: str | None = None
    """One platform that this machine cannot run (``--platform linux/arm64`` without an emulator): why the
    image check cannot run it (it was not loaded into the engine)."""


@dataclass(frozen=True)
class BuildResult:
    """What ``image`` and ``release`` did: built or reused, checked or not, pushed or not."""

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
    checked: bool | None = None
    """True when the image check passed, False when it could not run (no engine), None when not asked."""
    check: dict[str, Any] | None = None
    inputs: BuildInputs | None = None
    sbom: str | None = None
    """The SBOM artifact published beside the image (``repository@sha256:…``), if one was."""
    sbom_tag: str | None = None
    """Its ``sha256-<hex>.sbom`` tag, where the registry has no referrers API."""
    platforms: tuple[tuple[str, str], ...] = ()
    """A multi-platform image: ``(platform, its manifest digest)`` each (:attr:`digest` is the index's)."""
    sboms: tuple[tuple[str, str, str | None], ...] = ()
    """A multi-platform image: ``(platform, its SBOM artifact, its fallback tag)`` each one published (:attr:`sbom`
    is the first platform's)."""
    uploaded_bytes: int | None = None
    """What the push uploaded (oci images; blobs the registry had are not counted); ``None``: not pushed by blob."""
    plan: Any = None
    """A dry run: what the backend would do (image, tags, base image, Python target, notes …); nothing was built."""


class Builder(Protocol):
    """A backend: ``prepare`` settles the inputs (cheap, no image is made), ``build`` makes the image."""

    name: str

    def prepare(self, request: BuildRequest, work: Path) -> Prepared: ...

    def build(self, prepared: Prepared, work: Path) -> BuiltImage: ...


def get_builder(name: str) -> Builder:
    """Instantiate a backend by name; unknown names are configuration errors."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}", f"use one of: {', '.join(BACKENDS)}")
    module_name, _, class_name = BACKENDS[name].partition(":")
    builder: Builder = getattr(importlib.import_module(module_name), class_name)()
    return builder


def resolve_platforms(project: Project, override: Sequence[str] = ()) -> tuple[str, ...]:
    """``--platform`` values (repeatable), else ``platforms`` in [tool.hera-build]; empty: the backend's default."""
    if override:
        from hera_build.core.config import check_platforms

        try:
            check_platforms(tuple(override))
        except ValueError as exc:
            raise ConfigError(f"--platform: {exc}", "e.g. --platform linux/amd64 --platform linux/arm64") from None
        return tuple(override)
    return project.config.platforms


def refuse_platforms(request: BuildRequest, backend: str) -> None:
    """The docker and buildpacks backends build for the engine's own platform only: more platforms, or another
    one, is one clear error before any work (never an image silently built for something else)."""
    from hera_build.image.registry import host_platform

    native = "/".join(host_platform())
    if len(request.platforms) > 1:
        raise ConfigError(
            f"the {backend} backend builds one platform, not {len(request.platforms)} ({', '.join(request.platforms)})",
            "use the oci backend (--backend oci) for multi-platform images",
        )
    if request.platforms and request.platforms[0].split("/")[:2] != native.split("/"):
        raise ConfigError(
            f"the {backend} backend builds for the engine's platform ({native}), not {request.platforms[0]}",
            "use the oci backend (--backend oci) to build for another platform",
        )


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
