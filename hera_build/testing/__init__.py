"""System tests of whole workflows without a cluster: run a Hera object locally, get Hera's own model back.

``w.create(wait=True)`` submits to Argo and returns ``hera.workflows.models.Workflow``; :func:`run_locally` runs the
same workflow on the local Docker engine with Argo's semantics and returns the same type, so a test written for a
cluster keeps its assertions::

    model = hera_run(w)                # instead of: model = w.create(wait=True)
    assert model.status.phase == "Succeeded"
    node = next(n for n in model.status.nodes.values() if n.display_name == "echo-to-param")
    assert node.outputs.parameters[0].value == "Hello world!"

The project's own objects (matched by name) run exactly as ``hera-build templates`` emits them for this version,
in the project's image; ``templateRef``s reach the project's and its providers' templates. The pytest plugin
(:mod:`hera_build.testing.pytest_plugin`) provides this as the ``hera_run`` fixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hera_build.run import RunSettings, run_manifest
from hera_build.run.containers import ContainerEngine
from hera_build.run.executor import RunResult

__all__ = ["LocalRunner", "run_locally"]


class LocalRunner:
    """Runs Hera objects (or the project's objects by name) locally; keeps the last run for inspection."""

    def __init__(
        self,
        *,
        project_dir: Path | None = None,
        images: Mapping[str, str] | None = None,
        network: str = "none",
        engine: ContainerEngine | None = None,
        runs_dir: Path | None = None,
    ) -> None:
        from hera_build.run.target import find_project_dir

        self.project_dir = project_dir if project_dir is not None else find_project_dir(Path.cwd())
        self.images = dict(images or {})
        self.network = network
        self._engine = engine
        self.runs_dir = runs_dir
        """Where run folders go (default: the project's ``.hera-build/runs``)."""
        self.last: RunResult | None = None
        """The last run: its Argo Workflow dict, run folder and logs (``last.log(node_id)``)."""

    @property
    def engine(self) -> ContainerEngine:
        if self._engine is None:
            from hera_build.run.docker_engine import DockerContainers

            self._engine = DockerContainers.connect()
        return self._engine

    def __call__(
        self,
        workflow: Any,
        *,
        parameters: Mapping[str, str] | None = None,
        entrypoint: str | None = None,
        wait: bool = True,
    ) -> Any:
        """Run ``workflow`` (a Hera Workflow/WorkflowTemplate/CronWorkflow, or a project object's name) to its end
        and return ``hera.workflows.models.Workflow``. ``wait`` is accepted for ``create(wait=True)`` parity."""
        del wait  # a local run always waits
        from hera.workflows.models import Workflow as WorkflowModel

        from hera_build.run.project import object_target, project_target

        if isinstance(workflow, str):
            if self.project_dir is None:
                from hera_build.errors import RunError

                raise RunError(f"no project to find {workflow!r} in", "run from a project with [tool.hera-build]")
            target = project_target(self.project_dir, workflow)
        else:
            target = object_target(workflow, project_dir=self.project_dir)
        options = RunSettings(
            parameters=dict(parameters or {}),
            entrypoint=entrypoint,
            network=self.network,
            images=self.images,
            runs_dir=self.runs_dir or target.runs_dir,
        )
        self.last = run_manifest(target.manifest, engine=self.engine, library=target.library, options=options)
        return WorkflowModel.model_validate(self.last.workflow)


def run_locally(workflow: Any, **options: Any) -> Any:
    """One local run with a fresh :class:`LocalRunner` (``project_dir``, ``images``, ``network``; then
    ``parameters``, ``entrypoint``)."""
    runner_keys = {"project_dir", "images", "network", "engine", "runs_dir"}
    runner = LocalRunner(**{k: v for k, v in options.items() if k in runner_keys})
    return runner(workflow, **{k: v for k, v in options.items() if k not in runner_keys})
