"""Release decisions with a fake registry and a fake backend: build, skip, refuse; plan predicts release."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hera_build.core.gitinfo import GitInfo, dirty_fingerprint
from hera_build.errors import BuildError, ConfigError, ImmutableTagError, OutputError, PublishError, ResolveError
from hera_build.image.inputs import INPUT_DIGEST_LABEL, resolve_base_digest
from hera_build.image.registry import RegistryApi, RegistryView, RemoteImage
from hera_build.release.manifest import BackendRecord, ReleaseManifest, load_manifest
from hera_build.release.pipeline import (
    ReleaseEnvironment,
    ReleaseOptions,
    dirty_version,
    plan,
    release,
    templates_from_manifest,
)
from hera_build.templates.build import TemplateOptions
from tests.support.components import require_executable
from tests.support.images import FakeBuilder, FakeRegistry, fake_pusher, http_pusher, native_wheel
from tests.support.oci_images import FakeRegistry as HttpRegistry
from tests.support.oci_images import fake_registry

REPOSITORY = "registry.test/acme/relpkg"
BASE_DIGEST = "sha256:" + "b" * 64
COMMIT = "c0ffee" + "0" * 34
TWO_PLATFORMS = ("linux/amd64", "linux/arm64")

PYPROJECT = """\
[project]
name = "relpkg"
version = "0.1.0"
dependencies = ["hera>=5.20", "data-utils>=1,<2"]

[tool.hera-build]
image = "{repository}"
modules = ["relpkg.flows"]
"""
FLOWS = """\
from hera.workflows import DAG, Task, WorkflowTemplate, script
from hera.workflows.models import TemplateRef


@script(constructor="runner")
def step(x: int = 1) -> int:
    return x * {factor}


with WorkflowTemplate(name="pipeline", entrypoint="main") as pipeline:
    with DAG(name="main"):
        checked = Task(
            name="check",
            template_ref=TemplateRef(name="validate-dataset", template="validate-dataset"),
            arguments={{"dataset": '{{"uri": "s3://x", "rows": 1}}'}},
        )
        checked >> step(name="step")
