"""The release pipeline: from a commit to a pushed image, digest-pinned templates and a manifest, safely re-runnable.

:func:`plan` decides without side effects (nothing is built, pushed or written); :func:`release` carries the
plan out. Both start from the same facts, so a plan predicts its release exactly:

1. the version (the package's, ``--version``, or with ``+dirty.<hash>`` for an uncommitted tree);
2. the input digest of the image (:mod:`hera_build.image.inputs`) and what the registry has under ``image:tag``;
3. the decision: *build* (tag absent, or ``--force``), *skip* (the tag holds an image of the same inputs: reuse
   its digest), or *refuse* (it holds other content: a released version never changes);
4. the templates pinned to ``image:tag@digest``, classified against the output folder.

Every effect goes through a seam in :class:`ReleaseEnvironment` (registry, builder, git, wheel digest, base
resolution), so the decisions are tested with fakes and run for real unchanged.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from packaging.version import Version

from hera_build import __version__
from hera_build.core.epoch import source_date_epoch
from hera_build.core.gitinfo import GitInfo, dirty_fingerprint, git_info
from hera_build.core.lockfiles import read_lock_versions
from hera_build.core.progress import no_progress
from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef
from hera_build.core.versions import parse_version
from hera_build.errors import ConfigError, ImmutableTagError, OutputError, PublishError, ResolveError
from hera_build.image.backends import (
    Builder,
    BuildRequest,
    BuildResult,
    Prepared,
    backend_for,
    get_builder,
    resolve_base_image,
    resolve_platforms,
    runner_command_for,
)
from hera_build.image.engine import DockerEngine, connect_engine
from hera_build.image.inputs import INPUT_DIGEST_LABEL, BuildInputs
from hera_build.image.labels import LABEL_BACKEND_VERSION
from hera_build.image.registry import RegistryApi, RegistryView, RemoteImage, open_registry
from hera_build.image.sbom import SPDX_MEDIA_TYPE, SPDX_VERSION
from hera_build.publish.pipeline import Checker, build_checked, check_reused, requested_name, result_of
from hera_build.publish.policy import Decision, decide
from hera_build.publish.push import Published, Pusher, publish
from hera_build.publish.sbom import PublishedSbom, find_sbom, index_platforms, sbom_document_for
from hera_build.release.manifest import (
    DEFAULT_MANIFEST,
    BackendRecord,
    BaseImageRecord,
    DependencyEdge,
    EmittedObject,
    ImageRecord,
    PlatformRecord,
    ReleaseManifest,
    SbomRecord,
    SourceRecord,
    load_manifest,
    write_manifest,
)
from hera_build.templates.build import TemplateOptions, TemplatesResult, build_templates
from hera_build.templates.output import (
    DEFAULT_OUT,
    WriteResult,
    check_listable,
    check_writable,
    layout,
    output_lock,
    plan_output,
    render,
    write_output,
)

Action = Literal["build", "skip", "refuse"]
"""``skip``: the registry's image has the same inputs and is reused (the policy's ``reuse``)."""
FileStatus = Literal["new", "unchanged", "pending", "conflicting"]
"""``pending``: the file exists and matches except for the image digest, which the build has yet to produce."""
RegistryState = Literal["absent", "present", "unknown"]

BACKEND_VERSION_LABEL = LABEL_BACKEND_VERSION
"""Image label with the version of the backend that built it; the manifest reads it back from the registry."""
"""Beside, not inside, the output folder: everything in that folder is listed in its kustomization.yaml."""
DIRTY_HASH_LENGTH = 8
_DIGEST_IN_TEXT_RE = re.compile(r"@sha256:[0-9a-f]{64}")
_DIGEST_ANNOTATION_RE = re.compile(r"^\s*hera-build\.dev/digest: sha256:[0-9a-f]{64}\n", re.MULTILINE)


@dataclass(frozen=True)
class ReleaseOptions:
    """What the user asked for (the flags of ``release`` and ``plan``)."""

    project_dir: Path = Path(".")
    version: str | None = None
    backend: str | None = None
    base_image: str | None = None
    platforms: tuple[str, ...] = ()
    """``--platform`` values; empty: ``platforms`` in [tool.hera-build], else the backend's default."""
    push: bool = False
    out: Path = DEFAULT_OUT
    manifest: Path | None = None
    """Where the manifest goes; default :data:`DEFAULT_MANIFEST`."""
    force: bool = False
    allow_dirty: bool = False
    lock: Path | None = None
    crd_files: tuple[Path, ...] = ()
    argo: bool = False
    """Also run Argo's own validator on the templates (see :class:`TemplateOptions`)."""
    argo_path: Path | None = None
    verbose: bool = False
    progress: Callable[[str], None] = field(default=no_progress, compare=False)
    check: Callable[[Project, str], Checker] | None = field(default=None, compare=False)
    """Makes the image check for (the release's project, backend); ``None``: no check (``--no-check``). A failing
    check stops the release before anything is pushed or written."""
    sbom: bool = False
    """Publish the image's SBOM beside it when the image is pushed (:mod:`hera_build.publish.sbom`); the CLI does."""

    @property
    def manifest_path(self) -> Path:
        return self.manifest if self.manifest is not None else DEFAULT_MANIFEST


