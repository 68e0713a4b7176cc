"""Pinning on the built model: names, images, refs, labels and annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hera_build.core.references import parse_image_ref
from hera_build.core.versions import ProjectVersion
from hera_build.errors import ConfigError, VersionError
from hera_build.templates.discover import DiscoveredObject, discover
from hera_build.templates.emit import ANNOTATION_PREFIX, EmitSettings, PinnedObject, local_names, pin_objects
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


def test_cron_names_are_cut_to_52_characters() -> None:
    cron = DiscoveredObject(
        "m", "c", "CronWorkflow", {"kind": "CronWorkflow", "metadata": {"name": "n" * 50}, "spec": {}}
    )
    name = local_names([cron], settings())[(False, "n" * 50)]
    assert len(name) == 52 and name.endswith("-v1-2-3")


def test_two_templates_with_one_name_are_an_error() -> None:
    objs = [
        DiscoveredObject("m", attr, "WorkflowTemplate", {"metadata": {"name": "same"}, "spec": {}})
        for attr in ("a", "b")
    ]
    with pytest.raises(VersionError, match="two WorkflowTemplates are named 'same': m.a and m.b"):
        local_names(objs, settings())


def test_names_that_collide_after_shortening_are_an_error() -> None:
    long = "x" * 70
    objs = [
        DiscoveredObject("m", "a", "WorkflowTemplate", {"metadata": {"name": long}, "spec": {}}),
        DiscoveredObject("m", "b", "ClusterWorkflowTemplate", {"metadata": {"name": long}, "spec": {}}),
    ]
    with pytest.raises(VersionError, match="map to the same versioned name"):
        local_names(objs, settings())
