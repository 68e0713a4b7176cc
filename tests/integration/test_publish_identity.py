"""One identity per version, for every backend, as a user meets it (issue 15).

For each backend (oci, docker, buildpacks with the offline test builder) a copy of examples/ml-pipeline pushed to
a repository of its own:

- ``hera-build plan --json`` predicts the input digest, and the image that ``hera-build image --push`` builds
  carries exactly that digest as its label;
- ``hera-build release --push`` afterwards reuses the pushed image (nothing is built; it is checked again) and
  the manifest records the pushed digest;
- another base image (oci, docker: a variant of the test base with one more file) or another builder
  (buildpacks: the test builder recreated from that variant's stack images) changes the input digest, so the
  release of the same version is refused and the tag is left as it was.

Every command is a fresh ``hera-build`` process; the registry is read through its HTTP API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.references import parse_image_ref
from hera_build.image.inputs import INPUT_DIGEST_LABEL
from hera_build.image.registry import RegistryApi
from tests.support.cli_project import ROOT, commit_variant, copy_example
from tests.support.components import require_component

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

REGISTRY = os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000")
VARIANT_REPOSITORY = "hera-build-test-base-variant"
"""Local name of the variant base image; kept between sessions (it is small and made from the base once)."""


@dataclass(frozen=True)
class Variant:
    local: str
    """The variant in the engine (docker backend, stack images of the variant builder)."""
    remote: str
    """The same image in the registry (oci backend)."""


@pytest.fixture(scope="module")
def variant_base(docker_engine: Any, base_image: str, registry: str) -> Variant:
    """The test base image plus one file: the same Python, other content — what a base image update looks like."""
    key = str(docker_engine.image(base_image).id).removeprefix("sha256:")[:12]
    local = commit_variant(docker_engine, base_image, VARIANT_REPOSITORY, key, marker=f"variant of {base_image}")
    remote = parse_image_ref(f"{registry}/hera-build-test/base-variant:{key}")
    docker_engine.tag(docker_engine.image_id(local), remote)
    docker_engine.push(remote)
    return Variant(local, str(remote))


@dataclass(frozen=True)
class Buildpacks:
    builder: str
    variant_builder: str
    env: dict[str, str]


def _make_builder(pack: str, env: dict[str, str]) -> None:
    script = subprocess.run(
        [str(ROOT / "scripts" / "make-test-builder.sh")],
        env={**os.environ, "HERA_BUILD_TEST_PACK": pack, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if script.returncode != 0:
        require_component(f"the offline test builder (scripts/make-test-builder.sh: {script.stderr.strip()[-300:]})")


@pytest.fixture(scope="module")
def buildpacks(docker_engine: Any, variant_base: Variant, tmp_path_factory: pytest.TempPathFactory) -> Buildpacks:
    """pack, the offline test builder (idempotent: a second when it is current) and the same builder recreated
    from the variant base's stack images, both trusted in a pack home of this module."""
    import buildpacks as bp

    pack = os.environ.get("HERA_BUILD_TEST_PACK") or shutil.which("pack") or ""
    if not pack or not os.access(pack, os.X_OK):
        require_component("pack (HERA_BUILD_TEST_PACK; scripts/build-pack.sh)")
    builder = os.environ.get("HERA_BUILD_TEST_BUILDER", "hera-build-test-builder:bookworm")
    _make_builder(pack, {"HERA_BUILD_TEST_BUILDER": builder})
    tag = f"variant-{variant_base.local.rpartition(':')[2]}"
    variant = f"hera-build-test-builder:{tag}"
    _make_builder(
        pack,
        {
            "HERA_BUILD_TEST_BASE_IMAGE": variant_base.local,
            "HERA_BUILD_TEST_BUILDER_TAG": tag,
            "HERA_BUILD_TEST_BUILDER": variant,
        },
    )
    home = tmp_path_factory.mktemp("pack-home")
    client = bp.PackClient(pack, env={"PACK_HOME": str(home)})
    client.trust_builder(builder)
    client.trust_builder(variant)
    return Buildpacks(builder, variant, {"HERA_BUILD_PACK": pack, "PACK_HOME": str(home)})


