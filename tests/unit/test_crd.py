"""Validation against Argo's CRD schemas, in Kubernetes' structural-schema dialect."""

from __future__ import annotations

import copy
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hera.workflows import DAG, Task, WorkflowTemplate, script
from hera.workflows.models import TemplateRef
from jsonschema import Draft7Validator

from hera_build.errors import ConfigError
from hera_build.templates.crd import CRD_DIR_ENV, CrdSchemas, default_crd_paths
from hera_build.templates.lint import Finding, lint
from tests.argo_corpus import crd_paths, example_objects

API = "argoproj.io/v1alpha1"


@pytest.fixture(scope="module")
def argo() -> CrdSchemas:
    return CrdSchemas.from_files(crd_paths())


def template(**spec: Any) -> dict[str, Any]:
    body = {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine:3"}}]}
    return {
        "apiVersion": API,
        "kind": "WorkflowTemplate",
        "metadata": {"name": "flow"},
        "spec": {**body, **spec},
    }


def with_main(**fields: Any) -> dict[str, Any]:
    """A WorkflowTemplate whose one template has ``fields`` added."""
    obj = template()
    obj["spec"]["templates"][0].update(fields)
    return obj


def problems(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in findings]


# --- the corpus ---------------------------------------------------------------------------------------------


def test_accepts_every_object_in_argos_examples(argo: CrdSchemas) -> None:
    failures = [f"{obj.where}: {f}" for obj in example_objects() for f in argo.validate(obj.manifest)]
    assert failures == []


def test_knows_the_four_argo_kinds(argo: CrdSchemas) -> None:
    kinds = {kind for _, kind in argo.kinds}
    assert kinds == {"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"}


def test_converted_schemas_are_valid_draft7(argo: CrdSchemas) -> None:
    for api_version, kind in argo.kinds:
        schema = argo.schema(api_version, kind)
        assert schema is not None
        Draft7Validator.check_schema(schema)


# --- unknown fields -----------------------------------------------------------------------------------------


def test_rejects_unknown_fields_and_suggests_the_known_one(argo: CrdSchemas) -> None:
    obj = template(templatez=[])
    assert problems(argo.validate(obj)) == [("spec.templatez", "unknown field 'templatez' (did you mean 'templates'?)")]


def test_rejects_unknown_fields_deep_inside_templates(argo: CrdSchemas) -> None:
    obj = with_main(container={"image": "alpine:3", "imagePullPolicyy": "Always"})
    assert problems(argo.validate(obj)) == [
        (
            "spec.templates[0].container.imagePullPolicyy",
            "unknown field 'imagePullPolicyy' (did you mean 'imagePullPolicy'?)",
        )
    ]


def test_rejects_fields_in_objects_that_take_none(argo: CrdSchemas) -> None:
    obj = with_main(
        container={"image": "alpine:3"},
        outputs={"artifacts": [{"name": "out", "path": "/tmp/o", "archive": {"none": {"level": 1}}}]},
    )
    assert problems(argo.validate(obj)) == [
        (
            "spec.templates[0].outputs.artifacts[0].archive.none.level",
            "unknown field 'level' (this object takes no fields)",
        )
    ]


def test_checks_metadata_as_object_meta(argo: CrdSchemas) -> None:
    obj = template()
    obj["metadata"] = {
        "name": "flow",
        "lables": {"a": "b"},
        "annotations": {"workflows.argoproj.io/title": 3},
    }
    assert problems(argo.validate(obj)) == [
        (
            'metadata.annotations["workflows.argoproj.io/title"]',
            "expected string, got integer 3; quote it in YAML",
        ),
        ("metadata.lables", "unknown field 'lables' (did you mean 'labels'?)"),
    ]


def test_allows_unknown_fields_where_the_schema_preserves_them(argo: CrdSchemas) -> None:
    obj = with_main(container=None, plugin={"hello": {"anything": [1, {"goes": True}]}})
    del obj["spec"]["templates"][0]["container"]
    assert argo.validate(obj) == []


# --- types, int-or-string, patterns -------------------------------------------------------------------------


def test_rejects_wrong_types_and_says_to_quote_numbers(argo: CrdSchemas) -> None:
    obj = template(arguments={"parameters": [{"name": "count", "value": 3}]})
    assert problems(argo.validate(obj)) == [
        ("spec.arguments.parameters[0].value", "expected string, got integer 3; quote it in YAML")
    ]


def test_rejects_a_string_where_an_integer_is_required(argo: CrdSchemas) -> None:
    obj = template(parallelism="2")
    assert problems(argo.validate(obj)) == [("spec.parallelism", 'expected integer, got string "2"')]


@pytest.mark.parametrize("value", [3, "3", "{{inputs.parameters.retries}}"])
def test_accepts_int_or_string_as_either(argo: CrdSchemas, value: object) -> None:
    obj = with_main(retryStrategy={"limit": value}, activeDeadlineSeconds=value)
    assert argo.validate(obj) == []


@pytest.mark.parametrize("value", [True, 1.5, [1], {"a": 1}, None])
def test_rejects_int_or_string_of_other_types(argo: CrdSchemas, value: object) -> None:
    obj = with_main(retryStrategy={"limit": value})
    [finding] = argo.validate(obj)
    assert finding.path == "spec.templates[0].retryStrategy.limit"
    assert finding.message.startswith("expected integer or string, got ")


@pytest.mark.parametrize(("cpu", "ok"), [(1, True), ("500m", True), ("1.5", True), ("lots", False)])
def test_checks_patterns_of_int_or_string_quantities_on_strings_only(argo: CrdSchemas, cpu: object, ok: bool) -> None:
    obj = with_main(container={"image": "alpine:3", "resources": {"limits": {"cpu": cpu}}})
    findings = argo.validate(obj)
    assert (findings == []) is ok
    if not ok:
        assert findings[0].path == "spec.templates[0].container.resources.limits.cpu"
        assert "does not match the pattern" in findings[0].message


def test_rejects_values_outside_an_enum(argo: CrdSchemas) -> None:
    obj = template(podGC={"strategy": "Sometimes"})
    [finding] = argo.validate(obj)
    assert finding.path == "spec.podGC.strategy"
    assert finding.message.startswith('"Sometimes" is not one of "", "OnPodCompletion"')


def test_rejects_names_against_the_crd_patterns(argo: CrdSchemas) -> None:
    obj = template(arguments={"parameters": [{"name": "my param", "value": "x"}]})
    [finding] = argo.validate(obj)
    assert (finding.path, finding.message) == (
        "spec.arguments.parameters[0].name",
        '"my param" does not match the pattern ^[-a-zA-Z0-9_]+$',
    )


def test_reports_missing_required_fields(argo: CrdSchemas) -> None:
    obj = with_main(container=None, dag={"tasks": [{"template": "x"}]})
    del obj["spec"]["templates"][0]["container"]
    assert problems(argo.validate(obj)) == [("spec.templates[0].dag.tasks[0]", "missing required field 'name'")]


def test_limits_templates_to_200(argo: CrdSchemas) -> None:
    obj = template()
    obj["spec"]["templates"] = [{"name": f"t{i}", "container": {"image": "alpine:3"}} for i in range(201)]
    assert problems(argo.validate(obj)) == [("spec.templates", "has 201 items, at most 200 allowed")]


def test_rejects_null_where_the_schema_is_not_nullable(argo: CrdSchemas) -> None:
    obj = template(serviceAccountName=None)
    assert problems(argo.validate(obj)) == [("spec.serviceAccountName", "expected string, got null")]


# --- list types ---------------------------------------------------------------------------------------------


def test_rejects_duplicate_keys_in_map_lists(argo: CrdSchemas) -> None:
    env = [{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}]
    obj = with_main(container={"image": "alpine:3", "env": env})
    assert problems(argo.validate(obj)) == [
        ("spec.templates[0].container.env[1]", "duplicate entry (name='MODE'), same as item [0]")
    ]


def test_applies_defaults_before_comparing_map_list_keys(argo: CrdSchemas) -> None:
    ports = [
        {"containerPort": 80},
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 80, "protocol": "UDP"},
    ]
    obj = with_main(container={"image": "alpine:3", "ports": ports})
    assert [f.path for f in argo.validate(obj)] == ["spec.templates[0].container.ports[1]"]


