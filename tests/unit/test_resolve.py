"""templateRef resolution: local names, external names, and providers pinned through Python requirements."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from hera_build.errors import ResolveError
from hera_build.templates.resolve import ProvidedTemplate, RefSite, find_ref_sites, resolve_refs


def site(name: str, cluster: bool = False) -> RefSite:
    return RefSite("train-pipeline", "spec.templates[0].dag.tasks[0].templateRef", name, cluster, "t")


PROVIDER = ProvidedTemplate("validate-dataset", False, "data-utils", "1.4.0")
REQS = [Requirement("data-utils>=1,<2")]


def test_local_refs_pin_to_the_local_versioned_name() -> None:
    pins = resolve_refs([site("train")], local={(False, "train"): "train-v1-0-0"})
    assert pins[(False, "train")].pinned == "train-v1-0-0"
    assert pins[(False, "train")].reason == "local"


def test_provider_refs_pin_to_the_installed_provider_version() -> None:
    pin = resolve_refs([site("validate-dataset")], local={}, providers=[PROVIDER], requirements=REQS)[
        (False, "validate-dataset")
    ]
    assert (pin.pinned, pin.reason, pin.distribution, pin.version, pin.specifier) == (
        "validate-dataset-v1-4-0",
        "provider",
        "data-utils",
        "1.4.0",
        "<2,>=1",
    )


def test_locked_version_wins_over_the_installed_one() -> None:
    pins = resolve_refs(
        [site("validate-dataset")], local={}, providers=[PROVIDER], requirements=REQS, versions={"Data_Utils": "1.5.2"}
    )
    assert pins[(False, "validate-dataset")].pinned == "validate-dataset-v1-5-2"


def test_provider_name_format_is_used() -> None:
    provider = ProvidedTemplate("validate-dataset", False, "data-utils", "1.4.0", name_format="{name}-{slug}")
    pins = resolve_refs([site("validate-dataset")], local={}, providers=[provider], requirements=REQS)
    assert pins[(False, "validate-dataset")].pinned == "validate-dataset-1-4-0"


def test_external_names_stay_as_written() -> None:
    pins = resolve_refs([site("legacy-etl")], local={}, external=["legacy-etl"])
    assert pins[(False, "legacy-etl")].pinned == "legacy-etl"


def test_cluster_scope_is_part_of_the_key() -> None:
    cluster = ProvidedTemplate("dataset-stats", True, "data-utils", "1.4.0")
    with pytest.raises(ResolveError, match="unresolved templateRef 'dataset-stats/t'"):
        resolve_refs([site("dataset-stats", cluster=False)], local={}, providers=[cluster], requirements=REQS)
    pins = resolve_refs([site("dataset-stats", cluster=True)], local={}, providers=[cluster], requirements=REQS)
    assert pins[(True, "dataset-stats")].pinned == "dataset-stats-v1-4-0"


def test_unresolved_ref_names_the_ref_its_user_and_candidates() -> None:
    with pytest.raises(ResolveError) as info:
        resolve_refs([site("validate-datset")], local={}, providers=[PROVIDER], requirements=REQS)
    message = str(info.value)
    assert "unresolved templateRef 'validate-datset/t' in train-pipeline" in message
    assert "did you mean 'validate-dataset'" in message
    assert "external" in message


def test_two_providers_for_one_name_is_an_error() -> None:
    other = ProvidedTemplate("validate-dataset", False, "other-utils", "3.0")
    with pytest.raises(ResolveError, match="more than one package: data-utils, other-utils"):
        resolve_refs([site("validate-dataset")], local={}, providers=[PROVIDER, other], requirements=REQS)


def test_provider_outside_the_specifier_names_both() -> None:
    old = ProvidedTemplate("validate-dataset", False, "data-utils", "0.9.0")
    with pytest.raises(ResolveError) as info:
        resolve_refs([site("validate-dataset")], local={}, providers=[old], requirements=REQS)
    assert "data-utils 0.9.0, outside the requirement 'data-utils<2,>=1'" in str(info.value)


def test_provider_that_is_not_a_declared_requirement() -> None:
    with pytest.raises(ResolveError, match="data-utils, which is not a declared requirement"):
        resolve_refs([site("validate-dataset")], local={}, providers=[PROVIDER], requirements=[])


def test_requirement_whose_marker_excludes_this_environment_does_not_count() -> None:
    reqs = [Requirement("data-utils>=1; python_version < '3'")]
    with pytest.raises(ResolveError, match="not a declared requirement"):
        resolve_refs([site("validate-dataset")], local={}, providers=[PROVIDER], requirements=reqs)


def test_prerelease_provider_inside_the_range_is_accepted() -> None:
    rc = ProvidedTemplate("validate-dataset", False, "data-utils", "1.5.0rc1")
    pins = resolve_refs([site("validate-dataset")], local={}, providers=[rc], requirements=REQS)
    assert pins[(False, "validate-dataset")].pinned == "validate-dataset-v1-5-0rc1"


def test_ref_sites_are_found_everywhere() -> None:
    manifest = {
        "kind": "CronWorkflow",
        "spec": {
            "workflowSpec": {
                "workflowTemplateRef": {"name": "a"},
                "hooks": {"exit": {"templateRef": {"name": "b", "template": "x"}}},
                "templates": [
                    {"steps": [[{"name": "s", "templateRef": {"name": "c", "template": "y", "clusterScope": True}}]]},
                    {"dag": {"tasks": [{"name": "t", "templateRef": {"name": "d", "template": "z"}}]}},
                ],
            }
        },
    }
    found = {(s.name, s.cluster_scope, s.path) for s in find_ref_sites("cron", manifest)}
    assert found == {
        ("a", False, "spec.workflowSpec.workflowTemplateRef"),
        ("b", False, "spec.workflowSpec.hooks.exit.templateRef"),
        ("c", True, "spec.workflowSpec.templates[0].steps[0][0].templateRef"),
        ("d", False, "spec.workflowSpec.templates[1].dag.tasks[0].templateRef"),
    }


def test_every_unresolved_ref_is_reported_in_one_run() -> None:
    sites = [site("validate-datset"), site("missing-one"), site("validate-datset"), site("missing-two", cluster=True)]
    with pytest.raises(ResolveError) as info:
        resolve_refs(sites, local={}, providers=[PROVIDER], requirements=REQS)
    message = str(info.value)
    assert message.startswith("3 unresolved references, no installed requirement provides them: ")
    for name in (
        "templateRef 'validate-datset/t'",
        "templateRef 'missing-one/t'",
        "cluster templateRef 'missing-two/t'",
    ):
        assert name in message, name
    assert "did you mean 'validate-dataset'" in message and "\n" not in message


def test_a_workflow_template_ref_is_called_one() -> None:
    manifest = {"kind": "Workflow", "spec": {"workflowTemplateRef": {"name": "nightly"}}}
    with pytest.raises(
        ResolveError, match=r"unresolved workflowTemplateRef 'nightly' in run \(spec.workflowTemplateRef\)"
    ):
        resolve_refs(find_ref_sites("run", manifest), local={})


def test_templated_names_are_not_references_to_resolve() -> None:
    """Argo fills `{{inputs.parameters.wt}}` in at run time: nothing to pin, and no `external` entry needed."""
    manifest = {
        "kind": "WorkflowTemplate",
        "spec": {
            "workflowTemplateRef": {"name": "{{workflow.parameters.wt}}"},
            "templates": [
                {"steps": [[{"name": "s", "templateRef": {"name": "{{inputs.parameters.wt}}", "template": "t"}}]]}
            ],
        },
    }
    assert find_ref_sites("dispatch", manifest) == []
    assert resolve_refs(find_ref_sites("dispatch", manifest), local={}) == {}
