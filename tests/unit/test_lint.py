"""Argo's own rules, checked on the objects we emit before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from hera_build.errors import LintError
from hera_build.templates.crd import CrdSchemas
from hera_build.templates.lint import Finding, format_path, lint, object_label, raise_for_findings
from tests.argo_corpus import crd_paths, example_objects

API = "argoproj.io/v1alpha1"


def container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "container": {"image": "alpine:3"}, **fields}


def dag(name: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "dag": {"tasks": list(tasks)}}


def steps(name: str, *groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "steps": list(groups)}


def needs(name: str, *parameters: str, **fields: Any) -> dict[str, Any]:
    """A container template with required input parameters."""
    return container(name, inputs={"parameters": [{"name": p} for p in parameters]}, **fields)


def obj(kind: str = "WorkflowTemplate", name: str | None = "flow", templates: Any = (), **spec: Any) -> dict[str, Any]:
    metadata = {"name": name} if name is not None else {}
    body = {"templates": list(templates), **spec}
    if kind == "CronWorkflow":
        return {
            "apiVersion": API,
            "kind": kind,
            "metadata": metadata,
            "spec": {"schedules": ["0 * * * *"], "workflowSpec": body},
        }
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": body}


def errors(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in findings if f.severity == "error"]


def warnings(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in findings if f.severity == "warning"]


def args(**values: str) -> dict[str, Any]:
    return {"parameters": [{"name": k, "value": v} for k, v in values.items()]}


# --- the corpus ---------------------------------------------------------------------------------------------


def test_accepts_every_object_in_argos_examples_but_one_the_api_server_refuses() -> None:
    """fun-with-gifs.yaml has the label ``generateName: fun-with-gifs-``: a value may not end in '-'."""
    corpus = example_objects()
    findings = lint([o.manifest for o in corpus], strict_names=False, crd=CrdSchemas.from_files(crd_paths()))
    assert [(f.path, f.source) for f in findings if f.severity == "error"] == [
        ("metadata.labels.generateName", "kubernetes")
    ]


def test_upper_case_names_in_argos_examples_are_warnings_with_their_reason() -> None:
    """Argo's examples use upper-case task names (``A``, ``TEST-ONE``) and two lack a name."""
    findings = lint([o.manifest for o in example_objects()], strict_names=True)
    upper = [f for f in findings if "has upper-case letters" in f.message]
    assert upper and {f.severity for f in upper} == {"warning"}
    assert all("argo-workflows #9670" in f.message for f in upper)
    assert [f for f in lint([o.manifest for o in example_objects()], allow_uppercase=True) if f in upper] == []


# --- object names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Flow", "my_flow", "flow-", "-flow", "flow..v1"])
def test_rejects_object_names_that_are_not_dns_subdomains(name: str) -> None:
    [(path, message)] = errors(lint([obj(name=name, templates=[container("main")])]))
    assert path == "metadata.name"
    assert "is not a DNS-1123 subdomain" in message


def test_accepts_dots_in_object_names() -> None:
    assert lint([obj(name="flow.v1-2-0", templates=[container("main")])]) == []


@pytest.mark.parametrize(("kind", "limit"), [("WorkflowTemplate", 63), ("Workflow", 63), ("CronWorkflow", 52)])
def test_limits_object_name_length_by_kind(kind: str, limit: int) -> None:
    extra = {"entrypoint": "main"} if kind != "WorkflowTemplate" else {}
    assert lint([obj(kind, "a" * limit, [container("main")], **extra)]) == []
    [(path, message)] = errors(lint([obj(kind, "a" * (limit + 1), [container("main")], **extra)]))
    assert (path, message) == (
        "metadata.name",
        f"{'a' * (limit + 1)!r} has {limit + 1} characters; Argo allows at most {limit} for a {kind}",
    )


def test_accepts_generate_name_prefixes_ending_in_a_dash() -> None:
    workflow = obj("Workflow", None, [container("main")], entrypoint="main")
    workflow["metadata"] = {"generateName": "hello-world-with-a-rather-long-prefix-that-kubernetes-truncates-"}
    assert lint([workflow]) == []


def test_rejects_invalid_generate_name_prefixes() -> None:
    workflow = obj("Workflow", None, [container("main")], entrypoint="main")
    workflow["metadata"] = {"generateName": "Hello_"}
    assert [path for path, _ in errors(lint([workflow]))] == ["metadata.generateName"]


