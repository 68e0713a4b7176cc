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
from hera_build.run.containers import (
    ContainerEngine,
    ContainerResult,
    ContainerSpec,
    file_from_tar,
    tar_file,
    tar_placed,
)
from hera_build.run.expressions import dependencies_logic, depends_operands, evaluate_depends, evaluate_when
from hera_build.run.nodes import Node, NodeTree, NodeType, Phase, timestamp
from hera_build.run.spec import Scope, TemplateLibrary, Workflow, deep_merge, resolve_target
from hera_build.run.variables import Unresolved, is_single_tag, substitute, substitute_all

__all__ = ["SCRIPT_PATH", "RUN_LABEL", "ExecOptions", "RunResult", "execute"]

SCRIPT_PATH = "/argo/staging/script"
"""Where a script template's ``source`` is written (Argo's emissary uses the same folder)."""
RUN_LABEL = "hera-build.dev/run"
"""Label on every container of a run: ``docker ps --filter label=hera-build.dev/run`` finds leftovers."""
_RESULT_LIMIT = 256 * 1024
_DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass(frozen=True)
class ExecOptions:
    network: str = "none"
    images: Mapping[str, str] = field(default_factory=dict)
    """Image replacements (``python:3.10`` → an image this machine has), applied to every template."""
    run_dir: Path = Path(".hera-build/runs/run")


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


