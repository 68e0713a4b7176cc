"""hera-build's library API: the few entry points the CLI is built on, for scripts and other tools.

Everything under ``hera_build`` other than this module and :mod:`hera_build.errors` is internal and may change
between releases. The stages behind these functions read in the order of the folders: ``templates`` (discover,
resolve, pin, lint, write) → ``image`` (wheelhouse, input digest, backends, check) → ``publish`` (the reuse /
refuse policy and the push) → ``release`` (plan and manifest) → ``cluster`` (apply a release to Kubernetes);
``run`` runs whole workflows locally, as Argo would.

Each entry point takes an options value and returns a result value; none prints or exits. Errors are
:class:`~hera_build.errors.HeraBuildError` subclasses carrying the problem and its fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hera_build.cluster.publish import PublishOptions, PublishResult, publish
from hera_build.errors import HeraBuildError
from hera_build.image.backends import BuildResult
from hera_build.release.pipeline import Plan, Release, ReleaseOptions, plan, release
from hera_build.run.entry import RunOptions, run_workflow
from hera_build.run.executor import RunResult
from hera_build.templates.build import TemplateOptions, TemplatesResult, build_templates

__all__ = [
    "BuildResult",
    "HeraBuildError",
    "ImageOptions",
    "Plan",
    "PublishOptions",
    "PublishResult",
    "Release",
    "ReleaseOptions",
    "RunOptions",
    "RunResult",
    "TemplateOptions",
    "TemplatesResult",
    "build_image",
    "build_templates",
    "plan",
    "publish",
    "release",
    "run_workflow",
]


def _no_progress(message: str) -> None:
    del message


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
    lock: Path | None = None
    output: Path | None = None
    progress: Callable[[str], None] = field(default=_no_progress, compare=False)


def build_image(options: ImageOptions) -> BuildResult:
    """Build → check → publish the runner image of the project at its version (or reuse the released one).

    A version already in the registry with the same inputs is reused (and checked again where an engine is);
    one with other content is refused unless ``force``. A failing check raises before anything is pushed.
    """
    from hera_build.core.epoch import source_date_epoch
    from hera_build.core.project import load_project
    from hera_build.errors import ConfigError
    from hera_build.image.backends import (
        BuildRequest,
        backend_for,
        get_builder,
        resolve_base_image,
        resolve_platforms,
    )
    from hera_build.image.check import image_checker
    from hera_build.image.registry import RegistryApi
    from hera_build.publish.pipeline import ShipOptions, ship

    project = load_project(options.project_dir, version=options.version)
    repository = project.config.image_ref
    if repository is None:
        raise ConfigError(
            f"no image repository configured for {project.name}",
            'set image = "registry/path/name" in [tool.hera-build] of pyproject.toml',
        )
    backend = backend_for(project, options.backend)
    request = BuildRequest(
        project=project,
        image=repository.with_tag(project.version.tag),
        base_image=resolve_base_image(project, options.base_image),
        platforms=resolve_platforms(project, options.platforms),
        extra_tags=options.extra_tags,
        lock=options.lock,
        source_date_epoch=source_date_epoch(),
        output=options.output,
        progress=options.progress,
    )
    checker = image_checker(project, backend) if options.check else None
    ship_options = ShipOptions(push=options.push, force=options.force, checker=checker)
    return ship(get_builder(backend), request, ship_options, RegistryApi()).result
