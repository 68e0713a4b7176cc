"""`hera-build templates` on code shaped like real users': many modules, shared `generateName`s, modules that
print, templated refs. Every object is in the output exactly once, `--json` lists exactly what was written, and
machine output stays valid whatever user code prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.unit import test_cli_errors
from tests.unit.test_cli_errors import Result, edit, package_of

hera_build = test_cli_errors.hera_build  # the fixtures that run the CLI in-process on a small installed project
project = test_cli_errors.project

ROOT = Path(__file__).resolve().parents[2]

RUNS = """\
import os

from hera.workflows import Container, Workflow
from hera.workflows.models import WorkflowTemplateRef

with Workflow(generate_name="hello-", entrypoint="main") as run:
    Container(name="main", image="busybox:1.36", command=["echo", "{module}"])

with Workflow(generate_name="greet-", workflow_template_ref=WorkflowTemplateRef(name="greet")) as greet_run:
    pass

templated = WorkflowTemplateRef(name="{{{{workflow.parameters.wt}}}}")
with Workflow(generate_name="pick-", workflow_template_ref=templated) as pick:
    pass

print(run.to_yaml())
os.write(1, b"{module} wrote to descriptor 1\\n")
"""


def add_run_modules(project: Path, *names: str) -> list[str]:
    """Modules that each define Workflows with the same generateNames, and print at import."""
    package = package_of(project)
    modules = [f"{package}.workflows"]
    for name in names:
        (project / "src" / package / f"{name}.py").write_text(RUNS.format(module=name))
        modules.append(f"{package}.{name}")
    listed = ", ".join(f'"{m}"' for m in modules)
    edit(project / "pyproject.toml", f'modules = ["{package}.workflows"]', f"modules = [{listed}]")
    return modules


def files_under(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_every_object_is_written_once_and_json_lists_exactly_what_was_written(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    add_run_modules(project, "runs_a", "runs_b")
    out = project / "dist" / "argo"
    result = hera_build("templates", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    objects = summary["objects"]
    assert len(objects) == 7, "greet, and hello-, greet-, pick- from each of two modules"
    files = [Path(o["file"]) for o in objects]
    assert len(set(files)) == 7, "one file per object"
    assert all(
        f.is_file() and yaml.safe_load(f.read_text())["kind"] == o["kind"] for f, o in zip(files, objects, strict=True)
    )
    written = {str(f.relative_to(out)) for f in files}
    assert set(summary["new"]) == written and summary["unchanged"] == summary["replaced"] == []
    assert files_under(out) == written | {"kustomization.yaml"}
    assert summary["kustomization"] == str(out / "kustomization.yaml")
    resources = yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]
    assert resources == ["workflowtemplate-greet-v1-0-0.yaml"], "kubectl apply -k cannot create generateName objects"
    assert sorted(w for w in written if w.startswith("submit/1.0.0/")) == sorted(
        f"submit/1.0.0/workflow-{base}.{package_of(project)}.{module}.{attribute}.yaml"
        for module in ("runs_a", "runs_b")
        for base, attribute in (("hello", "run"), ("greet", "greet_run"), ("pick", "pick"))
    )
    greet_run = yaml.safe_load((out / next(w for w in written if "workflow-greet." in w)).read_text())
    assert greet_run["spec"]["workflowTemplateRef"]["name"] == "greet-v1-0-0"
    pick = yaml.safe_load((out / next(w for w in written if "workflow-pick." in w)).read_text())
    assert pick["spec"]["workflowTemplateRef"]["name"] == "{{workflow.parameters.wt}}", "templated: left as written"
    assert "hello-" in result.err and "wrote to descriptor 1" not in result.out


def test_the_next_version_goes_next_to_the_previous_one(project: Path, hera_build: Callable[..., Result]) -> None:
    add_run_modules(project, "runs_a")
    assert hera_build("templates").code == 0
    bumped = hera_build("templates", "--version", "1.1.0")
    assert bumped.code == 0, bumped.err
    assert "outside the kustomization" in bumped.err and "argo submit" in bumped.err
    out = project / "dist" / "argo"
    assert {p.name for p in (out / "submit").iterdir()} == {"1.0.0", "1.1.0"}
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == [
        "workflowtemplate-greet-v1-0-0.yaml",
        "workflowtemplate-greet-v1-1-0.yaml",
    ]


def test_a_template_with_only_generate_name_is_one_error_naming_its_module(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    module.write_text(
        module.read_text() + '\nwith WorkflowTemplate(generate_name="adhoc-", entrypoint="main") as adhoc:\n    pass\n'
    )
    result = hera_build("templates")
    result.one_error(f"WorkflowTemplate {package_of(project)}.workflows.adhoc has no name (generateName 'adhoc-')")
    assert not (project / "dist").exists()


def test_json_and_stdout_stay_valid_when_user_code_prints_in_a_real_process(project: Path) -> None:
    """Descriptor-level output of user code (C extensions, subprocesses) too: only a separate process shows it."""
    add_run_modules(project, "runs_a")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "src"), str(ROOT)])}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hera_build", "templates", *args]
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)

    as_json = run("--json")
    assert as_json.returncode == 0, as_json.stderr
    assert len(json.loads(as_json.stdout)["objects"]) == 4
    assert "runs_a wrote to descriptor 1" in as_json.stderr
    stream = run("--stdout")
    assert stream.returncode == 0, stream.stderr
    documents = list(yaml.safe_load_all(stream.stdout))
    assert [d["kind"] for d in documents] == ["WorkflowTemplate", "Workflow", "Workflow", "Workflow"]