def test_missing_name_is_an_error_when_strict_and_a_warning_otherwise() -> None:
    workflow = obj("Workflow", None, [container("main")], entrypoint="main")
    message = "has neither name nor generateName; the API server rejects the object"
    assert errors(lint([workflow])) == [("metadata", message)]
    assert warnings(lint([workflow], strict_names=False)) == [("metadata", message)]


def test_rejects_two_objects_with_one_kind_and_name() -> None:
    first, second = obj(templates=[container("a")]), obj(templates=[container("b")])
    findings = lint([first, second, obj("ClusterWorkflowTemplate", templates=[container("c")])])
    assert errors(findings) == [
        ("metadata.name", "another WorkflowTemplate has this name (object #1); one would replace the other")
    ]


def test_rejects_kinds_that_are_not_workflows() -> None:
    findings = lint([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}])
    assert [(f.object_name, f.message) for f in findings] == [
        (
            "ConfigMap/c",
            "kind 'ConfigMap' is not one of ClusterWorkflowTemplate, CronWorkflow, Workflow, WorkflowTemplate",
        )
    ]


# --- template, step and task names --------------------------------------------------------------------------


def test_uppercase_task_step_and_template_names_are_warnings_never_errors() -> None:
    """Argo accepts them (argo-workflows #9670 was v3.4 putting them into pod names)."""
    template = obj(
        templates=[
            dag("main", {"name": "Train", "template": "Fit"}),
            steps("Fit", [{"name": "stepA", "template": "leaf"}]),
            container("leaf"),
        ]
    )
    for strict in (True, False):
        findings = lint([template], strict_names=strict)
        assert errors(findings) == []
        assert [path for path, _ in warnings(findings)] == [
            "spec.templates[0].dag.tasks[0].name",
            "spec.templates[1].name",
            "spec.templates[1].steps[0][0].name",
        ]
    message = warnings(lint([template]))[0][1]
    assert message.startswith("task name 'Train' has upper-case letters: Argo accepts them")
    assert "'train' is safe on every version" in message
    assert lint([template], allow_uppercase=True) == []


@pytest.mark.parametrize("name", ["fit.model", "fit_model", "-fit", "fit model"])
def test_rejects_template_names_outside_argos_pattern_even_when_not_strict(name: str) -> None:
    [(path, message)] = errors(lint([obj(templates=[container(name)])], strict_names=False))
    assert path == "spec.templates[0].name"
    assert message.startswith(f"template name {name!r} is invalid: use letters, digits and '-'")


def test_rejects_names_longer_than_128_characters() -> None:
    template = obj(templates=[steps("main", [{"name": "s" * 129, "template": "fit"}]), container("fit")])
    assert errors(lint([template])) == [
        ("spec.templates[0].steps[0][0].name", "step name has 129 characters; Argo allows at most 128")
    ]


def test_requires_template_names() -> None:
    template = obj(templates=[{"container": {"image": "alpine:3"}}])
    assert errors(lint([template])) == [("spec.templates[0].name", "a template needs a name")]


def test_rejects_duplicate_template_names() -> None:
    template = obj(templates=[container("fit"), container("fit")])
    assert errors(lint([template])) == [
        ("spec.templates[1].name", "template name 'fit' is not unique (also at spec.templates[0].name)")
    ]


def test_rejects_duplicate_step_names_across_step_groups() -> None:
    main = steps("main", [{"name": "run", "template": "fit"}], [{"name": "run", "template": "fit"}])
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        (
            "spec.templates[0].steps[1][0].name",
            "step name 'run' is not unique (also at spec.templates[0].steps[0][0].name)",
        )
    ]


def test_rejects_duplicate_task_names_in_a_dag() -> None:
    main = dag("main", {"name": "a", "template": "fit"}, {"name": "a", "template": "fit"})
    assert [path for path, _ in errors(lint([obj(templates=[main, container("fit")])]))] == [
        "spec.templates[0].dag.tasks[1].name"
    ]


def test_allows_the_same_task_name_in_different_dags() -> None:
    templates = [
        dag("one", {"name": "a", "template": "fit"}),
        dag("two", {"name": "a", "template": "fit"}),
        container("fit"),
    ]
    assert lint([obj(templates=templates)]) == []


def test_rejects_task_names_starting_with_a_digit_when_the_dag_uses_depends() -> None:
    main = dag("main", {"name": "1st", "template": "fit"}, {"name": "second", "template": "fit", "depends": "1st"})
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        (
            "spec.templates[0].dag.tasks[0].name",
            "task name '1st' starts with a digit, which Argo forbids in a DAG using depends",
        )
    ]


