"""Pinning on the built model: names, images, refs, labels and annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hera_build.core.references import parse_image_ref
from hera_build.core.versions import ProjectVersion
from hera_build.errors import ConfigError, VersionError
from hera_build.templates.discover import DiscoveredObject, discover
from hera_build.templates.emit import (
    ANNOTATION_PREFIX,
    EmitSettings,
    PinnedObject,
    label_value,
    local_names,
    pin_objects,
)
from hera_build.templates.resolve import find_ref_sites, resolve_refs

IMAGE = "ghcr.io/acme/sample:1.2.3"


def settings(image: str | None = IMAGE, version: str = "1.2.3", **kw: Any) -> EmitSettings:
    return EmitSettings(
        project="sample",
        version=ProjectVersion.parse(version),
        name_format="{name}-v{slug}",
        image=parse_image_ref(image) if image else None,
        **kw,
    )


def emit(objects: list[DiscoveredObject], s: EmitSettings) -> dict[str, PinnedObject]:
    names = local_names(objects, s)
    sites = [site for o in objects for site in find_ref_sites(o.name, o.manifest)]
    pins = resolve_refs(sites, local=names)
    return {o.source_name: o for o in pin_objects(objects, pins, names, s)}


@pytest.fixture
def objects(sample_packages: Path) -> list[DiscoveredObject]:
    return discover(["sample_flows.workflows"])


def images(obj: PinnedObject) -> dict[str, str]:
    spec = obj.manifest["spec"]
    return {t["name"]: (t.get("script") or t.get("container", {})).get("image") for t in spec.get("templates", [])}


def test_names_are_versioned_per_kind(objects: list[DiscoveredObject]) -> None:
    pinned = emit(objects, settings())
    assert pinned["greet"].name == "greet-v1-2-3"
    assert pinned["helpers"].name == "helpers-v1-2-3"
    assert pinned["nightly-greet"].manifest["metadata"]["name"] == "nightly-greet-v1-2-3"
    once = pinned["greet-once-"].manifest["metadata"]
    assert (once["generateName"], "name" in once) == ("greet-once-", False), "generateName is kept: Argo adds a suffix"


def test_runner_and_default_images_are_pinned_explicit_images_kept(objects: list[DiscoveredObject]) -> None:
    greet = emit(objects, settings())["greet"]
    assert images(greet) == {
        "main": None,
        "hello": IMAGE,
        "shared-step": IMAGE,
        "plain": IMAGE,
        "gpu": "nvidia/cuda:12.4.0-runtime-ubuntu22.04",
    }
    assert greet.images == (IMAGE, "nvidia/cuda:12.4.0-runtime-ubuntu22.04")


def test_digest_pins_image_by_tag_and_digest(objects: list[DiscoveredObject]) -> None:
    digest = "sha256:" + "a" * 64
    greet = emit(objects, settings(f"{IMAGE}@{digest}"))["greet"]
    assert images(greet)["hello"] == f"{IMAGE}@{digest}"
    assert greet.manifest["metadata"]["annotations"][f"{ANNOTATION_PREFIX}digest"] == digest


def test_hand_versioned_image_of_our_own_repository_is_repinned(objects: list[DiscoveredObject]) -> None:
    hello = next(t for t in objects[0].manifest["spec"]["templates"] if t["name"] == "hello")
    hello["script"]["image"] = "ghcr.io/acme/sample:0.9-handmade"
    assert images(emit(objects, settings())["greet"])["hello"] == IMAGE


def test_refs_to_local_templates_are_pinned_everywhere(objects: list[DiscoveredObject]) -> None:
    pinned = emit(objects, settings())
    main = next(t for t in pinned["greet"].manifest["spec"]["templates"] if t["name"] == "main")
    task_c = main["dag"]["tasks"][2]
    assert task_c["templateRef"] == {"name": "helpers-v1-2-3", "template": "noop", "clusterScope": True}
    assert pinned["nightly-greet"].manifest["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "greet-v1-2-3"
    assert pinned["greet-once-"].manifest["spec"]["workflowTemplateRef"]["name"] == "greet-v1-2-3"
    assert [p.reason for p in pinned["greet"].refs] == ["local"]


def test_labels_and_annotations(objects: list[DiscoveredObject]) -> None:
    metadata = emit(objects, settings(version="1.2.3+local.7"))["greet"].manifest["metadata"]
    assert metadata["labels"] == {
        "app.kubernetes.io/name": "sample",
        "app.kubernetes.io/version": "1.2.3_local.7",
        "app.kubernetes.io/managed-by": "hera-build",
    }
    assert metadata["annotations"][f"{ANNOTATION_PREFIX}version"] == "1.2.3+local.7"
    assert metadata["annotations"][f"{ANNOTATION_PREFIX}source-name"] == "greet"
    assert not any(k.startswith("workflows.argoproj.io/version") for k in metadata["annotations"])


def test_another_version_changes_every_name_and_image_consistently(objects: list[DiscoveredObject]) -> None:
    a, b = emit(objects, settings()), emit(objects, settings("ghcr.io/acme/sample:2.0.0rc1", "2.0.0rc1"))
    assert b["greet"].name == "greet-v2-0-0rc1"
    assert images(b["greet"])["hello"] == "ghcr.io/acme/sample:2.0.0rc1"
    assert b["nightly-greet"].manifest["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "greet-v2-0-0rc1"
    assert a["greet"].name != b["greet"].name


def test_pinning_does_not_modify_the_discovered_manifests(objects: list[DiscoveredObject]) -> None:
    before = repr(objects[0].manifest)
    emit(objects, settings())
    assert repr(objects[0].manifest) == before


def test_default_image_without_configured_image_is_an_error(objects: list[DiscoveredObject]) -> None:
    with pytest.raises(ConfigError, match="no image is configured"):
        emit(objects, settings(image=None))


def test_runner_command_goes_through_the_launcher(objects: list[DiscoveredObject]) -> None:
    launcher = ("/cnb/lifecycle/launcher", "--", "python")
    greet = emit(objects, settings(runner_command=launcher))["greet"]
    hello = next(t for t in greet.manifest["spec"]["templates"] if t["name"] == "hello")
    plain = next(t for t in greet.manifest["spec"]["templates"] if t["name"] == "plain")
    assert hello["script"]["command"] == list(launcher)
    assert plain["container"]["command"] == ["true"]


def obj(
    kind: str, module: str = "m", attribute: str = "a", spec: dict[str, Any] | None = None, **metadata: str
) -> DiscoveredObject:
    return DiscoveredObject(module, attribute, kind, {"kind": kind, "metadata": metadata, "spec": spec or {}})


def test_cron_names_are_cut_to_52_characters() -> None:
    cron = obj("CronWorkflow", name="n" * 50)
    name = emit([cron], settings())["n" * 50].name
    assert len(name) == 52 and name.endswith("-v1-2-3")


def test_two_templates_with_one_name_are_an_error() -> None:
    objs = [obj("WorkflowTemplate", attribute=attr, name="same") for attr in ("a", "b")]
    with pytest.raises(VersionError, match="two WorkflowTemplates are named 'same': m.a and m.b"):
        local_names(objs, settings())


@pytest.mark.parametrize("kind", ["CronWorkflow", "Workflow", "ClusterWorkflowTemplate"])
def test_two_objects_of_any_kind_with_one_name_are_an_error_naming_both_modules(kind: str) -> None:
    objs = [obj(kind, "pkg.nightly", "cron", name="same"), obj(kind, "pkg.other", "again", name="same")]
    with pytest.raises(VersionError, match=rf"two {kind}s are named 'same': pkg.nightly.cron and pkg.other.again"):
        local_names(objs, settings())


def test_objects_of_different_kinds_may_share_a_name() -> None:
    """A CronWorkflow often carries its WorkflowTemplate's name; Kubernetes keeps kinds apart, and so do we."""
    ref = {"workflowSpec": {"workflowTemplateRef": {"name": "nightly"}}}
    objs = [obj("WorkflowTemplate", name="nightly"), obj("CronWorkflow", attribute="c", spec=ref, name="nightly")]
    names = local_names(objs, settings())
    sites = [site for o in objs for site in find_ref_sites(o.name, o.manifest)]
    template, cron = pin_objects(objs, resolve_refs(sites, local=names), names, settings())
    assert (template.name, cron.name) == ("nightly-v1-2-3", "nightly-v1-2-3")
    assert cron.manifest["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "nightly-v1-2-3"


def test_names_that_collide_after_versioning_are_an_error_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.templates.emit.versioned_name", lambda *args, **kwargs: "same-v1-2-3")
    objs = [obj("WorkflowTemplate", "m", "a", name="one"), obj("WorkflowTemplate", "m", "b", name="two")]
    with pytest.raises(VersionError, match=r"'one' \(m.a\) and 'two' \(m.b\) map to the same versioned name"):
        local_names(objs, settings())


@pytest.mark.parametrize("kind", ["WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"])
def test_a_template_with_only_a_generate_name_is_refused_naming_where_it_is(kind: str) -> None:
    """It could be neither referenced nor versioned: the next version would clash with this one's file."""
    with pytest.raises(VersionError, match=rf"{kind} pkg.flows.tmpl has no name \(generateName 'hello-'\)") as info:
        local_names([obj(kind, "pkg.flows", "tmpl", generateName="hello-")], settings())
    assert info.value.fix == f"give it a name, e.g. {kind}(name='hello', ...)"


def test_workflows_with_a_generate_name_keep_it_and_carry_the_version_tag() -> None:
    run = emit([obj("Workflow", generateName="hello-")], settings())["hello-"]
    assert run.manifest["metadata"]["generateName"] == "hello-" and run.version_tag == "1.2.3"


def test_templated_ref_names_are_left_as_written() -> None:
    ref = {"workflowTemplateRef": {"name": "{{workflow.parameters.wt}}"}}
    run = emit([obj("Workflow", spec=ref, generateName="dispatch-")], settings())["dispatch-"]
    assert run.manifest["spec"]["workflowTemplateRef"]["name"] == "{{workflow.parameters.wt}}"
    assert run.refs == ()


def test_the_image_annotation_is_only_on_objects_that_run_the_project_image(objects: list[DiscoveredObject]) -> None:
    digest = "sha256:" + "a" * 64
    pinned = emit(objects, settings(f"{IMAGE}@{digest}"))
    greet, helpers = pinned["greet"].manifest["metadata"], pinned["helpers"].manifest["metadata"]
    assert greet["annotations"][f"{ANNOTATION_PREFIX}image"] == f"{IMAGE}@{digest}"
    assert greet["annotations"][f"{ANNOTATION_PREFIX}digest"] == digest
    assert images(pinned["helpers"]) == {"noop": "busybox:1.36"}
    assert f"{ANNOTATION_PREFIX}image" not in helpers["annotations"], "helpers runs only busybox"
    assert f"{ANNOTATION_PREFIX}digest" not in helpers["annotations"]


def test_label_values_stay_within_kubernetes_limits_and_the_full_value_is_annotated() -> None:
    long_project = "acme-" + "x" * 195
    s = EmitSettings(long_project, ProjectVersion.parse("1.2.3"), "{name}-v{slug}", parse_image_ref(IMAGE))
    metadata = emit([obj("WorkflowTemplate", name="wt")], s)["wt"].manifest["metadata"]
    name = metadata["labels"]["app.kubernetes.io/name"]
    assert len(name) == 63 and name.startswith("acme-xxx") and name == label_value(long_project)
    assert label_value("acme-" + "x" * 196) != name, "the hash keeps long values apart"
    assert metadata["annotations"][f"{ANNOTATION_PREFIX}project"] == long_project
    short = emit([obj("WorkflowTemplate", name="wt")], settings())["wt"].manifest["metadata"]
    assert f"{ANNOTATION_PREFIX}project" not in short["annotations"], "a value that fits is not repeated"


@pytest.mark.parametrize("value", ["1.0.0", "a" * 63, "a" * 64, "1.0+" + "x" * 100, "-x-", "a.b_c", "_" * 70])
def test_label_values_are_valid_for_any_input(value: str) -> None:
    import re

    result = label_value(value)
    assert len(result) <= 63 and re.fullmatch(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?", result)
    assert (result == value) == (len(value) <= 63 and bool(re.fullmatch(r"[A-Za-z0-9](?:[-\w.]*[A-Za-z0-9])?", value)))


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in _containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in _containers(item))]
    return []


@pytest.mark.parametrize("shared", [False, True])
def test_pinning_works_on_a_copy_as_deepcopy_makes_it(shared: bool) -> None:
    """The discovered manifest is left as it was and shares no container with the pinned one; a container that
    appears twice in it (which YAML writes as an anchor) still appears twice in the copy."""
    volume: dict[str, Any] = {"name": "data", "emptyDir": {}}
    template = {"name": "main", "container": {"image": "busybox", "args": ["a", 1, 2.5, True, None]}}
    manifest = {
        "kind": "WorkflowTemplate",
        "metadata": {"name": "wt"},
        "spec": {"templates": [template], "volumes": [volume, volume if shared else dict(volume)]},
    }
    obj = DiscoveredObject("pkg.flows", "wt", "WorkflowTemplate", manifest)
    before = repr(manifest)

    (pinned,) = pin_objects([obj], {}, local_names([obj], settings()), settings())

    assert repr(manifest) == before
    assert not set(_containers(manifest)) & set(_containers(pinned.manifest))
    volumes = pinned.manifest["spec"]["volumes"]
    assert (volumes[0] is volumes[1]) is shared and volumes[0] == volume
