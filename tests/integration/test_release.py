"""The release pipeline for real: a copy of examples/ml-pipeline in its own git repository, a real backend, the
local registry. Plan, release, release again (skip, identical manifest), change the code under the same version
(refused), release a dirty tree (``+dirty.`` version), emit again from the manifest.

hera-build runs as users run it, in a subprocess, with the copy's ``src`` first on ``PYTHONPATH``: the copy is
the importable ``ml_pipeline`` there (user code is imported by dotted name, never by file path). Every session
releases into its own repository on the registry, because released tags are immutable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from hera_build.core.references import parse_image_ref
from hera_build.errors import PublishError
from hera_build.image.registry import RegistryApi, RemoteImage

pytestmark = [pytest.mark.registry, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ml-pipeline"
REGISTRY = os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000")
TIMEOUT = 900
IN_CI = os.environ.get("CI", "").lower() == "true"
GITIGNORE = "dist/\n__pycache__/\n*.egg-info/\nbuild/\n"
DIRTY_RE = re.compile(r"^0\.3\.0\+dirty\.[0-9a-f]{1,8}$")


def missing(reason: str) -> None:
    """Skip loudly; in CI a missing component is a failure."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(f"SKIPPED (component missing): {reason}")


def remote(reference: str) -> RemoteImage | None:
    return RegistryApi().lookup(parse_image_ref(reference))


@dataclass(frozen=True)
class Backend:
    name: str
    base_image: str


def _oci() -> Backend:
    base = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", f"{REGISTRY}/hera-build-base:bookworm-python3")
    try:
        found = remote(base)
    except PublishError as exc:
        missing(f"the registry {REGISTRY} does not answer ({exc.message}); run scripts/start-registry.sh")
    if found is None:
        missing(f"base image {base} is not in the registry; run scripts/base-image.sh --push")
    return Backend("oci", base)


def _docker() -> Backend:
    import docker
    from docker.errors import DockerException, ImageNotFound

    base = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    try:
        client = docker.from_env(timeout=10)
        client.images.get(base)
    except ImageNotFound:
        missing(f"base image {base} is not in the Docker engine; run scripts/base-image.sh")
    except DockerException as exc:
        missing(f"no Docker engine ({exc}); run scripts/start-docker.sh")
    return Backend("docker", base)


