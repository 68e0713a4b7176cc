"""The oci backend for real: the consumer example built with no engine, pushed to the local registry, pulled and
run offline by a real engine; rebuilt on clean caches to the same digest; a one-line change uploads one layer.

The project under test is a copy of examples/ml-pipeline in ``tmp_path`` (so a line can be changed without
touching the repository): its wheel is built from that copy, its dependencies (hera, pydantic, the editable
data-utils) are the ones installed in this environment, as for every hera-build build.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.image.backends import BuildRequest, BuildResult
from hera_build.image.backends.oci import OciBuilder, OciOptions
from hera_build.image.check import ARGS_PATH, RunnerCase, run_on_host, runner_cases, runner_entrypoints
from hera_build.image.engine import connect_engine
from hera_build.image.registry import RegistryApi, open_registry
from hera_build.publish.pipeline import ShipOptions, ship
from tests.integration.conftest import require_component

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ml-pipeline"
DEFAULT_BASE_OCI = Path("/var/cache/hera-build-ci/base/hera-build-base_bookworm-python3.oci")
# Inputs for runner entrypoints that no template of the example gives a value for every input (evaluate's
# model_uri comes from train's output at run time).
EXTRA_INPUTS = {
    "ml_pipeline.steps:evaluate": (
        {"name": "model_uri", "value": "s3://acme/datasets/iris/model-a"},
        {"name": "threshold", "value": "0.5"},
    )
}


@pytest.fixture(scope="module")
def remote_base(registry: str) -> str:
    """The debootstrap base image in the local registry (scripts/base-image.sh --push)."""
    name = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", f"{registry}/hera-build-base:bookworm-python3")
    ref = parse_image_ref(name)
    if open_registry(ref.registry).manifest_digest(ref.path, ref.tag or "latest") is None:
        require_component(f"base image {name} is not in the registry; run scripts/base-image.sh --push")
    return name


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    target = tmp_path / "ml-pipeline"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    return target


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DOCKER_HOST points at a socket nobody listens on (the shared engine keeps running for others)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    assert connect_engine() is None, "the build must run with no engine reachable"
    yield


def _build(
    project: Project,
    image: ImageRef,
    base: str,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    incremental: bool = True,
    **kwargs: Any,
) -> tuple[BuildResult, OciBuilder]:
    """A build on the caches under ``cache`` (wheels and layers), as a fresh machine would have them."""
    monkeypatch.setenv("HERA_BUILD_CACHE_DIR", str(cache))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    builder = OciBuilder(OciOptions(cache_dir=cache / "oci", load=False, incremental_wheels=incremental))
    push, force = kwargs.pop("push", False), kwargs.pop("force", False)
    request = BuildRequest(project=project, image=image, base_image=base, **kwargs)
    shipped = ship(builder, request, ShipOptions(push=push, force=force), RegistryApi(), engine=lambda: None)
    builder.published = shipped.published  # type: ignore[attr-defined]
    return shipped.result, builder


def _cases(project: Project) -> list[RunnerCase]:
    """One case per runner entrypoint of the project's templates."""
    from hera_build.templates.build import TemplateOptions, build_templates

    manifests = [obj.manifest for obj in build_templates(TemplateOptions(project_dir=project.root), project).objects]
    cases = {case.entrypoint: case for case in runner_cases(manifests)}
    for entrypoint, inputs in EXTRA_INPUTS.items():
        if entrypoint not in cases:
            template = next(iter(cases.values()))
            cases[entrypoint] = RunnerCase(
                "extra", entrypoint.rpartition(":")[2], entrypoint, template.command,
                ("-m", "hera.workflows.runner", "-e", entrypoint), inputs,
            )  # fmt: skip
    assert set(cases) == set(runner_entrypoints(manifests)), "every runner entrypoint needs inputs"
    return list(cases.values())


def _run_in_image(engine: Any, image: str, case: RunnerCase) -> Any:
    return engine.run(
        image, entrypoint=list(case.command), command=[*case.args, ARGS_PATH], files={ARGS_PATH: case.args_json()},
        env=case.env, timeout=180,
    )  # fmt: skip


