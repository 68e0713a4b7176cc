"""The ``image`` command's whole job as one library call: project → build request → check → build and publish.

:func:`build_image` is :func:`hera_build.api.build_image`; the CLI calls it directly, from here, because importing
:mod:`hera_build.api` would import every stage (pydantic for the release manifest, Hera for templates) before a
build that needs none of them. It decides everything the command does — which image, which checks, what is
written where — and returns what there is to say, so ``hera-build image`` only parses arguments and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hera_build.core.progress import no_progress
from hera_build.core.project import Project
from hera_build.core.references import ImageRef
from hera_build.image.backends import BuildRequest, BuildResult


@dataclass(frozen=True)
class ImageOptions:
    """What ``hera-build image`` takes: build the project's runner image, check it, and push it if asked."""

    project_dir: Path = Path(".")
    version: str | None = None
    backend: str | None = None
    """``oci`` (default, no engine), ``docker`` or ``buildpacks``; default from ``[tool.hera-build]``."""
    base_image: str | None = None
    platforms: tuple[str, ...] = ()
    """``os/architecture`` each; more than one: an image per platform under one index (oci backend)."""
    push: bool = False
    force: bool = False
    check: bool = True
    extra_tags: tuple[str, ...] = ()
    """``--tag`` values: a bare tag (``latest``) or a whole reference; checked before anything is built."""
    lock: Path | None = None
    output: Path | None = None
    sbom: bool = False
    """Publish the image's SBOM beside it when pushing (:mod:`hera_build.publish.sbom`); the CLI does."""
    check_only: str | None = None
    """Build nothing; check this image (an index: every platform this machine runs) against the project."""
    dry_run: bool = False
    """Build nothing; the result's :attr:`~BuildResult.plan` says what the backend would do."""
    verbose: bool = False
    describe_check: bool = False
    """Also say through ``progress`` what each check verified, as it runs (the CLI's text output)."""
    progress: Callable[[str], None] = field(default=no_progress, compare=False)


def _image(project: Project) -> ImageRef:
    from hera_build.errors import ConfigError

    repository = project.config.image_ref
    if repository is None:
        raise ConfigError(
            f"no image repository configured for {project.name}",
            'set image = "registry/path/name" in [tool.hera-build] of pyproject.toml',
        )
    return repository.with_tag(project.version.tag)


def _extra_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """``--tag`` values, checked before the build: a bare tag (``latest``) or a whole reference."""
    from hera_build.core.references import parse_image_ref, parse_tag

    for tag in tags:
        if "/" in tag or ":" in tag:
            parse_image_ref(tag, what="--tag")
        else:
            parse_tag(tag, what="--tag")
    return tags


def _check_output(output: Path | None, backend: str) -> None:
    """``--output`` must be writable before the build: a directory (an OCI layout) or a file (an archive).
    (The buildpacks backend writes no file and says so itself.)"""
    if output is not None and backend != "buildpacks":
        from hera_build.templates.output import check_writable

        folder = backend == "oci" and output.suffix != ".tar"
        check_writable(output, what="--output", folder=folder)


@dataclass(frozen=True)
class GenericPlan:
    """What any backend would do, for backends without a ``plan`` of their own."""

    image: ImageRef
    tags: tuple[str, ...]
    base_image: str
    push: bool
    target: None = None
    notes: tuple[str, ...] = ("this backend shows no details of its build",)


def _request(options: ImageOptions, project: Project) -> BuildRequest:
    from hera_build.core.epoch import source_date_epoch
    from hera_build.image.backends import resolve_base_image, resolve_platforms

    return BuildRequest(
        project=project,
        image=_image(project),
        base_image=resolve_base_image(project, options.base_image),
        platforms=resolve_platforms(project, options.platforms),
        extra_tags=_extra_tags(options.extra_tags),
        lock=options.lock,
        source_date_epoch=source_date_epoch(),
        verbose=options.verbose,
        output=options.output,
        load=options.check or not (options.push or options.output),
        progress=options.progress,
    )


def build_image(options: ImageOptions) -> BuildResult:
    """Build → check → publish the runner image of the project at its version (or reuse the released one).

    A version already in the registry with the same inputs is reused (and checked again where an engine is);
    one with other content is refused unless ``force``. A failing check raises before anything is pushed. With
    ``check_only`` or ``dry_run`` nothing is built: the result carries the check (``checked``, ``check``; an
    index's unchecked platforms under ``check["unchecked"]``) or the backend's ``plan``.
    """
    from hera_build.core.project import load_project
    from hera_build.core.references import parse_image_ref
    from hera_build.image.backends import backend_for, get_builder
    from hera_build.image.check import image_checker

    project = load_project(options.project_dir, version=options.version)
    backend = backend_for(project, options.backend)
    progress = options.progress if options.describe_check else None
    if options.check_only is not None:
        from hera_build.publish.pipeline import check_existing

        check = image_checker(project, backend, progress)
        checked, summary = check_existing(check, options.check_only, progress=options.progress)
        return BuildResult(backend, parse_image_ref(options.check_only), (), checked=checked, check=summary)
    request = _request(options, project)
    _check_output(options.output, backend)
    builder = get_builder(backend)
    tags = tuple(str(ref) for ref in request.tags)
    if options.dry_run:
        plan = getattr(builder, "plan", None)
        found = plan(request) if plan else GenericPlan(request.image, tags, request.base_image, options.push)
        return BuildResult(backend, request.image, tags, base_image=request.base_image, plan=found)
    from hera_build.image.registry import RegistryApi
    from hera_build.publish.pipeline import ShipOptions, ship

    checker = image_checker(project, backend, progress) if options.check else None
    ship_options = ShipOptions(push=options.push, force=options.force, checker=checker, sbom=options.sbom)
    shipped = ship(builder, request, ship_options, RegistryApi())
    uploaded = shipped.published.uploaded_bytes if shipped.published else None
    return replace(shipped.result, uploaded_bytes=uploaded)
