"""The corpus (tests/packages/run_corpus) run in real containers: each workflow's phases and outputs, read from
Hera's own model exactly as a system test against Argo reads them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hera_build.testing import LocalRunner
from tests.integration.run.conftest import RecordingContainers

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def hera_run(corpus: Path, run_engine: RecordingContainers, tmp_path: Path) -> LocalRunner:
    run_engine.ran.clear()
    return LocalRunner(project_dir=corpus, engine=run_engine, runs_dir=tmp_path)


def nodes(model: Any) -> dict[str, Any]:
    return {n.display_name: n for n in model.status.nodes.values()}


def phases(model: Any) -> dict[str, str]:
    return {name: n.phase for name, n in nodes(model).items()}


def parameter(node: Any, name: str) -> str:
    return next(p.value for p in node.outputs.parameters if p.name == name)


def test_diamond_dag_with_depends_expressions(hera_run: LocalRunner) -> None:
    model = hera_run("diamond")
    assert model.status.phase == "Succeeded"
    assert {k: v for k, v in phases(model).items() if k in "abcd" or k == "on-failure"} == {
        "a": "Succeeded",
        "b": "Succeeded",
        "c": "Succeeded",
        "d": "Succeeded",
        "on-failure": "Omitted",
    }
    assert nodes(model)["d"].outputs.result == "b-after-a+c"


@pytest.mark.parametrize("side", ["heads", "tails"])
def test_coin_flip_with_when(hera_run: LocalRunner, side: str) -> None:
    model = hera_run("coinflip", parameters={"side": side})
    assert model.status.phase == "Succeeded"
    other = "tails" if side == "heads" else "heads"
    assert phases(model)[side] == "Succeeded" and phases(model)[other] == "Skipped"
    assert nodes(model)[side].outputs.result == f"it was {side}"


def test_with_param_fan_out_over_a_json_output_and_fan_in(hera_run: LocalRunner) -> None:
    model = hera_run("fan-out-fan-in", parameters={"count": "3"})
    assert model.status.phase == "Succeeded"
    group = nodes(model)["square"]
    assert group.type == "TaskGroup" and len(group.children) == 3
    assert [nodes(model)[f"square({i}:{i + 1})"].outputs.result for i in range(3)] == ["1", "4", "9"]
    assert nodes(model)["total"].outputs.result == "14"


def test_an_artifact_passes_between_two_steps(hera_run: LocalRunner) -> None:
    model = hera_run("artifact-passing")
    assert model.status.phase == "Succeeded"
    assert nodes(model)["consume-artifact"].outputs.result == "hello world"
    assert [a.name for a in nodes(model)["generate-artifact"].outputs.artifacts] == ["hello-art"]


def test_a_step_succeeds_on_its_third_retry(hera_run: LocalRunner) -> None:
    model = hera_run("retry-third-time")
    assert model.status.phase == "Succeeded"
    assert nodes(model)["flaky"].type == "Retry"
    assert [phases(model)[f"flaky({i})"] for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert nodes(model)["flaky"].outputs.result == "attempt 2"


def test_the_exit_handler_sees_failed(hera_run: LocalRunner) -> None:
    model = hera_run("exit-handler")
    assert model.status.phase == "Failed"
    assert phases(model)["intentional-fail"] == "Failed"
    assert nodes(model)["notify"].outputs.result == f"{model.metadata.name} Failed"


def test_continue_on_failure(hera_run: LocalRunner) -> None:
    model = hera_run("continue-on")
    assert model.status.phase == "Succeeded"
    assert phases(model)["may-fail"] == "Failed"
    assert nodes(model)["after"].outputs.result == "went on after Failed"


def test_a_timeout_fails_the_step_quickly(hera_run: LocalRunner, run_engine: RecordingContainers) -> None:
    started = time.monotonic()
    model = hera_run("timeout")
    assert time.monotonic() - started < 30, "the 60 s sleep is killed at its 2 s deadline"
    assert model.status.phase == "Failed"
    assert nodes(model)["sleep"].message == "Pod was active on the node longer than the specified deadline"
    assert run_engine.leftovers() == []


def test_runner_scripts_with_pydantic_inputs_and_annotated_outputs(hera_run: LocalRunner) -> None:
    model = hera_run("runner-io", parameters={"order": '{"item": "pear", "quantity": 3}'})
    assert model.status.phase == "Succeeded"
    assert parameter(nodes(model)["price"], "total") == "7.5"
    describe = nodes(model)["describe"]
    assert parameter(describe, "summary") == "3 x pear = 7.5"
    assert parameter(describe, "count") == "3"


def test_a_bad_pydantic_input_fails_the_runner_step(hera_run: LocalRunner) -> None:
    model = hera_run("runner-io", parameters={"order": '{"item": "pear"}'})
    assert model.status.phase == "Failed"
    assert phases(model)["price"] == "Failed"
    assert "quantity" in hera_run.last.log(nodes(model)["price"].id)  # type: ignore[union-attr]


def test_template_refs_run_in_the_providers_image_at_the_pinned_version(
    hera_run: LocalRunner,
    run_engine: RecordingContainers,
    example_images: dict[str, str],
) -> None:
    model = hera_run("provider-refs")
    assert model.status.phase == "Succeeded"
    assert nodes(model)["validate"].template_ref.name == "validate-dataset-v1-4-0"
    assert nodes(model)["stats"].template_ref.name == "dataset-stats-v1-4-0"
    assert nodes(model)["stats"].outputs.result == "s3://corpus/data: 20 rows"
    assert {spec.image for spec in run_engine.ran} == {example_images["data-utils"]}
    assert example_images["data-utils"].endswith("/acme/data-utils:1.4.0")
