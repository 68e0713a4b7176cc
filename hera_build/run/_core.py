"""The executor's core: its state, the variables in scope, and how one node runs (retries, inputs, deadlines).

What a node *does* lives next door: :mod:`hera_build.run._pods` runs containers as Argo's emissary does,
:mod:`hera_build.run._graph` walks steps and DAGs as Argo's controller does; :mod:`hera_build.run.executor` joins
them into a run.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hera_build.errors import RunError
from hera_build.run.containers import ContainerEngine
from hera_build.run.nodes import Node, NodeTree, NodeType, Phase, timestamp
from hera_build.run.spec import Scope, TemplateLibrary, Workflow, deep_merge, resolve_target
from hera_build.run.variables import Unresolved, substitute, substitute_all

SCRIPT_PATH = "/argo/staging/script"
"""Where a script template's ``source`` is written (Argo's emissary uses the same folder)."""
RUN_LABEL = "hera-build.dev/run"
"""Label on every container of a run: ``docker ps --filter label=hera-build.dev/run`` finds leftovers."""


@dataclass(frozen=True)
class ExecOptions:
    network: str = "none"
    images: Mapping[str, str] = field(default_factory=dict)
    """Image replacements (``python:3.10`` → an image this machine has), applied to every template."""
    run_dir: Path = Path(".hera-build/runs/run")


@dataclass(frozen=True)
class _Ctx:
    scope: Scope
    boundary: Node | None
    deadline: float | None
    slots: threading.Semaphore | None = None
    """The calling template's ``parallelism``."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _duration(value: Any) -> float:
    """Argo's durations: seconds as a number or string, or ``30s``, ``2m``, ``1h``, ``1d``."""
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h|d)?", text)
    if not match:
        raise RunError(f"cannot read duration {text!r}", 'write it as seconds ("30") or with a unit ("2m")')
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2] or "s"]
    return float(match[1]) * factor


def _item_description(item: Any) -> str:
    if isinstance(item, dict):
        text = ",".join(sorted(f"{k}:{_text(v)}" for k, v in item.items()))
    elif isinstance(item, bool):
        text = "true" if item else "false"
    else:
        text = _text(item)
    return text.replace("(", "").replace(")", "")


def _item_scope(item: Any) -> dict[str, str]:
    if isinstance(item, dict):
        scope = {f"item.{k}": _text(v) for k, v in item.items()}
        scope["item"] = json.dumps(item, separators=(",", ":"))
        return scope
    if isinstance(item, bool):
        return {"item": "true" if item else "false"}
    return {"item": _text(item)}