def test_accepts_task_names_starting_with_a_digit_without_dependencies() -> None:
    main = dag("main", {"name": "1st", "template": "fit"}, {"name": "2nd", "template": "fit"})
    assert lint([obj(templates=[main, container("fit")])]) == []


def test_rejects_more_than_200_templates() -> None:
    template = obj(templates=[container(f"t{i}") for i in range(201)])
    assert errors(lint([template])) == [
        ("spec.templates", "has 201 templates; Argo allows at most 200: split the object")
    ]


@pytest.mark.parametrize("name", ["my param", "my.param", "x{y"])
def test_rejects_invalid_parameter_names(name: str) -> None:
    template = obj(templates=[container("main", inputs={"parameters": [{"name": name}]})])
    assert errors(lint([template])) == [
        (
            "spec.templates[0].inputs.parameters[0].name",
            f"parameter name {name!r} is invalid: use letters, digits, '-' and '_'",
        )
    ]


def test_accepts_parameter_names_with_underscores_and_upper_case() -> None:
    template = obj(templates=[container("main", inputs={"parameters": [{"name": "My_Param-1"}]})])
    assert lint([template]) == []


def test_rejects_duplicate_parameter_names() -> None:
    template = obj(arguments=args(a="1", b="2") | {"artifacts": []}, templates=[container("main")])
    template["spec"]["arguments"]["parameters"].append({"name": "a", "value": "3"})
    assert [path for path, _ in errors(lint([template]))] == ["spec.arguments.parameters[2].name"]


# --- entrypoint ---------------------------------------------------------------------------------------------


def test_rejects_an_entrypoint_that_names_no_template() -> None:
    template = obj(entrypoint="mian", templates=[container("main")])
    assert errors(lint([template])) == [
        ("spec.entrypoint", "this object has no template 'mian' (did you mean 'main'?)")
    ]


def test_requires_an_entrypoint_for_workflows_but_not_for_templates() -> None:
    assert lint([obj("WorkflowTemplate", templates=[container("main")])]) == []
    assert errors(lint([obj("Workflow", templates=[container("main")])])) == [
        ("spec.entrypoint", "a Workflow needs an entrypoint")
    ]
    assert errors(lint([obj("CronWorkflow", templates=[container("main")])])) == [
        ("spec.workflowSpec.entrypoint", "a CronWorkflow needs an entrypoint")
    ]


def test_workflow_arguments_must_supply_the_entrypoints_inputs() -> None:
    workflow = obj("Workflow", templates=[needs("main", "date", "mode")], entrypoint="main", arguments=args(date="x"))
    assert errors(lint([workflow])) == [
        (
            "spec.arguments.parameters",
            "entrypoint 'main' requires input parameter 'mode', which is not supplied: add it to parameters",
        )
    ]


def test_entrypoint_resolves_in_the_workflow_template_it_refers_to() -> None:
    provider = obj(name="base", templates=[container("main")])
    good = obj("Workflow", "run", entrypoint="main", workflowTemplateRef={"name": "base"})
    bad = obj("Workflow", "run2", entrypoint="other", workflowTemplateRef={"name": "base"})
    del good["spec"]["templates"], bad["spec"]["templates"]
    assert lint([good], providers=[provider]) == []
    assert errors(lint([bad], providers=[provider])) == [
        ("spec.entrypoint", "WorkflowTemplate/base has no template 'other'")
    ]


def test_a_workflow_referring_to_a_template_may_not_define_templates() -> None:
    workflow = obj("Workflow", "run", templates=[container("main")], workflowTemplateRef={"name": "base"})
    assert errors(lint([workflow])) == [
        ("spec.templates", "a Workflow with a workflowTemplateRef cannot define templates")
    ]


def test_cron_workflows_need_a_schedule() -> None:
    cron = obj("CronWorkflow", templates=[container("main")], entrypoint="main")
    cron["spec"]["schedules"] = []
    assert errors(lint([cron])) == [("spec.schedules", "a CronWorkflow needs at least one schedule")]


# --- local template references ------------------------------------------------------------------------------


def test_rejects_steps_and_tasks_naming_a_missing_template() -> None:
    templates = [
        steps("main", [{"name": "a", "template": "fitt"}]),
        dag("graph", {"name": "b", "template": "gone"}),
        container("fit"),
    ]
    assert errors(lint([obj(templates=templates)])) == [
        (
            "spec.templates[0].steps[0][0].template",
            "this object has no template 'fitt' (did you mean 'fit'?)",
        ),
        ("spec.templates[1].dag.tasks[0].template", "this object has no template 'gone'"),
    ]