class _Executor:
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

    def _artifact_archive(self, artifact: Mapping[str, Any]) -> bytes:
        path = str(artifact.get("path") or "")
        if not path:
            raise RunError(f"input artifact {artifact.get('name')!r} has no path", "give the input artifact a path")
        mode = int(artifact["mode"]) if artifact.get("mode") is not None else None
        if artifact.get("raw"):
            return tar_file(path, str(artifact["raw"].get("data", "")).encode(), mode or 0o644)
        key = str(artifact["from"])
        stored = self.artifacts.get(key)
        if stored is None:
            raise RunError(
                f"input artifact {artifact.get('name')!r}: no artifact {key!r} in this run",
                "take it from an output artifact of a step or task that ran before",
            )
        return tar_placed(stored.read_bytes(), path, mode)

    # ------------------------------------------------------------------------------------------------ pods

    def _image(self, image: str) -> str:
        return self.options.images.get(image, image)

    def _pod(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        kind = "script" if template.get("script") is not None else "container"
        body = template[kind]
        files: dict[str, bytes] = {}
        command = tuple(str(c) for c in body["command"]) if body.get("command") is not None else None
        args = tuple(str(a) for a in body["args"]) if body.get("args") is not None else None
        if kind == "script":
            files[SCRIPT_PATH] = str(body.get("source", "")).encode()
            args = (*(args or ()), SCRIPT_PATH)
        archives = tuple(self._artifact_archive(a) for a in self.input_artifacts.get(node.id, []))
        outputs = template.get("outputs") or {}
        collect = [
            str(p["valueFrom"]["path"])
            for p in outputs.get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ]
        collect += [str(a["path"]) for a in outputs.get("artifacts") or [] if a.get("path")]
        timeout = float(str(template["activeDeadlineSeconds"])) if template.get("activeDeadlineSeconds") else None
        if ctx.deadline is not None:
            remaining = max(0.0, ctx.deadline - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
        spec = ContainerSpec(
            name=f"hera-build-{node.id}",
            image=self._image(str(body.get("image", ""))),
            command=command,
            args=args,
            env={str(e["name"]): str(e.get("value", "")) for e in body.get("env") or []},
            working_dir=body.get("workingDir"),
            files=files,
            archives=archives,
            volumes=tuple(str(m["mountPath"]) for m in body.get("volumeMounts") or []),
            collect=tuple(collect),
            timeout=timeout,
            network=self.options.network,
            labels={RUN_LABEL: self.workflow.name, "hera-build.dev/node": node.id},
        )
        if self.pod_slots is not None:
            with self.pod_slots:
                result = self._run_container(spec)
        else:
            result = self._run_container(spec)
        self._write_log(node, result)
        return self._pod_outcome(node, template, result)

    def _run_container(self, spec: ContainerSpec) -> ContainerResult:
        if self.cancel.is_set():
            return ContainerResult(exit_code=None, cancelled=True)
        return self.engine.run(spec, self.cancel)

    def _write_log(self, node: Node, result: ContainerResult) -> None:
        logs = self.options.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        text = result.log if result.error is None else f"{result.log}{result.error}\n"
        (logs / f"{node.id}.log").write_text(text)
        node.log_path = f"logs/{node.id}.log"

    def _pod_outcome(self, node: Node, template: Mapping[str, Any], result: ContainerResult) -> Node:
        outputs: dict[str, Any] = {}
        if result.exit_code is not None:
            stdout = result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout
            outputs["result"] = stdout[-_RESULT_LIMIT:]
            outputs["exitCode"] = str(result.exit_code)
        problems: list[str] = []
        if result.exit_code is not None and not result.cancelled and not result.timed_out:
            self._collect_outputs(node, template, result, outputs, problems)
        node.outputs = outputs or None
        if result.error is not None:
            return self.tree.finish(node, Phase.ERROR, result.error)
        if result.cancelled:
            return self.tree.finish(node, Phase.FAILED, "terminated")
        if result.timed_out:
            return self.tree.finish(node, Phase.FAILED, _DEADLINE_MESSAGE)
        if result.exit_code != 0:
            return self.tree.finish(node, Phase.FAILED, f"Error (exit code {result.exit_code})")
        if problems:
            return self.tree.finish(node, Phase.ERROR, problems[0])
        return self.tree.finish(node, Phase.SUCCEEDED)

    def _collect_outputs(
        self,
        node: Node,
        template: Mapping[str, Any],
        result: ContainerResult,
        outputs: dict[str, Any],
        problems: list[str],
    ) -> None:
        declared = template.get("outputs") or {}
        parameters = []
        for param in declared.get("parameters") or []:
            value_from = param.get("valueFrom") or {}
            path = value_from.get("path")
            if not path:
                continue
            stream = result.collected.get(str(path))
            content = file_from_tar(stream) if stream is not None else None
            if content is None:
                if value_from.get("default") is None:
                    problems.append(f"output parameter {param['name']!r}: open {path}: no such file")
                    continue
                text = _text(value_from["default"])
            else:
                text = content.decode(errors="replace")
            text = text[:-1] if text.endswith("\n") else text
            parameters.append({"name": param["name"], "value": text, "valueFrom": {"path": path}})
            self._global_output(param, text)
        artifacts = []
        for artifact in declared.get("artifacts") or []:
            path = artifact.get("path")
            if not path:
                continue
            stream = result.collected.get(str(path))
            if stream is None:
                if not artifact.get("optional"):
                    problems.append(f"output artifact {artifact['name']!r}: {path} does not exist")
                continue
            artifacts.append({"name": artifact["name"], "path": path})
            self._store_artifact(node, str(artifact["name"]), stream)
        if parameters:
            outputs["parameters"] = parameters
        if artifacts:
            outputs["artifacts"] = artifacts

    def _store_artifact(self, node: Node, name: str, stream: bytes) -> None:
        folder = self.options.run_dir / "artifacts" / node.id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.tar"
        path.write_bytes(stream)
        with self._lock:
            self.artifacts[f"{node.id}/{name}"] = path

    def _global_output(self, param: Mapping[str, Any], value: str) -> None:
        if param.get("globalName"):
            with self._lock:
                self.global_outputs[f"workflow.outputs.parameters.{param['globalName']}"] = value

    def _suspend(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        try:
            seconds = _duration(template["suspend"]["duration"])
        except RunError as exc:
            return self.tree.finish(node, Phase.ERROR, exc.message)
        if ctx.deadline is not None and time.monotonic() + seconds > ctx.deadline:
            self.cancel.wait(max(0.0, ctx.deadline - time.monotonic()))
            return self.tree.finish(node, Phase.FAILED, "Step exceeded its deadline")
        if self.cancel.wait(seconds):
            return self.tree.finish(node, Phase.FAILED, "terminated")
        return self.tree.finish(node, Phase.SUCCEEDED)

    # ------------------------------------------------------------------------------------------------ references

    def _reference_scope(self, prefix: str, name: str, node: Node, loop: bool) -> dict[str, str]:
        """``steps.NAME.…``/``tasks.NAME.…`` for a finished node (aggregated over its items for a loop)."""
        key = f"{prefix}.{name}"
        scope = {f"{key}.id": node.id, f"{key}.status": node.phase}
        if node.started is not None:
            scope[f"{key}.startedAt"] = timestamp(node.started)
        if node.finished is not None:
            scope[f"{key}.finishedAt"] = timestamp(node.finished)
        if loop:
            items = [self.tree.get(c) for c in node.children]
            items = [n for n in items if not n.hooked]
            succeeded = [n for n in items if n.phase == Phase.SUCCEEDED and n.outputs]
            results = [_aggregate_value(n.outputs["result"]) for n in succeeded if n.outputs and "result" in n.outputs]
            scope[f"{key}.outputs.result"] = json.dumps(results, separators=(",", ":"))
            maps = []
            values: dict[str, list[Any]] = {}
            for item in succeeded:
                params = (item.outputs or {}).get("parameters") or []
                if params:
                    maps.append({p["name"]: p["value"] for p in params})
                for p in params:
                    values.setdefault(p["name"], []).append(_aggregate_value(p["value"]))
            scope[f"{key}.outputs.parameters"] = json.dumps(maps, separators=(",", ":"))
            scope.update(
                {f"{key}.outputs.parameters.{k}": json.dumps(v, separators=(",", ":")) for k, v in values.items()}
            )
            return scope
        outputs = node.outputs or {}
        if "result" in outputs:
            scope[f"{key}.outputs.result"] = outputs["result"]
        if "exitCode" in outputs:
            scope[f"{key}.exitCode"] = outputs["exitCode"]
        for param in outputs.get("parameters") or []:
            scope[f"{key}.outputs.parameters.{param['name']}"] = param["value"]
        artifact_owner = self._artifact_owner(node)
        for artifact in outputs.get("artifacts") or []:
            scope[f"{key}.outputs.artifacts.{artifact['name']}"] = f"{artifact_owner.id}/{artifact['name']}"
        return scope

    def _artifact_owner(self, node: Node) -> Node:
        """Artifacts are stored under the node that produced them: a retry node's last attempt."""
        if node.type == NodeType.RETRY and node.children:
            attempts = [self.tree.get(c) for c in node.children if not self.tree.get(c).hooked]
            return self._artifact_owner(attempts[-1]) if attempts else node
        return node

    def _fields(self, holder: Mapping[str, Any], scope: Mapping[str, str], declared_inputs: Any) -> dict[str, Any]:
        """Substitute a step's or task's own fields; an argument that is only an absent reference is dropped."""
        resolved = dict(holder)
        arguments = dict(holder.get("arguments") or {})
        params = []
        for param in arguments.get("parameters") or []:
            value = param.get("value")
            if isinstance(value, str):
                try:
                    value = substitute(value, scope)
                except Unresolved:
                    if is_single_tag(value) and declared_inputs(str(param["name"])):
                        continue
                    raise
            params.append({**param, "value": value} if value is not None else dict(param))
        if params or "parameters" in arguments:
            arguments["parameters"] = params
        if arguments.get("artifacts"):
            arguments["artifacts"] = substitute_all(arguments["artifacts"], scope)
        if arguments:
            resolved["arguments"] = arguments
        for key in ("when",):
            if isinstance(holder.get(key), str):
                resolved[key] = substitute(holder[key], scope)
        return resolved

    def _input_default(self, holder: Mapping[str, Any], scope: Scope) -> Callable[[str], bool]:
        def has_default(name: str) -> bool:
            try:
                template, _ = resolve_target(holder, scope, self.library)
            except RunError:
                return False
            for param in (template.get("inputs") or {}).get("parameters") or []:
                if param.get("name") == name:
                    return param.get("default") is not None or param.get("value") is not None
            return False

        return has_default

    def _items(self, holder: Mapping[str, Any], scope: Mapping[str, str]) -> list[Any] | None:
        if holder.get("withItems") is not None:
            return list(substitute_all(holder["withItems"], scope))
        if holder.get("withParam") is not None:
            text = substitute(str(holder["withParam"]), scope)
            try:
                items = json.loads(text)
            except ValueError:
                items = None
            if not isinstance(items, list):
                raise RunError(
                    f"withParam value could not be parsed as a JSON list: {text.strip()[:200]}",
                    "make the output a JSON list (print json.dumps(items))",
                )
            return items
        sequence = holder.get("withSequence")
        if sequence is not None:
            values = {
                k: int(substitute(_text(v), scope)) for k, v in sequence.items() if k in ("start", "end", "count")
            }
            start = values.get("start", 0)
            if "end" in values:
                end = values["end"]
            elif "count" in values:
                if values["count"] == 0:
                    return []
                end = start + values["count"] - 1
            else:
                raise RunError("withSequence needs end or count", "add count or end")
            step = 1 if start <= end else -1
            fmt = str(sequence.get("format") or "%d")
            return [fmt % i for i in range(start, end + step, step)]
        return None

    def _expand(
        self, holder: Mapping[str, Any], scope: Mapping[str, str], name: str, display: str
    ) -> list[tuple[str, str, dict[str, Any], dict[str, str]]] | None:
        """``(node name, display name, holder, item scope)`` per loop item; ``None`` when not a loop."""
        items = self._items(holder, scope)
        if items is None:
            return None
        base = {k: v for k, v in holder.items() if k not in ("withItems", "withParam", "withSequence")}
        expanded = []
        for index, item in enumerate(items):
            suffix = f"({index}:{_item_description(item)})"
            item_scope = {**scope, **_item_scope(item)}
            expanded.append((f"{name}{suffix}", f"{display}{suffix}", base, item_scope))
        return expanded

    def _when_false(self, holder: Mapping[str, Any]) -> str | None:
        when = holder.get("when")
        if isinstance(when, str) and when.strip() and not evaluate_when(when):
            return f"when '{when}' evaluated false"
        return None

    def _run_one(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        scope: Mapping[str, str],
        ctx: _Ctx,
        parents: Sequence[Node],
    ) -> Node:
        """A step, task or loop item: substitute its fields, check ``when``, run it, then its exit hook."""
        try:
            resolved = self._fields(holder, scope, self._input_default(holder, ctx.scope))
            skipped = self._when_false(resolved)
        except Unresolved as exc:
            return self._error_node(name, display, ctx, parents, f"failed to resolve {{{{{exc.tag}}}}}")
        except RunError as exc:
            return self._error_node(name, display, ctx, parents, exc.message)
        if skipped is not None:
            node = self.tree.create(
                name, display, NodeType.SKIPPED, boundary_id=ctx.boundary.id if ctx.boundary else None
            )
            for parent in parents:
                self.tree.add_child(parent, node)
            return self.tree.finish(node, Phase.SKIPPED, skipped)
        if ctx.slots is not None:
            with ctx.slots:
                node = self.execute(name, display, resolved, ctx, parents)
        else:
            node = self.execute(name, display, resolved, ctx, parents)
        self._exit_hook(node, resolved, scope, ctx)
        return node

    def _exit_hook(self, node: Node, holder: Mapping[str, Any], scope: Mapping[str, str], ctx: _Ctx) -> None:
        hook: Mapping[str, Any] | None = None
        if holder.get("onExit"):
            hook = {"template": holder["onExit"]}
        elif (holder.get("hooks") or {}).get("exit"):
            hook = holder["hooks"]["exit"]
        if hook is None or self.cancel.is_set():
            return
        try:
            resolved = self._fields(hook, scope, lambda _: False)
        except (Unresolved, RunError) as exc:
            message = f"failed to resolve {{{{{exc.tag}}}}}" if isinstance(exc, Unresolved) else exc.message
            self._error_node(f"{node.name}.onExit", f"{node.display_name}.onExit", ctx, [node], message)
            return
        self.execute(f"{node.name}.onExit", f"{node.display_name}.onExit", resolved, ctx, [node], hooked=True)

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

    # ------------------------------------------------------------------------------------------------ steps

    def _steps(self, node: Node, template: Mapping[str, Any], scope: dict[str, str], ctx: _Ctx) -> Node:
        local = dict(scope)
        previous: Node | None = None
        for index, group in enumerate(template.get("steps") or []):
            group_node = self.tree.create(
                f"{node.name}[{index}]",
                f"[{index}]",
                NodeType.STEP_GROUP,
                template_name=node.template_name,
                boundary_id=node.id,
            )
            if previous is None:
                self.tree.add_child(node, group_node)
            else:
                for child in [self.tree.get(c) for c in previous.children]:
                    for out in self.tree.outbound(child):
                        self.tree.add_child(out, group_node)
            self.tree.start(group_node)
            calls: list[Callable[[], Node]] = []
            loops: dict[str, list[int]] = {}
            try:
                for step in group or []:
                    step_name = str(step["name"])
                    expanded = self._expand(step, local, f"{group_node.name}.{step_name}", step_name)
                    if expanded is None:
                        calls.append(
                            self._bind(f"{group_node.name}.{step_name}", step_name, step, local, ctx, [group_node])
                        )
                        continue
                    if not expanded:
                        calls.append(self._skipped(f"{group_node.name}.{step_name}", step_name, ctx, group_node))
                        continue
                    loops[step_name] = []
                    for item_name, item_display, item_holder, item_scope in expanded:
                        loops[step_name].append(len(calls))
                        calls.append(self._bind(item_name, item_display, item_holder, item_scope, ctx, [group_node]))
            except (Unresolved, RunError) as exc:
                message = f"failed to resolve {{{{{exc.tag}}}}}" if isinstance(exc, Unresolved) else exc.message
                self.tree.finish(group_node, Phase.ERROR, message)
                return self.tree.finish(node, Phase.ERROR, message)
            children = self._parallel(calls)
            position = 0
            failed: Node | None = None
            for step in group or []:
                step_name = str(step["name"])
                if step_name in loops:
                    items = [children[i] for i in loops[step_name]]
                    position += len(items)
                    local.update(self._loop_scope("steps", step_name, items))
                    step_nodes = items
                else:
                    step_node = children[position]
                    position += 1
                    local.update(self._reference_scope("steps", step_name, step_node, loop=False))
                    step_nodes = [step_node]
                for step_node in step_nodes:
                    if step_node.phase in Phase.FAILED_OR_ERROR and not self._continues(step, step_node.phase):
                        failed = failed or step_node
            if failed is not None:
                message = f"child '{failed.id}' failed"
                self.tree.finish(group_node, Phase.FAILED, message)
                return self.tree.finish(node, Phase.FAILED, message)
            self.tree.finish(group_node, Phase.SUCCEEDED)
            previous = group_node
        if previous is not None:
            node.outbound_nodes = [o.id for c in previous.children for o in self.tree.outbound(self.tree.get(c))]
        return self._template_outputs(node, template, local)

    def _bind(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        scope: Mapping[str, str],
        ctx: _Ctx,
        parents: Sequence[Node],
    ) -> Callable[[], Node]:
        return lambda: self._run_one(name, display, holder, scope, ctx, parents)

    def _skipped(self, name: str, display: str, ctx: _Ctx, parent: Node) -> Callable[[], Node]:
        def skip() -> Node:
            node = self.tree.create(
                name, display, NodeType.SKIPPED, boundary_id=ctx.boundary.id if ctx.boundary else None
            )
            self.tree.add_child(parent, node)
            return self.tree.finish(node, Phase.SKIPPED, "Skipped, empty params")

        return skip

    def _loop_scope(self, prefix: str, name: str, items: Sequence[Node]) -> dict[str, str]:
        holder = Node(id="", name=name, display_name=name, type=NodeType.TASK_GROUP, children=[n.id for n in items])
        return self._reference_scope(prefix, name, holder, loop=True)

    @staticmethod
    def _continues(holder: Mapping[str, Any], phase: str) -> bool:
        options = holder.get("continueOn") or {}
        return bool(options.get("failed") if phase == Phase.FAILED else options.get("error"))

    def _template_outputs(self, node: Node, template: Mapping[str, Any], scope: Mapping[str, str]) -> Node:
        """A steps or DAG template's outputs, from its children's (``valueFrom.parameter``, artifact ``from``)."""
        declared = template.get("outputs") or {}
        outputs: dict[str, Any] = {}
        try:
            parameters = []
            for param in declared.get("parameters") or []:
                value_from = param.get("valueFrom") or {}
                if "parameter" not in value_from:
                    continue
                try:
                    value = substitute(str(value_from["parameter"]), scope)
                except Unresolved:
                    if value_from.get("default") is None:
                        raise
                    value = _text(value_from["default"])
                parameters.append({"name": param["name"], "value": value})
                self._global_output(param, value)
            artifacts = []
            for artifact in declared.get("artifacts") or []:
                if not artifact.get("from"):
                    continue
                key = substitute(str(artifact["from"]), scope)
                stored = self.artifacts.get(key)
                if stored is None:
                    raise RunError(
                        f"output artifact {artifact['name']!r}: no artifact {key!r} in this run",
                        "take it from an output artifact of one of the template's steps or tasks",
                    )
                with self._lock:
                    self.artifacts[f"{node.id}/{artifact['name']}"] = stored
                artifacts.append({"name": artifact["name"]})
        except Unresolved as exc:
            return self.tree.finish(node, Phase.ERROR, f"failed to resolve {{{{{exc.tag}}}}}")
        except RunError as exc:
            return self.tree.finish(node, Phase.ERROR, exc.message)
        if parameters:
            outputs["parameters"] = parameters
        if artifacts:
            outputs["artifacts"] = artifacts
        node.outputs = outputs or None
        return self.tree.finish(node, Phase.SUCCEEDED)

    # ------------------------------------------------------------------------------------------------ DAG

    def _dag(self, node: Node, template: Mapping[str, Any], scope: dict[str, str], ctx: _Ctx) -> Node:
        dag = template["dag"]
        tasks = {str(t["name"]): t for t in dag.get("tasks") or []}
        logic: dict[str, str] = {}
        deps: dict[str, list[str]] = {}
        for name, task in tasks.items():
            logic[name] = str(task.get("depends") or dependencies_logic(list(task.get("dependencies") or [])))
            deps[name] = depends_operands(logic[name]) if logic[name] else []
            unknown = [d for d in deps[name] if d not in tasks]
            if unknown:
                return self.tree.finish(node, Phase.ERROR, f"task {name!r} depends on unknown task {unknown[0]!r}")
        targets = str(dag.get("target") or "").split() or sorted(
            n for n in tasks if not any(n in deps[other] for other in tasks)
        )
        fail_fast = dag.get("failFast", True) is not False
        local = dict(scope)
        done: dict[str, Node] = {}
        started: set[str] = set()
        condition = threading.Condition()
        stop = False

        def run_task(
            name: str, task_scope: dict[str, str], parents: list[Node], results: dict[str, dict[str, bool]]
        ) -> None:
            try:
                result = self._dag_task(node, name, tasks, logic[name], task_scope, parents, results, ctx)
            except BaseException as exc:  # noqa: BLE001 - reported on the DAG's thread
                result = exc  # type: ignore[assignment]
            with condition:
                done[name] = result
                condition.notify_all()

        with condition:
            while True:
                failure = next((v for v in done.values() if isinstance(v, BaseException)), None)
                if failure is not None:
                    raise failure
                if fail_fast and not stop:
                    stop = any(
                        t in done
                        and done[t].phase in Phase.FAILED_OR_ERROR
                        and not self._continues(tasks[t], done[t].phase)
                        for t in targets
                    )
                if not stop and not self.cancel.is_set():
                    for name in tasks:
                        if name not in started and all(d in done for d in deps[name]):
                            started.add(name)
                            task_scope = dict(local)
                            for other, other_node in done.items():
                                task_scope.update(self._dag_scope(other, other_node))
                            parents = [o for d in deps[name] for o in self.tree.outbound(done[d])] or [node]
                            results = {d: self._results(done[d]) for d in deps[name]}
                            threading.Thread(
                                target=run_task, args=(name, task_scope, parents, results), daemon=True
                            ).start()
                if len(done) == len(started):
                    break
                condition.wait()
        for name, task_node in done.items():
            local.update(self._dag_scope(name, task_node))
        phase = self._dag_phase(tasks, deps, targets, done, fail_fast)
        node.outbound_nodes = [o.id for t in targets if t in done for o in self.tree.outbound(done[t])]
        if phase != Phase.SUCCEEDED:
            failed = next((n for n in done.values() if n.phase in Phase.FAILED_OR_ERROR), None)
            message = f"child '{failed.id}' failed" if failed else None
            return self.tree.finish(node, phase, message)
        return self._template_outputs(node, template, local)

    def _dag_scope(self, name: str, task_node: Node) -> dict[str, str]:
        return self._reference_scope("tasks", name, task_node, loop=task_node.type == NodeType.TASK_GROUP)

    def _dag_task(
        self,
        dag_node: Node,
        name: str,
        tasks: Mapping[str, Mapping[str, Any]],
        logic: str,
        scope: dict[str, str],
        parents: list[Node],
        results: Mapping[str, Mapping[str, bool]],
        ctx: _Ctx,
    ) -> Node:
        node_name = f"{dag_node.name}.{name}"
        task = tasks[name]
        if logic:
            try:
                continue_on = {d: tasks[d].get("continueOn") or {} for d in results}
                execute = evaluate_depends(logic, results, continue_on)
            except RunError as exc:
                return self._error_node(node_name, name, ctx, parents, exc.message)
            if not execute:
                node = self.tree.create(node_name, name, NodeType.SKIPPED, boundary_id=dag_node.id)
                for parent in parents:
                    self.tree.add_child(parent, node)
                return self.tree.finish(node, Phase.OMITTED, "omitted: depends condition not met")
        try:
            expanded = self._expand(task, scope, node_name, name)
        except (Unresolved, RunError) as exc:
            message = f"failed to resolve {{{{{exc.tag}}}}}" if isinstance(exc, Unresolved) else exc.message
            return self._error_node(node_name, name, ctx, parents, message)
        if expanded is None:
            return self._run_one(node_name, name, task, scope, ctx, parents)
        group = self.tree.create(
            node_name, name, NodeType.TASK_GROUP, template_name=task.get("template"), boundary_id=dag_node.id
        )
        for parent in parents:
            self.tree.add_child(parent, group)
        if not expanded:
            group.type = NodeType.SKIPPED
            return self.tree.finish(group, Phase.SKIPPED, "Skipped, empty params")
        self.tree.start(group)
        items = self._parallel([self._bind(n, d, h, s, ctx, [group]) for n, d, h, s in expanded])
        phase = Phase.SUCCEEDED
        for item in items:
            if item.phase in Phase.FAILED_OR_ERROR:
                phase = item.phase
        return self.tree.finish(group, phase)

    def _results(self, node: Node) -> dict[str, bool]:
        flags = {
            "Succeeded": node.phase == Phase.SUCCEEDED,
            "Failed": node.phase == Phase.FAILED,
            "Errored": node.phase == Phase.ERROR,
            "Skipped": node.phase == Phase.SKIPPED,
            "Omitted": node.phase == Phase.OMITTED,
            "Daemoned": False,
            "AnySucceeded": False,
            "AllFailed": False,
        }
        if node.type == NodeType.TASK_GROUP:
            phases = [self.tree.get(c).phase for c in node.children]
            flags["AnySucceeded"] = Phase.SUCCEEDED in phases
            flags["AllFailed"] = bool(phases) and all(p == Phase.FAILED for p in phases)
        return flags

    def _dag_phase(
        self,
        tasks: Mapping[str, Mapping[str, Any]],
        deps: Mapping[str, list[str]],
        targets: Sequence[str],
        done: Mapping[str, Node],
        fail_fast: bool,
    ) -> str:
        """Argo's assessDAGPhase: a target that was omitted takes the phase of the branch above it."""
        memo: dict[str, str | None] = {}

        def branch(name: str) -> str | None:
            if name in memo:
                return memo[name]
            node = done.get(name)
            phase: str | None
            if node is None:
                phase = None
            elif node.phase != Phase.OMITTED:
                phase = node.phase
            else:
                above = [branch(d) for d in deps[name]]
                phase = next((p for p in above if p in Phase.FAILED_OR_ERROR), Phase.SUCCEEDED)
            memo[name] = phase
            return phase

        result = Phase.SUCCEEDED
        for target in targets:
            phase = branch(target)
            if phase is None:
                if any(n.phase in Phase.FAILED_OR_ERROR for n in done.values()) or self.cancel.is_set():
                    result = Phase.FAILED if result == Phase.SUCCEEDED else result
                continue
            if phase in Phase.FAILED_OR_ERROR and not self._continues(tasks[target], phase):
                result = phase
                if fail_fast:
                    break
        return result

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
