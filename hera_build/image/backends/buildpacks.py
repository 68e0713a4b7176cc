"""The ``buildpacks`` backend: runner images built by Cloud Native Buildpacks, through the ``pack`` CLI.

The build context is not the project's source tree but what the image needs, resolved on the host: the
wheelhouse (:mod:`hera_build.image.wheelhouse`, the same one the Docker backend installs) under ``.hera-build/``, a
``project.toml`` (schema 0.2) with the buildpack group and build environment, and the image labels. hera-build's
own buildpack, ``hera-build/hera-runner`` (shipped in :mod:`buildpacks`), installs the wheelhouse offline into a
venv layer with the python on the build image's PATH and makes the Hera runner the default process.

pack is driven through :class:`buildpacks.PackClient` (an argument list, never a shell); image id and digest
come from ``report.toml``. Failures of pack arrive as typed errors and leave here as :class:`HeraBuildError`\\ s
with a fix.

Because an Argo script's ``command`` replaces the image entrypoint (the CNB launcher, which is what puts the
venv's ``python`` on PATH), templates for these images call the launcher themselves:
:func:`hera_build.image.backends.runner_command_for` gives ``/cnb/lifecycle/launcher -- python``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

import buildpacks as bp
from hera_build import __version__
from hera_build.core.gitinfo import GitInfo, git_info
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.errors import BuildError, ConfigError, EngineError, HeraBuildError, PublishError
from hera_build.image.backends import BuildRequest, BuiltImage, Prepared, refuse_platforms
from hera_build.image.engine import DockerEngine
from hera_build.image.inputs import compute_inputs, identity_labels
from hera_build.image.labels import LABEL_BACKEND_VERSION, image_labels
from hera_build.image.target import ContainerProber, Prober, PythonTarget
from hera_build.image.wheelhouse import FIXED_EPOCH, Wheelhouse, prepare_wheelhouse

CONTEXT_DIR = ".hera-build"
"""The folder of the app dir that the hera-runner buildpack reads (and removes, so no wheel reaches the image)."""
CONTEXT_FORMAT = "1"
"""Version of the ``.hera-build/`` contract between hera-build and the hera-runner buildpack."""
DEFAULT_PULL_POLICY = bp.PullPolicy.IF_NOT_PRESENT
_BUILDER_METADATA_LABEL = "io.buildpacks.builder.metadata"
PACK_ENV = "HERA_BUILD_PACK"
"""Path of the ``pack`` executable, when it is not ``pack`` on PATH."""
_PROGRESS_PREFIXES = ("===> ", "[hera-runner]", "Successfully built", "Saving ", "Adding cache layer", "Reusing layer")
_TAIL_LINES = 15

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class BuildpacksSettings:
    """The backend's configuration, from ``[tool.hera-build]``; nothing here reads flags."""

    builder: str
    pull_policy: bp.PullPolicy = DEFAULT_PULL_POLICY
    buildpacks: tuple[str, ...] = ()
    """Buildpacks that run before hera-runner (e.g. a Python provider)."""

    @classmethod
    def from_request(cls, request: BuildRequest) -> BuildpacksSettings:
        config = request.project.config
        if not config.builder:
            raise ConfigError(
                "the buildpacks backend needs a builder, and [tool.hera-build] names none",
                'set builder = "…" in [tool.hera-build]: hera-build\'s own (docs/guides/buildpacks.md), or '
                'Paketo\'s "paketobuildpacks/builder-jammy-base" with buildpacks = ["paketo-buildpacks/cpython"]',
            )
        policy = bp.PullPolicy(config.pull_policy) if config.pull_policy else DEFAULT_PULL_POLICY
        return cls(builder=config.builder, pull_policy=policy, buildpacks=tuple(config.buildpacks))