def test_rejects_exit_handlers_and_hooks_naming_a_missing_template() -> None:
    task = {"name": "a", "template": "fit", "onExit": "cleanup", "hooks": {"exit": {"template": "notify"}}}
    template = obj(templates=[dag("main", task), container("fit")], onExit="report")
    assert sorted(errors(lint([template]))) == [
        ("spec.onExit", "this object has no template 'report'"),
        ("spec.templates[0].dag.tasks[0].hooks.exit.template", "this object has no template 'notify'"),
        ("spec.templates[0].dag.tasks[0].onExit", "this object has no template 'cleanup'"),
    ]


def test_local_calls_must_supply_required_inputs() -> None:
    templates = [
        dag("main", {"name": "a", "template": "fit", "arguments": args(rate="0.1")}),
        needs("fit", "rate", "epochs"),
    ]
    assert errors(lint([obj(templates=templates)])) == [
        (
            "spec.templates[0].dag.tasks[0].arguments.parameters",
            "template 'fit' requires input parameter 'epochs', which is not supplied: add it to parameters",
        )
    ]


def test_inputs_with_a_value_default_or_value_from_are_optional() -> None:
    inputs = {
        "parameters": [
            {"name": "a", "value": "1"},
            {"name": "b", "default": "2"},
            {"name": "c", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
        ],
        "artifacts": [{"name": "d", "optional": True}, {"name": "e", "raw": {"data": "hi"}}],
    }
    templates = [dag("main", {"name": "a", "template": "fit"}), container("fit", inputs=inputs)]
    assert lint([obj(templates=templates)]) == []


def test_rejects_a_call_missing_a_required_input_artifact() -> None:
    fit = container("fit", inputs={"artifacts": [{"name": "data", "path": "/data"}]})
    template = obj(templates=[steps("main", [{"name": "a", "template": "fit"}]), fit])
    assert errors(lint([template])) == [
        (
            "spec.templates[0].steps[0][0].arguments.artifacts",
            "template 'fit' requires input artifact 'data', which is not supplied: add it to artifacts",
        )
    ]


def test_arguments_need_a_value_or_value_from() -> None:
    task = {"name": "a", "template": "fit", "arguments": {"parameters": [{"name": "rate"}]}}
    template = obj(templates=[dag("main", task), needs("fit", "rate")])
    assert errors(lint([template])) == [
        (
            "spec.templates[0].dag.tasks[0].arguments.parameters[0]",
            "argument 'rate' needs a value or valueFrom",
        )
    ]


def test_steps_and_tasks_must_call_something() -> None:
    templates = [steps("main", [{"name": "a"}]), dag("graph", {"name": "b"})]
    assert errors(lint([obj(templates=templates)])) == [
        ("spec.templates[0].steps[0][0]", "a step needs 'template', 'templateRef' or 'inline'"),
        ("spec.templates[1].dag.tasks[0]", "a task needs 'template', 'templateRef' or 'inline'"),
    ]


def test_rejects_both_template_and_template_ref() -> None:
    task = {"name": "a", "template": "fit", "templateRef": {"name": "other", "template": "fit"}}
    assert errors(lint([obj(templates=[dag("main", task), container("fit")])])) == [
        ("spec.templates[0].dag.tasks[0]", "give either 'template' or 'templateRef', not both")
    ]


# --- templateRefs -------------------------------------------------------------------------------------------


def provider(kind: str = "WorkflowTemplate", name: str = "data-utils-v1-4-0") -> dict[str, Any]:
    inputs = {"parameters": [{"name": "path"}, {"name": "strict", "default": "true"}]}
    return obj(kind, name, [container("validate", inputs=inputs)])


def ref_task(ref: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "check", "templateRef": ref, **fields}


def test_accepts_a_template_ref_into_a_known_provider() -> None:
    task = ref_task({"name": "data-utils-v1-4-0", "template": "validate"}, arguments=args(path="s3://x"))
    assert lint([obj(templates=[dag("main", task)])], providers=[provider()]) == []


def test_rejects_a_template_ref_to_a_missing_template_in_a_known_provider() -> None:
    task = ref_task({"name": "data-utils-v1-4-0", "template": "validat"}, arguments=args(path="s3://x"))
    assert errors(lint([obj(templates=[dag("main", task)])], providers=[provider()])) == [
        (
            "spec.templates[0].dag.tasks[0].templateRef.template",
            "WorkflowTemplate/data-utils-v1-4-0 has no template 'validat' (did you mean 'validate'?)",
        )
    ]


def test_rejects_a_template_ref_missing_a_required_input() -> None:
    task = ref_task({"name": "data-utils-v1-4-0", "template": "validate"}, arguments=args(strict="false"))
    assert errors(lint([obj(templates=[dag("main", task)])], providers=[provider()])) == [
        (
            "spec.templates[0].dag.tasks[0].arguments.parameters",
            "WorkflowTemplate/data-utils-v1-4-0 template 'validate' requires input parameter 'path', "
            "which is not supplied: add it to parameters",
        )
    ]


def test_template_refs_resolve_among_the_linted_objects_too() -> None:
    task = ref_task({"name": "data-utils-v1-4-0", "template": "nope"})
    assert [p for p, _ in errors(lint([obj(templates=[dag("main", task)]), provider()]))] == [
        "spec.templates[0].dag.tasks[0].templateRef.template"
    ]


def test_cluster_scope_selects_cluster_workflow_templates() -> None:
    ref = {"name": "data-utils-v1-4-0", "template": "validate", "clusterScope": True}
    template = obj(templates=[dag("main", ref_task(ref))])
    assert lint([template], providers=[provider("WorkflowTemplate")]) == []  # not the same object: unknown
    assert [p for p, _ in errors(lint([template], providers=[provider("ClusterWorkflowTemplate")]))] == [
        "spec.templates[0].dag.tasks[0].arguments.parameters"
    ]


def test_unknown_template_refs_are_reported_only_on_request() -> None:
    template = obj(templates=[dag("main", ref_task({"name": "elsewhere", "template": "t"}))])
    assert lint([template]) == []
    assert errors(lint([template], require_known_refs=True)) == [
        (
            "spec.templates[0].dag.tasks[0].templateRef.name",
            "refers to WorkflowTemplate 'elsewhere', which is not known",
        )
    ]
    assert lint([template], require_known_refs=True, external_names=frozenset({"elsewhere"})) == []


def test_unknown_workflow_template_refs_are_reported_only_on_request() -> None:
    workflow = obj("Workflow", "run", workflowTemplateRef={"name": "base", "clusterScope": True})
    del workflow["spec"]["templates"]
    assert lint([workflow]) == []
    assert errors(lint([workflow], require_known_refs=True)) == [
        ("spec.workflowTemplateRef.name", "refers to ClusterWorkflowTemplate 'base', which is not known")
    ]


def test_finds_template_refs_in_hooks_exit_handlers_steps_and_inline_templates() -> None:
    bad = {"name": "data-utils-v1-4-0", "template": "missing"}
    inline_steps = {"steps": [[{"name": "deep", "templateRef": bad}]]}
    templates = [
        steps("main", [{"name": "a", "templateRef": bad, "hooks": {"exit": {"templateRef": bad}}}]),
        dag("graph", {"name": "b", "inline": inline_steps}),
    ]
    spec_hooks = {"running": {"expression": "true", "templateRef": bad}}
    template = obj(templates=templates, hooks=spec_hooks)
    assert sorted(p for p, _ in errors(lint([template], providers=[provider()]))) == [
        "spec.hooks.running.templateRef.template",
        "spec.templates[0].steps[0][0].hooks.exit.templateRef.template",
        "spec.templates[0].steps[0][0].templateRef.template",
        "spec.templates[1].dag.tasks[0].inline.steps[0][0].templateRef.template",
    ]


def test_skips_references_built_from_expressions() -> None:
    task = ref_task({"name": "{{inputs.parameters.tpl}}", "template": "x"})
    main = {**dag("main", task), "inputs": {"parameters": [{"name": "tpl"}]}}
    steps_ = steps("loop", [{"name": "s", "template": "{{item}}", "withItems": ["a"]}])
    assert lint([obj(templates=[main, steps_])], require_known_refs=True) == []


def test_template_refs_need_a_name_and_a_template() -> None:
    assert errors(lint([obj(templates=[dag("main", ref_task({"name": "x"}))])])) == [
        ("spec.templates[0].dag.tasks[0].templateRef", "a templateRef needs both 'name' and 'template'")
    ]


# --- template types and DAG rules ---------------------------------------------------------------------------


def test_rejects_templates_without_a_type() -> None:
    [(path, message)] = errors(lint([obj(templates=[{"name": "main"}])]))
    assert (path, message.split(":")[0]) == ("spec.templates[0]", "template type unspecified")


def test_rejects_templates_with_two_types() -> None:
    template = container("main", script={"image": "python:3", "source": "print(1)"})
    assert errors(lint([obj(templates=[template])])) == [
        ("spec.templates[0]", "template has several types (container, script); give exactly one")
    ]


def test_rejects_timeouts_on_steps_and_dags_and_parallelism_on_leaves() -> None:
    templates = [
        dag("main", {"name": "a", "template": "fit"}) | {"timeout": "1h", "activeDeadlineSeconds": 5},
        container("fit", parallelism=2),
    ]
    assert errors(lint([obj(templates=templates)])) == [
        (
            "spec.templates[0].timeout",
            "timeout applies to leaf templates only, not to steps or dag templates",
        ),
        (
            "spec.templates[0].activeDeadlineSeconds",
            "activeDeadlineSeconds applies to leaf templates only, not to steps or dag templates",
        ),
        ("spec.templates[1].parallelism", "parallelism is only valid for steps and dag templates"),
    ]


def test_rejects_dependencies_on_undefined_tasks() -> None:
    main = dag(
        "main",
        {"name": "a", "template": "fit"},
        {"name": "b", "template": "fit", "depends": "a.Succeeded && (trian || a.Failed)"},
        {"name": "c", "template": "fit", "depends": "a.Finished"},
    )
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        ("spec.templates[0].dag.tasks[1].depends", "depends on task 'trian', which this DAG does not define"),
        (
            "spec.templates[0].dag.tasks[2].depends",
            "task result 'Finished' of 'a' is not one of AllFailed, AnySucceeded, Daemoned, Errored, Failed, "
            "Omitted, Skipped, Succeeded",
        ),
    ]


