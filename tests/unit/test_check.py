"""The image check, with a fake container runner: what is verified, which template runs end to end with which
inputs, and how each way of being wrong is reported."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.project import Project, load_project
from hera_build.errors import CheckError
from hera_build.image.check import ARGS_PATH, CheckOptions, RunnerCase, check_image, runner_cases, runner_entrypoints
from hera_build.image.target import RunOutcome


def runner_template(
    name: str, entry: str, inputs: list[dict[str, str]], command: list[str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "inputs": {"parameters": inputs},
        "script": {
            "command": command or ["python"],
            "args": ["-m", "hera.workflows.runner", "-e", entry],
            "image": "registry.test/acme/app:1.0",
            "source": "{{inputs.parameters}}",
            "env": [{"name": "hera__script_pydantic_io", "value": ""}],
        },
    }


PIPELINE: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "train-pipeline-v1-0"},
    "spec": {
        "arguments": {"parameters": [{"name": "data-uri", "value": "s3://bucket/iris"}]},
        "templates": [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {"name": "v", "templateRef": {"name": "x", "template": "y"}},
                        {
                            "name": "train",
                            "template": "train",
                            "arguments": {
                                "parameters": [
                                    {"name": "data_uri", "value": "{{workflow.parameters.data-uri}}"},
                                    {"name": "config", "value": '{"lr": 0.1}'},
                                ]
                            },
                        },
                        {
                            "name": "evaluate",
                            "template": "evaluate",
                            "arguments": {
                                "parameters": [{"name": "model_uri", "value": "{{tasks.train.outputs.result}}"}]
                            },
                        },
                    ]
                },
            },
            runner_template("train", "app.steps:train", [{"name": "data_uri"}, {"name": "config"}]),
            runner_template(
                "evaluate", "app.steps:evaluate", [{"name": "model_uri"}, {"name": "threshold", "default": "0.5"}]
            ),
            {"name": "plain", "container": {"image": "busybox"}},
        ],
    },
}
CRON = {
    "kind": "CronWorkflow",
    "metadata": {"name": "nightly"},
    "spec": {
        "workflowSpec": {"templates": [runner_template("stats", "app.steps:stats", [{"name": "n", "default": "3"}])]}
    },
}


def test_entrypoints_are_every_runner_module_function_once() -> None:
    assert runner_entrypoints([PIPELINE, CRON, PIPELINE]) == (
        "app.steps:evaluate",
        "app.steps:stats",
        "app.steps:train",
    )


def test_a_case_takes_inputs_from_the_calling_task_with_workflow_arguments_filled_in() -> None:
    cases = runner_cases([PIPELINE])
    assert [c.template for c in cases] == ["train"], "evaluate needs another task's output: it cannot run alone"
    case = cases[0]
    assert case.inputs == (
        {"name": "data_uri", "value": "s3://bucket/iris"},
        {"name": "config", "value": '{"lr": 0.1}'},
    )
    assert json.loads(case.args_json()) == [dict(i) for i in case.inputs], "Argo's {{inputs.parameters}}: a JSON list"
    assert case.args == ("-m", "hera.workflows.runner", "-e", "app.steps:train")
    assert case.env == {"hera__script_pydantic_io": ""}


def test_input_defaults_make_a_template_runnable() -> None:
    assert [c.inputs for c in runner_cases([CRON])] == [({"name": "n", "value": "3"},)]


class FakeImage:
    """A container runner for an image with given package versions, importable entrypoints and runner output."""

    def __init__(
        self,
        *,
        dist: str | None = "1.0",
        hera: str | None = "7.1.0",
        broken: Mapping[str, str] | None = None,
        run: RunOutcome | None = None,
    ) -> None:
        self.dist, self.hera, self.broken = dist, hera, dict(broken or {})
        self.result = run or RunOutcome(0, "s3://bucket/iris/model\n", "")
        self.calls: list[dict[str, Any]] = []

    def image_id(self, image: str) -> str:
        return "sha256:" + "0" * 64

    def run(
        self,
        image: str,
        *,
        entrypoint: list[str],
        command: list[str],
        files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> RunOutcome:
        self.calls.append(
            {"entrypoint": entrypoint, "command": command, "files": dict(files or {}), "env": dict(env or {})}
        )
        if "-c" in command:
            entries = command[command.index("-c") + 3 :]
            imports = {e: self.broken.get(e) for e in entries}
            data = {"python": "3.11.2", "distribution": self.dist, "hera": self.hera, "imports": imports}
            return RunOutcome(0, "module-level print\nHERA_BUILD_CHECK " + json.dumps(data) + "\n", "")
        return self.result


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1.0"\ndependencies = ["hera"]\n')
    return load_project(tmp_path)


def same_on_host(case: RunnerCase) -> RunOutcome:
    return RunOutcome(0, "s3://bucket/iris/model\n", "")


def check(project: Project, image: FakeImage, **kwargs: Any):  # type: ignore[no-untyped-def]
    return check_image(
        "img", project, runner=image, manifests=[PIPELINE], reference=kwargs.pop("reference", same_on_host), **kwargs
    )


def test_a_good_image_passes_and_runs_one_template_as_argo_does(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    image = FakeImage()
    result = check(project, image)
    assert result.entrypoints == ("app.steps:evaluate", "app.steps:train")
    assert result.run is not None and result.run.output.strip() == "s3://bucket/iris/model"
    inspect, run = image.calls
    assert inspect["entrypoint"] == ["python"] and inspect["command"][2:] == [
        "app",
        "app.steps:evaluate",
        "app.steps:train",
    ]
    assert run["entrypoint"] == ["python"], "the template's command replaces the image entrypoint, as in Argo"
    assert run["command"] == ["-m", "hera.workflows.runner", "-e", "app.steps:train", ARGS_PATH]
    assert json.loads(run["files"][ARGS_PATH])[0] == {"name": "data_uri", "value": "s3://bucket/iris"}
    assert run["env"] == {"hera__script_pydantic_io": ""}


def test_every_problem_is_listed_in_one_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    image = FakeImage(
        dist="0.9", hera="6.0.0", broken={"app.steps:train": "ModuleNotFoundError: No module named 'torch'"}
    )
    with pytest.raises(CheckError) as info:
        check(project, image)
    message = info.value.message
    assert "app is 0.9, not 1.0" in message
    assert "hera is 6.0.0, but the templates are emitted with hera 7.1.0" in message
    assert "app.steps:train does not import (ModuleNotFoundError: No module named 'torch')" in message
    assert len(image.calls) == 1, "nothing is run end to end in an image that is already known to be wrong"


def test_a_missing_distribution_is_reported(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    with pytest.raises(CheckError, match="app is not installed; hera is not installed"):
        check(project, FakeImage(dist=None, hera=None))


def test_a_failing_runner_is_reported_with_its_last_line(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    image = FakeImage(run=RunOutcome(1, "", "Traceback...\npydantic_core.ValidationError: 1 validation error"))
    with pytest.raises(
        CheckError,
        match=r"train-pipeline-v1-0/train \(app.steps:train\) exits with 1 in img: pydantic_core.ValidationError",
    ):
        check(project, image)


def test_output_must_match_the_emitting_environment(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    with pytest.raises(
        CheckError, match="prints 'something else' in img, but 's3://bucket/iris/model' in this environment"
    ):
        check(project, FakeImage(run=RunOutcome(0, "something else\n", "")))


def test_the_runner_command_can_go_through_a_launcher(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")
    image = FakeImage()
    launcher = ("/cnb/lifecycle/launcher", "--", "python")
    check(project, image, options=CheckOptions(python_command=launcher, runner_command=launcher))
    assert image.calls[0]["entrypoint"] == ["/cnb/lifecycle/launcher"] and image.calls[0]["command"][:2] == [
        "--",
        "python",
    ]
    assert image.calls[1]["command"][:4] == ["--", "python", "-m", "hera.workflows.runner"]


def test_an_image_without_python_is_one_clear_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.image.check._emitting_hera", lambda: "7.1.0")

    class NoPython(FakeImage):
        def run(self, image: str, **kwargs: Any) -> RunOutcome:
            return RunOutcome(127, "", 'exec: "python": executable file not found in $PATH')

    with pytest.raises(CheckError, match=r"image img cannot run Python with 'python' \(exit code 127: exec"):
        check(project, NoPython())


def test_the_host_reference_run_uses_the_real_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_on_host really runs Hera's runner here (no container): the reference the image is compared with."""
    from hera_build.image.check import run_on_host

    (tmp_path / "hb_check_sample.py").write_text(
        "from hera.workflows import script\n\n"
        "@script(constructor='runner')\ndef double(n: int) -> int:\n    return 2 * n\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    args = ("-m", "hera.workflows.runner", "-e", "hb_check_sample:double")
    case = RunnerCase("wt", "double", "hb_check_sample:double", ("python",), args, ({"name": "n", "value": "21"},))
    outcome = run_on_host(case)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.strip() == "42"
