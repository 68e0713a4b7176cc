"""Run whole Argo workflows locally, in containers, with Argo's semantics.

The stage takes emitted objects (plain Argo-shaped dicts), never Hera objects or the CLI: :func:`run_manifest`
checks everything a run can reach (:mod:`~hera_build.run.spec`), makes sure every image is there, then executes
(:mod:`~hera_build.run.executor`) on a :class:`~hera_build.run.containers.ContainerEngine` and returns the run as an
Argo Workflow object. :mod:`hera_build.run.project` wires a project's templates, its providers' templates and
their images to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hera_build.errors import RunError
from hera_build.run._core import ExecOptions
from hera_build.run.containers import ContainerEngine
from hera_build.run.executor import RunResult, execute
from hera_build.run.nodes import NodeTree
from hera_build.run.spec import TemplateLibrary, Workflow, images, prepare

NETWORKS = ("none", "host")


@dataclass(frozen=True)
class RunSettings:
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Workflow arguments (``-p name=value``); unknown names are refused."""
    entrypoint: str | None = None
    network: str = "none"
    """``none`` (Argo pods reach nothing here either) or ``host``."""
    images: Mapping[str, str] = field(default_factory=dict)
    """Image replacements, e.g. Hera's default ``python:3.10`` → an image this machine has."""
    runs_dir: Path = Path(".hera-build/runs")
    name: str | None = None
    """The run's workflow name (default: the object's name or generateName plus a random suffix)."""


def prepare_run(
    manifest: Mapping[str, Any], engine: ContainerEngine, library: TemplateLibrary, options: RunSettings
) -> Workflow:
    """Everything that can be refused before a container starts: features, arguments, templates, images."""
    if options.network not in NETWORKS:
        raise RunError(f"unknown network {options.network!r}", f"use one of: {', '.join(NETWORKS)}")
    workflow = prepare(
        manifest, library, parameters=options.parameters, entrypoint=options.entrypoint, name=options.name
    )
    needed = [options.images.get(image, image) for image in images(workflow, library)]
    missing = engine.missing_images(needed)
    if missing:
        raise RunError(
            f"image {missing[0]} is neither in the Docker engine nor pullable from its registry",
            "build and push it (hera-build image --push), or run with --build",
        )
    return workflow


def run_manifest(
    manifest: Mapping[str, Any],
    *,
    engine: ContainerEngine,
    library: TemplateLibrary | None = None,
    options: RunSettings | None = None,
    on_change: Callable[[NodeTree], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run ``manifest`` (a Workflow, WorkflowTemplate or CronWorkflow) to its end and return the run.

    Raises :class:`RunError` before anything starts; a run that fails is a result, not an exception.
    """
    options = options or RunSettings()
    library = library or TemplateLibrary()
    workflow = prepare_run(manifest, engine, library, options)
    exec_options = ExecOptions(
        network=options.network, images=dict(options.images), run_dir=_free_folder(options.runs_dir, workflow.name)
    )
    return execute(workflow, library, engine, exec_options, on_change=on_change, cancel=cancel)


def _free_folder(runs_dir: Path, name: str) -> Path:
    """``runs/<name>``, or ``runs/<name>.2``… when a workflow with a fixed name ran before: no run overwrites one."""
    folder, count = runs_dir / name, 1
    while folder.exists():
        count += 1
        folder = runs_dir / f"{name}.{count}"
    return folder
