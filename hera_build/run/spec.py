"""From an emitted object to a runnable workflow, checked before any container starts.

Argo accepts Workflows, WorkflowTemplates (submitted as a Workflow that uses them), CronWorkflows (their
``workflowSpec``) and Workflows that point at a template through ``workflowTemplateRef``. Templates are looked up
in *scopes*: a step's ``template:`` names a template of the object that holds the step, and a ``templateRef``
names a template of another WorkflowTemplate or ClusterWorkflowTemplate, whose own steps then resolve in that
object. Every template the run can reach is checked here, so that a feature a local run cannot honour, an unknown
template or a bad argument stops the run with one line before anything starts.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from hera_build.errors import RunError
from hera_build.run.expressions import dependencies_logic, depends_operands
from hera_build.run.variables import TAG_RE

_TEMPLATE_KINDS = ("container", "script", "steps", "dag", "suspend")
_REFUSED_KINDS = {
    "resource": "resource templates (they create Kubernetes objects)",
    "http": "HTTP templates",
    "plugin": "executor plugin templates",
    "containerSet": "container sets",
    "data": "data templates",
}
_REFUSED_FIELDS = {
    "sidecars": "sidecars",
    "initContainers": "init containers",
    "podSpecPatch": "podSpecPatch",
    "synchronization": "synchronization (mutexes and semaphores)",
}
_REFUSED_SPEC_FIELDS = {
    "volumeClaimTemplates": "volumeClaimTemplates",
    "podSpecPatch": "podSpecPatch",
    "synchronization": "synchronization (mutexes and semaphores)",
    "hooks": "workflow lifecycle hooks (other than onExit)",
}
_ARTIFACT_SOURCES = ("s3", "gcs", "http", "git", "hdfs", "oss", "azure", "artifactory", "huggingFace", "plugin")


def _random_suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def deep_merge(defaults: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` over ``defaults``, recursively for mappings (how Argo applies ``templateDefaults``)."""
    merged = copy.deepcopy(dict(defaults))
    for key, item in value.items():
        if isinstance(item, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], item)
        else:
            merged[key] = copy.deepcopy(item)
    return merged


@dataclass(frozen=True)
class Scope:
    """The object whose templates a local ``template:`` name resolves in."""

    owner: str
    """``Workflow/name`` or ``WorkflowTemplate/name``: for messages."""
    templates: Mapping[str, Mapping[str, Any]]
    ref: Mapping[str, Any] | None = None
    """The ``templateRef`` that entered this scope (``None``: the workflow itself)."""

    def template(self, name: str) -> Mapping[str, Any] | None:
        return self.templates.get(name)


def _spec(manifest: Mapping[str, Any]) -> dict[str, Any]:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    return dict(spec)


def _object_name(manifest: Mapping[str, Any]) -> str:
    metadata = manifest.get("metadata") or {}
    return str(metadata.get("name") or metadata.get("generateName") or "")


class TemplateLibrary:
    """The WorkflowTemplates and ClusterWorkflowTemplates a run may reference, by their (pinned) names."""

    def __init__(self, manifests: Iterable[Mapping[str, Any]] = ()) -> None:
        self._objects: dict[tuple[str, bool], Mapping[str, Any]] = {}
        for manifest in manifests:
            self.add(manifest)

    def add(self, manifest: Mapping[str, Any]) -> None:
        self.alias(_object_name(manifest), manifest)

    def alias(self, name: str, manifest: Mapping[str, Any]) -> None:
        """Make ``manifest`` reachable as ``name`` too (an object's name in the code, besides its versioned one)."""
        kind = manifest.get("kind")
        if kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
            self._objects[(name, kind == "ClusterWorkflowTemplate")] = manifest

    def get(self, name: str, cluster_scope: bool) -> Mapping[str, Any] | None:
        return self._objects.get((name, cluster_scope))

    def names(self, cluster_scope: bool) -> list[str]:
        return sorted(name for name, cluster in self._objects if cluster == cluster_scope)

    def scope(self, ref: Mapping[str, Any]) -> Scope:
        name = str(ref.get("name", ""))
        cluster = bool(ref.get("clusterScope", False))
        manifest = self.get(name, cluster)
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        if manifest is None:
            known = ", ".join(self.names(cluster)) or "none"
            raise RunError(
                f"templateRef to {kind} {name!r} cannot be resolved (known: {known})",
                "install the package that provides it (at the version your requirements pin) or pass its YAML "
                "with --file",
            )
        templates = {str(t["name"]): t for t in _spec(manifest).get("templates", []) or []}
        return Scope(f"{kind}/{name}", templates, ref=ref)