# --- kinds and loading --------------------------------------------------------------------------------------


def test_reports_kinds_without_a_schema(argo: CrdSchemas) -> None:
    [finding] = argo.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert finding.object_name == "ConfigMap/c"
    assert finding.message.startswith("no CRD schema for apiVersion 'v1' kind 'ConfigMap' (known: argoproj.io/v1alpha1")


def test_from_files_loads_once_per_process(tmp_path: Path) -> None:
    path = tmp_path / "crd.yaml"
    path.write_text(yaml.safe_dump(synthetic_crd({"type": "object"})))
    first = CrdSchemas.from_files([path])
    assert CrdSchemas.from_files([str(path)]) is first
    path.write_text(yaml.safe_dump(synthetic_crd({"type": "object", "properties": {"x": {"type": "string"}}})))
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert CrdSchemas.from_files([path]) is not first


def test_from_files_reads_kubectl_lists_and_skips_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "crds.yaml"
    documents = [{"kind": "List", "items": [synthetic_crd({"type": "object"})]}, {"kind": "ConfigMap"}]
    path.write_text(yaml.safe_dump_all(documents))
    assert CrdSchemas.from_files([path]).kinds == {("example.com/v1", "Widget")}


def test_from_files_rejects_files_without_crds(tmp_path: Path) -> None:
    path = tmp_path / "not-a-crd.yaml"
    path.write_text("kind: ConfigMap\n")
    with pytest.raises(ConfigError, match="holds no CustomResourceDefinition"):
        CrdSchemas.from_files([path])