def test_rejects_mixing_depends_with_dependencies_or_continue_on() -> None:
    main = dag(
        "main",
        {"name": "a", "template": "fit", "continueOn": {"failed": True}},
        {"name": "b", "template": "fit", "dependencies": ["a"]},
        {"name": "c", "template": "fit", "depends": "a"},
    )
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        (
            "spec.templates[0].dag.tasks[0].continueOn",
            "cannot use 'continueOn' with 'depends': write 'depends: \"x.Failed\"'",
        ),
        (
            "spec.templates[0].dag.tasks[1].dependencies",
            "cannot use both 'depends' and 'dependencies' in one DAG",
        ),
    ]


def test_rejects_dependency_cycles() -> None:
    main = dag(
        "main",
        {"name": "a", "template": "fit", "dependencies": ["c"]},
        {"name": "b", "template": "fit", "dependencies": ["a"]},
        {"name": "c", "template": "fit", "dependencies": ["b"]},
    )
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        ("spec.templates[0].dag.tasks", "dependency cycle: a -> c -> b -> a")
    ]


def test_rejects_item_results_on_tasks_that_do_not_loop() -> None:
    main = dag(
        "main",
        {"name": "a", "template": "fit"},
        {"name": "b", "template": "fit", "depends": "a.AnySucceeded"},
    )
    assert errors(lint([obj(templates=[main, container("fit")])])) == [
        (
            "spec.templates[0].dag.tasks[1].depends",
            "a.AnySucceeded needs 'a' to loop (withItems, withParam or withSequence)",
        )
    ]