def _dirty_state(path: Path, exclude: tuple[Path, ...]) -> str | None:
    return dirty_fingerprint(path, exclude=exclude)


def _registry_sbom(image: ImageRef, image_digest: str) -> PublishedSbom | None:
    return find_sbom(open_registry(image.registry), image, image_digest)


def _registry_index(image: ImageRef, digest: str) -> tuple[tuple[str, str], ...]:
    return index_platforms(open_registry(image.registry), image, digest)


@dataclass(frozen=True)
class ReleaseEnvironment:
    """Every effect :func:`plan` and :func:`release` have on the world, replaceable in tests."""

    registry: RegistryView = field(default_factory=RegistryApi)
    builder: Callable[[str], Builder] = get_builder
    git: Callable[[Path], GitInfo | None] = git_info
    dirty: Callable[[Path, tuple[Path, ...]], str | None] = _dirty_state
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    pusher: Pusher | None = None
    """``None``: the registry API for oci images, the engine for the others."""
    engine: Callable[[], DockerEngine | None] = connect_engine
    """Where a reused image is pulled to be checked again."""
    sbom: Callable[[ImageRef, str], PublishedSbom | None] = _registry_sbom
    """The SBOM the registry has beside an image's digest (a reused image's is read back, not published again)."""
    index: Callable[[ImageRef, str], tuple[tuple[str, str], ...]] = _registry_index
    """``(platform, manifest digest)`` of each image a reused multi-platform index lists; empty for one image."""


@dataclass(frozen=True)
class ReleaseFacts:
    """What is being released: the project at its release version, its source, image reference and inputs."""

    project: Project
    """At the release version (``--version`` or ``+dirty.<hash>`` applied)."""
    git: GitInfo | None
    dirty: bool
    image: ImageRef
    """``repository:tag``."""
    backend: str
    inputs: BuildInputs


