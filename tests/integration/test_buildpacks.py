"""The buildpacks backend for real: pack, the CNB lifecycle, a Docker engine and the local registry.

The builder is the offline test builder of ``scripts/make-test-builder.sh`` (stack images from the debootstrap base
image, the hera-runner buildpack of this checkout, the lifecycle built from its Go module); nothing is pulled. The
consumer example (examples/ml-pipeline) is copied into a git repository with a fixed commit time and built through
``hera-build image`` as a user would. A missing component skips loudly, and fails when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

import buildpacks as bp

pytestmark = [pytest.mark.pack, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "ml-pipeline"
HERA_BUILD = [sys.executable, "-m", "hera_build"]
COMMIT_DATE = "2024-03-04T05:06:07Z"
COMMIT_TIME = int(datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc).timestamp())
LAUNCHER = ["/cnb/lifecycle/launcher", "--", "python"]
REMOTE = "https://git.example.invalid/acme/ml-pipeline.git"
"""The source URL goes into the image (label, project.toml), so both checkouts of a commit name the same one."""


def missing(what: str) -> None:
    """Skip loudly; in CI, where set-up must have provided everything, fail instead."""
    message = f"buildpacks integration test needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Tools:
    pack: str
    builder: str
    registry: str
    engine: Any
    cache: Path
    """``HERA_BUILD_CACHE_DIR`` of the session: never the user's cache, whose state a fresh machine lacks."""