def test_from_files_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read CRD file .*missing\.yaml"):
        CrdSchemas.from_files([tmp_path / "missing.yaml"])


def test_default_crd_paths_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("{}")
    (tmp_path / "a.yml").write_text("{}")
    (tmp_path / "README.md").write_text("")
    assert default_crd_paths({}) == ()
    assert default_crd_paths({CRD_DIR_ENV: str(tmp_path)}) == (tmp_path / "a.yml", tmp_path / "b.yaml")
    with pytest.raises(ConfigError, match="is not a directory"):
        default_crd_paths({CRD_DIR_ENV: str(tmp_path / "nowhere")})


# --- the structural-schema dialect, on small CRDs -----------------------------------------------------------


def synthetic_crd(schema: dict[str, Any], *, served: bool = True) -> dict[str, Any]:
    version = {"name": "v1", "served": served, "storage": True, "schema": {"openAPIV3Schema": schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [version]},
    }


def widget_schemas(spec_schema: dict[str, Any]) -> CrdSchemas:
    root = {"type": "object", "properties": {"metadata": {"type": "object"}, "spec": spec_schema}}
    return CrdSchemas.from_documents([synthetic_crd(root)])


def widget(spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_nullable_accepts_null_and_the_type() -> None:
    schemas = widget_schemas({"type": "string", "nullable": True, "enum": ["a"]})
    assert schemas.validate(widget(None)) == []
    assert schemas.validate(widget("a")) == []
    assert len(schemas.validate(widget("b"))) == 1


def test_nullable_int_or_string_accepts_all_three() -> None:
    schemas = widget_schemas({"x-kubernetes-int-or-string": True, "nullable": True})
    assert [schemas.validate(widget(v)) for v in (None, 1, "1")] == [[], [], []]


def test_preserve_unknown_fields_keeps_known_fields_checked() -> None:
    schemas = widget_schemas(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"size": {"type": "integer"}},
        }
    )
    assert schemas.validate(widget({"size": 1, "extra": {"any": "thing"}})) == []
    assert problems(schemas.validate(widget({"size": "big"}))) == [("spec.size", 'expected integer, got string "big"')]


def test_maps_accept_any_keys() -> None:
    schemas = widget_schemas({"type": "object", "additionalProperties": {"type": "string"}})
    assert schemas.validate(widget({"anything": "x"})) == []


def test_any_of_branches_do_not_close_the_object() -> None:
    properties = {"a": {"type": "string"}, "b": {"type": "string"}}
    branches = [{"required": ["a"]}, {"properties": {"b": {"minLength": 1}}, "required": ["b"]}]
    schemas = widget_schemas({"type": "object", "properties": properties, "anyOf": branches})
    assert schemas.validate(widget({"a": "x", "b": "y"})) == []
    assert problems(schemas.validate(widget({"a": "x", "c": "z"}))) == [("spec.c", "unknown field 'c'")]


def test_nullable_objects_stay_closed() -> None:
    schemas = widget_schemas({"type": "object", "nullable": True})
    assert schemas.validate(widget(None)) == []
    assert problems(schemas.validate(widget({"x": 1}))) == [
        ("spec.x", "unknown field 'x' (this object takes no fields)")
    ]