def test_rejects_undefined_targets_and_empty_dags() -> None:
    main = dag("main", {"name": "a", "template": "fit"})
    main["dag"]["target"] = "a b"
    assert errors(lint([obj(templates=[main, dag("empty"), container("fit")])])) == [
        ("spec.templates[0].dag.target", "target 'b' is not a task of this DAG"),
        ("spec.templates[1].dag.tasks", "a DAG needs at least one task"),
    ]


def test_lifecycle_hooks_other_than_exit_need_an_expression() -> None:
    template = obj(templates=[container("main")], hooks={"exit": {"template": "main"}, "running": {"template": "main"}})
    assert errors(lint([template])) == [
        ("spec.hooks.running", "lifecycle hook 'running' needs an expression (only 'exit' runs without one)")
    ]


# --- the CRDs' CEL rules ------------------------------------------------------------------------------------


def test_rejects_artifacts_with_two_locations() -> None:
    artifact = {"name": "data", "path": "/d", "s3": {"key": "k"}, "http": {"url": "https://x"}}
    template = obj(templates=[container("main", inputs={"artifacts": [artifact]})])
    assert errors(lint([template])) == [
        (
            "spec.templates[0].inputs.artifacts[0]",
            "at most one artifact location can be specified, found s3, http",
        )
    ]