def test_build_without_engine_push_pull_run_reproduce_and_change_one_line(
    project_copy: Path,
    remote_base: str,
    unique_repository: Any,
    docker_engine: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_engine: None,
) -> None:
    project = load_project(project_copy)
    image = parse_image_ref(unique_repository("ml-pipeline")).with_tag(project.version.tag)

    # 1. no engine, clean caches: build and push
    first, builder = _build(project, image, remote_base, tmp_path / "cache-a", monkeypatch, push=True)
    report, push = builder.last_report, builder.published.pushes[0]  # type: ignore[attr-defined]
    assert report is not None and not report.loaded
    assert {b.role: b.action for b in push.blobs} == {
        "base": "mounted", "dependencies": "uploaded", "application": "uploaded", "config": "uploaded",
    }  # fmt: skip
    assert first.pushed and report.image is not None
    roles = [layer.role for layer in report.image.layers]
    assert roles[-1] == "application" and roles.count("dependencies") > 2, "venv, dependency groups, application"
    # the label is the shared input digest: what `hera-build plan` predicts without building
    from hera_build.release.pipeline import ReleaseOptions, plan

    predicted = plan(ReleaseOptions(project_dir=project_copy, backend="oci", base_image=remote_base, push=True,
                                    out=tmp_path / "plan-out", manifest=tmp_path / "plan.json"))  # fmt: skip
    assert predicted.input_digest == first.input_digest, "plan computes the inputs as the build does"

    # 2. again on other clean caches (wheels downloaded again): the same image, bit for bit
    again, builder = _build(project, image, remote_base, tmp_path / "cache-b", monkeypatch, output=tmp_path / "again")
    assert again.digest == first.digest and again.layers == first.layers and again.image_id == first.image_id
    assert again.input_digest == first.input_digest

    # 3. one line of code changed: only the application layer changes, and only it (and the config) goes up
    steps = project_copy / "src/ml_pipeline/steps.py"
    steps.write_text(steps.read_text().replace('f"{data_uri}/model-lr', 'f"{data_uri}/model-v2-lr'))
    changed, builder = _build(project, image, remote_base, tmp_path / "cache-b", monkeypatch, push=True, force=True)
    report, push = builder.last_report, builder.published.pushes[0]  # type: ignore[attr-defined]
    assert report is not None and report.dependency_layers_cached
    assert changed.layers[:-1] == first.layers[:-1] and changed.layers[-1] != first.layers[-1]
    assert [blob.role for blob in push.uploaded] == ["application", "config"]
    assert push.manifests_put == 1
    assert report.wheel_patched, "only a .py file changed: the previous wheel is patched, the backend not run"

    # 3b. the patched wheel is what the build backend makes: a real build on clean caches gives the same image
    real, builder = _build(
        project, image, remote_base, tmp_path / "cache-c", monkeypatch, output=tmp_path / "real", incremental=False
    )
    assert builder.last_report is not None and not builder.last_report.wheel_patched
    assert real.digest == changed.digest

    # 4. with the engine: pull both images and run every runner entrypoint offline
    monkeypatch.undo()
    client = docker_engine.client
    released = client.images.pull(image.repository, tag=f"{image.tag}").id  # the tag now holds the changed image
    assert released == changed.image_id
    old = client.images.pull(f"{image.repository}@{first.digest}").id
    assert old == first.image_id
    for case in _cases(project):
        expected = run_on_host(case)
        assert expected.exit_code == 0 and expected.stdout.strip(), expected.stderr
        outcome = _run_in_image(docker_engine, old, case)
        assert (outcome.exit_code, outcome.stdout) == (0, expected.stdout), outcome.stderr
    train = next(case for case in _cases(project) if case.entrypoint.endswith(":train"))
    assert "/model-v2-lr" in _run_in_image(docker_engine, released, train).stdout


def test_base_from_an_oci_layout_to_a_docker_load_archive(
    project_copy: Path, docker_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_engine: None
) -> None:
    layout = Path(os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_OCI", DEFAULT_BASE_OCI))
    if not (layout / "index.json").is_file():
        require_component(f"no OCI layout of the base image at {layout}; run scripts/base-image.sh")
    project = load_project(project_copy)
    image = parse_image_ref(f"hera-build-test/oci-layout-base:{project.version.tag}")

    result, _ = _build(project, image, f"oci:{layout}", tmp_path / "cache", monkeypatch, output=tmp_path / "image.tar")
    layout_out, _ = _build(project, image, f"oci:{layout}", tmp_path / "cache", monkeypatch, output=tmp_path / "oci")
    assert layout_out.digest == result.digest
    index = json.loads((tmp_path / "oci/index.json").read_text())
    assert index["manifests"][0]["digest"] == result.digest

    monkeypatch.undo()
    with (tmp_path / "image.tar").open("rb") as stream:
        loaded = docker_engine.client.images.load(stream)
    assert [img.id for img in loaded] == [result.image_id]
    try:
        train = next(case for case in _cases(project) if case.entrypoint.endswith(":train"))
        outcome = _run_in_image(docker_engine, str(image), train)
        assert (outcome.exit_code, outcome.stdout) == (0, run_on_host(train).stdout), outcome.stderr
    finally:
        docker_engine.client.images.remove(str(image), force=True)
