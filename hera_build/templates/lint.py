"""Argo's own rules for the objects we emit, checked before anything is written.

``kubectl apply`` checks no references and a v4 API server checks only the CRD schema, so a broken reference
or a duplicate task name would otherwise surface when a Workflow runs. These checks follow the structural
rules of Argo's ``workflow/validate`` package (v4; not its ``{{variable}}`` resolution) and the CEL rules in
its CRDs; :mod:`hera_build.templates.crd` adds the schema.

Nothing Argo's validator accepts is an error here: ``tests/lint_cases`` holds the cases both must agree on,
checked against the real ``argo lint`` (:mod:`hera_build.templates.argo`). Upper-case template, step and task
names are valid for Argo and used in its examples, but Argo v3.4 put them into pod names and failed
(argo-workflows #9670), so they are a warning (``allow_uppercase`` silences it). ``strict_names`` makes a
missing ``metadata.name``/``generateName`` an error (the API server refuses it; Argo's linter does not look).
Labels and annotations are checked as the Kubernetes API server checks ObjectMeta.

Known limits: namespaces are ignored when matching references (hera-build emits none); ``{{…}}`` expressions
in references are not resolved, so such references are skipped, as Argo does. Of Argo's ``{{variable}}``
resolution only the unambiguous part is checked: ``inputs.parameters.X``/``inputs.artifacts.X`` naming an
input the template lacks, ``steps.X``/``tasks.X`` naming no step or task of the template, and
``workflow.parameters.X`` naming no argument of a Workflow that defines its own templates.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hera_build.errors import ConfigError, LintError

if TYPE_CHECKING:
    from hera_build.templates.crd import CrdSchemas

Severity = Literal["error", "warning"]
Source = Literal["rules", "kubernetes", "crd", "argo"]
"""Which check found it: Argo's rules as re-implemented here, the API server's ObjectMeta rules (labels,
annotations), the CRD schema, or Argo's own validator (``argo lint``)."""
PathParts = Sequence[str | int]

