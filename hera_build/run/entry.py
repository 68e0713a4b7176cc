"""The ``hera-build run`` entry point (re-exported by :mod:`hera_build.api`): which workflow, its arguments, the
engine, an optional build first, then the run.

It lives in the run stage, not in ``hera_build.api``, so that the command imports only what a run needs and
starts in a fraction of a second (a project's templates, pydantic and the image stage load only when used).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hera_build.core.progress import no_progress
from hera_build.errors import RunError
from hera_build.run import RunSettings, run_manifest
from hera_build.run.executor import RunResult
from hera_build.run.target import file_target, find_project_dir


@dataclass(frozen=True)
class RunOptions:
    """What ``hera-build run`` takes: which workflow (a project object by name, or emitted YAML), its arguments,
    and how to run it."""

    name: str | None = None
    """The object's name in the code or its versioned name (with ``file``: optional when the file has one)."""
    project_dir: Path = Path(".")
    file: Path | None = None
    """Emitted YAML (a file or a folder) instead of the project's objects."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    entrypoint: str | None = None
    digest: str | None = None
    """Run the project image pinned to this digest."""
    build: bool = False
    """Build and push the project image first when the registry lacks it."""
    network: str = "none"
    images: Mapping[str, str] = field(default_factory=dict)
    """Image replacements (``FROM`` → ``TO``)."""
    progress: Callable[[str], None] = field(default=no_progress, compare=False)
    on_change: Callable[[Any], None] | None = field(default=None, compare=False)
    """Called with the node tree after every change (the CLI draws it)."""


def run_workflow(options: RunOptions) -> RunResult:
    """Run a workflow on the local Docker engine with Argo's semantics, in its images as emitted for this version.

    Raises :class:`~hera_build.errors.RunError` (or another HeraBuildError) before any container starts; a run
    that fails is a result (``result.phase``), with its Argo Workflow object, logs and artifacts.
    """
    from hera_build.run.docker_engine import DockerContainers

    if options.file is not None:
        target = file_target(options.file, options.name, project_dir=find_project_dir(options.project_dir))
    elif options.name:
        from hera_build.run.project import project_target

        target = project_target(options.project_dir, options.name, digest=options.digest)
    else:
        raise RunError("no workflow named", "pass NAME (the object's name in the code), or --file FILE")
    engine = DockerContainers.connect()
    if options.build and target.project is not None and target.image is not None:
        if engine.missing_images([str(target.image)]):
            from hera_build.run.project import build_project_image

            options.progress(f"building {target.image}")
            build_project_image(target.project, target.image, options.progress)
    settings = RunSettings(
        parameters=dict(options.parameters),
        entrypoint=options.entrypoint,
        network=options.network,
        images=dict(options.images),
        runs_dir=target.runs_dir,
    )
    return run_manifest(
        target.manifest, engine=engine, library=target.library, options=settings, on_change=options.on_change
    )
