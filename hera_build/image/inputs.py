"""The input digest: one hash of everything that goes into a runner image, known *before* building.

A version is released once, and a release pipeline re-runs. When the registry already holds ``image:tag``,
hera-build has to tell "built from the same inputs" (reuse it) from "built from other inputs" (refuse: a released
version must not change). Image digests cannot answer that before a build. So every image carries the hash of its
inputs as a label (:data:`INPUT_DIGEST_LABEL`), and the publish policy compares hashes without building anything
(ko and Jib key their caches on inputs the same way).

:func:`compute_inputs` is the only place that decides what "the same image" means, for every backend and for
``plan``, ``image`` and ``release`` alike. The inputs are: the project wheel's content, the exact dependency
closure with a content hash per wheel, the Python target the wheels were chosen for, the base image and its
digest, the backend with its identity (for buildpacks the builder image and our buildpack; for oci the layer
format; for docker the Dockerfile format and pip), and ``SOURCE_DATE_EPOCH`` when set. What does not change the
image (the git commit, the time, the output folder, hera-build's own version where it lays out the same bytes) is
deliberately left out, so a commit that changes only docs or tests re-uses the released image instead of being
refused. A multi-platform image's inputs are every platform's, in order (:func:`combine_inputs`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name, parse_wheel_filename

from hera_build.core.references import parse_image_ref
from hera_build.errors import BuildError, ConfigError, PublishError

if TYPE_CHECKING:
    from hera_build.core.project import Project
    from hera_build.image.registry import RegistryView
    from hera_build.image.wheelhouse import Wheelhouse

INPUT_DIGEST_LABEL = "dev.hera-build.input-digest"
"""Image label that holds :attr:`BuildInputs.digest`; the publish policy reads it back from the registry."""
INPUTS_SCHEMA = 2
"""Hashed with the inputs: changing what goes into the digest changes every digest, deliberately."""
INPUTS_SCHEMA_LABEL = "dev.hera-build.inputs-schema"
"""Image label with the :data:`INPUTS_SCHEMA` its input digest was computed with: an image labelled by a
hera-build that hashed other things cannot be compared, and the publish policy says so instead of calling it
other content."""


def identity_labels(digest: str) -> dict[str, str]:
    """The labels every backend puts on an image so that the publish policy can recognize it later."""
    return {INPUT_DIGEST_LABEL: digest, INPUTS_SCHEMA_LABEL: str(INPUTS_SCHEMA)}


@dataclass(frozen=True, order=True)
class DependencyPin:
    """One distribution of the dependency closure, at the exact version and wheel content that go into the image."""

    name: str
    version: str
    content: str
    """:func:`wheel_content_digest` of the wheel installed: a rebuilt local dependency with the same version but
    other code is another input, and so is a wheel for another platform."""

    def __str__(self) -> str:
        return f"{self.name}=={self.version} ({self.content})"


@dataclass(frozen=True)
class BuildInputs:
    """Everything that decides the image's content; :attr:`digest` is its stable hash."""

    project: str
    version: str
    wheel: str
    """``sha256:`` of the project wheel's content (see :func:`wheel_content_digest`)."""
    dependencies: tuple[DependencyPin, ...]
    target: str
    """The Python the wheels were chosen for (interpreter, ABI, platform)."""
    base_image: str
    base_digest: str | None
    backend: str
    backend_identity: tuple[tuple[str, str], ...] = ()
    """What else of the backend decides the bytes (builder image digest, buildpack version, layer format)."""
    source_date_epoch: int | None = None
    platforms: tuple[tuple[str, str], ...] = ()
    """A multi-platform image: ``(platform, that platform's input digest)`` for each, in build order (see
    :func:`combine_inputs`); empty for one platform, whose digest is then unchanged by this field."""

    def to_json(self) -> dict[str, Any]:
        platforms = {"platforms": [list(item) for item in self.platforms]} if self.platforms else {}
        return platforms | {
            "project": self.project,
            "version": self.version,
            "wheel": self.wheel,
            "dependencies": [str(pin) for pin in sorted(self.dependencies)],
            "target": self.target,
            "base_image": self.base_image,
            "base_digest": self.base_digest,
            "backend": self.backend,
            "backend_identity": dict(self.backend_identity),
            "source_date_epoch": self.source_date_epoch,
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON of the inputs (sorted keys, sorted dependencies, no whitespace)."""
        document = {"schema": INPUTS_SCHEMA, **self.to_json()}
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def wheel_content_digest(wheel: Path) -> str:
    """Hash a wheel by what it installs: each entry's name and bytes, in name order.

    Zip metadata (timestamps, compression, entry order) varies between two builds of the same source unless
    ``SOURCE_DATE_EPOCH`` is set; the installed files do not.
    """
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in sorted(archive.infolist(), key=lambda item: item.filename):
                if info.is_dir():
                    continue
                digest.update(info.filename.encode() + b"\0")
                digest.update(hashlib.sha256(archive.read(info)).hexdigest().encode() + b"\n")
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "rebuild the wheel") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt member fails inside zlib with its own error types
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "delete it from the cache and build again") from None
    return "sha256:" + digest.hexdigest()


def compute_inputs(
    project: Project,
    wheelhouse: Wheelhouse,
    *,
    base_image: str,
    base_digest: str | None,
    backend: str,
    identity: Mapping[str, str] | None = None,
    source_date_epoch: int | None = None,
    content: Callable[[Path], str] = wheel_content_digest,
) -> BuildInputs:
    """The inputs of an image built from ``wheelhouse``: the one definition of an image's identity.

    ``content`` hashes a wheel (a backend may remember the hashes by file identity).
    """
    wheels = {canonicalize_name(parse_wheel_filename(w.name)[0]): w for w in wheelhouse.dependency_wheels}
    pins = []
    for name, version in wheelhouse.pins.items():
        key = canonicalize_name(name)
        wheel = wheels.get(key)
        if wheel is None:
            raise BuildError(f"the wheelhouse has no wheel for {name} {version}", "report this as a bug in hera-build")
        pins.append(DependencyPin(key, version, content(wheel)))
    return BuildInputs(
        project=project.distribution_name,
        version=project.version.exact,
        wheel=content(wheelhouse.project_wheel),
        dependencies=tuple(sorted(pins)),
        target=wheelhouse.target.key,
        base_image=base_image,
        base_digest=base_digest,
        backend=backend,
        backend_identity=tuple(sorted((identity or {}).items())),
        source_date_epoch=source_date_epoch,
    )


def combine_inputs(per_platform: Sequence[tuple[str, BuildInputs]]) -> BuildInputs:
    """The inputs of a multi-platform image (an index): what each platform's image is made of, together.

    Each platform's :class:`BuildInputs` is computed as for a single-platform build (its own wheels, target and
    base image manifest), and its digest is what that platform's image carries as its label. The index's inputs
    are the first platform's fields plus :attr:`BuildInputs.platforms`, the ordered list of ``(platform,
    digest)``: so the combined digest changes when any platform's wheels, target or base change, or when a
    platform is added, removed or moved, and is never equal to a single-platform digest.
    """
    if len(per_platform) < 2:
        raise BuildError("combine_inputs needs two platforms or more", "report this as a bug in hera-build")
    first = per_platform[0][1]
    return dataclasses.replace(first, platforms=tuple((platform, inputs.digest) for platform, inputs in per_platform))


def _local_base_digest(spec: str) -> str | None:
    """A base given as an OCI layout or archive on disk: the digest of its index (or of the archive)."""
    from hera_build.image.wheelhouse import file_digest

    path_text = spec
    for prefix in ("oci:", "oci-archive:", "docker-archive:"):
        if spec.startswith(prefix):
            path_text = spec[len(prefix) :]
            break
    for candidate in (Path(path_text), Path(path_text.rsplit(":", 1)[0])):
        if (candidate / "index.json").is_file():
            return file_digest(candidate / "index.json")
        if candidate.is_file():
            return file_digest(candidate)
    return None


def _engine_image_id(reference: str) -> str | None:
    """The local Docker engine's id of ``reference``, if an engine runs and has it."""
    from hera_build.image.engine import connect_engine

    engine = connect_engine()
    if engine is None:
        return None
    found = engine.find(reference)
    return str(found.id) if found is not None else None


def resolve_base_digest(
    base_image: str,
    registry: RegistryView,
    *,
    engine_image_id: Callable[[str], str | None] = _engine_image_id,
) -> str | None:
    """What the base image is, as a digest, where that can be known without pulling anything.

    A digest in the reference wins; a layout or archive on disk is hashed; a reference with a registry host is
    asked of that registry; a Docker Hub short name is first looked for in a local engine (images imported or
    built locally live only there), then on Docker Hub. ``None`` when nobody can say.
    """
    if base_image.startswith(("oci:", "oci-archive:", "docker-archive:")) or Path(base_image).exists():
        return _local_base_digest(base_image)
    try:
        ref = parse_image_ref(base_image, what="base image")
    except ConfigError:
        return None
    if ref.digest:
        return ref.digest
    if ref.registry is None:
        found = engine_image_id(base_image)
        if found:
            return found
    try:
        remote = registry.lookup(ref if ref.tag else ref.with_tag("latest"))
    except PublishError:
        return None
    return remote.digest if remote else None
