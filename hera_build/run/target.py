"""Which object a run starts from, and which templates its references can reach.

This module stays light (no project loading, no pydantic): ``hera-build run --file`` outside a project starts in
a fraction of a second. A project's objects come from :mod:`hera_build.run.project`, imported only when needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hera_build.errors import RunError
from hera_build.run.spec import TemplateLibrary

RUNNABLE = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")


@dataclass(frozen=True)
class RunTarget:
    manifest: dict[str, Any]
    library: TemplateLibrary
    runs_dir: Path
    project: Any = None
    """The :class:`~hera_build.core.project.Project`, when the run comes from one."""
    image: Any = None
    """The project's runner image at this version (what ``--build`` builds)."""


def find_project_dir(start: Path) -> Path | None:
    """The nearest folder from ``start`` upwards whose pyproject.toml has ``[tool.hera-build]``."""
    for folder in [start.resolve(), *start.resolve().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.hera-build]" in pyproject.read_text(errors="replace"):
            return folder
    return None


def _documents(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
    documents: list[dict[str, Any]] = []
    for file in files:
        try:
            documents += [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict) and d.get("kind")]
        except (OSError, yaml.YAMLError) as exc:
            raise RunError(f"cannot read {file}: {str(exc).splitlines()[0]}", "pass a file of Argo YAML") from None
    return documents


def file_target(path: Path, name: str | None, *, project_dir: Path | None = None) -> RunTarget:
    """An object from emitted YAML (a file or a folder such as ``dist/argo``); the other templates in it, and
    the project's when there is one, are what its ``templateRef``s can reach."""
    if not path.exists():
        raise RunError(f"{path} does not exist", "pass the YAML file that `hera-build templates` wrote")
    documents = _documents(path)
    runnable = [d for d in documents if d.get("kind") in RUNNABLE]
    matches = [d for d in runnable if name is None or name in _names(d)]
    if len(matches) != 1:
        found = ", ".join(sorted(n for d in runnable for n in _names(d)[:1])) or "none"
        problem = "no object" if not matches else "more than one object"
        raise RunError(
            f"{path} has {problem} {'named ' + repr(name) if name else 'to run'} (it has: {found})",
            "pass the name of the object to run",
        )
    library = TemplateLibrary()
    project = image = None
    if project_dir is not None:
        from hera_build.run.project import project_objects

        project, _, library, image = project_objects(project_dir, None)
    for document in documents:
        library.add(document)
    runs = (project.root if project else Path.cwd()) / ".hera-build" / "runs"
    return RunTarget(matches[0], library, runs, project, image)


def _names(manifest: Mapping[str, Any]) -> list[str]:
    metadata = manifest.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    names = [str(metadata.get("name") or metadata.get("generateName") or "")]
    source = annotations.get("hera-build.dev/source-name")
    if source:
        names.append(str(source))
    return names
