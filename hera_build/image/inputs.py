"""The input digest: one hash of everything that goes into a runner image, known *before* building.

A release pipeline re-runs, and a version is released once. When the registry already holds ``image:tag``,
hera-build has to tell "built from the same inputs" (reuse it) from "built from other inputs" (refuse: a released
version must not change). Image digests cannot answer that: engines stamp times, and backends lay out layers
differently. So every image carries the hash of its inputs as a label (:data:`INPUT_DIGEST_LABEL`), and the
next run compares hashes without building anything (ko and Jib key their caches on inputs the same way).

The inputs are: the project wheel's *content* (file names and bytes, not the zip's timestamps), the exact
versions of the dependency closure (from the lock file with ``--lock``, else as installed), the base image and
its digest where one is known, the backend, hera-build's version, and ``SOURCE_DATE_EPOCH`` when set. What does
not change the image (the git commit, the time, the output folder) is deliberately left out, so a commit that
changes only docs or tests re-uses the released image instead of being refused.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hera_build import __version__
from hera_build.core.process import CommandFailed, run_command
from hera_build.core.references import parse_image_ref
from hera_build.errors import BuildError, ConfigError, PublishError
from hera_build.image.registry.remote import RegistryView

if TYPE_CHECKING:
    from hera_build.core.project import Project
    from hera_build.image.target import PythonTarget
    from hera_build.image.wheelhouse import Installed, Wheelhouse

__all__ = [
    "INPUT_DIGEST_LABEL",
    "INPUTS_SCHEMA",
    "DependencyPin",
    "BuildInputs",
    "wheel_content_digest",
    "build_project_wheel",
    "project_wheel_digest",
    "dependency_closure",
    "with_local_content",
    "wheelhouse_inputs",
    "resolve_base_digest",
]

INPUT_DIGEST_LABEL = "dev.hera-build.input-digest"
"""Image label that holds :attr:`BuildInputs.digest`; the release pipeline reads it back from the registry."""
INPUTS_SCHEMA = 1
"""Hashed with the inputs: changing what goes into the digest changes every digest, deliberately."""
"""Version recorded for a requirement that is neither installed nor locked (the build would fail on it)."""
_WHEEL_TIMEOUT = 600.0


@dataclass(frozen=True, order=True)
class DependencyPin:
    """One distribution of the dependency closure, at the exact version that goes into the image."""

    name: str
    version: str
    content: str | None = None
    """Wheel content digest of a dependency installed from a local source tree or wheel, whose code can change
    without its version changing (an editable sibling package in a monorepo)."""

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" + (f" ({self.content})" if self.content else "")


@dataclass(frozen=True)
class BuildInputs:
    """Everything that decides the image's content; :attr:`digest` is its stable hash."""

    project: str
    version: str
    wheel: str
    """``sha256:`` of the project wheel's content (see :func:`wheel_content_digest`)."""
    dependencies: tuple[DependencyPin, ...]
    base_image: str
    base_digest: str | None
    backend: str
    hera_build_version: str
    source_date_epoch: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dependencies"] = [str(pin) for pin in sorted(self.dependencies)]
        return data

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
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "rebuild the wheel") from None
    return "sha256:" + digest.hexdigest()


def build_project_wheel(project_root: Path, out_dir: Path) -> Path:
    """Build the project's wheel with PyPA ``build``: the environment's build backend first (fast, offline),
    then an isolated build (which installs the backend through the host's index configuration)."""
    failures = []
    for extra in (["--no-isolation"], []):
        try:
            run_command(
                [sys.executable, "-m", "build", "--wheel", *extra, "--outdir", str(out_dir), str(project_root)],
                timeout=_WHEEL_TIMEOUT,
                what="python -m build",
            )
        except CommandFailed as exc:
            failures.append(exc.message)
            continue
        wheels = sorted(out_dir.glob("*.whl"))
        if len(wheels) == 1:
            return wheels[0]
        failures.append(f"expected one wheel in {out_dir}, found {len(wheels)}")
    raise BuildError(
        f"building the wheel of {project_root} failed: {'; '.join(failures)}",
        "run `python -m build --wheel` in the project to see the full error",
    )


