"""The ``oci`` backend: runner images written by hera-build itself — no engine, no Dockerfile, the same bytes
every time (what ko does for Go and Jib for Java).

Stages, each its own module, data flowing one way:

1. :mod:`.base` reads the base image (registry, OCI layout or ``docker save`` archive) and :mod:`.probe` finds
   its Python by reading its files;
2. the shared wheelhouse (:mod:`hera_build.image.wheelhouse`) gets the wheels for that Python (with
   :mod:`.quickwheel` patching the project's wheel when only its ``.py`` files changed);
3. :mod:`.venv` installs them with PyPA ``installer`` into a staged virtual environment and :mod:`.layers`
   writes it as deterministic layers: :mod:`.dependencies` the venv skeleton and the dependencies, grouped by
   :mod:`.layering` (large ones alone, small ones in stable buckets), built in parallel and each cached by its
   own inputs; then the project in the top layer;
4. :mod:`.image` writes config and manifest;
5. :mod:`.push` uploads what the registry lacks, :mod:`.layout` writes an OCI layout or ``docker load`` archive,
   :mod:`.engine` loads into a local engine when one answers (so the image check can run it).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from hera_build import __version__
from hera_build.core.epoch import source_date_epoch
from hera_build.core.gitinfo import GitInfo, git_info
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.errors import BuildError, EngineError, ImmutableTagError
from hera_build.image.backends import BuildRequest, BuildResult
from hera_build.image.backends.oci.base import BaseImage, load_base
from hera_build.image.backends.oci.cache import OciCache
from hera_build.image.backends.oci.dependencies import DependencyLayer, build_dependency_layers
from hera_build.image.backends.oci.image import BuiltImage, ImageLayer, ImageSettings, assemble
from hera_build.image.backends.oci.inputs import content_digest
from hera_build.image.backends.oci.layers import Layer, write_layer
from hera_build.image.backends.oci.layout import is_archive_path, write_archive, write_layout
from hera_build.image.backends.oci.model import Platform
from hera_build.image.backends.oci.probe import BasePython, probe_python
from hera_build.image.backends.oci.push import CHUNK_SIZE, CHUNK_THRESHOLD, PushResult, check_tag_immutable, push_image
from hera_build.image.backends.oci.quickwheel import IncrementalWheelBuilder
from hera_build.image.backends.oci.venv import DEFAULT_VENV, VenvLayout, install_wheels
from hera_build.image.engine import connect_engine, load_archive
from hera_build.image.inputs import INPUT_DIGEST_LABEL, BuildInputs, wheelhouse_inputs
from hera_build.image.labels import oci_labels
from hera_build.image.registry.client import repository_path
from hera_build.image.registry.oci import OciRegistry, host_of, open_registry
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import (
    FIXED_EPOCH,
    ProjectWheelBuilder,
    WheelBuilder,
    WheelCache,
    Wheelhouse,
    prepare_wheelhouse,
)

__all__ = [
    "BACKEND_NAME",
    "BACKEND_VERSION_LABEL",
    "DEFAULT_USER",
    "DEFAULT_WORKDIR",
    "OciBuilder",
    "OciOptions",
    "OciPlan",
    "OciBuildReport",
]

BACKEND_NAME = "oci"
BACKEND_VERSION_LABEL = "dev.hera-build.backend-version"
DEFAULT_USER = "65532:65532"
"""Numeric (distroless' ``nonroot``), as the Docker backend: it needs no account in the base image."""
DEFAULT_WORKDIR = "/app"

WheelhouseFactory = Callable[..., Wheelhouse]
_T = TypeVar("_T")


@dataclass(frozen=True)
class OciOptions:
    """How images are laid out and where things are kept; the defaults suit runner images."""

    platform: Platform = field(default_factory=Platform)
    venv: PurePosixPath = DEFAULT_VENV
    user: str = DEFAULT_USER
    working_dir: str = DEFAULT_WORKDIR
    cache_dir: Path | None = None
    load: bool | None = None
    """Load into a local engine: ``None`` when one answers (and required when there is no push or output),
    ``True`` always (an error without an engine), ``False`` never."""
    chunk_threshold: int = CHUNK_THRESHOLD
    chunk_size: int = CHUNK_SIZE
    incremental_wheels: bool = True
    """Patch the previous project wheel when only ``.py`` files changed (:mod:`.quickwheel`), instead of
    starting the build backend; it falls back to a real build whenever it cannot be sure."""


@dataclass(frozen=True)
class OciPlan:
    """What ``--dry-run`` shows: the base is read and probed, nothing is built."""

    image: ImageRef
    tags: tuple[str, ...]
    base_image: str
    target: PythonTarget | None
    push: bool
    notes: tuple[str, ...] = ()
    dockerfile: str | None = None


@dataclass(frozen=True)
class OciBuildReport:
    """Everything one build did beyond :class:`BuildResult`: for tests, benchmarks and ``--verbose``."""

    result: BuildResult
    image: BuiltImage | None
    python: BasePython | None
    pushes: tuple[PushResult, ...] = ()
    dependency_layers: tuple[DependencyLayer, ...] = ()
    wheel_patched: bool = False
    loaded: bool = False
    output: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def dependency_layers_cached(self) -> bool:
        """Every dependency layer came from the cache (nothing was installed or compressed)."""
        return bool(self.dependency_layers) and all(layer.cached for layer in self.dependency_layers)

    @property
    def push(self) -> PushResult | None:
        """The push of the version's repository (the first one)."""
        return self.pushes[0] if self.pushes else None


def _epoch(request: BuildRequest) -> tuple[int, int | None]:
    """(the epoch of every timestamp, the explicit ``SOURCE_DATE_EPOCH`` if one was given)."""
    if request.source_date_epoch is not None:
        return request.source_date_epoch, request.source_date_epoch
    from_env = source_date_epoch()
    return (FIXED_EPOCH, None) if from_env is None else (from_env, from_env)


def _labels(request: BuildRequest, base: BaseImage, git: GitInfo | None, epoch: int) -> dict[str, str]:
    """The OCI annotations as labels (as the Docker backend writes them), then the request's own labels."""
    labels = oci_labels(request.project, base_image=request.base_image, git=git, created=epoch)
    labels[BACKEND_VERSION_LABEL] = f"hera-build {__version__} ({BACKEND_NAME})"
    if base.reference_digest:
        labels["org.opencontainers.image.base.digest"] = base.reference_digest
    return labels | dict(request.labels)


def _refs(request: BuildRequest) -> list[ImageRef]:
    """The version's reference, then ``--tag`` values: a bare tag for the same repository, or a full reference."""
    refs = [request.image]
    for extra in request.extra_tags:
        if "/" in extra or ":" in extra:
            ref = parse_image_ref(extra, what="--tag")
            ref = ref if ref.tag else ref.with_tag("latest")
        else:
            ref = request.image.with_tag(extra)
        if ref not in refs:
            refs.append(ref)
    return refs


class _Clock:
    """Seconds per stage (summed when a stage runs in parts) and in total, for the report."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.stages: dict[str, float] = {}

    def time(self, stage: str, action: Callable[[], _T]) -> _T:
        mark = time.monotonic()
        try:
            return action()
        finally:
            self.stages[stage] = self.stages.get(stage, 0.0) + time.monotonic() - mark

    def finish(self) -> dict[str, float]:
        return self.stages | {"total": time.monotonic() - self.started}


def _write_layout(image: BuiltImage, directory: Path, names: list[str], epoch: int) -> Path:
    del epoch  # a layout's files carry no timestamps of hera-build's
    return write_layout(image, directory, names)


def _pull(engine: Any, ref: ImageRef) -> str | None:
    """Pull a released image into the local engine (through the SDK) for the image check; ``None`` on failure."""
    try:
        return str(engine.images.pull(ref.repository, tag=ref.tag).id)
    except Exception:  # noqa: BLE001 - the check then says it could not find the image
        return None


def _image_layer(layer: Layer, role: str, created_by: str) -> ImageLayer:
    path = layer.path
    return ImageLayer(layer.descriptor, layer.diff_id, fetch=lambda: path, role=role, created_by=created_by)


class OciBuilder:
    """The :class:`hera_build.image.backends.Builder` that writes the image itself. Collaborators are injectable."""

    name = BACKEND_NAME

    def __init__(
        self,
        options: OciOptions | None = None,
        *,
        registry_factory: Callable[[str | None], OciRegistry] | None = None,
        wheelhouse: WheelhouseFactory = prepare_wheelhouse,
        engine: Callable[[], Any | None] = connect_engine,
        git: Callable[[Path], GitInfo | None] = git_info,
    ) -> None:
        self.options = options or OciOptions()
        self.cache = OciCache(self.options.cache_dir)
        self._registry_factory = registry_factory or open_registry
        self._registries: dict[str, OciRegistry] = {}
        self._wheelhouse = wheelhouse
        self._engine = engine
        self._git = git
        self.last_report: OciBuildReport | None = None

    def registry(self, registry: str | None) -> OciRegistry:
        """One client per registry host for the builder's lifetime, so tokens are fetched once."""
        host = host_of(registry)
        if host not in self._registries:
            self._registries[host] = self._registry_factory(registry)
        return self._registries[host]

    # ---------------------------------------------------------------------------------------------- stages

    def _wheel_builder(self) -> WheelBuilder | None:
        """The wheelhouse's wheel builder (PyPA build), wrapped to patch wheels when only code changed."""
        if not self.options.incremental_wheels:
            return None
        return IncrementalWheelBuilder(ProjectWheelBuilder(WheelCache()), self.cache)

    def _base(self, request: BuildRequest) -> tuple[BaseImage, BasePython]:
        request.progress(f"reading base image {request.base_image}")
        base = load_base(
            request.base_image, platform=self.options.platform, client_factory=self.registry, cache=self.cache
        )
        python = probe_python(base, self.cache)
        request.progress(
            f"base image {request.base_image}: Python {python.version} at {python.executable} "
            f"({python.libc or 'no libc found'} {python.libc_version or ''})".rstrip()
        )
        return base, python

    def _application_layer(self, wheelhouse: Wheelhouse, venv: VenvLayout, epoch: int, work: Path) -> Layer:
        """The project's wheel installed into the same venv path (its dist-info and RECORD included), and the
        working directory."""
        root = work / "application"
        install_wheels([wheelhouse.project_wheel], venv, root, requested=True)
        (root / self.options.working_dir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        layer = write_layer(root, self.cache.blobs, epoch=epoch)
        shutil.rmtree(root, ignore_errors=True)
        return layer

    def _inputs(
        self, request: BuildRequest, base: BaseImage, wheelhouse: Wheelhouse, explicit_epoch: int | None
    ) -> BuildInputs:
        """The shared input digest's inputs (:mod:`hera_build.image.inputs`), taken from what is really installed."""
        return wheelhouse_inputs(
            request.project,
            wheelhouse,
            base_image=request.base_image,
            base_digest=base.reference_digest,
            backend=BACKEND_NAME,
            source_date_epoch=explicit_epoch,
            content=lambda wheel: content_digest(wheel, self.cache),
        )

    def _released(self, ref: ImageRef) -> tuple[str, str | None] | None:
        """(digest, input-digest label) of what the registry has under ``ref``'s tag, or ``None``."""
        registry = self.registry(ref.registry)
        repository = repository_path(ref)
        digest = registry.manifest_digest(repository, ref.tag or "latest")
        if digest is None:
            return None
        manifest = json.loads(registry.get_manifest(repository, digest).data)
        config_digest = (manifest.get("config") or {}).get("digest")
        if not config_digest:
            return digest, None
        config = json.loads(registry.get_blob(repository, str(config_digest)))
        labels = (config.get("config") or {}).get("Labels") or {}
        return digest, labels.get(INPUT_DIGEST_LABEL)

    def _engine_for(self, request: BuildRequest) -> Any | None:
        """The engine to load into, if any; fails early when the image would have nowhere to go."""
        if self.options.load is False:
            return None
        engine = self._engine()
        if engine is None and (self.options.load or not (request.push or request.output)):
            raise EngineError(
                "the oci backend has nowhere to put the image: no --push, no --output and no engine to load into",
                "pass --push, or --output DIR (OCI layout) / --output FILE.tar (docker load archive)",
            )
        return engine

    def _load(self, engine: Any, image: BuiltImage, base: BaseImage, names: list[str], epoch: int) -> None:
        """``docker load`` through the SDK. When the engine already has the base image, its layers are left out
        of the archive: the engine reads only the layers it lacks, so the load costs the two small layers."""
        omit: set[str] = set()
        try:
            engine.images.get(base.config_descriptor.digest)
            omit = {layer.descriptor.digest for layer in base.layers}
        except Exception:  # noqa: BLE001 - any failure to look the base up just means a full archive
            omit = set()
        with tempfile.TemporaryDirectory(prefix="hera-build-load-") as tmp:
            archive = write_archive(image, Path(tmp) / "image.tar", names, epoch, omit=omit)
            load_archive(engine, archive, image.image_id)

    def _push_all(self, request: BuildRequest, image: BuiltImage, refs: list[ImageRef]) -> tuple[PushResult, ...]:
        """Push to every repository the tags name (usually one), the version's repository first."""
        check_tag_immutable(self.registry(request.image.registry), request.image, image.digest, force=request.force)
        by_repository: dict[str, list[ImageRef]] = {}
        for ref in refs:
            by_repository.setdefault(ref.repository, []).append(ref)
        results = []
        for group in by_repository.values():
            target = group[0]
            registry = self.registry(target.registry)
            result = push_image(
                image, target, [ref.tag or "latest" for ref in group], registry, self.cache,
                chunk_threshold=self.options.chunk_threshold, chunk_size=self.options.chunk_size,
            )  # fmt: skip
            results.append(result)
        return tuple(results)

    # ---------------------------------------------------------------------------------------------- API

    def plan(self, request: BuildRequest) -> OciPlan:
        """Read and probe the base image; build nothing (``--dry-run``)."""
        refs = _refs(request)
        notes = [
            f"layers: a virtual environment at {self.options.venv}, large dependencies in layers of their own, "
            "small ones in stable buckets, the application on top"
        ]
        target = None
        try:
            _, python = self._base(request)
            target = python.target()
        except BuildError as exc:
            notes.append(f"base image not read: {exc.message}")
        return OciPlan(request.image, tuple(map(str, refs)), request.base_image, target, request.push, tuple(notes))

    def build(self, request: BuildRequest) -> BuildResult:
        """Base → wheels → layers → image → registry / file / engine; each stage timed in the report."""
        clock = _Clock()
        engine = self._engine_for(request)
        epoch, explicit_epoch = _epoch(request)
        base, python = clock.time("base", lambda: self._base(request))
        venv = VenvLayout(self.options.venv, PurePosixPath(python.executable), python.version)
        refs = _refs(request)
        with tempfile.TemporaryDirectory(prefix="hera-build-oci-") as tmp:
            work = Path(tmp)
            wheelhouse, patched = clock.time("wheelhouse", lambda: self._wheels(request, python, work, explicit_epoch))
            input_digest = (
                request.labels.get(INPUT_DIGEST_LABEL) or self._inputs(request, base, wheelhouse, explicit_epoch).digest
            )
            if request.push and not request.output and not request.force:
                skipped = self._skip_if_released(request, input_digest, python, refs, engine, clock)
                if skipped is not None:
                    return skipped
            dependencies = clock.time(
                "layers",
                lambda: build_dependency_layers(
                    wheelhouse.dependency_wheels, venv, self.cache, work,
                    base_layers=len(base.layers), progress=request.progress,
                ),
            )  # fmt: skip
            application = clock.time("layers", lambda: self._application_layer(wheelhouse, venv, epoch, work))
        request.progress(f"application layer {application.digest[:19]}: {application.descriptor.size} bytes")
        layers = [_image_layer(item.layer, "dependencies", item.created_by(venv)) for item in dependencies]
        layers.append(
            _image_layer(application, "application", f"hera-build: {wheelhouse.project_wheel.name} installed")
        )
        image = assemble(base, layers, self._settings(request, base, epoch, input_digest))
        pushes, output = clock.time("publish", lambda: self._publish(request, image, base, refs, epoch, engine))
        result = BuildResult(
            backend=BACKEND_NAME,
            image=request.image,
            tags=tuple(str(ref) for ref in refs),
            image_id=image.image_id,
            digest=image.digest,
            pushed=bool(pushes),
            input_digest=input_digest,
            base_image=request.base_image,
            backend_version=f"hera-build {__version__}",
            layers=tuple(layer.descriptor.digest for layer in image.layers),
        )
        self.last_report = OciBuildReport(
            result, image, python, pushes, tuple(dependencies), patched, engine is not None, output, clock.finish()
        )  # fmt: skip
        return result

    def _wheels(
        self, request: BuildRequest, python: BasePython, work: Path, explicit_epoch: int | None
    ) -> tuple[Wheelhouse, bool]:
        """The shared wheelhouse for the base's Python; ``True`` when the project wheel was patched."""
        wheel_builder = self._wheel_builder()
        wheelhouse = self._wheelhouse(
            request.project, python.target(), work / "wheelhouse", lock=request.lock,
            source_date_epoch=explicit_epoch, progress=request.progress, builder=wheel_builder,
        )  # fmt: skip
        patched = isinstance(wheel_builder, IncrementalWheelBuilder) and wheel_builder.patched > 0
        if patched:
            request.progress("wheels: only .py files changed, so the previous wheel was patched (no backend run)")
        return wheelhouse, patched

    def _settings(self, request: BuildRequest, base: BaseImage, epoch: int, input_digest: str) -> ImageSettings:
        labels = _labels(request, base, self._git(request.project.root), epoch) | {INPUT_DIGEST_LABEL: input_digest}
        return ImageSettings(
            epoch=epoch,
            venv=str(self.options.venv),
            user=self.options.user,
            working_dir=self.options.working_dir,
            labels=labels,
            env={"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def _publish(
        self, request: BuildRequest, image: BuiltImage, base: BaseImage, refs: list[ImageRef], epoch: int, engine: Any
    ) -> tuple[tuple[PushResult, ...], Path | None]:
        """Push, write ``--output``, load into the engine: whichever apply, in that order."""
        names = [str(ref) for ref in refs]
        pushes = self._push_all(request, image, refs) if request.push else ()
        for pushed in pushes:
            request.progress(
                f"pushed {pushed.repository}@{image.digest[:19]}: {pushed.count('uploaded')} blob(s) uploaded "
                f"({pushed.uploaded_bytes} bytes), {pushed.count('mounted')} mounted, {pushed.count('exists')} present"
            )
        output = None
        if request.output is not None:
            archive = is_archive_path(request.output)
            output = (write_archive if archive else _write_layout)(image, request.output, names, epoch)
            request.progress(f"wrote {output}")
        if engine is not None:
            self._load(engine, image, base, names, epoch)
            request.progress(f"loaded into the local engine as {names[0]} ({image.image_id[:19]})")
        return pushes, output

    def _skip_if_released(
        self,
        request: BuildRequest,
        input_digest: str,
        python: BasePython,
        refs: list[ImageRef],
        engine: Any | None,
        clock: _Clock,
    ) -> BuildResult | None:
        """A version is released once: the same inputs reuse the registry's image (pulled into a local engine,
        if there is one, so that it can be checked), other inputs are refused before anything is built."""
        released = self._released(request.image)
        if released is None:
            return None
        digest, label = released
        if label != input_digest:
            raise ImmutableTagError(
                f"version {request.project.version.exact} is already released with other content ({request.image} "
                f"is {digest}, built from inputs {label or 'unknown'}, this source gives {input_digest})",
                "bump the version or use --force",
            )
        request.progress(f"{request.image} is already released from the same inputs ({digest}): nothing to build")
        image_id = _pull(engine, request.image) if engine is not None else None
        result = BuildResult(
            backend=BACKEND_NAME,
            image=request.image,
            tags=tuple(str(ref) for ref in refs),
            image_id=image_id,
            digest=digest,
            skipped=True,
            input_digest=input_digest,
            base_image=request.base_image,
            backend_version=f"hera-build {__version__}",
        )
        self.last_report = OciBuildReport(result, None, python, timings=clock.finish())
        return result