"""


@dataclasses.dataclass
class World:
    root: Path
    registry: FakeRegistry
    builder: FakeBuilder
    git: GitInfo | None = None
    fingerprint: str | None = None
    http: HttpRegistry | None = None
    """When set, images go to this HTTP fake registry (:func:`http_world`) and are read back with the real client."""

    @property
    def env(self) -> ReleaseEnvironment:
        def builder(name: str) -> FakeBuilder:
            self.builder.name = name
            return self.builder

        view: RegistryView = self.registry if self.http is None else RegistryApi()
        pusher = fake_pusher(self.registry, self.builder) if self.http is None else http_pusher(self.http, self.builder)
        return ReleaseEnvironment(
            registry=view,
            builder=builder,
            git=lambda path: self.git,
            dirty=lambda path, exclude: self.fingerprint,
            environ={},
            pusher=pusher,
            engine=lambda: None,
        )

    def options(self, **changes: object) -> ReleaseOptions:
        defaults = ReleaseOptions(
            project_dir=self.root,
            base_image="python:3.11-slim",
            push=True,
            out=self.root / "deploy",
            manifest=self.root / "dist" / "release-manifest.json",
        )
        return dataclasses.replace(defaults, **changes)  # type: ignore[arg-type]

    def change_code(self, factor: int) -> None:
        (self.root / "relpkg" / "flows.py").write_text(FLOWS.format(factor=factor))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    root = tmp_path / "project"
    (root / "relpkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(repository=REPOSITORY))
    (root / "relpkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    registry = FakeRegistry()
    builder = FakeBuilder(code=lambda: (root / "relpkg" / "flows.py").read_text(), base_digest=BASE_DIGEST)
    w = World(root, registry, builder)
    w.change_code(2)
    yield w


@pytest.fixture
def http_world(world: World) -> Iterator[World]:
    """The world with its image repository on an HTTP fake registry (no referrers API unless a test turns it on)."""
    for registry in fake_registry():
        (world.root / "pyproject.toml").write_text(PYPROJECT.format(repository=f"{registry.host}/acme/relpkg"))
        world.http = registry
        yield world


def _files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.iterdir())} if out.exists() else {}


# ------------------------------------------------------------------------------------------------ plan


def test_a_new_version_plans_a_build_and_changes_nothing(world: World) -> None:
    options = world.options()
    the_plan = plan(options, world.env)
    assert (the_plan.decision, the_plan.registry_state) == ("build", "absent")
    assert str(the_plan.image) == f"{REPOSITORY}:0.1.0"
    assert [(o.name, o.status) for o in the_plan.objects] == [("pipeline-v0-1-0", "new")]
    refs = {r["ref"]: r for o in the_plan.objects for r in o.refs}
    assert refs["validate-dataset"] == {
        "ref": "validate-dataset",
        "cluster_scope": False,
        "pinned": "validate-dataset-v1-4-0",
        "reason": "provider",
        "distribution": "data-utils",
        "version": "1.4.0",
        "specifier": "<2,>=1",
    }
    assert the_plan.manifest.image.digest is None, "the digest of an image not built yet is unknown"
    assert world.builder.requests == []
    assert not options.out.exists() and not options.manifest_path.exists()
    assert json.loads(json.dumps(the_plan.to_json()))["decision"] == "build"


def test_release_builds_pushes_labels_and_pins_templates_to_the_digest(world: World) -> None:
    done = release(world.options(), world.env)
    assert done.built and len(world.builder.requests) == 1
    request = world.builder.requests[0]
    assert request.base_image == "python:3.11-slim"
    pushed = world.registry.images[f"{REPOSITORY}:0.1.0"]
    assert pushed.labels[INPUT_DIGEST_LABEL] == done.plan.input_digest
    assert done.manifest.image.digest == pushed.digest and done.manifest.image.id == pushed.config_digest
    assert done.manifest.backend.version == "9.9.9", "read back from the image's label"
    template = yaml.safe_load((world.root / "deploy" / "workflowtemplate-pipeline-v0-1-0.yaml").read_text())
    images = {t["script"]["image"] for t in template["spec"]["templates"] if "script" in t}
    assert images == {f"{REPOSITORY}:0.1.0@{pushed.digest}"}
    assert load_manifest(world.options().manifest_path) == done.manifest
    edge = done.manifest.dependencies[0]
    assert (edge.ref, edge.distribution, edge.version, edge.used_by) == (
        "validate-dataset",
        "data-utils",
        "1.4.0",
        ("pipeline-v0-1-0",),
    )


def test_plan_after_release_predicts_a_skip_and_the_exact_manifest(world: World) -> None:
    done = release(world.options(), world.env)
    the_plan = plan(world.options(), world.env)
    assert the_plan.decision == "skip"
    assert [o.status for o in the_plan.objects] == ["unchanged"]
    assert the_plan.manifest == done.manifest
    assert the_plan.to_json()["manifest"] == json.loads(done.manifest.to_json())


def test_plan_before_release_predicts_the_manifest_but_the_new_digest(world: World) -> None:
    predicted = plan(world.options(), world.env).manifest
    done = release(world.options(), world.env)
    unknown = {"digest": None, "id": None, "reference": f"{REPOSITORY}:0.1.0"}
    assert predicted.model_copy(update={"backend": done.manifest.backend}) == done.manifest.model_copy(
        update={"image": done.manifest.image.model_copy(update=unknown)}
    )


def test_rerunning_a_release_skips_the_build_and_rewrites_nothing(world: World) -> None:
    first = release(world.options(), world.env)
    manifest_bytes = world.options().manifest_path.read_bytes()
    files = _files(world.root / "deploy")
    second = release(world.options(), world.env)
    assert not second.built and len(world.builder.requests) == 1
    assert second.manifest == first.manifest
    assert world.options().manifest_path.read_bytes() == manifest_bytes
    assert _files(world.root / "deploy") == files
    assert second.written.unchanged and not second.written.new


def test_changed_code_under_a_released_version_is_refused(world: World) -> None:
    release(world.options(), world.env)
    manifest_bytes = world.options().manifest_path.read_bytes()
    world.change_code(3)
    assert plan(world.options(), world.env).decision == "refuse"
    with pytest.raises(ImmutableTagError) as info:
        release(world.options(), world.env)
    assert info.value.message.startswith("version 0.1.0 is already released with other content")
    assert info.value.fix == "bump the version or use --force"
    assert len(world.builder.prepared) == 3, "the plan and both releases computed the inputs"
    assert len(world.builder.requests) == 1
    assert world.options().manifest_path.read_bytes() == manifest_bytes


def test_a_new_version_of_changed_code_is_released_beside_the_old_one(world: World) -> None:
    release(world.options(), world.env)
    world.change_code(3)
    done = release(world.options(version="0.2.0"), world.env)
    assert done.built and done.manifest.image.tag == "0.2.0"
    names = sorted(_files(world.root / "deploy"))
    assert names == [
        "kustomization.yaml",
        "workflowtemplate-pipeline-v0-1-0.yaml",
        "workflowtemplate-pipeline-v0-2-0.yaml",
    ]


def test_force_rebuilds_and_overwrites_a_released_version(world: World) -> None:
    first = release(world.options(), world.env)
    world.change_code(3)
    the_plan = plan(world.options(force=True), world.env)
    assert the_plan.decision == "build" and "--force" in the_plan.reason
    done = release(world.options(force=True), world.env)
    assert done.built and len(world.builder.requests) == 2
    assert done.manifest.image.digest != first.manifest.image.digest
    assert done.written.replaced == ("workflowtemplate-pipeline-v0-1-0.yaml",)


def test_an_image_without_input_digest_is_other_content(world: World) -> None:
    world.registry.images[f"{REPOSITORY}:0.1.0"] = RemoteImage("sha256:" + "d" * 64, None, {})
    the_plan = plan(world.options(), world.env)
    assert the_plan.decision == "refuse" and INPUT_DIGEST_LABEL in the_plan.reason


def test_emitted_files_with_other_content_are_refused_before_building(world: World) -> None:
    out = world.root / "deploy"
    out.mkdir()
    (out / "workflowtemplate-pipeline-v0-1-0.yaml").write_text("kind: WorkflowTemplate\nhand: edited\n")
    assert [o.status for o in plan(world.options(), world.env).objects] == ["conflicting"]
    with pytest.raises(OutputError, match="already exists with other content") as info:
        release(world.options(), world.env)
    assert "+hand: edited" not in str(info.value) and "-hand: edited" in str(info.value), "a readable diff"
    assert world.builder.requests == []
    assert release(world.options(force=True), world.env).written.replaced


def test_an_output_folder_the_kustomization_cannot_list_is_refused_before_building(world: World) -> None:
    out = world.root / "deploy"
    out.mkdir()
    (out / os.fsdecode(b"\xff.yaml")).write_text("stray: 1\n")
    with pytest.raises(OutputError, match="a file whose name is not UTF-8"):
        plan(world.options(), world.env)
    with pytest.raises(OutputError, match="a file whose name is not UTF-8"):
        release(world.options(), world.env)
    assert world.builder.requests == [] and world.registry.images == {}
    assert not world.options().manifest_path.exists()


def test_files_written_unpinned_are_refused_before_pushing(world: World) -> None:
    """``hera-build templates`` then ``release --push``: the release would pin them, so it stops before pushing
    anything (it used to push the image and then refuse to write the templates, leaving no manifest)."""
    files = plan(world.options(), world.env).files  # the version's templates as `templates` writes them: unpinned
    out = world.root / "deploy"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)

    assert [o.status for o in plan(world.options(), world.env).objects] == ["conflicting"]
    with pytest.raises(OutputError, match="already exists with the image unpinned") as info:
        release(world.options(), world.env)
    assert info.value.fix is not None and "nothing was built or pushed" in info.value.fix
    assert world.builder.requests == [] and world.registry.images == {}
    assert [o.status for o in plan(world.options(push=False), world.env).objects] == ["unchanged"], "none to pin"
    assert release(world.options(force=True), world.env).written.replaced


def test_files_that_differ_only_by_digest_are_pending_until_the_build(world: World) -> None:
    release(world.options(), world.env)
    world.registry.images.clear()  # the registry lost the image; the files pin its old digest
    the_plan = plan(world.options(), world.env)
    assert (the_plan.decision, [o.status for o in the_plan.objects]) == ("build", ["pending"])
    with pytest.raises(OutputError, match="already exists with other content"):
        release(world.options(), world.env)  # the fake backend never rebuilds the same digest


def test_a_rebuild_that_does_not_give_the_pinned_digest_is_refused_before_pushing(http_world: World) -> None:
    """The backend knows the digest before pushing (an index here, as the oci backend's images): the files that
    pin the lost image's digest are compared with it before anything reaches the registry."""
    registry = http_world.http
    assert registry is not None
    options = http_world.options(platforms=TWO_PLATFORMS)
    release(options, http_world.env)
    del registry.manifests[("acme/relpkg", "0.1.0")]  # the registry lost the tag; the files pin its digest
    before = dict(registry.manifests)
    assert [o.status for o in plan(options, http_world.env).objects] == ["pending"]

    with pytest.raises(OutputError, match="already exists with other content"):
        release(options, http_world.env)  # the fake backend never rebuilds the same digest

    assert registry.manifests == before, "nothing was pushed"


def test_unreachable_registry_is_an_error_when_pushing_and_unknown_otherwise(world: World) -> None:
    world.registry.down = True
    with pytest.raises(PublishError, match="unreachable"):
        plan(world.options(), world.env)
    local = plan(world.options(push=False), world.env)
    assert (local.registry_state, local.decision) == ("unknown", "build")
    assert local.registry_error and "unreachable" in local.registry_error


def test_a_release_without_push_pins_the_tag_and_records_the_local_image(world: World) -> None:
    done = release(world.options(push=False), world.env)
    assert done.manifest.image.digest is None and done.manifest.image.reference == f"{REPOSITORY}:0.1.0"
    assert done.build is not None and done.manifest.image.id == done.build.image_id
    assert done.manifest.backend.version == "9.9.9"


def test_a_backend_that_drops_the_labels_is_caught(world: World) -> None:
    world.builder.apply_labels = False
    with pytest.raises(BuildError, match="did not label the image with its inputs"):
        release(world.options(), world.env)


def test_the_backend_comes_from_flags_then_config_then_the_default(world: World) -> None:
    assert plan(world.options(), world.env).backend == "oci"
    assert plan(world.options(backend="buildpacks"), world.env).backend == "buildpacks"
    done = release(world.options(backend="buildpacks"), world.env)
    template = yaml.safe_load((world.root / "deploy" / "workflowtemplate-pipeline-v0-1-0.yaml").read_text())
    commands = {tuple(t["script"]["command"]) for t in template["spec"]["templates"] if "script" in t}
    assert commands == {("/cnb/lifecycle/launcher", "--", "python")}
    assert done.manifest.backend.name == "buildpacks"


def test_source_date_epoch_is_an_input(world: World) -> None:
    env = dataclasses.replace(world.env, environ={"SOURCE_DATE_EPOCH": "1700000000"})
    with_epoch = plan(world.options(), env)
    assert with_epoch.inputs.source_date_epoch == 1700000000
    assert with_epoch.input_digest != plan(world.options(), world.env).input_digest
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        plan(world.options(), dataclasses.replace(world.env, environ={"SOURCE_DATE_EPOCH": "yesterday"}))


def test_a_project_without_an_image_cannot_be_released(world: World) -> None:
    (world.root / "pyproject.toml").write_text(PYPROJECT.format(repository=REPOSITORY).replace("image =", "# image ="))
    with pytest.raises(ConfigError, match="no image repository"):
        plan(world.options(), world.env)


# ------------------------------------------------------------------------------------------------ the SBOM


def _without_build_results(manifest: ReleaseManifest) -> ReleaseManifest:
    """What a plan cannot know before the build: the new image's digest and id, the backend's version, and where
    the registry put the SBOM of that digest."""
    image = manifest.image
    unplaced = {"digest": None, "artifact": None, "found_by": None, "tag": None}
    sbom = image.sbom and image.sbom.model_copy(update=unplaced)
    platforms = image.platforms and tuple(
        one.model_copy(update={"digest": None, "sbom": one.sbom and one.sbom.model_copy(update=unplaced)})
        for one in image.platforms
    )
    unknown = {"digest": None, "id": None, "reference": f"{image.repository}:{image.tag}", "sbom": sbom,
               "platforms": platforms}  # fmt: skip
    return manifest.model_copy(update={"image": image.model_copy(update=unknown), "backend": BackendRecord(
        name=manifest.backend.name, version=None)})  # fmt: skip


@pytest.mark.parametrize("referrers", [False, True], ids=["tag-fallback", "referrers-api"])
def test_the_manifest_records_where_the_sbom_is(http_world: World, referrers: bool) -> None:
    registry = http_world.http
    assert registry is not None
    registry.referrers = referrers
    done = release(http_world.options(sbom=True), http_world.env)
    image, sbom = done.manifest.image, done.manifest.image.sbom
    assert sbom is not None and image.digest is not None
    assert (sbom.media_type, sbom.format) == ("application/spdx+json", "SPDX-2.3")
    assert sbom.artifact is not None and sbom.artifact.startswith(f"{image.repository}@sha256:")
    artifact = json.loads(registry.manifests[("acme/relpkg", sbom.artifact.split("@")[1])][0])
    assert artifact["subject"]["digest"] == image.digest
    assert artifact["layers"][0]["digest"] == sbom.digest
    document = json.loads(registry.blobs[sbom.digest])
    assert document["spdxVersion"] == "SPDX-2.3"
    assert {p["name"]: p.get("versionInfo") for p in document["packages"]}["relpkg"] == "0.1.0"
    tag = f"sha256-{image.digest.split(':')[1]}.sbom"
    assert (sbom.found_by, sbom.tag) == (("referrers", None) if referrers else ("tag", tag))
    assert (("acme/relpkg", tag) in registry.manifests) is not referrers


@pytest.mark.parametrize("platforms", [(), TWO_PLATFORMS], ids=["one-platform", "two-platforms"])
@pytest.mark.parametrize("referrers", [False, True], ids=["tag-fallback", "referrers-api"])
def test_a_rerelease_reads_the_sbom_back_and_writes_the_identical_manifest(
    http_world: World, referrers: bool, platforms: tuple[str, ...]
) -> None:
    assert http_world.http is not None
    http_world.http.referrers = referrers
    options = http_world.options(sbom=True, platforms=platforms)
    predicted = plan(options, http_world.env).manifest
    first = release(options, http_world.env)
    manifest_bytes = options.manifest_path.read_bytes()
    assert predicted == _without_build_results(first.manifest), "the plan predicts all but the build's results"
    assert predicted.image.sbom is not None and predicted.image.sbom.format == "SPDX-2.3"

    after = plan(options, http_world.env)
    again = release(options, http_world.env)

    assert (after.decision, again.built) == ("skip", False)
    assert after.manifest == first.manifest, "the plan of a reused image predicts the manifest exactly"
    assert again.manifest == first.manifest and options.manifest_path.read_bytes() == manifest_bytes
    recorded = json.loads(manifest_bytes)["image"]
    if platforms:
        assert [one["platform"] for one in recorded["platforms"]] == list(platforms)
        assert all(one["digest"] and one["sbom"]["digest"] for one in recorded["platforms"])
    else:
        assert "platforms" not in recorded, "a single-platform manifest keeps its shape"


@pytest.mark.parametrize("referrers", [False, True], ids=["tag-fallback", "referrers-api"])
def test_a_multi_platform_release_records_each_platforms_manifest_and_sbom(http_world: World, referrers: bool) -> None:
    registry = http_world.http
    assert registry is not None
    registry.referrers = referrers
    done = release(http_world.options(sbom=True, platforms=TWO_PLATFORMS), http_world.env)
    image = done.manifest.image
    assert image.digest is not None and image.platforms is not None
    index = json.loads(registry.manifests[("acme/relpkg", image.digest)][0])
    assert [(one.platform, one.digest) for one in image.platforms] == [
        (f"{e['platform']['os']}/{e['platform']['architecture']}", e["digest"]) for e in index["manifests"]
    ]
    assert image.sbom == image.platforms[0].sbom, "image.sbom stays the first platform's"
    for one in image.platforms:
        assert one.sbom is not None and one.sbom.artifact is not None
        artifact = json.loads(registry.manifests[("acme/relpkg", one.sbom.artifact.split("@")[1])][0])
        assert artifact["subject"]["digest"] == one.digest and artifact["layers"][0]["digest"] == one.sbom.digest
        listed = {p["name"] for p in json.loads(registry.blobs[one.sbom.digest])["packages"]}
        others = {native_wheel(platform) for platform in TWO_PLATFORMS} - {native_wheel(one.platform)}
        assert {"relpkg", native_wheel(one.platform)} <= listed and not listed & others, listed
        tag = f"sha256-{one.digest.split(':')[1]}.sbom"
        assert (one.sbom.found_by, one.sbom.tag) == (("referrers", None) if referrers else ("tag", tag))


def test_a_multi_platform_image_that_is_not_pushed_records_its_platforms_without_sboms(http_world: World) -> None:
    options = http_world.options(sbom=True, push=False, platforms=TWO_PLATFORMS)
    predicted = plan(options, http_world.env).manifest.image.platforms
    assert predicted is not None and [(one.platform, one.digest, one.sbom) for one in predicted] == [
        ("linux/amd64", None, None), ("linux/arm64", None, None)]  # fmt: skip
    done = release(options, http_world.env).manifest.image
    assert done.platforms is not None and all(one.digest and one.sbom is None for one in done.platforms)


def test_a_reused_image_without_an_sbom_records_none_and_says_so(http_world: World) -> None:
    release(http_world.options(), http_world.env)  # published without an SBOM (an older hera-build)
    said: list[str] = []
    options = http_world.options(sbom=True, progress=said.append)
    assert plan(options, http_world.env).manifest.image.sbom is None
    again = release(options, http_world.env)
    assert not again.built and again.manifest.image.sbom is None
    assert any(line.startswith("warning: the registry has no SBOM for ") for line in said), said


def test_an_image_that_is_not_pushed_has_no_sbom(http_world: World) -> None:
    options = http_world.options(sbom=True, push=False)
    assert plan(options, http_world.env).manifest.image.sbom is None
    assert release(options, http_world.env).manifest.image.sbom is None


# ------------------------------------------------------------------------------------------------ dirty trees


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.1.0", "0.1.0+dirty.abcdef01"), ("1.0rc1", "1.0rc1+dirty.abcdef01"), ("2.0+ci.4", "2.0+ci.4.dirty.abcdef01")],
)
def test_dirty_versions_get_a_local_segment(version: str, expected: str) -> None:
    assert dirty_version(version, "abcdef0123456789") == expected