def project_wheel_digest(project_root: Path, *, builder: Callable[[Path, Path], Path] = build_project_wheel) -> str:
    """Build the wheel in a temporary folder (nothing is left behind) and hash its content."""
    with tempfile.TemporaryDirectory(prefix="hera-build-wheel-") as tmp:
        return wheel_content_digest(builder(project_root, Path(tmp)))


def dependency_closure(
    requirements: Iterable[Requirement],
    *,
    root: str,
    versions: Mapping[str, str] | None = None,
    lookup: Callable[[str], Installed | None] | None = None,
    target: PythonTarget | None = None,
) -> tuple[DependencyPin, ...]:
    """The transitive closure of ``requirements``, at locked (``versions``) or installed versions, sorted by name.

    The same walk the wheelhouse does (:func:`hera_build.image.wheelhouse.resolve_closure`), with markers evaluated for
    ``target`` (default: the Python running hera-build, since a plan does not probe the base image).
    """
    from hera_build.image.target import host_facts, target_from_facts
    from hera_build.image.wheelhouse import installed_distribution, resolve_closure

    pins = resolve_closure(
        list(requirements),
        target or target_from_facts(host_facts()),
        root=root,
        versions={canonicalize_name(k): v for k, v in versions.items()} if versions is not None else None,
        lookup=lookup or installed_distribution,
    )
    return tuple(sorted(DependencyPin(pin.name, pin.version) for pin in pins.values()))


def _local_source(name: str, version: str) -> Path | None:
    from hera_build.image.wheelhouse import installed_distribution

    installed = installed_distribution(name)
    if installed is None or installed.source is None or installed.version != version:
        return None
    return installed.source


def with_local_content(
    pins: Iterable[DependencyPin],
    *,
    wheel_digest: Callable[[Path], str] = project_wheel_digest,
    local_source: Callable[[str, str], Path | None] = _local_source,
) -> tuple[DependencyPin, ...]:
    """Add the content digest to every pin that the image gets from a local source (built like the project's
    own wheel, so only what the wheel holds counts, not the tree's tests or docs)."""
    result = []
    for pin in pins:
        source = local_source(pin.name, pin.version)
        if source is None:
            result.append(pin)
        else:
            content = wheel_content_digest(source) if source.is_file() else wheel_digest(source)
            result.append(DependencyPin(pin.name, pin.version, content))
    return tuple(sorted(result))


def wheelhouse_inputs(
    project: Project,
    wheelhouse: Wheelhouse,
    *,
    base_image: str,
    base_digest: str | None,
    backend: str,
    source_date_epoch: int | None,
    content: Callable[[Path], str] = wheel_content_digest,
) -> BuildInputs:
    """The inputs of an image built from ``wheelhouse``, as every backend labels it: the same value a release plan
    computes from cheap facts, so a release recognizes an image built by ``hera-build image``. ``content`` hashes a
    wheel (a backend may remember the hashes)."""
    from packaging.utils import parse_wheel_filename

    wheels = {canonicalize_name(parse_wheel_filename(w.name)[0]): w for w in wheelhouse.dependency_wheels}
    local = {canonicalize_name(name) for name in wheelhouse.sources}
    pins = []
    for name, version in wheelhouse.pins.items():
        key = canonicalize_name(name)
        pins.append(DependencyPin(key, version, content(wheels[key]) if key in local and key in wheels else None))
    return BuildInputs(
        project=project.distribution_name,
        version=project.version.exact,
        wheel=wheel_content_digest(wheelhouse.project_wheel),
        dependencies=tuple(sorted(pins)),
        base_image=base_image,
        base_digest=base_digest,
        backend=backend,
        hera_build_version=__version__,
        source_date_epoch=source_date_epoch,
    )


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
    try:
        import docker
        from docker.errors import DockerException
        from requests.exceptions import RequestException
    except ImportError:
        return None
    try:
        client = docker.from_env(timeout=10)
        try:
            return str(client.images.get(reference).id)
        finally:
            client.close()
    except (DockerException, RequestException, OSError):
        return None


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