@dataclass(frozen=True)
class Case:
    settings: dict[str, str]
    """``[tool.hera-build]`` of the copy."""
    changed: dict[str, str]
    """The same keys with another base or builder."""
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(params=["oci", "docker", pytest.param("buildpacks", marks=pytest.mark.pack)])
def case(request: pytest.FixtureRequest, base_image: str, variant_base: Variant) -> Case:
    if request.param == "oci":
        remote_base = os.environ.get(
            "HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3"
        )
        return Case({"backend": "oci", "base_image": remote_base}, {"base_image": variant_base.remote})
    if request.param == "docker":
        return Case({"backend": "docker", "base_image": base_image}, {"base_image": variant_base.local})
    tools: Buildpacks = request.getfixturevalue("buildpacks")
    settings = {"backend": "buildpacks", "builder": tools.builder, "pull_policy": "never"}
    return Case(settings, {"builder": tools.variant_builder}, tools.env)


@pytest.fixture
def repository(unique_repository: Any, docker_engine: Any) -> Iterator[str]:
    """The test's own repository; its local tags are removed afterwards (the registry keeps its images)."""
    name: str = unique_repository("ml-pipeline")
    yield name
    for image in docker_engine.client.images.list():
        if any(tag.startswith(name + ":") for tag in image.tags):
            for container in docker_engine.client.containers.list(all=True, filters={"ancestor": image.id}):
                container.remove(force=True)  # a check container a failing test left behind
            docker_engine.client.images.remove(image.id, force=True)


def test_image_push_then_release_reuses_the_image_and_another_base_or_builder_is_refused(
    case: Case, repository: str, tmp_path: Path, hera_build_cache: Path
) -> None:
    project = copy_example(tmp_path, repository, hera_build_cache, **case.settings)
    project.env |= case.env

    plan = project.json("plan")
    assert plan["decision"] == "build"
    pushed = project.json("image", "--push")
    assert pushed["pushed"] and pushed["checked"] is True, "built, checked, then pushed"
    assert pushed["input_digest"] == plan["input_digest"], "plan and build compute one input digest"
    in_registry = RegistryApi().lookup(parse_image_ref(f"{repository}:0.3.0"))
    assert in_registry is not None and in_registry.digest == pushed["digest"]
    assert in_registry.labels[INPUT_DIGEST_LABEL] == plan["input_digest"], "the built image carries the plan's digest"

    released = project.run("release", "--push")
    assert "already holds an image of the same inputs" in released.stderr and "reusing it" in released.stderr
    assert "building" not in released.stderr, released.stderr
    assert f"reused {repository}:0.3.0" in released.stderr
    manifest = project.manifest()
    assert manifest["image"]["digest"] == pushed["digest"] == project.remote_digest("0.3.0")
    assert manifest["input_digest"] == plan["input_digest"]
    assert manifest["image"]["checked"] is True, "the reused image was checked again"
    pipeline = (project.dist / "argo" / "workflowtemplate-train-pipeline-v0-3-0.yaml").read_text()
    assert f"{repository}:0.3.0@{pushed['digest']}" in pipeline

    project.configure(**case.changed)
    changed = project.json("plan", expect=1)
    assert changed["decision"] == "refuse"
    assert changed["input_digest"] != plan["input_digest"], f"{case.changed} is part of the image's identity"
    refused = project.run("release", "--push", expect=1)
    assert "error: version 0.3.0 is already released with other content" in refused.stderr
    assert project.remote_digest("0.3.0") == pushed["digest"], "the tag is untouched"
    assert project.manifest()["image"]["digest"] == pushed["digest"], "the manifest is untouched"