@pytest.fixture(scope="session")
def tools(hera_build_cache: Path) -> Iterator[Tools]:
    from hera_build.errors import EngineError
    from hera_build.image.engine import DockerEngine

    try:
        engine = DockerEngine.from_env()
    except EngineError as exc:
        missing(f"a Docker engine ({exc.message}; scripts/start-docker.sh)")
    pack = os.environ.get("HERA_BUILD_TEST_PACK") or shutil.which("pack") or ""
    if not pack or not os.access(pack, os.X_OK):
        missing("pack (HERA_BUILD_TEST_PACK; scripts/build-pack.sh)")
    try:
        bp.PackClient(pack).preflight()
    except bp.PackError as exc:
        missing(f"a usable pack: {exc}")
    builder = os.environ.get("HERA_BUILD_TEST_BUILDER", "hera-build-test-builder:bookworm")
    # The builder must hold this checkout's buildpack: the script is idempotent and takes a second when it does.
    script = subprocess.run(
        [str(ROOT / "scripts" / "make-test-builder.sh")],
        env={**os.environ, "HERA_BUILD_TEST_PACK": pack, "HERA_BUILD_TEST_BUILDER": builder},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if script.returncode != 0:
        missing(f"the offline test builder (scripts/make-test-builder.sh failed: {script.stderr.strip()[-300:]})")
    registry = os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000")
    try:
        requests.get(f"http://{registry}/v2/", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        missing(f"the local registry at {registry} ({exc}; scripts/start-registry.sh)")
    volumes = {volume.name for volume in engine.client.volumes.list()}
    yield Tools(pack, builder, registry, engine, hera_build_cache)
    _clean_up(engine, volumes)


def _clean_up(engine: Any, volumes_before: set[str]) -> None:
    """Remove the images these tests made and pack's cache volumes of their (unique) image names."""
    for image in engine.client.images.list():
        names = [*(image.attrs.get("RepoTags") or []), *(image.attrs.get("RepoDigests") or [])]
        if any("/hera-build-it/" in name for name in names):
            try:
                engine.client.images.remove(image.id, force=True)
            except Exception:  # noqa: BLE001 - cleanup only
                pass
    for volume in engine.client.volumes.list():
        if volume.name.startswith("pack-cache-") and volume.name not in volumes_before:
            try:
                volume.remove(force=True)
            except Exception:  # noqa: BLE001 - cleanup only
                pass


@pytest.fixture(scope="module")
def pack_home(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An isolated pack configuration that trusts the test builder, as a team would configure its CI."""
    home = tmp_path_factory.mktemp("pack-home")
    bp.PackClient(tools.pack, env={"PACK_HOME": str(home)}).trust_builder(tools.builder)
    return home


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE}
    command = ["git", "-c", "user.name=hera-build tests", "-c", "user.email=tests@example.invalid", "-C", str(repo)]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, check=True).stdout


def make_repo(path: Path, tools: Tools, repository: str) -> Path:
    """The consumer example in a git repository of its own, configured for the buildpacks backend."""
    path.mkdir(parents=True)
    shutil.copytree(CONSUMER / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    text = (CONSUMER / "pyproject.toml").read_text()
    text = text.replace('image = "127.0.0.1:5000/acme/ml-pipeline"', f'image = "{repository}"')
    assert repository in text
    text += f'backend = "buildpacks"\nbuilder = "{tools.builder}"\npull-policy = "never"\n'
    (path / "pyproject.toml").write_text(text)
    git(path, "init", "-q")
    git(path, "remote", "add", "origin", REMOTE)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "consumer example")
    return path


def hera_build(*args: str, pack_home: Path, tools: Tools, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERA_BUILD_PACK": tools.pack, "PACK_HOME": str(pack_home)}
    env["HERA_BUILD_CACHE_DIR"] = str(tools.cache)
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([*HERA_BUILD, *args], env=env, capture_output=True, text=True, timeout=timeout)


def build_json(*args: str, pack_home: Path, tools: Tools) -> dict[str, Any]:
    result = hera_build("image", "--json", *args, pack_home=pack_home, tools=tools)
    assert result.returncode == 0, result.stderr[-4000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def repo(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name = f"hera-build-it/ml-pipeline-cnb-{uuid.uuid4().hex[:8]}"
    return make_repo(tmp_path_factory.mktemp("cnb") / "ml-pipeline", tools, f"{tools.registry}/{name}")


@pytest.fixture(scope="module")
def built(repo: Path, tools: Tools, pack_home: Path) -> Iterator[dict[str, Any]]:
    data = build_json("--project", str(repo), pack_home=pack_home, tools=tools)
    yield data
    for tag in data["tags"]:
        try:
            tools.engine.client.images.remove(tag)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


# ---------------------------------------------------------------------------------------------------- tests


def test_the_consumer_example_builds_with_pack_and_passes_the_image_check(built: dict[str, Any], tools: Tools) -> None:
    assert built["backend"] == "buildpacks"
    assert built["image_id"].startswith("sha256:") and built["digest"] is None and not built["pushed"]
    assert built["backend_version"].startswith("pack ") and "lifecycle" in built["backend_version"]
    check = built["check"]
    assert (check["distribution"], check["version"]) == ("ml-pipeline", "0.3.0")
    assert set(check["entrypoints"]) == {"ml_pipeline.steps:train", "ml_pipeline.steps:evaluate"}
    assert check["run"]["exit_code"] == 0, "a runner template ran end to end through the launcher"
    image = tools.engine.client.images.get(built["image_id"])
    config = image.attrs["Config"]
    assert config["Entrypoint"] == ["/cnb/process/runner"], "the default process is the Hera runner"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "0.3.0"
    assert labels["dev.hera-build.input-digest"] == built["input_digest"]
    assert labels["org.opencontainers.image.created"] == COMMIT_DATE
    assert image.attrs["Created"].startswith(COMMIT_DATE[:-1]), "--creation-time is the commit time"
    files = tools.engine.run(built["image_id"], entrypoint=["/bin/sh"], command=["-c", "ls -A /workspace"])
    assert ".hera-build" not in files.stdout.split(), "no wheelhouse left in the image"


def test_a_runner_entrypoint_runs_through_the_launcher_as_argo_runs_it(
    built: dict[str, Any], repo: Path, tools: Tools, pack_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "argo"
    result = hera_build("templates", "--project", str(repo), "--out", str(out), pack_home=pack_home, tools=tools)
    assert result.returncode == 0, result.stderr
    pipeline = yaml.safe_load((out / "workflowtemplate-train-pipeline-v0-3-0.yaml").read_text())
    train = next(t for t in pipeline["spec"]["templates"] if t["name"] == "train")["script"]
    assert train["command"] == LAUNCHER, "backend = buildpacks in [tool.hera-build] reaches the templates"
    assert train["image"] == built["image"]
    # Argo's executor runs command + args + the path of the file that holds `source` with the inputs filled in;
    # the image's entrypoint is ignored.
    inputs = [{"name": "data_uri", "value": "s3://bucket/data"}, {"name": "config", "value": '{"epochs": 7}'}]
    staging = "/argo/staging/script"
    files = {staging: json.dumps(inputs).encode()}
    argo = tools.engine.run(
        built["image_id"],
        entrypoint=train["command"][:1],
        command=[*train["command"][1:], *train["args"], staging],
        files=files,
    )
    assert argo.exit_code == 0, argo.stderr
    host_file = tmp_path / "script"
    host_file.write_text(json.dumps(inputs))
    host = subprocess.run([sys.executable, *train["args"], str(host_file)], capture_output=True, text=True, check=True)
    assert argo.stdout.strip() == host.stdout.strip() != ""
    # Without the launcher, `python` is not the venv's: the command that templates emit is what makes it work.
    plain = tools.engine.run(built["image_id"], entrypoint=["python"], command=[*train["args"], staging], files=files)
    assert plain.exit_code != 0


@pytest.mark.registry
def test_publishing_reads_the_digest_from_the_report_and_versions_stay_immutable(
    tools: Tools, pack_home: Path, tmp_path: Path
) -> None:
    name = f"hera-build-it/ml-pipeline-cnb-push-{uuid.uuid4().hex[:8]}"
    repository = f"{tools.registry}/{name}"
    repo = make_repo(tmp_path / "push", tools, repository)
    pushed = build_json("--project", str(repo), "--push", pack_home=pack_home, tools=tools)
    response = requests.get(
        f"http://{tools.registry}/v2/{name}/manifests/0.3.0",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert pushed["pushed"] and pushed["digest"] == response.headers["Docker-Content-Digest"]
    assert pushed["pinned"] == f"{repository}:0.3.0@{pushed['digest']}"
    assert pushed["check"]["run"]["exit_code"] == 0, "the image was checked before it was pushed"

    again = build_json("--project", str(repo), "--push", pack_home=pack_home, tools=tools)
    assert again["digest"] == pushed["digest"], "same inputs: the released image is reused"

    steps = repo / "src" / "ml_pipeline" / "steps.py"
    steps.write_text(steps.read_text().replace("epochs: int = 3", "epochs: int = 4"))
    refused = hera_build("image", "--project", str(repo), "--push", "--no-check", pack_home=pack_home, tools=tools)
    assert refused.returncode == 1
    assert "already released with other content" in refused.stderr and "--force" in refused.stderr
    forced = build_json("--project", str(repo), "--push", "--force", "--no-check", pack_home=pack_home, tools=tools)
    assert forced["digest"] != pushed["digest"]
    for digest in (pushed["digest"], forced["digest"]):  # leave the shared registry as it was
        requests.delete(f"http://{tools.registry}/v2/{name}/manifests/{digest}", timeout=10)


def test_two_builds_of_the_same_commit_give_the_same_image_id(
    built: dict[str, Any], repo: Path, tools: Tools, tmp_path: Path
) -> None:
    # A fresh clone (other paths, other file times) and a fresh pack configuration, hence a cold build cache.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "remote", "set-url", "origin", REMOTE)
    cold_home = tmp_path / "pack-home"
    bp.PackClient(tools.pack, env={"PACK_HOME": str(cold_home)}).trust_builder(tools.builder)
    for tag in built["tags"]:  # nothing for the lifecycle to reuse from the previous image
        tools.engine.client.images.remove(tag)
    again = build_json("--project", str(clone), "--no-check", pack_home=cold_home, tools=tools)
    assert again["image_id"] == built["image_id"]
    assert again["input_digest"] == built["input_digest"]


def test_an_untrusted_builder_is_a_clear_error(repo: Path, tools: Tools, tmp_path: Path) -> None:
    result = hera_build("image", "--project", str(repo), pack_home=tmp_path / "untrusting", tools=tools)
    assert result.returncode == 1
    assert f"builder {tools.builder} is not trusted" in result.stderr
    assert f"pack config trusted-builders add {tools.builder}" in result.stderr


def test_a_missing_builder_is_a_clear_error_before_pack_runs(tools: Tools, pack_home: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "nobuilder", tools, f"{tools.registry}/hera-build-it/nobuilder")
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(tools.builder, "hera-build-test-no-such-builder:1"))
    result = hera_build("image", "--project", str(repo), pack_home=pack_home, tools=tools)
    assert result.returncode == 1
    assert (
        "builder hera-build-test-no-such-builder:1 is not in the Docker engine and pull-policy is never"
        in result.stderr
    )