WORKFLOW_KINDS = frozenset({"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"})
_TEMPLATE_KINDS = {False: "WorkflowTemplate", True: "ClusterWorkflowTemplate"}
_MAX_TEMPLATES = 200
_MAX_FIELD_NAME = 128
_MAX_OBJECT_NAME = {"CronWorkflow": 52}  # a timestamp suffix is added to its Workflows' names
_DEFAULT_MAX_OBJECT_NAME = 63  # the name becomes a label value
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_LOWER_FIELD_NAME = re.compile(r"^[a-z0-9][-a-z0-9]*$")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_MAX_LABEL_VALUE = 63
_MAX_ANNOTATIONS_BYTES = 256 * 1024
_VARIABLE = re.compile(r"\{\{\s*([^={}\s][^{}]*?)\s*\}\}")
_SCOPE_NOUNS = {
    "inputs.parameters": "input parameter",
    "inputs.artifacts": "input artifact",
    "steps": "step",
    "tasks": "task",
    "workflow.parameters": "workflow argument",
}
_ALWAYS_RESOLVED = frozenset({"workflow.parameters.json"})
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_EXPRESSION = re.compile(r"\{\{.*?\}\}")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][-A-Za-z0-9_]*$")
_DEPENDS_TOKEN = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)")
_TASK_RESULTS = frozenset(
    {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)
_ITEM_RESULTS = frozenset({"AnySucceeded", "AllFailed"})
_TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
_NON_LEAF_TYPES = frozenset({"steps", "dag"})
_ARTIFACT_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")
_OPAQUE_KEYS = frozenset({"plugin", "withItems", "executorPlugins", "status"})  # free-form: not Argo fields


@dataclass(frozen=True)
class Finding:
    """One problem with one object; ``path`` is a JSON path into it (``spec.templates[2].script.image``)."""

    object_name: str
    path: str
    message: str
    severity: Severity = "error"
    source: Source = "rules"

    def __str__(self) -> str:
        where = f"{self.object_name} {self.path}" if self.path else self.object_name
        return f"{self.severity}: {where}: {self.message}"


def format_path(parts: Iterable[str | int]) -> str:
    """``("spec", "templates", 2, "name")`` → ``spec.templates[2].name``; odd keys are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def object_label(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` (``Kind/prefix*`` for a generated name): names alone collide across kinds."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = metadata.get("name") or (f"{metadata['generateName']}*" if metadata.get("generateName") else "<unnamed>")
    return f"{obj.get('kind') or '<no kind>'}/{name}"


def raise_for_findings(findings: Iterable[Finding]) -> None:
    """Raise one :class:`LintError` listing every error, one per line; warnings do not raise."""
    errors = [finding for finding in findings if finding.severity == "error"]
    if not errors:
        return
    lines = "\n".join(
        f"  {f.object_name} {f.path}: {f.message}" if f.path else f"  {f.object_name}: {f.message}" for f in errors
    )
    raise LintError(
        f"{len(errors)} problem{'s' if len(errors) != 1 else ''} that Argo would reject:\n{lines}",
        "change the Hera code that defines these objects (or the package they refer to) and build again",
    )


def lint(
    objects: Iterable[Mapping[str, Any]],
    *,
    providers: Iterable[Mapping[str, Any]] = (),
    external_names: AbstractSet[str] = frozenset(),
    crd: CrdSchemas | None = None,
    strict_names: bool = True,
    require_known_refs: bool = False,
    allow_uppercase: bool = False,
) -> list[Finding]:
    """Check ``objects`` (plain dicts) against Argo's rules; refs may point into them or into ``providers``.

    ``external_names`` are templateRef targets deliberately left unresolved. A ref to an object that is
    neither given nor external is reported only with ``require_known_refs`` (the resolver reports those).
    With ``crd``, each object is also checked against its CRD schema; a kind it has no schema for is a
    :class:`~hera_build.errors.ConfigError` naming the CRD to pass, not a finding about the object.
    """
    objects = list(objects)
    if crd is not None:
        _require_schemas(objects, crd)
    index = _TemplateIndex.of([*providers, *objects])
    options = _Options(external_names, strict_names, require_known_refs, allow_uppercase)
    findings = _duplicate_objects(objects)
    for obj in objects:
        findings.extend(_lint_object(obj, index, options))
        if crd is not None and obj.get("kind") in WORKFLOW_KINDS:
            findings.extend(crd.validate(obj))
    return findings


@dataclass(frozen=True)
class _Options:
    external_names: AbstractSet[str]
    strict_names: bool
    require_known_refs: bool
    allow_uppercase: bool = False


def _require_schemas(objects: Sequence[Mapping[str, Any]], crd: CrdSchemas) -> None:
    """Every workflow kind linted needs its CRD: a missing one is the user's set-up, not their Hera code."""
    wanted = {
        (str(obj.get("apiVersion", "")), str(obj["kind"])) for obj in objects if obj.get("kind") in WORKFLOW_KINDS
    }
    missing = sorted(wanted - crd.kinds, key=lambda pair: pair[1])
    if not missing:
        return
    kinds = ", ".join(kind for _, kind in missing)
    known = ", ".join(f"{kind} ({version})" for version, kind in sorted(crd.kinds, key=lambda p: p[1])) or "none"
    version, kind = missing[0]
    raise ConfigError(
        f"no CRD schema for kind {kinds} (apiVersion {version}); the CRDs given cover: {known}",
        f"pass the CRD for kind {kind}: --crd FILE, saved with "
        f"`kubectl get crd {kind.lower()}s.{version.split('/')[0]} -o yaml`",
    )


@dataclass(frozen=True)
class _TemplateIndex:
    """Templates of every (Cluster)WorkflowTemplate that refs may point to, by (kind, name)."""

    objects: Mapping[tuple[str, str], Mapping[str, Any]]

    @classmethod
    def of(cls, objects: Iterable[Mapping[str, Any]]) -> _TemplateIndex:
        index: dict[tuple[str, str], Mapping[str, Any]] = {}
        for obj in objects:
            name = _mapping(obj.get("metadata")).get("name")
            if obj.get("kind") in _TEMPLATE_KINDS.values() and isinstance(name, str):
                index[(str(obj["kind"]), name)] = obj
        return cls(index)

    def get(self, cluster_scope: bool, name: str) -> Mapping[str, Any] | None:
        return self.objects.get((_TEMPLATE_KINDS[cluster_scope], name))


@dataclass
class _Context:
    """What one object's checks share: where findings go and which templates local names resolve to."""

    name: str
    kind: str
    index: _TemplateIndex
    options: _Options
    templates: Mapping[str, Mapping[str, Any]] | None = None  # None: defined by a WorkflowTemplate we lack
    templates_owner: str = "this object"
    findings: list[Finding] = field(default_factory=list)

    def error(self, parts: PathParts, message: str, source: Source = "rules") -> None:
        self.findings.append(Finding(self.name, format_path(parts), message, source=source))

    def warning(self, parts: PathParts, message: str) -> None:
        self.findings.append(Finding(self.name, format_path(parts), message, "warning"))

    def strict(self, parts: PathParts, message: str) -> None:
        """A rule of ours, stricter than Argo's: an error for objects we emit, otherwise a warning."""
        severity: Severity = "error" if self.options.strict_names else "warning"
        self.findings.append(Finding(self.name, format_path(parts), message, severity))


def _lint_object(obj: Mapping[str, Any], index: _TemplateIndex, options: _Options) -> list[Finding]:
    ctx = _Context(object_label(obj), str(obj.get("kind")), index, options)
    if ctx.kind not in WORKFLOW_KINDS:
        ctx.error((), f"kind {ctx.kind!r} is not one of {', '.join(sorted(WORKFLOW_KINDS))}")
        return ctx.findings
    _check_metadata(obj.get("metadata"), ctx)
    base: tuple[str, ...] = ("spec", "workflowSpec") if ctx.kind == "CronWorkflow" else ("spec",)
    spec = _mapping(obj.get("spec"))
    if ctx.kind == "CronWorkflow":
        _check_cron(spec, ctx)
        spec = _mapping(spec.get("workflowSpec"))
    if not spec:
        ctx.error(base, "missing: an Argo object needs a workflow spec")
        return ctx.findings
    _check_templates(spec, base, ctx)
    _set_template_scope(spec, base, ctx)
    _check_entrypoint(spec, base, ctx)
    for parts, node in _walk(spec, base):
        _check_node(parts, node, ctx)
    return ctx.findings


# --- metadata and object-level rules ------------------------------------------------------------------------


def _check_metadata(metadata: Any, ctx: _Context) -> None:
    metadata = _mapping(metadata)
    name, generate_name = metadata.get("name"), metadata.get("generateName")
    limit = _MAX_OBJECT_NAME.get(ctx.kind, _DEFAULT_MAX_OBJECT_NAME)
    if isinstance(name, str) and name:
        if not _DNS_SUBDOMAIN.match(name):
            ctx.error(("metadata", "name"), f"{name!r} is not a DNS-1123 subdomain: {_DNS_RULE}", "kubernetes")
        if len(name) > limit:
            ctx.error(
                ("metadata", "name"),
                f"{name!r} has {len(name)} characters; Argo allows at most {limit} for a {ctx.kind}",
            )
    elif isinstance(generate_name, str) and generate_name:
        # The API server checks the prefix with a trailing '-' masked, then truncates it to 58 characters.
        masked = generate_name[:-1] + "a" if generate_name.endswith("-") else generate_name
        if not _DNS_SUBDOMAIN.match(masked) or len(masked) > 253:
            ctx.error(
                ("metadata", "generateName"), f"{generate_name!r} is not a valid name prefix: {_DNS_RULE}", "kubernetes"
            )
    else:
        ctx.strict(("metadata",), "has neither name nor generateName; the API server rejects the object")
    _check_object_meta(("metadata",), metadata, ctx, templated=False)


def _check_object_meta(parts: PathParts, metadata: Mapping[str, Any], ctx: _Context, *, templated: bool) -> None:
    """Labels and annotations as the API server checks ObjectMeta (``apimachinery``'s validation).

    ``templated``: Argo substitutes ``{{…}}`` in the metadata of pods and Workflows it creates, so such values
    are checked only after substitution, by Argo.
    """
    labels, annotations = _mapping(metadata.get("labels")), _mapping(metadata.get("annotations"))
    for key, value in labels.items():
        _check_qualified_key((*parts, "labels", str(key)), str(key), "label", ctx)
        if not isinstance(value, str) or (templated and _EXPRESSION.search(value)):
            continue
        if len(value) > _MAX_LABEL_VALUE:
            ctx.error(
                (*parts, "labels", str(key)),
                f"label value has {len(value)} characters; Kubernetes allows at most {_MAX_LABEL_VALUE}",
                "kubernetes",
            )
        elif not _LABEL_VALUE.match(value):
            ctx.error(
                (*parts, "labels", str(key)),
                f"label value {value!r} is invalid: use letters, digits, '-', '_' and '.', starting and ending "
                "with a letter or digit",
                "kubernetes",
            )
    size = 0
    for key, value in annotations.items():
        _check_qualified_key((*parts, "annotations", str(key)), str(key), "annotation", ctx)
        size += len(str(key).encode()) + (len(value.encode()) if isinstance(value, str) else 0)
    if size > _MAX_ANNOTATIONS_BYTES:
        ctx.error(
            (*parts, "annotations"),
            f"annotations take {size} bytes; Kubernetes allows at most {_MAX_ANNOTATIONS_BYTES} in total",
            "kubernetes",
        )


def _check_qualified_key(parts: PathParts, key: str, what: str, ctx: _Context) -> None:
    """``[prefix/]name``: a DNS subdomain prefix of at most 253 characters, a name of at most 63."""
    prefix, slash, name = key.rpartition("/")
    problem = None
    if not name or len(name) > _MAX_LABEL_VALUE or not _QUALIFIED_NAME.match(name):
        problem = (
            f"its name part must be 1-{_MAX_LABEL_VALUE} letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit"
        )
    elif slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        problem = "its prefix must be a DNS subdomain (lowercase, at most 253 characters) before one '/'"
    if problem:
        ctx.error(parts, f"{what} key {key!r} is invalid: {problem}", "kubernetes")


_DNS_RULE = "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"


def _check_cron(spec: Mapping[str, Any], ctx: _Context) -> None:
    if not spec.get("schedules"):
        ctx.error(("spec", "schedules"), "a CronWorkflow needs at least one schedule")


def _duplicate_objects(objects: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Two objects with one kind and name: applying them, the second silently replaces the first."""
    seen: dict[tuple[str, str, str], int] = {}
    findings = []
    for position, obj in enumerate(objects):
        metadata = _mapping(obj.get("metadata"))
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            continue
        key = (str(obj.get("kind")), str(metadata.get("namespace", "")), name)
        if key in seen:
            message = f"another {key[0]} has this name (object #{seen[key] + 1}); one would replace the other"
            findings.append(Finding(object_label(obj), "metadata.name", message))
        else:
            seen[key] = position
    return findings


# --- templates, steps and DAGs ------------------------------------------------------------------------------


def _check_templates(spec: Mapping[str, Any], base: PathParts, ctx: _Context) -> None:
    templates = _list(spec.get("templates"))
    if len(templates) > _MAX_TEMPLATES:
        ctx.error(
            (*base, "templates"),
            f"has {len(templates)} templates; Argo allows at most {_MAX_TEMPLATES}: split the object",
        )
    seen: dict[str, str] = {}
    for position, template in enumerate(templates):
        parts = (*base, "templates", position)
        if not isinstance(template, Mapping):
            continue
        name = template.get("name")
        _check_field_name((*parts, "name"), name, "template", ctx)
        _check_unique(seen, name, (*parts, "name"), "template", ctx)
        _check_template_type(template, parts, ctx)
        if isinstance(template.get("steps"), list):
            _check_steps(template["steps"], (*parts, "steps"), ctx)
        if isinstance(template.get("dag"), Mapping):
            _check_dag(template["dag"], (*parts, "dag"), ctx)
        _check_variables(template, parts, _workflow_parameters(spec, ctx), ctx)


def _workflow_parameters(spec: Mapping[str, Any], ctx: _Context) -> AbstractSet[str] | None:
    """``workflow.parameters`` names known for certain: a Workflow's own arguments; None when they may come from
    elsewhere (a WorkflowTemplate's caller, a referenced WorkflowTemplate)."""
    if ctx.kind not in ("Workflow", "CronWorkflow") or spec.get("workflowTemplateRef") is not None:
        return None
    parameters = _list(_mapping(spec.get("arguments")).get("parameters"))
    return {str(p.get("name")) for p in parameters if isinstance(p, Mapping)}


def _check_variables(
    template: Mapping[str, Any], parts: PathParts, workflow_parameters: AbstractSet[str] | None, ctx: _Context
) -> None:
    """``{{…}}`` references that cannot resolve, as Argo's validator refuses them ("failed to resolve")."""
    inputs = _mapping(template.get("inputs"))
    scopes = {
        "inputs.parameters": _names(inputs.get("parameters")),
        "inputs.artifacts": _names(inputs.get("artifacts")),
        "steps": {str(s.get("name")) for g in _list(template.get("steps")) for s in _list(g) if isinstance(s, Mapping)}
        if template.get("steps") is not None
        else None,
        "tasks": _names(_mapping(template.get("dag")).get("tasks")) if template.get("dag") is not None else None,
        "workflow.parameters": workflow_parameters,
    }
    reported: set[str] = set()
    for where, text in _strings(template, tuple(parts), "{{"):
        for match in _VARIABLE.finditer(text):
            tag = match.group(1)
            for prefix, known in scopes.items():
                if known is None or not tag.startswith(f"{prefix}."):
                    continue
                name = tag[len(prefix) + 1 :].split(".", 1)[0]
                if name not in known and tag not in _ALWAYS_RESOLVED and name != "name" and tag not in reported:
                    reported.add(tag)
                    what = _SCOPE_NOUNS[prefix]
                    ctx.error(
                        where,
                        f"{{{{{tag}}}}} cannot resolve: no {what} {name!r}{_did_you_mean(name, known)}",
                    )


def _names(items: Any) -> set[str]:
    return {str(item.get("name")) for item in _list(items) if isinstance(item, Mapping)}


def _strings(
    node: Any, parts: tuple[str | int, ...], containing: str = ""
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string under ``node`` that has ``containing`` in it, with its path, in document order, except inside
    inline templates (their own scope). A stack, not nested generators: this runs over every string of every
    template."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(parts, node)]
    while stack:
        parts, node = stack.pop()
        if isinstance(node, str):
            if containing in node:
                yield parts, node
        elif isinstance(node, Mapping):
            stack.extend(reversed([((*parts, key), value) for key, value in node.items() if key != "inline"]))
        elif isinstance(node, list):
            stack.extend(reversed([((*parts, position), value) for position, value in enumerate(node)]))


def _check_field_name(parts: PathParts, name: Any, what: str, ctx: _Context) -> None:
    """Template, step and task names: Argo's pattern and length; lowercase is our stricter rule."""
    if not isinstance(name, str) or not name:
        ctx.error(parts, f"a {what} needs a name")
    elif len(name) > _MAX_FIELD_NAME:
        ctx.error(parts, f"{what} name has {len(name)} characters; Argo allows at most {_MAX_FIELD_NAME}")
    elif not _FIELD_NAME.match(name):
        ctx.error(
            parts,
            f"{what} name {name!r} is invalid: use letters, digits and '-', starting with a letter or digit "
            "(no dots or underscores)",
        )
    elif not _LOWER_FIELD_NAME.match(name) and not ctx.options.allow_uppercase:
        ctx.warning(
            parts,
            f"{what} name {name!r} has upper-case letters: Argo accepts them, but Argo v3.4 put such names into "
            f"pod names and failed (argo-workflows #9670); {name.lower()!r} is safe on every version "
            "(--allow-uppercase hides this)",
        )


def _check_unique(seen: dict[str, str], name: Any, parts: PathParts, what: str, ctx: _Context) -> None:
    if not isinstance(name, str) or not name:
        return
    if name in seen:
        ctx.error(parts, f"{what} name {name!r} is not unique (also at {seen[name]})")
    else:
        seen[name] = format_path(parts)


def _check_template_type(template: Mapping[str, Any], parts: PathParts, ctx: _Context) -> None:
    types = [key for key in _TEMPLATE_TYPES if template.get(key) is not None]
    if not types:
        ctx.error(parts, f"template type unspecified: give one of {', '.join(_TEMPLATE_TYPES)}")
    elif len(types) > 1:
        ctx.error(parts, f"template has several types ({', '.join(types)}); give exactly one")
    if _NON_LEAF_TYPES.intersection(types):
        for key in ("timeout", "pendingTimeout", "activeDeadlineSeconds"):
            if template.get(key) not in (None, ""):
                ctx.error((*parts, key), f"{key} applies to leaf templates only, not to steps or dag templates")
    elif types and template.get("parallelism") is not None:
        ctx.error((*parts, "parallelism"), "parallelism is only valid for steps and dag templates")


def _check_steps(groups: list[Any], parts: PathParts, ctx: _Context) -> None:
    """Step names are unique across all of a template's step groups."""
    seen: dict[str, str] = {}
    for group_position, group in enumerate(groups):
        for position, step in enumerate(_list(group)):
            if isinstance(step, Mapping):
                step_parts = (*parts, group_position, position, "name")
                _check_field_name(step_parts, step.get("name"), "step", ctx)
                _check_unique(seen, step.get("name"), step_parts, "step", ctx)
                _check_callee(step, step_parts[:-1], "step", ctx)


def _check_callee(call: Mapping[str, Any], parts: PathParts, what: str, ctx: _Context) -> None:
    if all(call.get(key) is None for key in ("template", "templateRef", "inline")):
        ctx.error(parts, f"a {what} needs 'template', 'templateRef' or 'inline'")


def _check_dag(dag: Mapping[str, Any], parts: PathParts, ctx: _Context) -> None:
    tasks = [(p, task) for p, task in enumerate(_list(dag.get("tasks"))) if isinstance(task, Mapping)]
    if not tasks:
        ctx.error((*parts, "tasks"), "a DAG needs at least one task")
        return
    by_name: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, str] = {}
    for position, task in tasks:
        _check_field_name((*parts, "tasks", position, "name"), task.get("name"), "task", ctx)
        _check_unique(seen, task.get("name"), (*parts, "tasks", position, "name"), "task", ctx)
        _check_callee(task, (*parts, "tasks", position), "task", ctx)
        if isinstance(task.get("name"), str):
            by_name.setdefault(task["name"], task)
    uses_depends = any(task.get("depends") for _, task in tasks)
    graph: dict[str, list[str]] = {}
    for position, task in tasks:
        task_parts = (*parts, "tasks", position)
        _check_task_dependency_style(task, task_parts, uses_depends, ctx)
        graph[str(task.get("name"))] = _check_task_dependencies(task, task_parts, by_name, ctx)
    _check_cycles(graph, (*parts, "tasks"), ctx)
    _check_targets(dag.get("target"), (*parts, "target"), by_name, ctx)


def _check_task_dependency_style(task: Mapping[str, Any], parts: PathParts, uses_depends: bool, ctx: _Context) -> None:
    name = task.get("name")
    if (uses_depends or task.get("dependencies")) and isinstance(name, str) and name[:1].isdigit():
        ctx.error(
            (*parts, "name"),
            f"task name {name!r} starts with a digit, which Argo forbids in a DAG using depends",
        )
    if uses_depends and task.get("dependencies"):
        ctx.error((*parts, "dependencies"), "cannot use both 'depends' and 'dependencies' in one DAG")
    if uses_depends and task.get("continueOn") is not None:
        ctx.error((*parts, "continueOn"), "cannot use 'continueOn' with 'depends': write 'depends: \"x.Failed\"'")


def _check_task_dependencies(
    task: Mapping[str, Any], parts: PathParts, by_name: Mapping[str, Mapping[str, Any]], ctx: _Context
) -> list[str]:
    """The names a task depends on, as Argo parses them; each must be a task of this DAG."""
    depends = task.get("depends")
    dependencies: dict[str, str] = {}
    if isinstance(depends, str) and depends:
        for match in _DEPENDS_TOKEN.finditer(depends):
            name, _, result = (match.group(1) or match.group(2)).partition(".")
            dependencies.setdefault(name, result)
            if result and result not in _TASK_RESULTS:
                ctx.error(
                    (*parts, "depends"),
                    f"task result {result!r} of {name!r} is not one of {_sorted(_TASK_RESULTS)}",
                )
            if result in _ITEM_RESULTS:
                dependencies[name] = result
        key = "depends"
    else:
        dependencies = {str(name): "" for name in _list(task.get("dependencies"))}
        key = "dependencies"
    for name, result in dependencies.items():
        target = by_name.get(name)
        if target is None:
            ctx.error(
                (*parts, key),
                f"depends on task {name!r}, which this DAG does not define{_did_you_mean(name, by_name)}",
            )
        elif result in _ITEM_RESULTS and not any(target.get(k) for k in ("withItems", "withParam", "withSequence")):
            ctx.error(
                (*parts, key),
                f"{name}.{result} needs {name!r} to loop (withItems, withParam or withSequence)",
            )
    return [name for name in dependencies if name in by_name]


def _check_cycles(graph: Mapping[str, list[str]], parts: PathParts, ctx: _Context) -> None:
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if name in trail:
            return [*trail[trail.index(name) :], name]
        if name in done:
            return None
        for dependency in graph.get(name, ()):
            cycle = visit(dependency, [*trail, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in graph:
        cycle = visit(name, [])
        if cycle:
            ctx.error(parts, f"dependency cycle: {' -> '.join(cycle)}")
            return


def _check_targets(target: Any, parts: PathParts, by_name: Mapping[str, Any], ctx: _Context) -> None:
    if not isinstance(target, str):
        return
    for name in target.split():
        if name not in by_name and not _EXPRESSION.search(name):
            ctx.error(parts, f"target {name!r} is not a task of this DAG{_did_you_mean(name, by_name)}")


# --- references: entrypoint, template, templateRef, onExit --------------------------------------------------


def _set_template_scope(spec: Mapping[str, Any], base: PathParts, ctx: _Context) -> None:
    """Local template names resolve in this object, or in its workflowTemplateRef's target when it has one."""
    ref = spec.get("workflowTemplateRef")
    if not isinstance(ref, Mapping):
        ctx.templates = _templates_of(spec)
        return
    ref_parts = (*base, "workflowTemplateRef")
    if spec.get("templates"):
        ctx.error((*base, "templates"), "a Workflow with a workflowTemplateRef cannot define templates")
    target = _resolve_object(ref, ref_parts, ctx)
    if target is not None:
        ctx.templates = _templates_of(_mapping(target.get("spec")))
        ctx.templates_owner = object_label(target)


def _check_entrypoint(spec: Mapping[str, Any], base: PathParts, ctx: _Context) -> None:
    """A Workflow runs its entrypoint (or its WorkflowTemplate's) with ``spec.arguments`` as the inputs."""
    runs = ctx.kind in ("Workflow", "CronWorkflow")
    target_spec = _referenced_spec(spec, ctx)
    entrypoint = spec.get("entrypoint") or _mapping(target_spec).get("entrypoint")
    if not entrypoint:
        if runs and (not spec.get("workflowTemplateRef") or target_spec is not None):
            ctx.error((*base, "entrypoint"), f"a {ctx.kind} needs an entrypoint")
        return
    if not isinstance(entrypoint, str) or ctx.templates is None or _EXPRESSION.search(entrypoint):
        return
    template = _local_template(entrypoint, (*base, "entrypoint"), ctx)
    if template is not None and runs:
        arguments = _merged_arguments(_mapping(spec.get("arguments")), _mapping(_mapping(target_spec).get("arguments")))
        _check_inputs_supplied(template, arguments, (*base, "arguments"), f"entrypoint {entrypoint!r}", ctx)


def _referenced_spec(spec: Mapping[str, Any], ctx: _Context) -> Mapping[str, Any] | None:
    ref = spec.get("workflowTemplateRef")
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
        return None
    target = ctx.index.get(bool(ref.get("clusterScope")), ref["name"])
    return _mapping(target.get("spec")) if target is not None else None


def _merged_arguments(own: Mapping[str, Any], inherited: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {key: [*_list(own.get(key)), *_list(inherited.get(key))] for key in ("parameters", "artifacts")}


def _check_node(parts: PathParts, node: Mapping[str, Any], ctx: _Context) -> None:
    """The checks that apply wherever a kind of node appears: holders of template refs, hooks, CEL rules."""
    key = parts[-1] if parts else None
    if key != "templateRef" and ("template" in node or "templateRef" in node):
        _check_holder(parts, node, ctx)
    if isinstance(node.get("onExit"), str) and node["onExit"] and ctx.templates is not None:
        _local_template(node["onExit"], (*parts, "onExit"), ctx)
    if key == "hooks":
        _check_hooks(parts, node, ctx)
    if key in ("inputs", "outputs", "arguments"):
        _check_io_names(parts, node, ctx)
    if key in ("metadata", "workflowMetadata", "podMetadata"):
        _check_object_meta(parts, node, ctx, templated=True)
    _check_cel_rules(parts, node, ctx)


def _check_holder(parts: PathParts, holder: Mapping[str, Any], ctx: _Context) -> None:
    """A step, task or hook: it names a local template or a templateRef, and supplies the required inputs."""
    template_name, ref = holder.get("template"), holder.get("templateRef")
    arguments = _mapping(holder.get("arguments"))
    _check_argument_values(arguments, (*parts, "arguments"), ctx)
    if template_name is not None and ref is not None:
        ctx.error(parts, "give either 'template' or 'templateRef', not both")
        return
    if isinstance(template_name, str):
        if ctx.templates is not None and not _EXPRESSION.search(template_name):
            template = _local_template(template_name, (*parts, "template"), ctx)
            if template is not None:
                _check_inputs_supplied(template, arguments, (*parts, "arguments"), f"template {template_name!r}", ctx)
    elif isinstance(ref, Mapping):
        _check_template_ref(ref, arguments, (*parts, "templateRef"), ctx)


def _check_template_ref(ref: Mapping[str, Any], arguments: Mapping[str, Any], parts: PathParts, ctx: _Context) -> None:
    template_name = ref.get("template")
    if not ref.get("name") or not template_name:
        ctx.error(parts, "a templateRef needs both 'name' and 'template'")
        return
    if _EXPRESSION.search(f"{ref['name']}{template_name}"):
        return
    target = _resolve_object(ref, parts, ctx)
    if target is None:
        return
    templates = _templates_of(_mapping(target.get("spec")))
    template = templates.get(str(template_name))
    if template is None:
        hint = _did_you_mean(str(template_name), templates)
        ctx.error((*parts, "template"), f"{object_label(target)} has no template {template_name!r}{hint}")
        return
    what = f"{object_label(target)} template {template_name!r}"
    _check_inputs_supplied(template, arguments, (*parts[:-1], "arguments"), what, ctx)


def _resolve_object(ref: Mapping[str, Any], parts: PathParts, ctx: _Context) -> Mapping[str, Any] | None:
    """The (Cluster)WorkflowTemplate a ref names, if known; unknown names are reported only when asked."""
    name, cluster = ref.get("name"), bool(ref.get("clusterScope"))
    if not isinstance(name, str) or _EXPRESSION.search(name):
        return None
    target = ctx.index.get(cluster, name)
    if target is None and ctx.options.require_known_refs and name not in ctx.options.external_names:
        ctx.error((*parts, "name"), f"refers to {_TEMPLATE_KINDS[cluster]} {name!r}, which is not known")
    return target


def _local_template(name: str, parts: PathParts, ctx: _Context) -> Mapping[str, Any] | None:
    templates = ctx.templates or {}
    template = templates.get(name)
    if template is None:
        ctx.error(parts, f"{ctx.templates_owner} has no template {name!r}{_did_you_mean(name, templates)}")
    return template


def _check_inputs_supplied(
    template: Mapping[str, Any], arguments: Mapping[str, Any], parts: PathParts, what: str, ctx: _Context
) -> None:
    """Argo fails calls leaving an input parameter without a value or an input artifact without a source."""
    inputs = _mapping(template.get("inputs"))
    for key, required in (("parameters", _required_parameter), ("artifacts", _required_artifact)):
        supplied = {item.get("name") for item in _list(arguments.get(key)) if isinstance(item, Mapping)}
        for item in _list(inputs.get(key)):
            if isinstance(item, Mapping) and required(item) and item.get("name") not in supplied:
                kind = key[:-1]
                message = f"{what} requires input {kind} {item.get('name')!r}, which is not supplied"
                ctx.error((*parts, key), f"{message}: add it to {key}")


def _required_parameter(parameter: Mapping[str, Any]) -> bool:
    return all(parameter.get(key) is None for key in ("value", "default", "valueFrom"))


def _required_artifact(artifact: Mapping[str, Any]) -> bool:
    return not artifact.get("optional") and not any(artifact.get(key) is not None for key in _ARTIFACT_LOCATIONS)


def _check_argument_values(arguments: Mapping[str, Any], parts: PathParts, ctx: _Context) -> None:
    for position, parameter in enumerate(_list(arguments.get("parameters"))):
        if isinstance(parameter, Mapping) and parameter.get("value") is None and parameter.get("valueFrom") is None:
            ctx.error(
                (*parts, "parameters", position),
                f"argument {parameter.get('name')!r} needs a value or valueFrom",
            )


# --- rules that apply wherever their node appears -----------------------------------------------------------


def _check_hooks(parts: PathParts, hooks: Mapping[str, Any], ctx: _Context) -> None:
    for name, hook in hooks.items():
        if name != "exit" and isinstance(hook, Mapping) and not hook.get("expression"):
            ctx.error((*parts, name), f"lifecycle hook {name!r} needs an expression (only 'exit' runs without one)")


def _check_io_names(parts: PathParts, node: Mapping[str, Any], ctx: _Context) -> None:
    """Parameter and artifact names: required, unique in their list, ``^[-a-zA-Z0-9_]+$``."""
    for key in ("parameters", "artifacts"):
        seen: dict[str, str] = {}
        for position, item in enumerate(_list(node.get(key))):
            if not isinstance(item, Mapping):
                continue
            name, item_parts = item.get("name"), (*parts, key, position, "name")
            what = key[:-1]
            if not isinstance(name, str) or not name:
                ctx.error(item_parts, f"a {what} needs a name")
                continue
            if not _PARAM_NAME.match(_EXPRESSION.sub("x", name)):
                ctx.error(item_parts, f"{what} name {name!r} is invalid: use letters, digits, '-' and '_'")
            _check_unique(seen, name, item_parts, what, ctx)


def _check_cel_rules(parts: PathParts, node: Mapping[str, Any], ctx: _Context) -> None:
    """The ``x-kubernetes-validations`` of Argo's CRDs that :mod:`hera_build.templates.crd` cannot run."""
    key = parts[-1] if parts else None
    parent = parts[-2] if len(parts) > 1 else None
    if (
        parent == "artifacts"
        or key in ("archiveLocation", "artifactPaths")
        or (key, parent) == ("artifact", "manifestFrom")
    ):
        locations = [name for name in _ARTIFACT_LOCATIONS if node.get(name) is not None]
        if len(locations) > 1:
            ctx.error(parts, f"at most one artifact location can be specified, found {', '.join(locations)}", "crd")
    if key == "withSequence" and node.get("count") is not None and node.get("end") is not None:
        ctx.error(parts, "only one of count or end can be defined", "crd")
    if key == "resource" and node.get("manifest") is not None and node.get("manifestFrom") is not None:
        ctx.error(parts, "only one of manifest or manifestFrom can be specified", "crd")
    if key == "gauge" and node.get("realtime") and "resourcesDuration." in str(node.get("value", "")):
        ctx.error(parts, "'resourcesDuration.*' metrics cannot be used in real-time gauges", "crd")


# --- helpers ------------------------------------------------------------------------------------------------


def _walk(node: Any, parts: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Mapping[str, Any]]]:
    """Every mapping under ``node`` with its path, parents first, skipping free-form fields (with a stack, as
    :func:`_strings`)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(parts, node)]
    while stack:
        parts, node = stack.pop()
        if isinstance(node, Mapping):
            yield parts, node
            children = [
                ((*parts, key), value)
                for key, value in node.items()
                if key not in _OPAQUE_KEYS and isinstance(value, (Mapping, list))
            ]
        elif isinstance(node, list):
            children = [((*parts, position), value) for position, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))


def _templates_of(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    templates: dict[str, Mapping[str, Any]] = {}
    for template in _list(spec.get("templates")):
        if isinstance(template, Mapping) and isinstance(template.get("name"), str):
            templates.setdefault(template["name"], template)
    return templates


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _sorted(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