def test_rejects_with_sequence_with_count_and_end() -> None:
    task = {"name": "a", "template": "fit", "withSequence": {"count": "3", "end": "5"}}
    assert errors(lint([obj(templates=[dag("main", task), container("fit")])])) == [
        ("spec.templates[0].dag.tasks[0].withSequence", "only one of count or end can be defined")
    ]


def test_rejects_resources_with_manifest_and_manifest_from() -> None:
    resource = {"action": "create", "manifest": "kind: X", "manifestFrom": {"artifact": {"name": "m"}}}
    assert errors(lint([obj(templates=[{"name": "main", "resource": resource}])])) == [
        ("spec.templates[0].resource", "only one of manifest or manifestFrom can be specified")
    ]


def test_rejects_resources_duration_in_realtime_gauges() -> None:
    metric = {"name": "m", "help": "h", "gauge": {"realtime": True, "value": "{{resourcesDuration.cpu}}"}}
    template = obj(templates=[container("main", metrics={"prometheus": [metric]})])
    assert errors(lint([template])) == [
        (
            "spec.templates[0].metrics.prometheus[0].gauge",
            "'resourcesDuration.*' metrics cannot be used in real-time gauges",
        )
    ]


# --- CRD schemas through lint, and reporting ----------------------------------------------------------------


def test_runs_the_crd_schema_when_given() -> None:
    template = obj(templates=[container("main")], templatez=[])
    findings = lint([template], crd=CrdSchemas.from_files(crd_paths()))
    assert errors(findings) == [("spec.templatez", "unknown field 'templatez' (did you mean 'templates'?)")]


def test_raise_for_findings_lists_every_error_with_object_and_path() -> None:
    findings = [
        Finding("WorkflowTemplate/a", "spec.entrypoint", "this object has no template 'x'"),
        Finding("WorkflowTemplate/b", "metadata", "no name", "warning"),
        Finding("Workflow/c", "", "kind broken"),
    ]
    with pytest.raises(LintError) as caught:
        raise_for_findings(findings)
    assert caught.value.message == (
        "2 problems that Argo would reject:\n"
        "  WorkflowTemplate/a spec.entrypoint: this object has no template 'x'\n"
        "  Workflow/c: kind broken"
    )
    assert caught.value.fix


def test_raise_for_findings_ignores_warnings() -> None:
    raise_for_findings([Finding("WorkflowTemplate/b", "metadata", "no name", "warning")])
    raise_for_findings([])


def test_findings_read_as_one_line() -> None:
    finding = Finding("WorkflowTemplate/a", "spec.templates[0].name", "bad")
    assert str(finding) == "error: WorkflowTemplate/a spec.templates[0].name: bad"


def test_paths_quote_keys_that_are_not_identifiers() -> None:
    parts = ("metadata", "annotations", "workflows.argoproj.io/title")
    assert format_path(parts) == 'metadata.annotations["workflows.argoproj.io/title"]'
    assert format_path(("spec", "templates", 2, "steps", 0, 1, "name")) == "spec.templates[2].steps[0][1].name"


def test_object_labels_name_the_kind() -> None:
    assert object_label(obj("WorkflowTemplate", "a")) == "WorkflowTemplate/a"
    assert object_label({"kind": "Workflow", "metadata": {"generateName": "run-"}}) == "Workflow/run-*"


# --- labels and annotations, as the API server checks them ----------------------------------------------------