def test_formats_do_not_break_validation() -> None:
    properties = {
        "count": {"type": "integer", "format": "int32"},
        "big": {"type": "integer", "format": "int64"},
        "blob": {"type": "string", "format": "byte"},
        "when": {"type": "string", "format": "date-time"},
    }
    schemas = widget_schemas({"type": "object", "properties": properties})
    assert schemas.validate(widget({"count": 1, "big": 2**40, "blob": "aGk=", "when": "2024-01-01T00:00:00Z"})) == []


def test_openapi_boolean_exclusive_bounds_are_converted() -> None:
    schemas = widget_schemas({"type": "integer", "minimum": 0, "exclusiveMinimum": True})
    assert schemas.validate(widget(1)) == []
    assert len(schemas.validate(widget(0))) == 1


def test_cel_rules_are_ignored() -> None:
    rule = {"rule": "self.size < 0", "message": "never"}
    schemas = widget_schemas(
        {"type": "object", "properties": {"size": {"type": "integer"}}, "x-kubernetes-validations": [rule]}
    )
    assert schemas.validate(widget({"size": 1})) == []


def test_set_lists_reject_duplicates() -> None:
    schemas = widget_schemas({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
    assert problems(schemas.validate(widget(["a", "a"]))) == [("spec", "has duplicate items")]


def test_versions_that_are_not_served_are_skipped() -> None:
    crd = synthetic_crd({"type": "object"})
    extra = copy.deepcopy(crd["spec"]["versions"][0]) | {"name": "v0", "served": False}
    crd["spec"]["versions"].append(extra)
    assert CrdSchemas.from_documents([crd]).kinds == {("example.com/v1", "Widget")}


def test_reads_v1beta1_crds_with_a_top_level_schema() -> None:
    crd = synthetic_crd({})
    crd["spec"]["versions"] = [{"name": "v1", "served": True}]
    crd["spec"]["validation"] = {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "string"}}}}
    schemas = CrdSchemas.from_documents([crd])
    assert len(schemas.validate(widget(1))) == 1


# --- a generated Hera project -------------------------------------------------------------------------------

IMAGE = "registry.example/team/flows:1.2.3@sha256:" + "a" * 64
F = TypeVar("F", bound=Callable[..., Any])


def evaluated(function: F) -> F:
    """Evaluate annotations for Hera, which reads ``inspect.signature`` (strings under PEP 563)."""
    function.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
    return function


@script(image=IMAGE, constructor="runner")
@evaluated
def prepare(count: int, label: str = "x") -> int:
    return count


@script(image=IMAGE, constructor="runner")
@evaluated
def report(value: int) -> None:
    print(value)


def hera_template(index: int) -> dict[str, Any]:
    """A WorkflowTemplate as Hera 7.1 builds it: runner scripts, a DAG, and a ref into another template."""
    with WorkflowTemplate(name=f"flow-{index:03d}-v1-2-3", entrypoint="main", arguments={"count": "3"}) as flow:
        with DAG(name="main"):
            first = prepare(arguments={"count": "{{workflow.parameters.count}}"})
            second = report(arguments={"value": first.result})
            assert isinstance(first, Task) and isinstance(second, Task)
            shared = Task(
                name="shared",
                template_ref=TemplateRef(name="flow-000-v1-2-3", template="report"),
                arguments={"value": "1"},
            )
            first >> [second, shared]
    manifest: dict[str, Any] = flow.to_dict()
    return manifest


def test_accepts_a_generated_hera_project(argo: CrdSchemas) -> None:
    """300 WorkflowTemplates built in-process pass the CRD schema and the linter (timings: see the report)."""
    objects = [hera_template(i) for i in range(300)]
    assert [finding for manifest in objects for finding in argo.validate(manifest)] == []
    assert lint(objects, crd=argo) == []


def test_rejects_a_hera_template_with_a_mistake(argo: CrdSchemas) -> None:
    manifest = hera_template(1)
    manifest["spec"]["templates"][1]["script"]["imagePullPolicy"] = 1
    assert problems(argo.validate(manifest)) == [
        ("spec.templates[1].script.imagePullPolicy", "expected string, got integer 1; quote it in YAML")
    ]