@dataclass(frozen=True)
class BuilderInfo:
    """What the builder image's ``io.buildpacks.builder.metadata`` label says."""

    image_id: str
    buildpacks: frozenset[tuple[str, str]] = frozenset()
    """``(id, version)`` of every buildpack in the builder."""
    run_images: tuple[str, ...] = ()
    lifecycle_version: str | None = None

    @classmethod
    def from_labels(cls, image_id: str, labels: Mapping[str, str]) -> BuilderInfo:
        try:
            data = json.loads(labels.get(_BUILDER_METADATA_LABEL, "") or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        modules = frozenset(
            (str(entry.get("id")), str(entry.get("version")))
            for entry in data.get("buildpacks") or ()
            if isinstance(entry, dict) and entry.get("id")
        )
        runs = [str(entry.get("image")) for entry in data.get("images") or () if isinstance(entry, dict)]
        stack_run = ((data.get("stack") or {}).get("runImage") or {}).get("image")
        if not runs and stack_run:
            runs = [str(stack_run)]
        lifecycle = (data.get("lifecycle") or {}).get("version")
        return cls(image_id, modules, tuple(r for r in runs if r), str(lifecycle) if lifecycle else None)

    def has(self, buildpack_id: str, version: str) -> bool:
        return (buildpack_id, version) in self.buildpacks


@dataclass(frozen=True)
class BuildpacksPlan:
    """What :meth:`BuildpacksBuilder.build` would do, for ``hera-build image --dry-run``."""

    image: ImageRef
    tags: tuple[str, ...]
    base_image: str
    """The run image: what the runner image is based on."""
    target: PythonTarget | None
    push: bool
    builder: str
    project_toml: str
    pack_args: tuple[str, ...]
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------- the context


def buildpack_group(
    settings: BuildpacksSettings, builder: BuilderInfo | None, runner_uri: Path
) -> tuple[tuple[bp.GroupEntry, ...], bool]:
    """The ``[[io.buildpacks.group]]`` to build with, and whether pack must trust buildpacks added to the builder.

    The configured buildpacks come first, then hera-runner: taken from the builder when it has this very version
    (the contract of ``.hera-build/`` is versioned with it), else added from ``runner_uri`` (the copy shipped
    with this hera-build). Buildpacks that are not in the builder are extras; hera-build vouches for its own and
    for those the project configured, so pack keeps the trusted (single-container) flow for them.
    """
    version = bp.buildpack_version()
    entries = [bp.parse_group_entry(spec) for spec in settings.buildpacks]
    if builder is not None and builder.has(bp.BUILDPACK_ID, version):
        entries.append(bp.GroupEntry(id=bp.BUILDPACK_ID, version=version))
    else:
        entries.append(bp.GroupEntry(uri=str(runner_uri)))
    return tuple(entries), any(not _in_builder(entry, builder) for entry in entries)


def _in_builder(entry: bp.GroupEntry, builder: BuilderInfo | None) -> bool:
    if builder is None or entry.id is None:
        return False
    return any(ident == entry.id and entry.version in (None, version) for ident, version in builder.buildpacks)


def creation_time(request: BuildRequest, git: GitInfo | None) -> int | None:
    """``SOURCE_DATE_EPOCH`` when given, else the commit time: the same commit gives the same image. ``None``
    leaves pack's fixed 1980-01-01, which is reproducible too."""
    if request.source_date_epoch is not None:
        return request.source_date_epoch
    if git is not None and git.commit_time > 0:
        return git.commit_time
    return None


def _labels_toml(labels: Mapping[str, str]) -> str:
    """``[[labels]]`` tables for the buildpack to append to its ``launch.toml`` (quoted by tomlkit, not by sh)."""
    document = tomlkit.document()
    entries = tomlkit.aot()
    for key, value in sorted(labels.items()):
        entries.append({"key": key, "value": value})
    document["labels"] = entries
    return tomlkit.dumps(document)


def write_build_context(
    directory: Path,
    *,
    wheelhouse: Wheelhouse,
    descriptor: bp.ProjectDescriptor,
    app_requirement: str,
    labels: Mapping[str, str],
) -> None:
    """Complete the app dir around a wheelhouse prepared in ``directory/.hera-build`` (``app/``, ``deps/``).

    Besides the contract files of the hera-runner buildpack, an empty ``requirements.txt`` and a
    ``.python-version`` let Python buildpacks that need a package-manager file (Heroku's) provide the interpreter
    without installing anything themselves.
    """
    context = directory / CONTEXT_DIR
    (context / "deps").mkdir(parents=True, exist_ok=True)
    files = {
        context / "format": f"{CONTEXT_FORMAT}\n",
        context / "python-version": f"{wheelhouse.target.major_minor}\n",
        context / "requirements.txt": wheelhouse.requirements_text(),
        context / "app.txt": f"{app_requirement}\n",
        context / "labels.toml": _labels_toml(labels),
        directory / "requirements.txt": "# The runner's packages are installed from .hera-build/ by the "
        "hera-build/hera-runner buildpack.\n",
        directory / ".python-version": f"{wheelhouse.target.major_minor}\n",
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    descriptor.write(directory)


def _buildpack_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()}"


# ---------------------------------------------------------------------------------------------------- errors


def pack_error(exc: bp.PackError) -> HeraBuildError:
    """pack's typed failures → hera-build's error family, message and fix kept."""
    kinds: list[tuple[type[bp.PackError], type[HeraBuildError]]] = [
        (bp.PackNotFoundError, EngineError),
        (bp.PackVersionError, EngineError),
        (bp.DaemonUnavailableError, EngineError),
        (bp.RegistryError, PublishError),
    ]
    for pack_kind, ours in kinds:
        if isinstance(exc, pack_kind):
            return ours(exc.message, exc.fix)
    return BuildError(exc.message, exc.fix)


# ---------------------------------------------------------------------------------------------------- progress


@dataclass
class _PackOutput:
    """pack's output, compactly: phases and the buildpack's own lines (``--verbose``: everything)."""

    progress: Progress
    verbose: bool
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))

    def __call__(self, line: str) -> None:
        self.tail.append(line)
        text = line.strip()
        if self.verbose:
            self.progress(line)
        elif text.startswith(_PROGRESS_PREFIXES) or "ERROR:" in text:
            self.progress(f"  {text}")

    def dump_tail(self) -> None:
        if not self.verbose:
            for line in self.tail:
                self.progress(f"  | {line}")


