"""Steps and DAG templates as Argo's controller walks them: groups, ``depends``, ``when``, loops, exit hooks, and
the ``steps.*``/``tasks.*`` variables (aggregated over loop items) that later steps see."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hera_build.errors import RunError
from hera_build.run._core import NodeRunner, _aggregate_value, _Ctx, _item_description, _item_scope, _text
from hera_build.run.expressions import dependencies_logic, depends_operands, evaluate_depends, evaluate_when
from hera_build.run.nodes import Node, NodeType, Phase, timestamp
from hera_build.run.spec import Scope, resolve_target
from hera_build.run.variables import Unresolved, is_single_tag, substitute, substitute_all


class GraphRunner(NodeRunner):
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