@pytest.fixture(scope="module", params=["oci", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request: pytest.FixtureRequest) -> Backend:
    try:
        remote(f"{REGISTRY}/hera-build-probe/none:none")
    except PublishError as exc:
        missing(f"the registry {REGISTRY} does not answer ({exc.message}); run scripts/start-registry.sh")
    return _oci() if request.param == "oci" else _docker()


@dataclass
class Project:
    root: Path
    backend: Backend
    cache: Path
    """``HERA_BUILD_CACHE_DIR`` of the session: never the user's cache, whose state a fresh machine lacks."""

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        env["HERA_BUILD_CACHE_DIR"] = str(self.cache)
        env["PYTHONPATH"] = os.pathsep.join([str(self.root / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        command = [sys.executable, "-m", "hera_build", *args]
        if args[0] in ("plan", "release"):
            command += ["--backend", self.backend.name, "--base-image", self.backend.base_image, "--push"]
        result = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        if expect is not None:
            assert result.returncode == expect, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run(*args, "--json", expect=expect).stdout)
        return data

    def git(self, *args: str) -> str:
        identity = ["-c", "user.name=hera-build tests", "-c", "user.email=tests@example.invalid"]
        result = subprocess.run(["git", *identity, "-C", str(self.root), *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    @property
    def manifest_path(self) -> Path:
        return self.root / "dist" / "release-manifest.json"

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return data

    def outputs(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted((self.root / "dist" / "argo").iterdir())}

    def copy(self, name: str) -> Project:
        """Another checkout of the same repository (and so the same image repository and registry state)."""
        target = self.root.parent / name
        shutil.copytree(self.root, target)
        return Project(target, self.backend, self.cache)


@dataclass(frozen=True)
class Released:
    project: Project
    plan: dict[str, Any]
    result: dict[str, Any]
    manifest_bytes: bytes
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def released(backend: Backend, tmp_path_factory: pytest.TempPathFactory, hera_build_cache: Path) -> Iterator[Released]:
    if shutil.which("git") is None:
        missing("git is not installed")
    root = tmp_path_factory.mktemp(f"release-{backend.name}") / "ml-pipeline"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info"))
    pyproject = tomlkit.parse((root / "pyproject.toml").read_text())
    repository = f"{REGISTRY}/hera-build-test/release-{uuid.uuid4().hex[:12]}/ml-pipeline"
    pyproject["tool"]["hera-build"]["image"] = repository  # type: ignore[index]
    (root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    (root / ".gitignore").write_text(GITIGNORE)
    project = Project(root, backend, hera_build_cache)
    project.git("init", "-q")
    project.git("add", ".")
    project.git("commit", "-q", "-m", "ml-pipeline 0.3.0")
    plan = project.json("plan")
    result = project.json("release")
    yield Released(project, plan, result, project.manifest_path.read_bytes(), project.outputs())


def _without_build_results(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a plan cannot know before the build: the new image's digest and id, the backend's version, and the
    digest and place of the SBOM of that image (its media type and format it knows)."""
    sbom = manifest["image"]["sbom"] | {"digest": None, "artifact": None, "found_by": None, "tag": None}
    image = manifest["image"] | {"digest": None, "id": None, "reference": f"{manifest['image']['repository']}:"
                                 f"{manifest['image']['tag']}", "sbom": sbom}  # fmt: skip
    return manifest | {"image": image, "backend": manifest["backend"] | {"version": None}}


def test_the_first_release_builds_pushes_and_pins_templates_to_the_digest(released: Released) -> None:
    manifest = released.project.manifest()
    assert released.result["decision"] == "build"
    image = manifest["image"]
    assert (manifest["package"], manifest["version"], image["tag"]) == ("ml-pipeline", "0.3.0", "0.3.0")
    in_registry = remote(f"{image['repository']}:{image['tag']}")
    assert in_registry is not None and in_registry.digest == image["digest"]
    assert in_registry.labels["dev.hera-build.input-digest"] == manifest["input_digest"]
    assert image["id"] == in_registry.config_digest
    sbom = image["sbom"]
    assert (sbom["media_type"], sbom["format"]) == ("application/spdx+json", "SPDX-2.3")
    assert sbom["digest"].startswith("sha256:") and sbom["artifact"].startswith(f"{image['repository']}@sha256:")
    pipeline = released.outputs["workflowtemplate-train-pipeline-v0-3-0.yaml"]
    assert f"image: {image['repository']}:0.3.0@{image['digest']}" in pipeline
    assert manifest["git"] == {"commit": released.project.git("rev-parse", "HEAD").strip(), "dirty": False}
    assert [(e["ref"], e["distribution"], e["version"]) for e in manifest["dependencies"]] == [
        ("validate-dataset", "data-utils", "1.4.0")
    ]


def test_the_plan_predicted_the_release(released: Released) -> None:
    plan = released.plan
    assert (plan["decision"], plan["registry"]["state"]) == ("build", "absent")
    assert plan["manifest"] == _without_build_results(released.project.manifest())
    assert [t["file"] for t in plan["templates"]] == [o["file"] for o in released.project.manifest()["objects"]]
    assert {t["status"] for t in plan["templates"]} == {"new"}


def test_a_second_run_skips_the_build_and_writes_an_identical_manifest(released: Released) -> None:
    project = released.project
    plan = project.json("plan")
    assert plan["decision"] == "skip" and plan["registry"]["state"] == "present"
    assert plan["manifest"] == project.manifest(), "the plan predicts the manifest exactly"
    assert {t["status"] for t in plan["templates"]} == {"unchanged"}
    again = project.json("release")
    assert again["decision"] == "skip"
    assert project.manifest_path.read_bytes() == released.manifest_bytes
    assert project.outputs() == released.outputs


def test_templates_can_be_emitted_from_the_manifest_in_a_later_step(released: Released, tmp_path: Path) -> None:
    out = tmp_path / "argo"
    released.project.run("templates", "--manifest", str(released.project.manifest_path), "--out", str(out))
    assert {p.name: p.read_text() for p in sorted(out.iterdir())} == released.outputs


def test_changing_the_code_under_a_released_version_is_refused(released: Released) -> None:
    project = released.project.copy("changed")
    steps = project.root / "src" / "ml_pipeline" / "steps.py"
    steps.write_text(steps.read_text().replace("% 100) / 100", "% 100) / 99"))
    project.git("commit", "-q", "-am", "change the scoring, forget the version")
    plan = project.json("plan", expect=1)
    assert plan["decision"] == "refuse"
    result = project.run("release", expect=1)
    assert "error: version 0.3.0 is already released with other content" in result.stderr
    assert "(fix: bump the version or use --force)" in result.stderr
    assert project.manifest_path.read_bytes() == released.manifest_bytes, "nothing is written"
    after = remote(f"{project.manifest()['image']['repository']}:0.3.0")
    assert after is not None and after.digest == project.manifest()["image"]["digest"], "the tag is untouched"


def test_a_dirty_tree_is_released_under_a_dirty_version(released: Released) -> None:
    project = released.project.copy("dirty")
    steps = project.root / "src" / "ml_pipeline" / "steps.py"
    steps.write_text(steps.read_text() + "\n# work in progress\n")
    plan = project.json("plan")
    assert DIRTY_RE.match(plan["version"]), plan["version"]
    result = project.json("release")
    manifest = result["manifest"]
    assert manifest["version"] == plan["version"] and manifest["git"]["dirty"] is True
    assert manifest["image"]["tag"] == plan["version"].replace("+", "_")
    assert remote(f"{manifest['image']['repository']}:{manifest['image']['tag']}") is not None
    release_tag = remote(f"{manifest['image']['repository']}:0.3.0")
    assert release_tag is not None and release_tag.digest == released.project.manifest()["image"]["digest"]
    again = project.json("release")
    assert (again["decision"], again["manifest"]) == ("skip", manifest), "the same dirty state, the same version"