# ---------------------------------------------------------------------------------------------------- the builder


class BuildpacksBuilder:
    """Builds the runner image with pack. Collaborators are injectable for tests."""

    name = "buildpacks"

    def __init__(
        self,
        *,
        pack: bp.PackClient | None = None,
        engine_factory: Callable[[], Any] | None = None,
        prober_factory: Callable[[Any], Prober] = ContainerProber,
        wheelhouse: Callable[..., Wheelhouse] = prepare_wheelhouse,
        git: Callable[[Path], GitInfo | None] = git_info,
    ) -> None:
        self.pack = pack or bp.PackClient(_pack_executable())
        self._engine_factory = engine_factory or _docker_engine
        self._prober_factory = prober_factory
        self._wheelhouse = wheelhouse
        self._git = git
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    # --- pre-flight ---------------------------------------------------------------------------------------

    def preflight(self, settings: BuildpacksSettings, progress: Progress) -> tuple[bp.PackVersion, BuilderInfo]:
        """pack installed and new enough, engine reachable, builder present (pulled unless the policy forbids)."""
        try:
            version = self.pack.preflight()
        except bp.PackNotFoundError as exc:
            raise EngineError(
                exc.message,
                f"install pack >= {bp.MINIMUM_PACK_VERSION} and put it on PATH, or set {PACK_ENV} to its path",
            ) from None
        except bp.PackError as exc:
            raise pack_error(exc) from None
        engine = self.engine  # raises EngineError when no engine answers
        builder = self._builder_info(engine, settings, progress)
        return version, builder

    def _builder_info(self, engine: Any, settings: BuildpacksSettings, progress: Progress) -> BuilderInfo:
        image = _local_image(engine, settings.builder)
        if image is None:
            if settings.pull_policy is bp.PullPolicy.NEVER:
                raise BuildError(
                    f"builder {settings.builder} is not in the Docker engine and pull-policy is never",
                    f"create it (pack builder create {settings.builder} --config builder.toml; see "
                    "docs/guides/buildpacks.md) or load it, or set pull-policy to if-not-present",
                )
            progress(f"pulling builder {settings.builder}")
            image = _pull(engine, settings.builder)
        labels = dict((image.attrs.get("Config") or {}).get("Labels") or {})
        if _BUILDER_METADATA_LABEL not in labels:
            raise BuildError(
                f"{settings.builder} is not a buildpacks builder (it has no {_BUILDER_METADATA_LABEL} label)",
                "set builder in [tool.hera-build] to a builder image (pack builder create makes one)",
            )
        return BuilderInfo.from_labels(str(image.id), labels)

    def _target(self, settings: BuildpacksSettings, request: BuildRequest, progress: Progress) -> PythonTarget:
        """The Python the wheels are chosen for: the builder's python3, which the build runs."""
        prober = self._prober_factory(self.engine)
        try:
            return prober.probe(settings.builder)
        except BuildError as exc:
            if not settings.buildpacks:
                raise BuildError(
                    f"builder {settings.builder} has no python3 on PATH, and no buildpack is configured to provide "
                    f"one ({exc.message})",
                    'add a Python buildpack before hera-runner (buildpacks = ["paketo-buildpacks/cpython"]) or use '
                    "a builder whose build image has python3",
                ) from None
        # A Python buildpack provides the interpreter at build time: choose wheels for the base image's Python,
        # which the configuration says matches it (the buildpack checks the major.minor when it runs).
        progress(f"builder {settings.builder} has no python3; choosing wheels for {request.base_image}'s Python")
        if _local_image(self.engine, request.base_image) is None:
            raise BuildError(
                f"cannot tell which Python the configured buildpacks will provide: the builder has none, and the "
                f"base image {request.base_image} is not in the engine to stand in for it",
                f"pull {request.base_image} (an image with the Python version your buildpacks install, e.g. "
                "python:3.12-slim), or set base-image to one",
            )
        return prober.probe(request.base_image)

    # --- plan ---------------------------------------------------------------------------------------------

    def plan(self, request: BuildRequest) -> BuildpacksPlan:
        """What a build would do (``--dry-run``): builder, group, project.toml and the pack command; builds nothing.

        Whatever cannot be looked at (no pack, no engine, no builder) becomes a note instead of an error.
        """
        refuse_platforms(request, self.name)
        settings = BuildpacksSettings.from_request(request)
        notes: list[str] = []
        builder: BuilderInfo | None = None
        target: PythonTarget | None = None
        try:
            version, builder = self.preflight(settings, notes.append)
            notes.append(f"pack {version}; builder {settings.builder} ({builder.image_id[:19]})")
            target = self._target(settings, request, notes.append)
        except HeraBuildError as exc:
            notes.append(f"not checked: {exc.message}")
        git = self._git(request.project.root)
        refs = request.tags
        runner = Path("<hera-runner>")
        group, trust_extra = buildpack_group(settings, builder, runner)
        epoch = creation_time(request, git)
        descriptor = self._descriptor(request, git, group, epoch, target)
        options = self._options(request, settings, Path("<build context>"), refs, trust_extra, epoch)
        run_images = builder.run_images if builder else ()
        pack_args = (self.pack.executable, *options.to_args())
        notes.append(f"command: {shlex.join(pack_args)}")
        return BuildpacksPlan(
            image=request.image,
            tags=tuple(str(ref) for ref in refs),
            base_image=run_images[0] if run_images else settings.builder,
            target=target,
            push=False,
            builder=settings.builder,
            project_toml=descriptor.to_toml(),
            pack_args=pack_args,
            notes=tuple(notes),
        )

    # --- build --------------------------------------------------------------------------------------------

    def prepare(self, request: BuildRequest, work: Path) -> Prepared:
        """pack, engine and builder → the builder's Python → wheelhouse → inputs (builder image digest, our
        buildpack's version and content, the group); nothing is built."""
        refuse_platforms(request, self.name)
        if request.output is not None:
            raise ConfigError(
                "the buildpacks backend writes images to the Docker engine or a registry, not to a file (--output)",
                "use --backend oci for an OCI layout or archive, or docker save the built image",
            )
        settings = BuildpacksSettings.from_request(request)
        pack_version, builder = self.preflight(settings, request.progress)
        target = self._target(settings, request, request.progress)
        request.progress(
            f"builder {settings.builder}: Python {target.version} ({target.platform}); pack {pack_version}"
        )
        app_dir, runner = work / "app", bp.copy_buildpack(work)
        wheelhouse = self._wheelhouse(
            request.project, target, app_dir / CONTEXT_DIR, lock=request.lock,
            source_date_epoch=request.source_date_epoch, progress=request.progress,
        )  # fmt: skip
        group, trust_extra = buildpack_group(settings, builder, runner)
        run_image = builder.run_images[0] if builder.run_images else settings.builder
        run_found = _local_image(self.engine, run_image)
        identity = {
            "builder": settings.builder,
            "builder-id": builder.image_id,
            "hera-runner": f"{bp.BUILDPACK_ID}@{bp.buildpack_version()} {_buildpack_digest(runner)}",
            "group": json.dumps([entry.to_table() for entry in group], sort_keys=True),
            "context-format": CONTEXT_FORMAT,
        }
        inputs = compute_inputs(
            request.project,
            wheelhouse,
            base_image=run_image,
            base_digest=str(run_found.id) if run_found is not None else None,
            backend=self.name,
            identity=identity,
            source_date_epoch=request.source_date_epoch,
        )
        state = (settings, pack_version, builder, target, app_dir, group, trust_extra)
        return Prepared(request, wheelhouse, inputs, state=state)

    def build(self, prepared: Prepared, work: Path) -> BuiltImage:
        """``pack build`` into the Docker engine (never ``--publish``: the image is checked before it is pushed)."""
        del work
        request, wheelhouse = prepared.request, prepared.wheelhouse
        settings, pack_version, builder, target, app_dir, group, trust_extra = prepared.state
        started = time.monotonic()
        git = self._git(request.project.root)
        refs = request.tags
        descriptor = self._descriptor(request, git, group, creation_time(request, git), target)
        labels = self._labels(request, git, wheelhouse, prepared.inputs.digest, pack_version, builder)
        write_build_context(
            app_dir,
            wheelhouse=wheelhouse,
            descriptor=descriptor,
            app_requirement=f"{request.project.distribution_name}=={request.project.version.canonical}",
            labels=labels,
        )
        options = self._options(request, settings, app_dir, refs, trust_extra, creation_time(request, git))
        request.progress(f"pack build {refs[0]} with {settings.builder} ({len(wheelhouse.dependency_wheels)} wheels)")
        report = self._run_pack(options, request)
        request.progress(f"built {refs[0]} in {time.monotonic() - started:.1f}s")
        image_id = report.image_id or self.engine.image_id(str(refs[0]))
        return BuiltImage(
            backend=self.name,
            image=request.image,
            tags=refs,
            inputs=prepared.inputs,
            image_id=image_id,
            local=image_id,
            backend_version=_backend_version(pack_version, builder),
            layers=_layers(_local_image(self.engine, image_id)),
        )

    def _descriptor(
        self,
        request: BuildRequest,
        git: GitInfo | None,
        group: tuple[bp.GroupEntry, ...],
        epoch: int | None,
        target: PythonTarget | None,
    ) -> bp.ProjectDescriptor:
        project = request.project
        # The buildpack compiles .pyc files; with SOURCE_DATE_EPOCH set they are hash-based (reproducible).
        env = {"SOURCE_DATE_EPOCH": str(epoch if epoch is not None else FIXED_EPOCH)}
        if target is not None:
            # Paketo's CPython buildpack installs this version when it is in the group.
            env["BP_CPYTHON_VERSION"] = f"{target.major_minor}.*"
        return bp.ProjectDescriptor(
            id=project.distribution_name,
            name=project.name,
            version=project.version.exact,
            source_url=git.remote_url if git else None,
            group=group,
            build_env=env,
            metadata={"generated-by": f"hera-build {__version__}"},
        )

    def _labels(
        self,
        request: BuildRequest,
        git: GitInfo | None,
        wheelhouse: Wheelhouse,
        input_digest: str,
        pack_version: bp.PackVersion,
        builder: BuilderInfo,
    ) -> dict[str, str]:
        epoch = creation_time(request, git)
        run_image = builder.run_images[0] if builder.run_images else request.project.config.builder or ""
        labels = image_labels(
            request.project, base_image=run_image, git=git, source_date_epoch=epoch, wheelhouse=wheelhouse
        )
        labels |= identity_labels(input_digest)
        labels[LABEL_BACKEND_VERSION] = _backend_version(pack_version, builder)
        return labels

    def _options(
        self,
        request: BuildRequest,
        settings: BuildpacksSettings,
        app_dir: Path,
        refs: tuple[ImageRef, ...],
        trust_extra: bool,
        epoch: int | None,
    ) -> bp.BuildOptions:
        return bp.BuildOptions(
            image=str(refs[0]),
            path=app_dir,
            builder=settings.builder,
            pull_policy=settings.pull_policy,
            creation_time=epoch,
            publish=False,
            tags=tuple(str(ref) for ref in refs[1:]),
            trust_extra_buildpacks=trust_extra,
            default_process="runner",
            no_color=True,
        )

    def _run_pack(self, options: bp.BuildOptions, request: BuildRequest) -> bp.BuildReport:
        output = _PackOutput(request.progress, request.verbose)
        try:
            return self.pack.build(options, on_line=output)
        except bp.PackFailedError as exc:
            output.dump_tail()
            raise pack_error(exc) from None
        except bp.PackError as exc:
            raise pack_error(exc) from None


def _backend_version(version: bp.PackVersion, builder: BuilderInfo) -> str:
    lifecycle = f", lifecycle {builder.lifecycle_version}" if builder.lifecycle_version else ""
    return f"pack {version}{lifecycle}"


def _pack_executable() -> str:
    return os.environ.get(PACK_ENV) or "pack"


def _docker_engine() -> DockerEngine:
    return DockerEngine.from_env()


def _local_image(engine: Any, name: str) -> Any:
    from docker.errors import ImageNotFound

    try:
        return engine.client.images.get(name)
    except ImageNotFound:
        return None


def _layers(image: Any) -> tuple[str, ...]:
    if image is None:
        return ()
    return tuple(str(layer) for layer in (image.attrs.get("RootFS") or {}).get("Layers") or ())


def _pull(engine: Any, name: str) -> Any:
    from docker.errors import APIError

    ref = parse_image_ref(name, what="builder")
    try:
        return engine.client.images.pull(ref.repository, tag=ref.digest or ref.tag or "latest")
    except APIError as exc:
        raise BuildError(
            f"cannot pull builder {name}: {exc.explanation or exc}",
            "check the name and that its registry is reachable, or create the builder locally (pack builder create)",
        ) from None
