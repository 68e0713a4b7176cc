"""The consumer example's train-pipeline end to end: through ``hera-build run`` and through the pytest fixture, and
Hera's own system test (from its talks and its test suite) with only ``create(wait=True)`` swapped."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hera_build.testing import LocalRunner
from tests.integration.run.conftest import RecordingContainers
from tests.support.runs import EXAMPLES, ROOT

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def ml_pipeline(tmp_path: Path, example_images: dict[str, str]) -> Path:
    """A copy of the example (runs write under the project), its images in the registry."""
    copy = tmp_path / "ml-pipeline"
    shutil.copytree(EXAMPLES / "ml-pipeline", copy, ignore=shutil.ignore_patterns(".hera-build", "build", "dist"))
    return copy


def expected_model_and_verdict() -> tuple[str, str]:
    """What train and evaluate return for the template's arguments, computed by the functions themselves."""
    from ml_pipeline.steps import TrainingConfig, evaluate, train

    model = train("s3://acme/datasets/iris", TrainingConfig(learning_rate=0.1))
    return model, evaluate(model)


def test_train_pipeline_through_the_command_line(ml_pipeline: Path, run_engine: RecordingContainers) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "hera_build", "run", "train-pipeline", "--json"],
        cwd=ml_pipeline,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    workflow = json.loads(done.stdout)
    assert workflow["kind"] == "Workflow" and workflow["status"]["phase"] == "Succeeded"
    by_name = {n["displayName"]: n for n in workflow["status"]["nodes"].values()}
    model, verdict = expected_model_and_verdict()
    assert by_name["validate"]["outputs"]["result"] == "s3://acme/datasets/iris"
    assert by_name["validate"]["templateRef"]["name"] == "validate-dataset-v1-4-0"
    assert by_name["train"]["outputs"]["result"] == model
    assert by_name["evaluate"]["outputs"]["result"] == verdict
    assert "✔ evaluate" in done.stderr, "the node tree is drawn on stderr"
    run_dir = ml_pipeline / ".hera-build" / "runs" / workflow["metadata"]["name"]
    assert (run_dir / "workflow.json").is_file()
    assert (run_dir / "logs" / f"{by_name['train']['id']}.log").is_file()
    assert run_engine.leftovers() == []


def test_a_failing_run_exits_1_and_shows_the_failing_node(ml_pipeline: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "hera_build", "run", "train-pipeline", "-p", "rows=0"],
        cwd=ml_pipeline,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1
    assert "failed: validate (Failed: Error (exit code 1))" in done.stderr
    assert "ValueError: s3://acme/datasets/iris has 0 rows, fewer than 1" in done.stderr


def test_train_pipeline_through_the_fixture(ml_pipeline: Path, tmp_path: Path, run_engine: RecordingContainers) -> None:
    from ml_pipeline.workflows import train_pipeline

    hera_run = LocalRunner(project_dir=ml_pipeline, engine=run_engine, runs_dir=tmp_path / "runs")
    model = hera_run(train_pipeline)
    assert model.status.phase == "Succeeded"
    evaluate = next(n for n in model.status.nodes.values() if n.display_name == "evaluate")
    assert evaluate.outputs.result == expected_model_and_verdict()[1]
    assert model.metadata.name.startswith("train-pipeline-v0-3-0-")


def test_a_workflow_written_in_a_test_runs_the_projects_steps_in_its_image(
    ml_pipeline: Path, tmp_path: Path, run_engine: RecordingContainers, example_images: dict[str, str]
) -> None:
    from hera.workflows import DAG, Workflow
    from ml_pipeline.steps import TrainingConfig, evaluate, train

    with Workflow(generate_name="adhoc-", entrypoint="main") as workflow:
        with DAG(name="main"):
            trained = train(name="train", arguments={"data_uri": "s3://adhoc", "config": '{"epochs": 1}'})
            trained >> evaluate(name="evaluate", arguments={"model_uri": trained.result})
    run_engine.ran.clear()
    model = LocalRunner(project_dir=ml_pipeline, engine=run_engine, runs_dir=tmp_path / "runs")(workflow)
    assert model.status.phase == "Succeeded"
    train_node = next(n for n in model.status.nodes.values() if n.display_name == "train")
    assert train_node.outputs.result == train("s3://adhoc", TrainingConfig(epochs=1))
    assert {spec.image for spec in run_engine.ran} == {example_images["ml-pipeline"]}


HERA_SYSTEM_TEST = """
from hera.workflows import Parameter, Steps, Workflow, WorkflowsService, script
from hera.workflows.models import NodeStatus, Parameter as ModelParameter, Workflow as ModelWorkflow


@script(outputs=Parameter(name="message-out", value_from={"path": "/tmp/message-out"}))
def echo_to_param(message: str):
    with open("/tmp/message-out", "w") as f:
        f.write(message)


def get_workflow() -> Workflow:
    with Workflow(
        generate_name="hello-world-",
        entrypoint="steps",
        namespace="argo",
        workflows_service=WorkflowsService(host="https://localhost:2746", namespace="argo", verify_ssl=False),
        service_account_name="argo",
    ) as w:
        with Steps(name="steps"):
            echo_to_param(arguments={"message": "Hello world!"})
    return w


def test_create_hello_world(hera_run):
    model_workflow = hera_run(get_workflow(), wait=True)
    assert isinstance(model_workflow, ModelWorkflow)
    assert model_workflow.status and model_workflow.status.phase == "Succeeded"

    assert model_workflow.status.nodes
    echo_node: NodeStatus = next(
        filter(lambda n: n.display_name == "echo-to-param", model_workflow.status.nodes.values())
    )
    assert echo_node.outputs and echo_node.outputs.parameters
    message_out: ModelParameter = next(filter(lambda n: n.name == "message-out", echo_node.outputs.parameters))
    assert message_out.value == "Hello world!"
"""


def test_heras_system_test_runs_with_only_the_create_call_swapped(
    tmp_path: Path,
    run_engine: RecordingContainers,
) -> None:
    base = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3")
    (tmp_path / "test_hello_world.py").write_text(HERA_SYSTEM_TEST)
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            f"""\
            [pytest]
            hera_build_images =
                python:3.10={base}
            """
        )
    )
    installed = any(ep.name == "hera_build" for ep in importlib.metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "hera_build.testing.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, "test_hello_world.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