def _aggregate_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class NodeRunner:
    """Runs one node (and its retries) of a workflow; subclasses give pods, steps and DAGs their bodies."""

    def __init__(
        self,
        workflow: Workflow,
        library: TemplateLibrary,
        engine: ContainerEngine,
        options: ExecOptions,
        tree: NodeTree,
        cancel: threading.Event,
    ) -> None:
        self.workflow = workflow
        self.library = library
        self.engine = engine
        self.options = options
        self.tree = tree
        self.cancel = cancel
        self.started = time.time()
        self.uid = str(uuid.uuid4())
        spec = workflow.spec
        self.defaults: Mapping[str, Any] = spec.get("templateDefaults") or {}
        parallelism = spec.get("parallelism")
        self.pod_slots = threading.Semaphore(int(parallelism)) if parallelism else None
        self.artifacts: dict[str, Path] = {}
        """``node-id/name`` → the stored tar stream (what ``{{steps.a.outputs.artifacts.x}}`` resolves to)."""
        self.input_artifacts: dict[str, list[dict[str, Any]]] = {}
        self.global_outputs: dict[str, str] = {}
        self.globals = self._global_scope()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ scope

    def _global_scope(self) -> dict[str, str]:
        wf = self.workflow
        metadata = wf.metadata
        params = [{"name": k, "value": v} for k, v in wf.arguments.items()]
        scope = {
            "workflow.name": wf.name,
            "workflow.namespace": wf.namespace,
            "workflow.uid": self.uid,
            "workflow.mainEntrypoint": wf.entrypoint,
            "workflow.serviceAccountName": str(wf.spec.get("serviceAccountName", "default")),
            "workflow.creationTimestamp": timestamp(self.started),
            "workflow.creationTimestamp.RFC3339": timestamp(self.started),
            "workflow.priority": str(wf.spec.get("priority", 0)),
            "workflow.parameters": json.dumps(params),
            "workflow.parameters.json": json.dumps(params),
            "workflow.annotations.json": json.dumps(metadata.get("annotations") or {}),
            "workflow.labels.json": json.dumps(metadata.get("labels") or {}),
        }
        scope.update({f"workflow.parameters.{k}": v for k, v in wf.arguments.items()})
        scope.update({f"workflow.annotations.{k}": str(v) for k, v in (metadata.get("annotations") or {}).items()})
        scope.update({f"workflow.labels.{k}": str(v) for k, v in (metadata.get("labels") or {}).items()})
        return scope

    def _deadline_passed(self, ctx: _Ctx) -> bool:
        return ctx.deadline is not None and time.monotonic() >= ctx.deadline

    # ------------------------------------------------------------------------------------------------ nodes

    def execute(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        ctx: _Ctx,
        parents: Sequence[Node],
        *,
        hooked: bool = False,
    ) -> Node:
        """Run what ``holder`` (a step, task or entrypoint) calls, as node ``name``; never raises RunError."""
        try:
            template, scope = resolve_target(holder, ctx.scope, self.library)
        except RunError as exc:
            return self._error_node(name, display, ctx, parents, exc.message)
        template = deep_merge(self.defaults, template)
        retry = template.get("retryStrategy")
        if retry is not None:
            return self._with_retries(name, display, holder, template, replace(ctx, scope=scope), parents, retry)
        return self._attempt(name, display, holder, template, replace(ctx, scope=scope), parents, hooked=hooked)

    def _error_node(self, name: str, display: str, ctx: _Ctx, parents: Sequence[Node], message: str) -> Node:
        node = self.tree.create(name, display, NodeType.SKIPPED, boundary_id=ctx.boundary.id if ctx.boundary else None)
        for parent in parents:
            self.tree.add_child(parent, node)
        return self.tree.finish(node, Phase.ERROR, message)

    def _node_type(self, template: Mapping[str, Any]) -> str:
        if template.get("steps") is not None:
            return NodeType.STEPS
        if template.get("dag") is not None:
            return NodeType.DAG
        if template.get("suspend") is not None:
            return NodeType.SUSPEND
        return NodeType.POD

    def _with_retries(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        template: dict[str, Any],
        ctx: _Ctx,
        parents: Sequence[Node],
        retry: Mapping[str, Any],
    ) -> Node:
        node = self.tree.create(
            name,
            display,
            NodeType.RETRY,
            template_name=template.get("name"),
            template_ref=holder.get("templateRef"),
            boundary_id=ctx.boundary.id if ctx.boundary else None,
        )
        for parent in parents:
            self.tree.add_child(parent, node)
        self.tree.start(node)
        limit = retry.get("limit")
        limit_n = math.inf if limit is None else int(str(limit))
        policy = str(retry.get("retryPolicy") or "OnFailure")
        retried_phases = {
            "Always": Phase.FAILED_OR_ERROR,
            "OnFailure": {Phase.FAILED},
            "OnError": {Phase.ERROR},
            "OnTransientError": set(),
        }.get(policy)
        if retried_phases is None:
            return self.tree.finish(node, Phase.ERROR, f"unknown retryPolicy {policy!r}")
        backoff = retry.get("backoff") or {}
        first = time.monotonic()
        attempt = 0
        while True:
            child = self._attempt(
                f"{name}({attempt})", f"{display}({attempt})", holder, template, ctx, [node], retries=attempt
            )
            node.inputs = child.inputs
            node.outputs = child.outputs
            if child.phase == Phase.SUCCEEDED:
                return self.tree.finish(node, Phase.SUCCEEDED)
            if child.phase not in retried_phases or attempt >= limit_n or self.cancel.is_set():
                message = child.message if attempt == 0 else f"No more retries left ({child.message})"
                return self.tree.finish(node, child.phase, message)
            delay = 0.0
            if backoff.get("duration") is not None:
                try:
                    delay = _duration(backoff["duration"]) * float(str(backoff.get("factor", 1))) ** attempt
                    if backoff.get("cap") is not None:
                        delay = min(delay, _duration(backoff["cap"]))
                    max_duration = backoff.get("maxDuration")
                    if max_duration is not None and time.monotonic() + delay - first > _duration(max_duration):
                        return self.tree.finish(node, child.phase, "Max duration limit exceeded")
                except RunError as exc:
                    return self.tree.finish(node, Phase.ERROR, exc.message)
            if ctx.deadline is not None and time.monotonic() + delay >= ctx.deadline:
                return self.tree.finish(node, child.phase, child.message)
            if delay and self.cancel.wait(delay):
                return self.tree.finish(node, Phase.FAILED, "terminated")
            attempt += 1

    def _attempt(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        template: dict[str, Any],
        ctx: _Ctx,
        parents: Sequence[Node],
        *,
        retries: int | None = None,
        hooked: bool = False,
    ) -> Node:
        node = self.tree.create(
            name,
            display,
            self._node_type(template),
            template_name=template.get("name"),
            template_ref=holder.get("templateRef"),
            boundary_id=ctx.boundary.id if ctx.boundary else None,
        )
        node.hooked = hooked
        node.retried = retries is not None
        for parent in parents:
            self.tree.add_child(parent, node)
        self.tree.start(node)
        if self.cancel.is_set():
            return self.tree.finish(node, Phase.FAILED, "terminated")
        if self._deadline_passed(ctx):
            return self.tree.finish(node, Phase.FAILED, "Step exceeded its deadline")
        deadline = ctx.deadline
        if template.get("activeDeadlineSeconds") is not None and node.type != NodeType.POD:
            own = time.monotonic() + float(str(template["activeDeadlineSeconds"]))
            deadline = own if deadline is None else min(deadline, own)
        try:
            scope = self._inputs(node, template, holder.get("arguments") or {}, retries)
        except RunError as exc:
            return self.tree.finish(node, Phase.ERROR, exc.message)
        try:
            if node.type == NodeType.POD:
                body = substitute_all(template, scope, strict=True)
                return self._pod(node, body, ctx)
            body = substitute_all(template, scope, strict=False)
            inner = _Ctx(ctx.scope, node, deadline, self._slots(body))
            if node.type == NodeType.SUSPEND:
                return self._suspend(node, body, inner)
            if node.type == NodeType.STEPS:
                return self._steps(node, body, scope, inner)
            return self._dag(node, body, scope, inner)
        except Unresolved as exc:
            return self.tree.finish(node, Phase.ERROR, f"failed to resolve {{{{{exc.tag}}}}}")
        except RunError as exc:
            return self.tree.finish(node, Phase.ERROR, exc.message)

    def _slots(self, template: Mapping[str, Any]) -> threading.Semaphore | None:
        parallelism = template.get("parallelism")
        return threading.Semaphore(int(str(parallelism))) if parallelism else None

    # ------------------------------------------------------------------------------------------------ inputs

    def _inputs(
        self, node: Node, template: Mapping[str, Any], arguments: Mapping[str, Any], retries: int | None
    ) -> dict[str, str]:
        """Bind arguments to the template's inputs (Argo's ProcessArgs) and return the template's scope."""
        scope = dict(self.globals)
        scope.update(self.global_outputs)
        given = {str(p["name"]): p for p in arguments.get("parameters") or []}
        params: list[dict[str, Any]] = []
        for declared in (template.get("inputs") or {}).get("parameters") or []:
            name = str(declared["name"])
            value = given.get(name, {}).get("value")
            if value is None:
                value = declared.get("value", declared.get("default"))
            if value is None:
                raise RunError(f"inputs.parameters.{name} was not supplied", f"pass the parameter {name!r}")
            text = substitute(_text(value), scope, strict=False)
            enum = declared.get("enum")
            if enum and text not in [_text(e) for e in enum]:
                raise RunError(
                    f"inputs.parameters.{name} is {text!r}, not one of {', '.join(map(_text, enum))}",
                    "pass one of the enum values",
                )
            params.append({**declared, "value": text})
            scope[f"inputs.parameters.{name}"] = text
        scope["inputs.parameters"] = json.dumps(params, separators=(",", ":"))
        given_artifacts = {str(a["name"]): a for a in arguments.get("artifacts") or []}
        artifacts: list[dict[str, Any]] = []
        for declared in (template.get("inputs") or {}).get("artifacts") or []:
            name = str(declared["name"])
            source = {**declared, **given_artifacts.get(name, {})}
            if not (source.get("from") or source.get("raw")):
                if declared.get("optional"):
                    continue
                raise RunError(f"inputs.artifacts.{name} was not supplied", f"pass the artifact {name!r}")
            artifacts.append(source)
            if declared.get("path"):
                scope[f"inputs.artifacts.{name}.path"] = str(declared["path"])
        for kind in ("parameters", "artifacts"):
            for output in (template.get("outputs") or {}).get(kind) or []:
                path = output.get("path") or (output.get("valueFrom") or {}).get("path")
                if path:
                    scope[f"outputs.{kind}.{output['name']}.path"] = str(path)
        scope["node.name"] = node.name
        scope["pod.name"] = node.id
        if retries is not None:
            scope["retries"] = str(retries)
        node.inputs = {}
        if params:
            node.inputs["parameters"] = [{"name": p["name"], "value": p["value"]} for p in params]
        if artifacts:
            node.inputs["artifacts"] = [{"name": a["name"], "path": a.get("path")} for a in artifacts]
        self.input_artifacts[node.id] = artifacts
        return scope

    def _parallel(self, calls: Sequence[Callable[[], Node]]) -> list[Node]:
        """Run ``calls`` on threads of their own and return their nodes in order (one call runs inline)."""
        if len(calls) == 1:
            return [calls[0]()]
        results: list[Node | BaseException | None] = [None] * len(calls)

        def run(index: int) -> None:
            try:
                results[index] = calls[index]()
            except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                results[index] = exc

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, Node)]

    def _global_output(self, param: Mapping[str, Any], value: str) -> None:
        if param.get("globalName"):
            with self._lock:
                self.global_outputs[f"workflow.outputs.parameters.{param['globalName']}"] = value

    # ------------------------------------------------------------------------------------------------ bodies

    def _pod(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        raise NotImplementedError  # hera_build.run._pods

    def _suspend(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        raise NotImplementedError  # hera_build.run._pods

    def _steps(self, node: Node, template: Mapping[str, Any], scope: dict[str, str], ctx: _Ctx) -> Node:
        raise NotImplementedError  # hera_build.run._graph

    def _dag(self, node: Node, template: Mapping[str, Any], scope: dict[str, str], ctx: _Ctx) -> Node:
        raise NotImplementedError  # hera_build.run._graph