def test_a_dirty_tree_is_released_under_a_dirty_version(world: World) -> None:
    world.git = GitInfo(COMMIT, 1700000000, dirty=True)
    world.fingerprint = "abcdef0123456789"
    done = release(world.options(), world.env)
    assert done.manifest.version == "0.1.0+dirty.abcdef01"
    assert done.manifest.image.tag == "0.1.0_dirty.abcdef01"
    assert done.manifest.git is not None and (done.manifest.git.commit, done.manifest.git.dirty) == (COMMIT, True)
    assert world.builder.requests[0].project.version.exact == "0.1.0+dirty.abcdef01"
    assert f"{REPOSITORY}:0.1.0" not in world.registry.images, "a dirty build never takes the release tag"


def test_allow_dirty_keeps_the_version_and_records_the_dirt(world: World) -> None:
    world.git = GitInfo(COMMIT, 1700000000, dirty=True)
    world.fingerprint = "abcdef0123456789"
    done = release(world.options(allow_dirty=True), world.env)
    assert done.manifest.version == "0.1.0"
    assert done.manifest.git is not None and done.manifest.git.dirty


def test_outside_git_there_is_no_commit(world: World) -> None:
    assert release(world.options(), world.env).manifest.git is None


def test_dirty_fingerprint_hashes_the_uncommitted_state(tmp_path: Path) -> None:
    require_executable("git", "apt-get install git")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "a.py").write_text("a = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    assert dirty_fingerprint(tmp_path) is None
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "x").write_text("x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "wt.yaml").write_text("x")
    assert dirty_fingerprint(tmp_path, exclude=(tmp_path / "out",)) is None, "ignored and excluded files are clean"
    (tmp_path / "a.py").write_text("a = 2\n")
    first = dirty_fingerprint(tmp_path)
    assert first is not None and first == dirty_fingerprint(tmp_path), "the same dirty state, the same hash"
    (tmp_path / "a.py").write_text("a = 3\n")
    assert dirty_fingerprint(tmp_path) not in (None, first)
    (tmp_path / "a.py").write_text("a = 2\n")
    (tmp_path / "new.py").write_text("")
    assert dirty_fingerprint(tmp_path) not in (None, first), "untracked files count"


# ------------------------------------------------------------------------------------------------ from a manifest


def test_templates_from_a_manifest_emit_the_released_version_and_digest(world: World) -> None:
    done = release(world.options(), world.env)
    path = world.options().manifest_path
    result = templates_from_manifest(path, TemplateOptions(project_dir=world.root))
    assert result.image is not None and str(result.image) == done.manifest.image.reference
    assert [o.name for o in result.objects] == [o.name for o in done.manifest.objects]
    with pytest.raises(ConfigError, match="contradicts the release manifest"):
        templates_from_manifest(path, TemplateOptions(project_dir=world.root, version="9.9.9"))


def test_templates_from_a_manifest_refuse_other_dependency_versions(world: World, tmp_path: Path) -> None:
    release(world.options(), world.env)
    data = json.loads(world.options().manifest_path.read_text())
    data["dependencies"][0]["version"] = "1.3.0"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ResolveError, match=r"data-utils 1\.4\.0 here, but the release manifest .* data-utils 1\.3\.0"):
        templates_from_manifest(other, TemplateOptions(project_dir=world.root))