def labelled(labels: dict[str, Any] | None = None, annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    template = obj(templates=[container("main")])
    template["metadata"] |= {"labels": labels or {}, "annotations": annotations or {}}
    return template


def test_label_values_are_at_most_63_characters_of_the_label_alphabet() -> None:
    findings = lint([labelled({"app.kubernetes.io/name": "n" * 64, "team": "ml pipeline", "ok": "a-b_c.1"})])
    assert [(f.path, f.source) for f in findings] == [
        ('metadata.labels["app.kubernetes.io/name"]', "kubernetes"),
        ("metadata.labels.team", "kubernetes"),
    ]
    assert "64 characters; Kubernetes allows at most 63" in findings[0].message
    assert lint([labelled({"empty": ""})]) == []


@pytest.mark.parametrize("key", ["Acme.io/team", "acme.io/", "/team", "a/b/c", "team-", "t" * 64])
def test_label_and_annotation_keys_are_qualified_names(key: str) -> None:
    findings = lint([labelled({key: "x"}, {key: "x"})])
    assert [f.message.split(":")[0] for f in findings] == [
        f"label key {key!r} is invalid",
        f"annotation key {key!r} is invalid",
    ]


def test_annotations_are_at_most_256_kib_in_total() -> None:
    findings = lint([labelled(annotations={"a": "x" * 200_000, "b": "y" * 62_144})])
    assert [f.message for f in findings] == ["annotations take 262146 bytes; Kubernetes allows at most 262144 in total"]
    assert lint([labelled(annotations={"a": "x" * 200_000, "b": "y" * 62_142})]) == []


def test_templated_pod_and_workflow_labels_are_left_to_argo() -> None:
    template = obj(
        templates=[container("main", metadata={"labels": {"run": "{{workflow.name}}", "bad": "no spaces"}})],
        workflowMetadata={"labels": {"by": "{{workflow.parameters.who}}"}},
    )
    assert [f.path for f in lint([template])] == ["spec.templates[0].metadata.labels.bad"]


# --- {{variables}} that cannot resolve -----------------------------------------------------------------------


def test_refuses_references_to_inputs_the_template_does_not_declare() -> None:
    leaf = container("leaf", inputs={"parameters": [{"name": "x", "value": "1"}]})
    leaf["container"]["args"] = ["{{inputs.parameters.x}}", "{{inputs.parameters.y}}", "{{inputs.artifacts.data.path}}"]
    messages = [m for _, m in errors(lint([obj(templates=[leaf])]))]
    assert messages == [
        "{{inputs.parameters.y}} cannot resolve: no input parameter 'y'",
        "{{inputs.artifacts.data.path}} cannot resolve: no input artifact 'data'",
    ]


def test_refuses_references_to_steps_and_tasks_that_do_not_exist() -> None:
    flow = steps(
        "main",
        [{"name": "a", "template": "c"}],
        [{"name": "b", "template": "c", "when": "{{steps.aa.outputs.result}}"}],
    )
    graph = dag("graph", {"name": "t", "template": "c", "when": "{{tasks.tt.outputs.result}} == 1"})
    messages = [m for _, m in errors(lint([obj(templates=[flow, graph, container("c")])]))]
    assert messages == [
        "{{steps.aa.outputs.result}} cannot resolve: no step 'aa' (did you mean 'a'?)",
        "{{tasks.tt.outputs.result}} cannot resolve: no task 'tt' (did you mean 't'?)",
    ]


def test_workflow_parameters_must_be_arguments_of_a_workflow_but_may_come_from_a_templates_caller() -> None:
    leaf = container("main")
    leaf["container"]["args"] = ["{{workflow.parameters.x}}", "{{workflow.parameters.json}}", "{{workflow.name}}"]
    workflow = obj(
        "Workflow", templates=[leaf], entrypoint="main", arguments={"parameters": [{"name": "y", "value": "1"}]}
    )
    assert [m for _, m in errors(lint([workflow]))] == [
        "{{workflow.parameters.x}} cannot resolve: no workflow argument 'x'"
    ]
    assert errors(lint([obj("WorkflowTemplate", templates=[leaf])])) == []


def test_expressions_and_inline_templates_are_not_resolved_here() -> None:
    leaf = container("main")
    leaf["container"]["args"] = ["{{=inputs.parameters.nope}}", "{{inputs.parameters}}"]
    inline = dag(
        "graph", {"name": "t", "inline": {**container("x"), "inputs": {"parameters": [{"name": "p", "value": "1"}]}}}
    )
    inline["dag"]["tasks"][0]["inline"]["container"]["args"] = ["{{inputs.parameters.p}}"]
    assert errors(lint([obj(templates=[leaf, inline])])) == []


# --- CRDs per kind ---------------------------------------------------------------------------------------------


def test_a_missing_crd_for_one_kind_names_the_crd_to_pass() -> None:
    from hera_build.errors import ConfigError

    workflow_templates = [p for p in crd_paths() if "_workflowtemplates" in p.name]
    cron = obj("CronWorkflow", templates=[container("main")], entrypoint="main")
    with pytest.raises(ConfigError) as raised:
        lint([cron, obj(templates=[container("main")])], crd=CrdSchemas.from_files(workflow_templates))
    assert "no CRD schema for kind CronWorkflow" in raised.value.message
    assert raised.value.fix is not None and raised.value.fix.startswith("pass the CRD for kind CronWorkflow")
    assert "kubectl get crd cronworkflows.argoproj.io -o yaml" in raised.value.fix
