"""The ``oci`` backend: runner images written by hera-build itself — no engine, no Dockerfile, the same bytes
every time (what ko does for Go and Jib for Java).

Stages, each its own module, data flowing one way:

1. :mod:`.base` reads the base image (registry, OCI layout or ``docker save`` archive) and :mod:`.probe` finds
   its Python by reading its files;
2. the shared wheelhouse (:mod:`hera_build.image.wheelhouse`) gets the wheels for that Python (with
   :mod:`.quickwheel` patching the project's wheel when only its ``.py`` files or its dependencies changed);
3. :mod:`.venv` installs them with PyPA ``installer`` into a staged virtual environment and :mod:`.layers`
   writes it as deterministic layers: :mod:`.dependencies` the venv skeleton and the dependencies, grouped by
   :mod:`.layering` (large ones alone, small ones in stable buckets), built in parallel and each cached by its
   own inputs; then the project in the top layer;
4. :mod:`.image` writes config and manifest;
5. :mod:`.push` uploads what the registry lacks, :mod:`.layout` writes an OCI layout or ``docker load`` archive,
   :mod:`.engine` loads into a local engine when one answers (so the image check can run it).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from hera_build import __version__
from hera_build.core.epoch import source_date_epoch
from hera_build.core.gitinfo import GitInfo, git_info
from hera_build.core.references import ImageRef
from hera_build.errors import BuildError, ConfigError, EngineError
from hera_build.image.backends import BuildRequest, BuiltImage, PlatformImage, Prepared
from hera_build.image.backends.oci.base import BaseImage, load_base
from hera_build.image.backends.oci.dependencies import (
    DEPENDENCY_COMPRESS_LEVEL,
    DependencyLayer,
    build_dependency_layers,
)
from hera_build.image.backends.oci.image import BuiltImage as OciImage
from hera_build.image.backends.oci.image import ImageLayer, ImageSettings, assemble, assemble_index
from hera_build.image.backends.oci.inputs import FORMAT_VERSION, content_digest
from hera_build.image.backends.oci.layers import COMPRESS_LEVEL, Layer, write_layer
from hera_build.image.backends.oci.layout import is_archive_path, write_archive, write_layout
from hera_build.image.backends.oci.model import Platform
from hera_build.image.backends.oci.probe import BasePython, probe_python
from hera_build.image.backends.oci.venv import DEFAULT_VENV, VenvLayout, install_wheels
from hera_build.image.cache import BuildCache
from hera_build.image.emulation import native_architecture, unrunnable_reason
from hera_build.image.engine import DockerEngine, connect_engine
from hera_build.image.inputs import BuildInputs, combine_inputs, compute_inputs, identity_labels
from hera_build.image.labels import LABEL_BACKEND_VERSION, oci_labels
from hera_build.image.quickwheel import IncrementalWheelBuilder
from hera_build.image.registry import RegistryClient, host_of, open_registry
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import (
    FIXED_EPOCH,
    ProjectWheelBuilder,
    SharedWheelBuilder,
    WheelBuilder,
    WheelCache,
    Wheelhouse,
    prepare_wheelhouse,
)

BACKEND_NAME = "oci"
DEFAULT_USER = "65532:65532"
"""Numeric (distroless' ``nonroot``), as the Docker backend: it needs no account in the base image."""
DEFAULT_WORKDIR = "/app"

WheelhouseFactory = Callable[..., Wheelhouse]
_T = TypeVar("_T")


@dataclass(frozen=True)
class OciOptions:
    """How images are laid out and where things are kept; the defaults suit runner images."""

    platform: Platform = field(default_factory=Platform)
    """The platform when the request names none (:attr:`BuildRequest.platforms`)."""
    venv: PurePosixPath = DEFAULT_VENV
    user: str = DEFAULT_USER
    working_dir: str = DEFAULT_WORKDIR
    cache_dir: Path | None = None
    load: bool | None = None
    """Load into a local engine (where the image check runs it): ``None`` when one answers and the request wants
    the image there (:attr:`BuildRequest.load`), ``True`` always (an error without an engine), ``False`` never."""
    incremental_wheels: bool = True
    """Patch the previous project wheel when only ``.py`` files or dependencies changed (:mod:`.quickwheel`),
    instead of starting the build backend; it falls back to a real build whenever it cannot be sure."""


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
    """Everything one build did beyond :class:`BuiltImage`: for tests, benchmarks and ``--verbose``."""

    image: OciImage | None
    python: BasePython | None
    dependency_layers: tuple[DependencyLayer, ...] = ()
    wheel_patched: bool = False
    loaded: bool = False
    output: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def dependency_layers_cached(self) -> bool:
        """Every dependency layer came from the cache (nothing was installed or compressed)."""
        return bool(self.dependency_layers) and all(layer.cached for layer in self.dependency_layers)


@dataclass(frozen=True)
class _PlatformPart:
    """One platform of a multi-platform build, prepared: its base, Python, wheels and inputs."""

    platform: Platform
    base: BaseImage
    python: BasePython
    wheelhouse: Wheelhouse
    patched: bool
    inputs: BuildInputs


@dataclass(frozen=True)
class _Platforms:
    """:attr:`Prepared.state` of a multi-platform build."""

    parts: tuple[_PlatformPart, ...]
    epoch: int
    clock: _Clock


def _epoch(request: BuildRequest) -> tuple[int, int | None]:
    """(the epoch of every timestamp, the explicit ``SOURCE_DATE_EPOCH`` if one was given)."""
    if request.source_date_epoch is not None:
        return request.source_date_epoch, request.source_date_epoch
    from_env = source_date_epoch()
    return (FIXED_EPOCH, None) if from_env is None else (from_env, from_env)


def _labels(request: BuildRequest, base: BaseImage, git: GitInfo | None, epoch: int) -> dict[str, str]:
    """The OCI annotations as labels, as every backend writes them."""
    labels = oci_labels(request.project, base_image=request.base_image, git=git, created=epoch)
    labels[LABEL_BACKEND_VERSION] = f"hera-build {__version__} ({BACKEND_NAME})"
    if base.reference_digest:
        labels["org.opencontainers.image.base.digest"] = base.reference_digest
    return labels


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


def _write_layout(image: OciImage, directory: Path, names: list[str], epoch: int) -> Path:
    del epoch  # a layout's files carry no timestamps of hera-build's
    return write_layout(image, directory, names)


def _image_layer(layer: Layer, role: str, created_by: str) -> ImageLayer:
    path = layer.path
    return ImageLayer(layer.descriptor, layer.diff_id, fetch=lambda: path, role=role, created_by=created_by)


def check_tag(image: ImageRef, platform: Platform) -> str:
    """The local tag of a platform's image loaded only for the image check (``…/proj:1.2.0-linux-arm64``)."""
    suffix = "-".join(part for part in (platform.os, platform.architecture, platform.variant) if part)
    return f"{image.repository}:{(image.tag or 'latest')[: 127 - len(suffix)]}-{suffix}"


class OciBuilder:
    """The :class:`hera_build.image.backends.Builder` that writes the image itself. Collaborators are injectable."""

    name = BACKEND_NAME
    digest_before_push = True
    """It writes the manifest, so a build knows its digest unpushed (a release pins templates to it)."""

    def __init__(
        self,
        options: OciOptions | None = None,
        *,
        registry_factory: Callable[[str | None], RegistryClient] | None = None,
        wheelhouse: WheelhouseFactory = prepare_wheelhouse,
        engine: Callable[[], Any | None] = connect_engine,
        git: Callable[[Path], GitInfo | None] = git_info,
        build_backend: Callable[[], WheelBuilder] | None = None,
    ) -> None:
        self.options = options or OciOptions()
        self.cache = BuildCache(self.options.cache_dir)
        self._registry_factory = registry_factory or open_registry
        self._registries: dict[str, RegistryClient] = {}
        self._wheelhouse = wheelhouse
        self._engine = engine
        self._git = git
        self._build_backend = build_backend or (lambda: ProjectWheelBuilder(WheelCache()))
        """What builds a source tree's wheel when it cannot be patched: the project's backend through PyPA
        ``build`` (tests count builds with a fake one)."""
        self.last_report: OciBuildReport | None = None

    def registry(self, registry: str | None) -> RegistryClient:
        """One client per registry host for the builder's lifetime, so tokens are fetched once."""
        host = host_of(registry)
        if host not in self._registries:
            self._registries[host] = self._registry_factory(registry)
        return self._registries[host]

    # ---------------------------------------------------------------------------------------------- stages

    def _wheel_builder(self) -> WheelBuilder:
        """The wheelhouse's wheel builder (PyPA build), wrapped to patch wheels when only code changed (the
        default of every backend; this backend's cache keeps the previous wheel)."""
        if not self.options.incremental_wheels:
            return self._build_backend()
        return IncrementalWheelBuilder(self._build_backend(), self.cache)

    def _platforms(self, request: BuildRequest) -> tuple[Platform, ...]:
        """The request's platforms, else the configured default (one)."""
        return tuple(Platform.parse(text) for text in request.platforms) or (self.options.platform,)

    def _base(self, request: BuildRequest, platform: Platform | None = None) -> tuple[BaseImage, BasePython]:
        platform = platform or self._platforms(request)[0]
        request.progress(f"reading base image {request.base_image}" + (f" ({platform})" if request.platforms else ""))
        base = load_base(request.base_image, platform=platform, client_factory=self.registry, cache=self.cache)
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

    def _identity(self, python: BasePython, epoch: int) -> dict[str, str]:
        """What of this backend decides the image's bytes besides the wheels and the base."""
        return {
            "layer-format": str(FORMAT_VERSION),
            "venv": str(self.options.venv),
            "user": self.options.user,
            "workdir": self.options.working_dir,
            "python": python.executable,
            "epoch": str(epoch),
            "gzip": f"{COMPRESS_LEVEL}/{DEPENDENCY_COMPRESS_LEVEL}/{zlib.ZLIB_RUNTIME_VERSION}",
        }

    def _engine_for(self, request: BuildRequest) -> DockerEngine | None:
        """The engine to load into (where the image check runs the image), if any."""
        if self.options.load is False or (self.options.load is None and not request.load):
            return None
        engine = self._engine()
        if engine is None and self.options.load:
            raise EngineError(
                "no Docker engine answers, and the oci backend was asked to load the image into one",
                "start a Docker engine, or build without loading (the image can still be pushed or --output)",
            )
        return engine

    def _load_for_check(
        self, engine: DockerEngine, request: BuildRequest, image: OciImage, base: BaseImage, platform: Platform,
        epoch: int,
    ) -> None:  # fmt: skip
        """Load a platform's image that does not get the build's tags (not this machine's architecture) under a
        tag of its own, ``<repository>:<tag>-<os>-<arch>``, which the next build of that version moves: the image
        it named before is removed then, unless another tag or a container still uses it. Loaded untagged, each
        build left one more ``<none>`` image behind."""
        name = check_tag(request.image, platform)
        before = engine.find(name)
        self._load(engine, image, base, [name], epoch)
        if before is not None and str(before.id) != image.image_id:
            engine.remove_untagged(str(before.id))

    def _load(self, engine: DockerEngine, image: OciImage, base: BaseImage, names: list[str], epoch: int) -> None:
        """``docker load`` through the SDK. When the engine already has the base image, its layers are left out
        of the archive: the engine reads only the layers it lacks, so the load costs the two small layers."""
        omit: set[str] = set()
        if engine.find(base.config_descriptor.digest) is not None:
            omit = {layer.descriptor.digest for layer in base.layers}
        with tempfile.TemporaryDirectory(prefix="hera-build-load-") as tmp:
            archive = write_archive(image, Path(tmp) / "image.tar", names, epoch, omit=omit)
            engine.load(archive, image.image_id)

    # ---------------------------------------------------------------------------------------------- API

    def plan(self, request: BuildRequest) -> OciPlan:
        """Read and probe the base image; build nothing (``--dry-run``)."""
        notes = [
            f"layers: a virtual environment at {self.options.venv}, large dependencies in layers of their own, "
            "small ones in stable buckets, the application on top"
        ]
        platforms = self._platforms(request)
        if len(platforms) > 1:
            notes.append(
                f"platforms: {', '.join(map(str, platforms))}: one image each, under one OCI image index (the "
                f"Python shown is {platforms[0]}'s)"
            )
        target = None
        for platform in platforms:  # each: a base index without one of them fails the build, so the plan says so
            try:
                _, python = self._base(request, platform)
            except BuildError as exc:
                notes.append(f"base image not read{f' for {platform}' if len(platforms) > 1 else ''}: {exc.message}")
                continue
            if platform == platforms[0]:
                target = python.target()
        tags = tuple(str(ref) for ref in request.tags)
        return OciPlan(request.image, tags, request.base_image, target, False, tuple(notes))

    def _inputs(
        self, request: BuildRequest, base: BaseImage, python: BasePython, wheelhouse: Wheelhouse, epoch: int,
        explicit_epoch: int | None,
    ) -> BuildInputs:  # fmt: skip
        return compute_inputs(
            request.project,
            wheelhouse,
            base_image=request.base_image,
            base_digest=base.reference_digest,
            backend=BACKEND_NAME,
            identity=self._identity(python, epoch),
            source_date_epoch=explicit_epoch,
            content=lambda wheel: content_digest(wheel, self.cache, wheelhouse.sha256_of(wheel)),
        )

    def prepare(self, request: BuildRequest, work: Path) -> Prepared:
        """Base → Python → wheelhouse → inputs: everything but the layers (per platform, for several)."""
        clock = _Clock()
        self.cache.report = request.progress  # a corrupt cached blob is said once, in this build's progress
        epoch, explicit_epoch = _epoch(request)
        platforms = self._platforms(request)
        if len(platforms) > 1:
            return self._prepare_platforms(request, platforms, work, epoch, explicit_epoch, clock)
        base, python = clock.time("base", lambda: self._base(request))
        wheelhouse, patched = clock.time("wheelhouse", lambda: self._wheels(request, python, work, explicit_epoch))
        inputs = self._inputs(request, base, python, wheelhouse, epoch, explicit_epoch)
        return Prepared(
            request, wheelhouse, inputs, state=(base, python, epoch, patched, clock),
            base_manifest=base.manifest_digest if base.from_index else None,
        )  # fmt: skip

    def _prepare_platforms(
        self, request: BuildRequest, platforms: tuple[Platform, ...], work: Path, epoch: int,
        explicit_epoch: int | None, clock: _Clock,
    ) -> Prepared:  # fmt: skip
        """Each platform as a build of its own (its base image manifest, its Python, wheels resolved on the host
        for it), then the index's inputs over all of them (:func:`~hera_build.image.inputs.combine_inputs`)."""
        if request.output is not None and is_archive_path(request.output):
            raise ConfigError(
                f"a `docker load` archive (--output {request.output}) holds one image, and this build makes "
                f"{len(platforms)} (one per platform)",
                "write an OCI layout instead (--output DIR), or pass one --platform",
            )
        bases = [clock.time("base", partial(self._base, request, platform)) for platform in platforms]
        # The wheelhouses are pip downloads and build-backend runs (other processes) that depend only on their
        # own target: side by side, as the wheelhouse runs a project's downloads and builds.
        # Their wheels of source trees (the project, local dependencies) are the same bytes for every platform
        # when pure-Python: built once and shared (:class:`SharedWheelBuilder`).
        shared = SharedWheelBuilder(self._wheel_builder(), work / "shared-wheels")
        with ThreadPoolExecutor(max_workers=len(platforms), thread_name_prefix="hera-build-platform") as pool:
            futures = [
                pool.submit(self._wheels, request, python, work / f"wheelhouse-{index}", explicit_epoch, shared)
                for index, (_, python) in enumerate(bases)
            ]
            wheelhouses = clock.time("wheelhouse", lambda: [future.result() for future in futures])
        parts = []
        for platform, (base, python), (wheelhouse, patched) in zip(platforms, bases, wheelhouses, strict=True):
            inputs = self._inputs(request, base, python, wheelhouse, epoch, explicit_epoch)
            parts.append(_PlatformPart(platform, base, python, wheelhouse, patched, inputs))
        combined = combine_inputs([(str(part.platform), part.inputs) for part in parts])
        return Prepared(
            request, parts[0].wheelhouse, combined, state=_Platforms(tuple(parts), epoch, clock),
            wheelhouses={str(part.platform): part.wheelhouse for part in parts},
            base_manifests={str(part.platform): part.base.manifest_digest for part in parts if part.base.from_index},
        )  # fmt: skip

    def _image(
        self, request: BuildRequest, base: BaseImage, python: BasePython, wheelhouse: Wheelhouse, epoch: int,
        input_digest: str, work: Path, clock: _Clock,
    ) -> tuple[OciImage, tuple[DependencyLayer, ...]]:  # fmt: skip
        """Layers → image (config and manifest) for one platform."""
        venv = VenvLayout(self.options.venv, PurePosixPath(python.executable), python.version)
        dependencies = clock.time(
            "layers",
            lambda: build_dependency_layers(
                wheelhouse.dependency_wheels, venv, self.cache, work,
                base_layers=len(base.layers), progress=request.progress, sha256_of=wheelhouse.sha256_of,
                installed_size=lambda wheel: wheelhouse.facts_of(wheel).installed_size,
            ),
        )  # fmt: skip
        application = clock.time("layers", lambda: self._application_layer(wheelhouse, venv, epoch, work))
        request.progress(f"application layer {application.digest[:19]}: {application.descriptor.size} bytes")
        layers = [_image_layer(item.layer, "dependencies", item.created_by(venv)) for item in dependencies]
        layers.append(
            _image_layer(application, "application", f"hera-build: {wheelhouse.project_wheel.name} installed")
        )
        image = assemble(base, layers, self._settings(request, base, epoch, input_digest))
        return image, tuple(dependencies)

    def build(self, prepared: Prepared, work: Path) -> BuiltImage:
        """Layers → image → ``--output`` file / local engine; each stage timed in :attr:`last_report`."""
        if isinstance(prepared.state, _Platforms):
            return self._build_platforms(prepared, work)
        request, wheelhouse = prepared.request, prepared.wheelhouse
        base, python, epoch, patched, clock = prepared.state
        # Only a platform named on request can be foreign; the default one is the base's, as it always was.
        unchecked = unrunnable_reason(request.platforms[0]) if request.platforms else None
        engine = self._engine_for(request) if unchecked is None or self.options.load else None
        image, dependencies = self._image(request, base, python, wheelhouse, epoch, prepared.inputs.digest, work, clock)
        names = [str(ref) for ref in request.tags]
        output = None
        if request.output is not None:
            archive = is_archive_path(request.output)
            output = clock.time(
                "output", lambda: (write_archive if archive else _write_layout)(image, request.output, names, epoch)
            )
            request.progress(f"wrote {output}")
        if engine is not None:
            clock.time("load", lambda: self._load(engine, image, base, names, epoch))
            request.progress(f"loaded into the local engine as {names[0]} ({image.image_id[:19]})")
        self.last_report = OciBuildReport(
            image, python, dependencies, patched, engine is not None, output, clock.finish()
        )
        return BuiltImage(
            backend=BACKEND_NAME,
            image=request.image,
            tags=request.tags,
            inputs=prepared.inputs,
            image_id=image.image_id,
            local=image.image_id if engine is not None and unchecked is None else None,
            backend_version=f"hera-build {__version__}",
            layers=tuple(layer.descriptor.digest for layer in image.layers),
            digest=image.digest,
            oci=image,
            output=output,
            unchecked=unchecked,
        )

    def _build_platforms(self, prepared: Prepared, work: Path) -> BuiltImage:
        """One image per platform — each byte-identical to a single-platform build for that platform — and the
        index over them. Images of platforms this machine runs (natively, or emulated: :mod:`~hera_build.image.
        emulation`) are loaded into the local engine for the image check; the native one gets the tags."""
        request = prepared.request
        state: _Platforms = prepared.state
        parts, epoch, clock = state.parts, state.epoch, state.clock
        engine = self._engine_for(request)
        images: list[tuple[Platform, OciImage]] = []
        platform_images: list[PlatformImage] = []
        dependencies: tuple[DependencyLayer, ...] = ()
        native = native_architecture()
        names = [str(ref) for ref in request.tags]
        tagged = next((part for part in parts if part.platform.architecture == native), None)
        for index, part in enumerate(parts):
            request.progress(f"building the {part.platform} image")
            image, layers = self._image(
                request, part.base, part.python, part.wheelhouse, epoch, part.inputs.digest,
                work / f"platform-{index}", clock,
            )  # fmt: skip
            dependencies += layers
            images.append((part.base.platform, image))  # as its config says it (e.g. arm64 with variant v8)
            unchecked = unrunnable_reason(str(part.platform))
            local = None
            if engine is not None and (unchecked is None or self.options.load):
                load = (
                    partial(self._load, engine, image, part.base, names, epoch)
                    if part is tagged  # the build's tags: this machine's architecture's image
                    else partial(self._load_for_check, engine, request, image, part.base, part.platform, epoch)
                )
                clock.time("load", load)
                local = image.image_id if unchecked is None else None
                request.progress(f"loaded the {part.platform} image into the local engine ({image.image_id[:19]})")
            platform_images.append(PlatformImage(str(part.platform), image.digest, image.image_id, local, unchecked))
        built_index = assemble_index(images, identity_labels(prepared.inputs.digest))
        request.progress(f"image index {built_index.digest[:19]}: {', '.join(str(p) for p, _ in images)}")
        output = None
        if request.output is not None:
            output = clock.time("output", partial(write_layout, built_index, request.output, names))
            request.progress(f"wrote {output}")
        first = platform_images[parts.index(tagged)] if tagged is not None else platform_images[0]
        first_image = next(image for _, image in images if image.image_id == first.image_id)
        self.last_report = OciBuildReport(
            first_image, parts[0].python, dependencies, any(part.patched for part in parts), engine is not None,
            output, clock.finish(),
        )  # fmt: skip
        return BuiltImage(
            backend=BACKEND_NAME,
            image=request.image,
            tags=request.tags,
            inputs=prepared.inputs,
            image_id=first.image_id,
            local=first.local,
            backend_version=f"hera-build {__version__}",
            layers=tuple(layer.descriptor.digest for layer in first_image.layers),
            digest=built_index.digest,
            oci=built_index,
            output=output,
            platforms=tuple(platform_images),
        )

    def _wheels(
        self, request: BuildRequest, python: BasePython, work: Path, explicit_epoch: int | None,
        shared: SharedWheelBuilder | None = None,
    ) -> tuple[Wheelhouse, bool]:  # fmt: skip
        """The shared wheelhouse for the base's Python; ``True`` when the project wheel was patched (by this
        platform, or by the one whose wheel it shares)."""
        wheel_builder = shared or self._wheel_builder()
        target = python.target()
        wheelhouse = self._wheelhouse(
            request.project, target, work / "wheelhouse", lock=request.lock,
            source_date_epoch=explicit_epoch, progress=request.progress, builder=wheel_builder,
        )  # fmt: skip
        incremental = wheel_builder.inner if isinstance(wheel_builder, SharedWheelBuilder) else wheel_builder
        patched = isinstance(incremental, IncrementalWheelBuilder) and incremental.patched > 0
        if patched:
            request.progress(
                f"wheels for {target.image_platform}: the previous wheel was patched (only code or dependencies "
                "changed)"
            )
        return wheelhouse, patched

    def _settings(self, request: BuildRequest, base: BaseImage, epoch: int, input_digest: str) -> ImageSettings:
        labels = _labels(request, base, self._git(request.project.root), epoch) | identity_labels(input_digest)
        return ImageSettings(
            epoch=epoch,
            venv=str(self.options.venv),
            user=self.options.user,
            working_dir=self.options.working_dir,
            labels=labels,
            env={"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        )