# ------------------------------------------------------------------------------------------------ base images


def test_base_digests_come_from_the_reference_the_engine_or_the_registry(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.images["127.0.0.1:5000/base:1"] = RemoteImage("sha256:" + "1" * 64, None)
    registry.images["python:3.11-slim"] = RemoteImage("sha256:" + "2" * 64, None)
    engine = {"local-base:1": "sha256:" + "3" * 64}.get
    pinned = "python@sha256:" + "4" * 64
    assert resolve_base_digest(pinned, registry, engine_image_id=engine) == "sha256:" + "4" * 64
    assert resolve_base_digest("127.0.0.1:5000/base:1", registry, engine_image_id=engine) == "sha256:" + "1" * 64
    assert resolve_base_digest("local-base:1", registry, engine_image_id=engine) == "sha256:" + "3" * 64
    assert resolve_base_digest("python:3.11-slim", registry, engine_image_id=engine) == "sha256:" + "2" * 64
    assert resolve_base_digest("nowhere:1", registry, engine_image_id=engine) is None
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "index.json").write_text('{"schemaVersion": 2}')
    expected = "sha256:" + hashlib.sha256(b'{"schemaVersion": 2}').hexdigest()
    assert resolve_base_digest(f"oci:{layout}", registry) == expected
    registry.down = True
    assert resolve_base_digest("127.0.0.1:5000/base:1", registry, engine_image_id=engine) is None


def test_plan_text_mentions_the_decision_and_every_ref(world: World) -> None:
    from hera_build._cli.plan import render_plan

    text = render_plan(plan(world.options(), world.env))
    assert text.startswith(f"BUILD: {REPOSITORY}:0.1.0 is not in the registry yet\n")
    assert "    new         WorkflowTemplate pipeline -> pipeline-v0-1-0\n" in text
    assert "pipeline-v0-1-0: validate-dataset -> validate-dataset-v1-4-0 (data-utils 1.4.0, requires <2,>=1)" in text
    assert "  platforms     " not in text


def test_plan_text_names_the_platforms_of_a_multi_platform_image(http_world: World) -> None:
    from hera_build._cli.plan import render_plan

    lines = render_plan(plan(http_world.options(platforms=TWO_PLATFORMS), http_world.env)).splitlines()

    assert lines[4].startswith("  backend       oci (base ")
    assert lines[5] == f"  platforms     {', '.join(TWO_PLATFORMS)} (an image each, under one OCI image index)"
