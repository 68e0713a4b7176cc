"""Run a prepared workflow with Argo's semantics, one container per pod node.

The executor plays Argo's controller (which node runs next, with which inputs, and what its phase is) and its
emissary executor (the container's command, the script source staged as a file and appended as the last argument,
``outputs.result`` from stdout, output parameters and artifacts read from files after exit). Containers come from
a :class:`~hera_build.run.containers.ContainerEngine`, so the semantics are tested with a fake engine and run for
real on Docker. Independent nodes (a step group, ready DAG tasks, loop items) run on their own threads;
``parallelism`` limits them as Argo does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hera_build.run._core import ExecOptions, _Ctx
from hera_build.run._graph import GraphRunner
from hera_build.run._pods import PodRunner
from hera_build.run.containers import ContainerEngine
from hera_build.run.nodes import Node, NodeTree, NodeType, Phase, timestamp
from hera_build.run.spec import TemplateLibrary, Workflow


@dataclass(frozen=True)
class RunResult:
    """A finished run: the Argo-shaped Workflow object and where its logs and artifacts are."""

    workflow: dict[str, Any]
    run_dir: Path
    nodes: tuple[Node, ...] = ()
    """The nodes themselves (with sub-second times), for drawing the tree."""

    @property
    def phase(self) -> str:
        return str(self.workflow["status"]["phase"])

    @property
    def succeeded(self) -> bool:
        return self.phase == Phase.SUCCEEDED

    def failed_nodes(self) -> list[dict[str, Any]]:
        """Pod nodes (and nodes that never became pods) that failed or errored, in finishing order."""
        nodes = [
            n
            for n in self.workflow["status"]["nodes"].values()
            if n["phase"] in Phase.FAILED_OR_ERROR and n["type"] in (NodeType.POD, NodeType.SKIPPED)
        ]
        return sorted(nodes, key=lambda n: n.get("finishedAt") or "")

    def log(self, node_id: str) -> str:
        path = self.run_dir / "logs" / f"{node_id}.log"
        return path.read_text(errors="replace") if path.is_file() else ""


class _Executor(PodRunner, GraphRunner):
    # ------------------------------------------------------------------------------------------------ workflow

    def run(self) -> dict[str, Any]:
        spec = self.workflow.spec
        deadline = None
        if spec.get("activeDeadlineSeconds") is not None:
            deadline = time.monotonic() + float(str(spec["activeDeadlineSeconds"]))
        ctx = _Ctx(self.workflow.scope, None, deadline)
        arguments = {"parameters": [{"name": k, "value": v} for k, v in self.workflow.arguments.items()]}
        root = self.execute(
            self.workflow.name,
            self.workflow.name,
            {"template": self.workflow.entrypoint, "arguments": arguments},
            ctx,
            [],
        )
        phase = {Phase.SUCCEEDED: Phase.SUCCEEDED, Phase.ERROR: Phase.ERROR}.get(root.phase, Phase.FAILED)
        message = root.message if phase != Phase.SUCCEEDED else None
        if deadline is not None and time.monotonic() >= deadline and phase != Phase.SUCCEEDED:
            message = "Workflow exceeded its deadline"
        if self.cancel.is_set():
            message = "Stopped with strategy 'Terminate'"
        if spec.get("onExit") and not self.cancel.is_set():
            self.globals["workflow.status"] = phase
            self.globals["workflow.duration"] = f"{time.time() - self.started:.6f}"
            self.globals["workflow.failures"] = json.dumps(
                [
                    {
                        "displayName": n.display_name,
                        "message": n.message or "",
                        "templateName": n.template_name or "",
                        "phase": n.phase,
                        "podName": n.id,
                        "finishedAt": timestamp(n.finished) if n.finished else "",
                    }
                    for n in self.tree
                    if n.phase in Phase.FAILED_OR_ERROR and n.type == NodeType.POD
                ]
            )
            exit_name = f"{self.workflow.name}.onExit"
            exit_node = self.execute(
                exit_name, exit_name, {"template": spec["onExit"]}, _Ctx(self.workflow.scope, None, None), []
            )
            if exit_node.phase in Phase.FAILED_OR_ERROR and phase == Phase.SUCCEEDED:
                phase, message = Phase.FAILED, exit_node.message
        return self._workflow_object(phase, message)

    def _workflow_object(self, phase: str, message: str | None) -> dict[str, Any]:
        wf = self.workflow
        spec = dict(wf.spec)
        spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in wf.arguments.items()]}
        pods = [n for n in self.tree if n.type == NodeType.POD]
        labels = {
            **(wf.metadata.get("labels") or {}),
            "workflows.argoproj.io/phase": phase,
            "workflows.argoproj.io/completed": "true",
        }
        status: dict[str, Any] = {
            "phase": phase,
            "startedAt": timestamp(self.started),
            "finishedAt": timestamp(),
            "progress": f"{sum(n.phase == Phase.SUCCEEDED for n in pods)}/{len(pods)}",
            "nodes": self.tree.to_argo(),
        }
        if message:
            status["message"] = message
        if self.global_outputs:
            status["outputs"] = {
                "parameters": [
                    {"name": k.rsplit(".", 1)[-1], "value": v} for k, v in sorted(self.global_outputs.items())
                ]
            }
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "name": wf.name,
                "namespace": wf.namespace,
                "uid": self.uid,
                "creationTimestamp": timestamp(self.started),
                "labels": labels,
                "annotations": {
                    **(wf.metadata.get("annotations") or {}),
                    "hera-build.dev/run-dir": str(self.options.run_dir),
                },
            },
            "spec": spec,
            "status": status,
        }


def execute(
    workflow: Workflow,
    library: TemplateLibrary,
    engine: ContainerEngine,
    options: ExecOptions,
    *,
    on_change: Callable[[NodeTree], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run ``workflow`` to its end; Ctrl-C (KeyboardInterrupt) kills its containers before propagating."""
    cancel = cancel or threading.Event()
    tree_holder: list[NodeTree] = []
    tree = NodeTree(workflow.name, (lambda: on_change(tree_holder[0])) if on_change else None)
    tree_holder.append(tree)
    options.run_dir.mkdir(parents=True, exist_ok=True)
    executor = _Executor(workflow, library, engine, options, tree, cancel)
    outcome: list[dict[str, Any] | BaseException] = []

    def main() -> None:
        try:
            outcome.append(executor.run())
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            outcome.append(exc)

    finished = threading.Event()

    def main_then_signal() -> None:
        main()
        finished.set()

    thread = threading.Thread(target=main_then_signal, name="hera-build-run", daemon=True)
    thread.start()
    try:
        while not finished.wait(0.5):
            pass
    except KeyboardInterrupt:
        cancel.set()
        engine.cleanup()
        finished.wait(30)
        engine.cleanup()
        raise
    engine.cleanup()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    (options.run_dir / "workflow.json").write_text(json.dumps(result, indent=2) + "\n")
    return RunResult(result, options.run_dir, tuple(tree))