@dataclass
class Workflow:
    """A workflow ready to run: its name, merged spec, final arguments and the scope of its templates."""

    name: str
    namespace: str
    spec: dict[str, Any]
    scope: Scope
    arguments: dict[str, str]
    metadata: dict[str, Any]
    source: str

    @property
    def entrypoint(self) -> str:
        return str(self.spec["entrypoint"])


def _merge_arguments(base: Sequence[Mapping[str, Any]], top: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged = {str(p["name"]): dict(p) for p in base}
    for param in top:
        merged[str(param["name"])] = {**merged.get(str(param["name"]), {}), **param}
    return list(merged.values())


def _resolve_spec(manifest: Mapping[str, Any], library: TemplateLibrary) -> tuple[dict[str, Any], Scope]:
    kind = manifest.get("kind", "Workflow")
    name = _object_name(manifest)
    spec = _spec(manifest)
    ref = spec.get("workflowTemplateRef")
    if ref:
        ref_scope = library.scope(ref)
        template = library.get(str(ref["name"]), bool(ref.get("clusterScope", False)))
        assert template is not None
        base = _spec(template)
        own = {k: v for k, v in spec.items() if k != "workflowTemplateRef"}
        merged = deep_merge(base, {k: v for k, v in own.items() if k != "arguments"})
        merged["arguments"] = {
            "parameters": _merge_arguments(
                (base.get("arguments") or {}).get("parameters", []) or [],
                (own.get("arguments") or {}).get("parameters", []) or [],
            )
        }
        return merged, ref_scope
    templates = {str(t["name"]): t for t in spec.get("templates", []) or []}
    return spec, Scope(f"{kind}/{name}", templates)


def _arguments(spec: Mapping[str, Any], given: Mapping[str, str], what: str) -> dict[str, str]:
    declared = (spec.get("arguments") or {}).get("parameters", []) or []
    names = [str(p["name"]) for p in declared]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise RunError(
            f"{what} has no parameter {unknown[0]!r} (its parameters: {', '.join(names) or 'none'})",
            "pass only -p NAME=VALUE for the workflow's own parameters",
        )
    values: dict[str, str] = {}
    for param in declared:
        name = str(param["name"])
        if "valueFrom" in param and name not in given:
            raise RunError(
                f"parameter {name!r} of {what} takes its value from {sorted(param['valueFrom'])[0]}, which a local "
                "run cannot read",
                f"pass -p {name}=VALUE",
            )
        value = given.get(name, param.get("value", param.get("default")))
        if value is None:
            raise RunError(f"parameter {name!r} of {what} has no value", f"pass -p {name}=VALUE")
        value = value if isinstance(value, str) else json.dumps(value)
        enum = param.get("enum")
        if enum and value not in [str(e) for e in enum]:
            raise RunError(
                f"parameter {name!r} of {what} is {value!r}, not one of {', '.join(map(str, enum))}",
                f"pass -p {name}=<one of the enum values>",
            )
        values[name] = value
    return values


def prepare(
    manifest: Mapping[str, Any],
    library: TemplateLibrary,
    *,
    parameters: Mapping[str, str] | None = None,
    entrypoint: str | None = None,
    name: str | None = None,
) -> Workflow:
    """Resolve ``manifest`` into a :class:`Workflow` and check everything it can reach; raise :class:`RunError`."""
    kind = str(manifest.get("kind", "Workflow"))
    object_name = _object_name(manifest)
    what = f"{kind} {object_name!r}"
    spec, scope = _resolve_spec(manifest, library)
    for key, feature in _REFUSED_SPEC_FIELDS.items():
        if spec.get(key):
            raise RunError(f"{what} uses {feature}, which hera-build run does not support", "run it on Argo")
    if entrypoint is not None:
        spec["entrypoint"] = entrypoint
    if not spec.get("entrypoint"):
        raise RunError(f"{what} has no entrypoint", "pass --entrypoint TEMPLATE")
    if scope.template(spec["entrypoint"]) is None:
        known = ", ".join(sorted(scope.templates)) or "none"
        raise RunError(
            f"{what} has no template {spec['entrypoint']!r} (its templates: {known})", "pass --entrypoint TEMPLATE"
        )
    if (spec.get("arguments") or {}).get("artifacts"):
        raise RunError(
            f"{what} takes artifacts as workflow arguments, which hera-build run does not support",
            "pass them to the steps that use them, or run it on Argo",
        )
    arguments = _arguments(spec, parameters or {}, what)
    metadata = dict(manifest.get("metadata") or {})
    if name is None:
        if kind == "Workflow" and metadata.get("name"):
            name = str(metadata["name"])
        else:
            prefix = str(metadata.get("generateName") or f"{object_name}-")
            name = f"{prefix}{_random_suffix()}"
    workflow = Workflow(
        name=name,
        namespace=str(metadata.get("namespace") or "default"),
        spec=spec,
        scope=scope,
        arguments=arguments,
        metadata=metadata,
        source=what,
    )
    _check(workflow, library)
    return workflow


# ---------------------------------------------------------------------------------------------------- checks


def resolve_target(
    holder: Mapping[str, Any], scope: Scope, library: TemplateLibrary
) -> tuple[Mapping[str, Any], Scope]:
    """The template a step, task, hook or entrypoint calls, and the scope its own references resolve in."""
    if holder.get("inline"):
        return holder["inline"], scope
    ref = holder.get("templateRef")
    if ref:
        ref_scope = library.scope(ref)
        template = ref_scope.template(str(ref.get("template", "")))
        if template is None:
            raise RunError(
                f"{ref_scope.owner} has no template {ref.get('template')!r} "
                f"(its templates: {', '.join(sorted(ref_scope.templates)) or 'none'})",
                "fix templateRef.template",
            )
        return template, ref_scope
    name = str(holder.get("template", ""))
    template = scope.template(name)
    if template is None:
        raise RunError(
            f"{scope.owner} has no template {name!r} (its templates: {', '.join(sorted(scope.templates))})",
            "fix the step's or task's template name",
        )
    return template, scope


def _calls(template: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(label, holder)`` of everything a template calls: steps, tasks and their exit hooks."""
    for group in template.get("steps") or []:
        for step in group or []:
            yield f"step {step.get('name')!r}", step
            yield from _hooks(step, f"step {step.get('name')!r}")
    for task in (template.get("dag") or {}).get("tasks") or []:
        yield f"task {task.get('name')!r}", task
        yield from _hooks(task, f"task {task.get('name')!r}")


def _hooks(holder: Mapping[str, Any], label: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if holder.get("onExit"):
        yield f"exit handler of {label}", {"template": holder["onExit"]}
    for hook_name, hook in (holder.get("hooks") or {}).items():
        if hook_name != "exit":
            raise RunError(
                f"{label} has a lifecycle hook {hook_name!r}; hera-build run supports only the exit hook",
                "run it on Argo, or use an exit hook",
            )
        yield f"exit hook of {label}", hook


def _refuse(where: str, feature: str) -> RunError:
    return RunError(f"{where} uses {feature}, which hera-build run does not support", "run it on Argo")


def _empty_dirs(volumes: Sequence[Mapping[str, Any]], where: str) -> set[str]:
    """Names of ``emptyDir`` volumes (each becomes an empty volume of the container); any other kind is refused."""
    names = set()
    for volume in volumes:
        kinds = sorted(k for k in volume if k != "name")
        if kinds != ["emptyDir"]:
            raise _refuse(
                where, f"volume {volume.get('name')!r} of type {', '.join(kinds) or 'unknown'} (only emptyDir)"
            )
        names.add(str(volume["name"]))
    return names


def _check_template(template: Mapping[str, Any], where: str, workflow_volumes: AbstractSet[str] = frozenset()) -> None:
    kinds = [k for k in (*_TEMPLATE_KINDS, *_REFUSED_KINDS) if template.get(k) is not None]
    for kind in kinds:
        if kind in _REFUSED_KINDS:
            raise _refuse(where, _REFUSED_KINDS[kind])
    if not kinds:
        raise RunError(f"{where} has no container, script, steps, dag or suspend", "give the template a body")
    for key, feature in _REFUSED_FIELDS.items():
        if template.get(key):
            raise _refuse(where, feature)
    if template.get("daemon"):
        raise _refuse(where, "daemon containers")
    if "suspend" in kinds and not (template.get("suspend") or {}).get("duration"):
        raise _refuse(where, "suspend without a duration (it waits for `argo resume`)")
    retry = template.get("retryStrategy") or {}
    if retry.get("expression"):
        raise _refuse(where, "retryStrategy.expression")
    body = template.get("container") or template.get("script") or {}
    volumes = workflow_volumes | _empty_dirs(template.get("volumes") or [], where)
    for mount in body.get("volumeMounts") or []:
        if mount.get("name") not in volumes:
            raise RunError(
                f"{where} mounts volume {mount.get('name')!r}, which is not an emptyDir volume of the template or "
                "the workflow",
                "declare it in volumes (only emptyDir volumes run locally)",
            )
    if body.get("envFrom") or any("valueFrom" in env for env in body.get("env") or []):
        raise _refuse(where, "environment variables from secrets or config maps")
    for param in (template.get("inputs") or {}).get("parameters") or []:
        if param.get("valueFrom"):
            raise _refuse(where, f"inputs.parameters {param.get('name')!r} valueFrom")
    for artifact in (template.get("inputs") or {}).get("artifacts") or []:
        sources = [s for s in _ARTIFACT_SOURCES if artifact.get(s)]
        if sources and not artifact.get("optional"):
            raise _refuse(where, f"input artifact {artifact.get('name')!r} from {sources[0]}")
    for param in (template.get("outputs") or {}).get("parameters") or []:
        value_from = param.get("valueFrom") or {}
        unsupported = sorted(set(value_from) - {"path", "parameter", "default"})
        if unsupported:
            raise _refuse(where, f"outputs.parameters {param.get('name')!r} valueFrom.{unsupported[0]}")
    for tag in TAG_RE.findall(json.dumps(template)):
        if tag.startswith("="):
            raise _refuse(where, f"the expression tag {{{{{tag}}}}}")
    for label, holder in _calls(template):
        for key in ("when", "withParam"):
            if str(holder.get(key, "")).lstrip("{ ").startswith("="):
                raise _refuse(f"{label} of {where}", f"an expression tag in {key}")
        depends = holder.get("depends")
        if depends:
            depends_operands(str(depends))  # syntax errors now, not halfway through the run
        if holder.get("dependencies") and depends:
            raise RunError(f"{label} of {where} has both depends and dependencies", "use only depends")
        if depends is None and holder.get("dependencies"):
            dependencies_logic(list(holder["dependencies"]))


def _check(workflow: Workflow, library: TemplateLibrary) -> None:
    volumes = _empty_dirs(workflow.spec.get("volumes") or [], workflow.source)
    seen: set[tuple[str, str]] = set()
    pending: list[tuple[str, Mapping[str, Any], Scope]] = [
        (f"entrypoint of {workflow.source}", {"template": workflow.entrypoint}, workflow.scope)
    ]
    if workflow.spec.get("onExit"):
        pending.append((f"onExit of {workflow.source}", {"template": workflow.spec["onExit"]}, workflow.scope))
    while pending:
        label, holder, scope = pending.pop()
        try:
            template, target_scope = resolve_target(holder, scope, library)
        except RunError as exc:
            raise RunError(f"{label} in {scope.owner}: {exc.message}", exc.fix) from None
        key = (target_scope.owner, str(template.get("name", "")))
        if key in seen:
            continue
        seen.add(key)
        where = f"template {template.get('name')!r} of {target_scope.owner}"
        _check_template(deep_merge(workflow.spec.get("templateDefaults") or {}, template), where, volumes)
        pending.extend((f"{call} of {where}", call_holder, target_scope) for call, call_holder in _calls(template))
    entry, _ = resolve_target({"template": workflow.entrypoint}, workflow.scope, library)
    for param in (entry.get("inputs") or {}).get("parameters") or []:
        name = str(param["name"])
        if name not in workflow.arguments and param.get("value") is None and param.get("default") is None:
            raise RunError(
                f"entrypoint {workflow.entrypoint!r} of {workflow.source} needs input {name!r}, which the workflow's "
                "arguments do not give",
                f"pass -p {name}=VALUE",
            )


def images(workflow: Workflow, library: TemplateLibrary) -> list[str]:
    """Every image a run may start that is known before it starts (not made of variables)."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()
    pending: list[tuple[Mapping[str, Any], Scope]] = [({"template": workflow.entrypoint}, workflow.scope)]
    if workflow.spec.get("onExit"):
        pending.append(({"template": workflow.spec["onExit"]}, workflow.scope))
    while pending:
        holder, scope = pending.pop()
        template, target_scope = resolve_target(holder, scope, library)
        key = (target_scope.owner, str(template.get("name", "")))
        if key in seen:
            continue
        seen.add(key)
        merged = deep_merge(workflow.spec.get("templateDefaults") or {}, template)
        body = merged.get("container") or merged.get("script") or {}
        image = body.get("image")
        if isinstance(image, str) and "{{" not in image:
            found.add(image)
        pending.extend((call_holder, target_scope) for _, call_holder in _calls(template))
    return sorted(found)