@dataclass(frozen=True)
class PlannedObject:
    """One object the release writes, and how it compares with what the output folder holds."""

    kind: str
    source_name: str
    name: str
    file: str
    status: FileStatus
    refs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Plan:
    """Everything :func:`release` will do, decided without doing it."""

    options: ReleaseOptions
    facts: ReleaseFacts
    registry_state: RegistryState
    remote: RemoteImage | None
    decision: Action
    reason: str
    objects: tuple[PlannedObject, ...]
    manifest: ReleaseManifest
    """The manifest the release writes; ``image.digest``/``id`` stay ``null`` here when the image is to be built."""
    templates: TemplatesResult = field(repr=False)
    files: dict[str, str] = field(repr=False)
    registry_error: str | None = None

    @property
    def project(self) -> Project:
        return self.facts.project

    @property
    def version(self) -> str:
        return self.facts.project.version.exact

    @property
    def image(self) -> ImageRef:
        return self.facts.image

    @property
    def backend(self) -> str:
        return self.facts.backend

    @property
    def inputs(self) -> BuildInputs:
        return self.facts.inputs

    @property
    def dirty(self) -> bool:
        return self.facts.dirty

    @property
    def input_digest(self) -> str:
        return self.inputs.digest

    def to_json(self) -> dict[str, Any]:
        remote = self.remote
        return {
            "package": self.project.distribution_name,
            "version": self.version,
            "image": str(self.image),
            "backend": self.backend,
            "dirty": self.dirty,
            "registry": {
                "state": self.registry_state,
                "digest": remote.digest if remote else None,
                "input_digest": remote.labels.get(INPUT_DIGEST_LABEL) if remote else None,
                "error": self.registry_error,
            },
            "input_digest": self.inputs.digest,
            "inputs": self.inputs.to_json(),
            "decision": self.decision,
            "reason": self.reason,
            "push": self.options.push,
            "out": str(self.options.out),
            "manifest_file": str(self.options.manifest_path),
            "templates": [
                {"kind": o.kind, "source_name": o.source_name, "name": o.name, "file": o.file, "status": o.status}
                for o in self.objects
            ],
            "refs": [ref | {"object": o.name} for o in self.objects for ref in o.refs],
            "manifest": self.manifest.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Release:
    """What :func:`release` did."""

    plan: Plan
    manifest: ReleaseManifest
    built: bool
    written: WriteResult
    build: BuildResult | None = None


# ---------------------------------------------------------------------------------------------------- the version


def dirty_version(version: str, fingerprint: str) -> str:
    """``1.2.3`` → ``1.2.3+dirty.<hash>`` (``1.2.3+ci.4`` → ``1.2.3+ci.4.dirty.<hash>``), canonical PEP 440.

    A local segment keeps a dirty build off the release's tag, and the hash of the dirty state keeps two
    different dirty trees apart while the same dirty tree always gets the same version.
    """
    parsed = parse_version(version)
    local = f"dirty.{fingerprint[:DIRTY_HASH_LENGTH]}"
    if parsed.local:
        local = f"{parsed.local}.{local}"
    return str(Version(f"{parsed.public}+{local}"))


def _release_project(options: ReleaseOptions, env: ReleaseEnvironment) -> tuple[Project, GitInfo | None, bool]:
    project = load_project(options.project_dir, version=options.version)
    git = env.git(project.root)
    fingerprint = env.dirty(project.root, (options.out, options.manifest_path)) if git else None
    if fingerprint and not options.allow_dirty:
        project = project.with_version(dirty_version(project.version.exact, fingerprint))
    return project, git, fingerprint is not None


# ---------------------------------------------------------------------------------------------------- the decision


def _decide(facts: ReleaseFacts, state: RegistryState, remote: RemoteImage | None, force: bool) -> Decision:
    """The one publish policy (:mod:`hera_build.publish.policy`); a registry that cannot be asked means build
    (a plan without ``--push`` may not know)."""
    if state == "unknown":
        return Decision("build", "the registry could not be asked; building")
    platforms = tuple(platform for platform, _ in facts.inputs.platforms)
    return decide(
        facts.image, facts.project.version.exact, remote, facts.inputs.digest, force=force, platforms=platforms
    )


_ACTIONS: dict[str, Action] = {"build": "build", "reuse": "skip", "refuse": "refuse"}


def _lookup(
    registry: RegistryView, image: ImageRef, push: bool
) -> tuple[RegistryState, RemoteImage | None, str | None]:
    try:
        remote = registry.lookup(image)
    except PublishError as exc:
        if push:
            raise
        return "unknown", None, str(exc)
    return ("present" if remote else "absent"), remote, None


# ---------------------------------------------------------------------------------------------------- templates


def _emit(project: Project, options: ReleaseOptions, backend: str, digest: str | None) -> TemplatesResult:
    template_options = TemplateOptions(
        project_dir=project.root,
        digest=digest,
        lock=options.lock,
        runner_command=runner_command_for(backend),
        crd_files=options.crd_files,
        argo=options.argo,
        argo_path=options.argo_path,
    )
    return build_templates(template_options, project=project)


def _files(result: TemplatesResult) -> dict[str, str]:
    """``{path in the output folder: content}``, in the objects' order (see :func:`output.layout`)."""
    return {path: render(obj.manifest) for path, obj in layout(result.objects).items()}


def _without_digest(text: str) -> str:
    return _DIGEST_ANNOTATION_RE.sub("", _DIGEST_IN_TEXT_RE.sub("", text))


def _statuses(
    files: Mapping[str, str], out: Path, digest_known: bool, pinned_later: frozenset[str] = frozenset()
) -> dict[str, FileStatus]:
    """``pinned_later``: files the release will pin to the image's digest; one that exists unpinned (from
    ``hera-build templates``) cannot stay unchanged, so it conflicts, and the release stops before building."""
    planned = plan_output(files, out)
    statuses: dict[str, FileStatus] = {name: "new" for name in planned.new}
    statuses |= {name: "conflicting" if name in pinned_later else "unchanged" for name in planned.unchanged}
    for name in planned.replaced:
        same_but_digest = not digest_known and _without_digest((out / name).read_text(encoding="utf-8")) == (
            _without_digest(files[name])
        )
        statuses[name] = "pending" if same_but_digest else "conflicting"
    return statuses


def _ref_json(pin: Any) -> dict[str, Any]:
    return {
        "ref": pin.ref,
        "cluster_scope": pin.cluster_scope,
        "pinned": pin.pinned,
        "reason": pin.reason,
        "distribution": pin.distribution,
        "version": pin.version,
        "specifier": pin.specifier,
    }


def _planned_objects(
    result: TemplatesResult, out: Path, statuses: Mapping[str, FileStatus]
) -> tuple[PlannedObject, ...]:
    planned = []
    for name, obj in layout(result.objects).items():
        planned.append(
            PlannedObject(
                obj.kind,
                obj.source_name,
                obj.name,
                str(out / name),
                statuses[name],
                tuple(_ref_json(p) for p in obj.refs),
            )
        )
    return tuple(planned)


# ---------------------------------------------------------------------------------------------------- the manifest


def _edges(result: TemplatesResult) -> tuple[DependencyEdge, ...]:
    edges: dict[tuple[bool, str], DependencyEdge] = {}
    for obj in result.objects:
        for pin in obj.refs:
            if pin.reason != "provider" or pin.distribution is None or pin.version is None:
                continue
            key = (pin.cluster_scope, pin.ref)
            users = (*edges[key].used_by, obj.name) if key in edges else (obj.name,)
            edges[key] = DependencyEdge(
                ref=pin.ref,
                cluster_scope=pin.cluster_scope,
                pinned=pin.pinned,
                distribution=pin.distribution,
                version=pin.version,
                specifier=pin.specifier,
                used_by=tuple(dict.fromkeys(users)),
            )
    return tuple(edges[key] for key in sorted(edges, key=lambda k: (k[1], k[0])))


def _sbom_record(published: PublishedSbom | None) -> SbomRecord | None:
    if published is None:
        return None
    return SbomRecord(
        media_type=SPDX_MEDIA_TYPE, format=SPDX_VERSION, digest=published.document, artifact=published.reference,
        found_by="referrers" if published.referrers else "tag", tag=published.tag,
    )  # fmt: skip


def _planned_sbom(options: ReleaseOptions, env: ReleaseEnvironment, image: ImageRef, reused: RemoteImage | None) -> (
    SbomRecord | None
):  # fmt: skip
    """The SBOM record the release writes. A reused image's SBOM is read back from the registry (it is what the
    release that built the image published); an image still to be pushed gets one whose place is known only
    after the push; nothing is published for an image that is not pushed."""
    if not options.sbom:
        return None
    if reused is not None:
        return _sbom_record(env.sbom(image, reused.digest))
    if not options.push:
        return None
    return SbomRecord(
        media_type=SPDX_MEDIA_TYPE, format=SPDX_VERSION, digest=None, artifact=None, found_by=None, tag=None
    )


def _planned_platforms(
    options: ReleaseOptions, env: ReleaseEnvironment, request: BuildRequest, reused: RemoteImage | None
) -> tuple[PlatformRecord, ...] | None:
    """Each platform's record of a multi-platform image, as the release writes it: a reused index's manifests and
    their SBOMs read back from the registry (as for ``image.sbom``); for an image still to be built, the platforms
    with digests and SBOM places unknown until the push. ``None`` for a single-platform image."""
    if len(request.platforms) < 2:
        return None
    if reused is not None:
        return tuple(
            PlatformRecord(
                platform=requested_name(request.platforms, found),
                digest=digest,
                sbom=_sbom_record(env.sbom(request.image, digest)) if options.sbom else None,
            )
            for found, digest in env.index(request.image, reused.digest)
        )
    sbom = _planned_sbom(options, env, request.image, None)
    return tuple(PlatformRecord(platform=platform, digest=None, sbom=sbom) for platform in request.platforms)


def _built_platforms(result: BuildResult, published: Published | None) -> tuple[PlatformRecord, ...] | None:
    """What a multi-platform build put where: each platform's manifest digest and the SBOM published beside it."""
    if not result.platforms:
        return None
    sboms = dict(published.sboms) if published else {}
    return tuple(
        PlatformRecord(platform=platform, digest=digest, sbom=_sbom_record(sboms.get(platform)))
        for platform, digest in result.platforms
    )


def _hera_version() -> str:
    try:
        return importlib.metadata.version("hera")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - hera is a dependency
        return "unknown"


def _manifest(
    plan_facts: ReleaseFacts,
    result: TemplatesResult,
    out: Path,
    *,
    digest: str | None,
    image_id: str | None,
    backend_version: str | None,
    checked: bool | None = None,
    sbom: SbomRecord | None = None,
    platforms: tuple[PlatformRecord, ...] | None = None,
) -> ReleaseManifest:
    image = plan_facts.image.with_digest(digest)
    git = plan_facts.git
    return ReleaseManifest(
        package=plan_facts.project.distribution_name,
        version=plan_facts.project.version.exact,
        image=ImageRecord(
            repository=image.repository,
            tag=image.tag or "",
            digest=digest,
            id=image_id,
            reference=str(image),
            checked=checked,
            sbom=sbom,
            platforms=platforms,
        ),
        backend=BackendRecord(name=plan_facts.backend, version=backend_version),  # type: ignore[arg-type]
        base_image=BaseImageRecord(reference=plan_facts.inputs.base_image, digest=plan_facts.inputs.base_digest),
        input_digest=plan_facts.inputs.digest,
        source_date_epoch=plan_facts.inputs.source_date_epoch,
        git=SourceRecord(commit=git.commit, dirty=plan_facts.dirty) if git else None,
        hera_version=_hera_version(),
        hera_build_version=__version__,
        output=str(out),
        objects=tuple(
            EmittedObject(kind=o.kind, source_name=o.source_name, name=o.name, file=str(out / path))
            for path, o in layout(result.objects).items()
        ),
        dependencies=_edges(result),
    )


# ---------------------------------------------------------------------------------------------------- plan


def _facts(options: ReleaseOptions, env: ReleaseEnvironment, work: Path) -> tuple[ReleaseFacts, Prepared, Builder]:
    """The release project and its image's inputs, prepared by the backend exactly as the build will use them
    (same wheelhouse, same input digest: what a plan predicts is what a release builds)."""
    project, git, dirty = _release_project(options, env)
    if options.lock is not None:
        read_lock_versions(options.lock)  # a bad lock file is one line before the base image is read
    repository = project.config.image_ref
    if repository is None:
        raise ConfigError(
            f"{project.pyproject} configures no image repository, so there is nothing to release",
            'set image = "registry/repository" in [tool.hera-build]',
        )
    backend = backend_for(project, options.backend)
    builder = env.builder(backend)
    request = BuildRequest(
        project=project,
        image=repository.with_tag(project.version.tag),
        base_image=resolve_base_image(project, options.base_image),
        platforms=resolve_platforms(project, options.platforms),
        lock=options.lock,
        source_date_epoch=source_date_epoch(env.environ),
        verbose=options.verbose,
        progress=options.progress,
    )
    prepared = builder.prepare(request, work)
    facts = ReleaseFacts(project, git, dirty, request.image, backend, prepared.inputs)
    return facts, prepared, builder


def _plan(options: ReleaseOptions, env: ReleaseEnvironment, work: Path) -> tuple[Plan, Prepared, Builder]:
    # Where the release writes must be writable before anything is built or pushed: no half-done release.
    check_writable(options.out, what="--out", folder=True)
    check_listable(options.out)
    check_writable(options.manifest_path, what="--manifest", folder=False)
    facts, prepared, builder = _facts(options, env, work)
    state, remote, error = _lookup(env.registry, facts.image, options.push)
    decision = _decide(facts, state, remote, options.force)
    reused = remote if decision.action == "reuse" else None
    templates = _emit(facts.project, options, facts.backend, reused.digest if reused else None)
    files = _files(templates)
    pinned_later = frozenset(
        path for path, obj in layout(templates.objects).items() if reused is None and str(facts.image) in obj.images
    )
    pins = options.push or getattr(builder, "digest_before_push", False)  # the templates get the build's digest
    statuses = _statuses(files, options.out, reused is not None, pinned_later if pins else frozenset())
    manifest = _manifest(
        facts,
        templates,
        options.out,
        digest=reused.digest if reused else None,
        image_id=reused.config_digest if reused else None,
        backend_version=reused.labels.get(LABEL_BACKEND_VERSION) if reused else None,
        checked=_predicted_check(options, env),
        sbom=_planned_sbom(options, env, facts.image, reused),
        platforms=_planned_platforms(options, env, prepared.request, reused),
    )
    the_plan = Plan(
        options=options,
        facts=facts,
        registry_state=state,
        remote=remote,
        decision=_ACTIONS[decision.action],
        reason=decision.reason,
        objects=_planned_objects(templates, options.out, statuses),
        manifest=manifest,
        templates=templates,
        files=files,
        registry_error=error,
    )
    return the_plan, prepared, builder


def _predicted_check(options: ReleaseOptions, env: ReleaseEnvironment) -> bool | None:
    """What a release that completes records as ``image.checked``: a failing check stops it, so the check passes
    where an engine can run it; without an engine it cannot run."""
    if options.check is None:
        return None
    return env.engine() is not None


def plan(options: ReleaseOptions, env: ReleaseEnvironment | None = None) -> Plan:
    """Decide what :func:`release` would do, without building, pushing or writing anything."""
    with tempfile.TemporaryDirectory(prefix="hera-build-plan-") as tmp:
        return _plan(options, env or ReleaseEnvironment(), Path(tmp))[0]


# ---------------------------------------------------------------------------------------------------- release


def _refuse_conflicts(the_plan: Plan) -> None:
    """Stop before building when files of this version already exist with other content (not just another
    digest): :func:`write_output` raises its readable diff, and writes nothing, when a file conflicts."""
    conflicting = {o.file for o in the_plan.objects if o.status == "conflicting"}
    if conflicting and not the_plan.options.force:
        out = the_plan.options.out
        names = sorted(Path(path).relative_to(out).as_posix() for path in conflicting)
        unpinned = [name for name in names if (out / name).read_text(encoding="utf-8") == the_plan.files[name]]
        if unpinned:
            more = f" (and {len(unpinned) - 1} more)" if len(unpinned) > 1 else ""
            raise OutputError(
                f"{out / unpinned[0]}{more} already exists with the image unpinned (written by `hera-build "
                "templates` without --digest), and this release pins it to the image's digest",
                f"delete the unpinned files of version {the_plan.version} from {out} (nothing was built or pushed), or "
                "pass --force to overwrite them",
            )
        files = {name: the_plan.files[name] for name in names}
        write_output(files, the_plan.options.out, force=False)


def _refuse_pending(the_plan: Plan, digest: str | None) -> None:
    """Files that pin another digest of this version (``pending``) are checked against the built image before it
    is pushed, where the backend knows its digest unpushed (oci): a rebuild that gives another digest stops
    here, instead of pushing the image and then refusing to write the templates."""
    pending = [o.file for o in the_plan.objects if o.status == "pending"]
    if not pending or digest is None or the_plan.options.force:
        return
    out = the_plan.options.out
    files = _files(_emit(the_plan.project, the_plan.options, the_plan.backend, digest))
    names = sorted(Path(path).relative_to(out).as_posix() for path in pending)
    if plan_output({name: files[name] for name in names}, out).replaced:
        write_output({name: files[name] for name in names}, out, force=False)  # raises its readable diff


def _image(
    the_plan: Plan, prepared: Prepared, builder: Builder, env: ReleaseEnvironment, work: Path
) -> tuple[BuildResult, SbomRecord | None, tuple[PlatformRecord, ...] | None]:
    """Reuse (checked again where an engine is), or build → check → publish; with the SBOM's record (and each
    platform's, for a multi-platform image)."""
    options = the_plan.options
    checker = options.check(the_plan.project, the_plan.backend) if options.check is not None else None
    if the_plan.decision == "skip":
        assert the_plan.remote is not None
        checked, summary = (
            check_reused(checker, the_plan.remote, prepared.request, env.engine) if checker else (None, None)
        )
        sbom = the_plan.manifest.image.sbom
        if options.sbom and sbom is None:
            options.progress(
                f"warning: the registry has no SBOM for {the_plan.image}@{the_plan.remote.digest}; the manifest "
                "records none (release with --force to rebuild and publish one)"
            )
        result = result_of(None, prepared, reused=the_plan.remote, checked=checked, check=summary)
        return result, sbom, the_plan.manifest.image.platforms
    options.progress(f"building {the_plan.image} with the {the_plan.backend} backend")
    built, checked, summary = build_checked(builder, prepared, work, checker)
    _refuse_pending(the_plan, built.digest)
    published = None
    if options.push:
        published = publish(
            built, env.registry, pusher=env.pusher, progress=options.progress, verbose=options.verbose,
            sbom=sbom_document_for(prepared) if options.sbom else None,
        )  # fmt: skip
    result = result_of(built, prepared, published=published, checked=checked, check=summary)
    return result, _sbom_record(published.sbom if published else None), _built_platforms(result, published)


def release(options: ReleaseOptions, env: ReleaseEnvironment | None = None) -> Release:
    """Build (or reuse), check, push, emit digest-pinned templates and write the manifest; safe to re-run."""
    env = env or ReleaseEnvironment()
    with tempfile.TemporaryDirectory(prefix="hera-build-release-") as tmp:
        work = Path(tmp)
        the_plan, prepared, builder = _plan(options, env, work)
        if the_plan.decision == "refuse":  # a refusal is the error itself, said once
            raise ImmutableTagError(the_plan.reason, "bump the version or use --force")
        options.progress(the_plan.reason)
        _refuse_conflicts(the_plan)
        image, sbom, platforms = _image(the_plan, prepared, builder, env, work)
    templates, files = the_plan.templates, the_plan.files
    if image.digest != (the_plan.remote.digest if the_plan.decision == "skip" and the_plan.remote else None):
        templates = _emit(the_plan.project, options, the_plan.backend, image.digest)
        files = _files(templates)
    manifest = _manifest(
        the_plan.facts,
        templates,
        options.out,
        digest=image.digest,
        image_id=image.image_id,
        backend_version=image.backend_version,
        checked=image.checked,
        sbom=sbom,
        platforms=platforms,
    )
    with output_lock(options.out):  # the folder and its manifest, one writer at a time
        written = write_output(files, options.out, force=options.force)
        write_manifest(manifest, options.manifest_path)
    return Release(the_plan, manifest, built=not image.skipped, written=written, build=image)


# ---------------------------------------------------------------------------------------------------- from a manifest


def _same_or_unset(flag: str, given: str | None, recorded: str | None, path: Path) -> None:
    if given is not None and given != recorded:
        raise ConfigError(
            f"{flag} {given} contradicts the release manifest {path} ({recorded})",
            f"drop {flag}: the manifest decides it",
        )


def templates_from_manifest(path: Path, options: TemplateOptions) -> TemplatesResult:
    """Emit exactly what a release recorded (version, image digest, backend), e.g. in a later CI step.

    The templates are emitted again from the code, so the code and the resolved dependencies must be the ones
    the release saw: a different package, image repository or dependency pin is an error, not a silent drift.
    """
    manifest = load_manifest(path)
    _same_or_unset("--version", options.version, manifest.version, path)
    _same_or_unset("--digest", options.digest, manifest.image.digest, path)
    command = runner_command_for(manifest.backend.name)
    if options.runner_command is not None and options.runner_command != command:
        raise ConfigError(
            f"--backend contradicts the release manifest {path} ({manifest.backend.name})", "drop --backend"
        )
    result = build_templates(
        replace(options, version=manifest.version, digest=manifest.image.digest, runner_command=command)
    )
    found = (result.project.distribution_name, result.image.repository if result.image else None)
    if found != (manifest.package, manifest.image.repository):
        raise ConfigError(
            f"release manifest {path} is for {manifest.package} ({manifest.image.repository}), but the project is "
            f"{found[0]} ({found[1]})",
            "pass the manifest of this project, or --project DIR of the project it belongs to",
        )
    edges = {(e.ref, e.cluster_scope): e for e in manifest.dependencies}
    for edge in _edges(result):
        recorded = edges.get((edge.ref, edge.cluster_scope))
        if recorded is None or (recorded.distribution, recorded.version) != (edge.distribution, edge.version):
            was = f"{recorded.distribution} {recorded.version}" if recorded else "nothing"
            raise ResolveError(
                f"templateRef {edge.ref!r} resolves to {edge.distribution} {edge.version} here, but the release "
                f"manifest {path} pinned it to {was}",
                "emit in an environment with the versions the release used (same lock file, pass the same --lock)",
            )
    return result
