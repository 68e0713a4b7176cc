"""Reference pages: what users of a template need (names, inputs with types, refs and their versions)."""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import pytest

from hera_build._cli import main
from hera_build.core.project import load_project
from hera_build.errors import OutputError
from hera_build.templates.build import TemplateOptions, TemplatesResult, build_templates
from hera_build.templates.emit import PinnedObject
from hera_build.templates.refdocs import (
    GENERATED_MARKER,
    reference_pages,
    runner_entrypoint,
    runner_signature,
    type_name,
    write_pages,
)
from hera_build.templates.resolve import Pin

_counter = itertools.count()

STEPS = '''\
    from typing import Annotated, Optional

    from pydantic import BaseModel, Field

    from hera.workflows import Parameter, script
    from hera.workflows.io import Input, Output


    class Dataset(BaseModel):
        """Where a dataset lives.

        Not this paragraph."""

        uri: str = Field(description="s3 URI of the data")
        rows: int = 10


    class Options(BaseModel):
        dataset: Dataset
        tags: list[str] = Field(default_factory=list, description="free-form labels")


    @script(constructor="runner")
    def validate(dataset: Dataset, min_rows: Annotated[int, Parameter(description="fail below this")] = 1) -> str:
        """Check a dataset's size.

        Details that the page leaves out."""
        return dataset.uri


    class TrainIn(Input):
        rate: Annotated[float, Parameter(description="learning rate")] = 0.1
        epochs: int = 3


    class TrainOut(Output):
        model_uri: Annotated[str, Parameter(name="model-uri", description="where the model went")]


    @script(constructor="runner")
    def train(inputs: TrainIn) -> TrainOut:
        return TrainOut(model_uri="s3://m")


    @script(constructor="runner")
    def score(
        model: str, limit: Optional[int] = None, options: Optional[Options] = None
    ) -> Annotated[float, Parameter(name="score", description="the model's score")]:
        return 0.5
    '''

WORKFLOWS = """\
    from hera.workflows import DAG, Container, Parameter, WorkflowTemplate

    from {pkg}.steps import score, train, validate

    with WorkflowTemplate(
        name="pipeline",
        entrypoint="main",
        annotations={{
            "workflows.argoproj.io/title": "The training pipeline",
            "workflows.argoproj.io/description": "Validates, trains | scores.",
        }},
        arguments=[Parameter(name="data", value="s3://acme/iris", description="input data")],
    ) as pipeline:
        gpu = Container(name="gpu", image="nvidia/cuda:12.4.0-runtime-ubuntu22.04", command=["nvidia-smi"])
        with DAG(name="main"):
            checked = validate(arguments={{"dataset": '{{"uri": "s3://x"}}'}})
            trained = train(arguments={{"rate": "0.2"}})
            scored = score(arguments={{"model": "s3://m"}})
            checked >> trained >> scored >> gpu()
    """


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A project with rich runner signatures, importable by name (as if installed)."""
    pkg = f"docsample{next(_counter)}"
    package = tmp_path / "src" / pkg
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(textwrap.dedent(STEPS))
    (package / "workflows.py").write_text(textwrap.dedent(WORKFLOWS.format(pkg=pkg)))
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "{pkg}"\nversion = "2.1.0rc1"\n\n'
        f'[tool.hera-build]\nimage = "registry.example.com/acme/{pkg}"\nmodules = ["{pkg}.workflows"]\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield tmp_path, pkg
    for module in [m for m in sys.modules if m == pkg or m.startswith(f"{pkg}.")]:
        del sys.modules[module]


def section(page: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = page.index(heading + "\n")
    rest = page[start + len(heading) + 1 :]
    ends = [rest.find(f"\n{'#' * n} ") for n in range(1, len(level) + 1)]
    ends = [e for e in ends if e >= 0]
    return rest[: min(ends)] if ends else rest


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, "int"),
        (list[str], "list[str]"),
        (Optional[int], "int | None"),  # noqa: UP045 - the old spelling is what is being tested
        (Union[int, str], "int | str"),  # noqa: UP007
        (int | None, "int | None"),
        (dict[str, list[int]], "dict[str, list[int]]"),
        (tuple[int, ...], "tuple[int, ...]"),
        (Literal["a", "b"], "Literal['a', 'b']"),
        (Annotated[float, "meta"], "float"),
        (Path, "Path"),
        ("Forward", "Forward"),
    ],
)
def test_type_name(annotation: object, expected: str) -> None:
    assert type_name(annotation) == expected


def test_runner_signature_reads_types_defaults_descriptions_and_models(project: tuple[Path, str]) -> None:
    _, pkg = project
    signature = runner_signature(f"{pkg}.steps:validate")
    assert signature.summary == "Check a dataset's size."
    assert signature.inputs["dataset"].type == "Dataset" and signature.inputs["dataset"].required
    assert signature.inputs["min_rows"].type == "int"
    assert signature.inputs["min_rows"].default == "1"
    assert signature.inputs["min_rows"].description == "fail below this"
    assert signature.result == "str"
    [dataset] = signature.models
    assert dataset.name == "Dataset" and dataset.description == "Where a dataset lives."
    assert [(f.name, f.type, f.default, f.description) for f in dataset.fields] == [
        ("uri", "str", None, "s3 URI of the data"),
        ("rows", "int", "10", ""),
    ]


def test_hera_input_and_output_classes_are_expanded(project: tuple[Path, str]) -> None:
    _, pkg = project
    signature = runner_signature(f"{pkg}.steps:train")
    assert {name: (f.type, f.default, f.description) for name, f in signature.inputs.items()} == {
        "rate": ("float", "0.1", "learning rate"),
        "epochs": ("int", "3", ""),
    }
    assert {name: (f.type, f.description) for name, f in signature.outputs.items()} == {
        "model-uri": ("str", "where the model went")
    }
    assert signature.result is None, "an Output class is not printed to stdout"
    assert signature.models == ()


def test_annotated_return_and_nested_models(project: tuple[Path, str]) -> None:
    _, pkg = project
    signature = runner_signature(f"{pkg}.steps:score")
    assert signature.inputs["limit"].type == "int | None" and signature.inputs["limit"].default == "None"
    assert signature.outputs["score"].type == "float" and signature.outputs["score"].description == "the model's score"
    assert [m.name for m in signature.models] == ["Options", "Dataset"], "models reachable through fields, once each"
    tags = next(f for f in signature.models[0].fields if f.name == "tags")
    assert (tags.type, tags.default, tags.description) == ("list[str]", "(computed)", "free-form labels")


def test_runner_entrypoint() -> None:
    runner = {"name": "t", "script": {"args": ["-m", "hera.workflows.runner", "-e", "pkg.mod:fn"], "image": "x"}}
    assert runner_entrypoint(runner) == "pkg.mod:fn"
    assert runner_entrypoint({"name": "t", "script": {"source": "print(1)", "image": "x"}}) is None
    assert runner_entrypoint({"name": "t", "container": {"image": "x"}}) is None


def test_pages_document_the_emitted_objects(project: tuple[Path, str]) -> None:
    root, pkg = project
    result = build_templates(TemplateOptions(project_dir=root))
    pages = reference_pages(result)
    assert set(pages) == {"index.md", "workflowtemplate-pipeline.md"}
    page = pages["workflowtemplate-pipeline.md"]
    assert page.startswith(GENERATED_MARKER + "\n")
    assert "# The training pipeline\n" in page
    assert "\nValidates, trains | scores.\n" in page
    assert "| Versioned name | `pipeline-v2-1-0rc1` |" in page
    assert f"| Defined in | `{pkg}.workflows.pipeline` |" in page
    assert "| Entrypoint | `main` |" in page
    assert f"| Image | `registry.example.com/acme/{pkg}:2.1.0rc1` |" in page
    assert "| Image | `nvidia/cuda:12.4.0-runtime-ubuntu22.04` |" in page
    assert "templateRef:\n  name: pipeline-v2-1-0rc1\n  template: main\n" in page
    assert "| `data` | `string` | `s3://acme/iris` | input data |" in section(page, "## Arguments")

    validate = section(page, "### validate")
    assert f"runs `{pkg}.steps:validate`" in validate
    assert f"image `registry.example.com/acme/{pkg}:2.1.0rc1`" in validate
    assert "Check a dataset's size." in validate and "Details" not in validate
    assert "| `dataset` | `Dataset` | *required* |  |" in validate
    assert "| `min_rows` | `int` | `1` | fail below this |" in validate
    assert "The return value (`str`) is printed: `outputs.result`." in validate
    assert "**Model `Dataset`**: Where a dataset lives." in validate
    assert "| `uri` | `str` | *required* | s3 URI of the data |" in validate

    train = section(page, "### train")
    assert "| `rate` | `float` | `0.1` | learning rate |" in train
    assert "| `model-uri` | `str` | where the model went | `/tmp/hera-outputs/parameters/model-uri` |" in train

    score = section(page, "### score")
    assert "| `limit` | <code>int &#124; None</code> | `null` |" in score, "the default as Argo gets it; no raw pipe"
    assert "| `score` | `float` | the model's score |" in score

    main_dag = section(page, "### main")
    assert "| `validate` | `validate` | template |" in main_dag

    index = pages["index.md"]
    assert "[pipeline](workflowtemplate-pipeline.md) | `pipeline-v2-1-0rc1` | WorkflowTemplate" in index
    assert f"# {pkg} 2.1.0rc1: templates" in index
    assert "| Validates, trains \\| scores. |" in index, "a pipe in a table cell is escaped"


def _result_with_refs(tmp_path: Path) -> TemplatesResult:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "consumer"\nversion = "1.0.0"\n')
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterWorkflowTemplate",
        "metadata": {"name": "uses-v1-0-0"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "check", "templateRef": {"name": "validate-dataset-v1-4-0", "template": "validate"}}],
                        [{"name": "notify", "templateRef": {"name": "slack-notify", "template": "send"}}],
                    ],
                }
            ],
        },
    }
    pins = (
        Pin("validate-dataset", "validate-dataset-v1-4-0", "provider", False, "data-utils", "1.4.0", "<2,>=1"),
        Pin("slack-notify", "slack-notify", "external"),
    )
    obj = PinnedObject("ClusterWorkflowTemplate", "uses", "uses-v1-0-0", "consumer.flows", "uses", manifest, (), pins)
    return TemplatesResult(load_project(tmp_path), None, [obj])


def test_refs_into_other_packages_show_the_pinned_versions(tmp_path: Path) -> None:
    page = reference_pages(_result_with_refs(tmp_path))["clusterworkflowtemplate-uses.md"]
    refs = section(page, "## Templates from other packages")
    assert "| `validate-dataset` | `validate-dataset-v1-4-0` | `data-utils` | `1.4.0` | `<2,>=1` |" in refs
    assert "| `slack-notify` |" in section(page, "## External templates (not pinned)")
    assert "templateRef:\n  name: uses-v1-0-0\n  template: main\n  clusterScope: true\n" in page
    calls = section(page, "### main")
    assert "| `check` | `validate-dataset-v1-4-0 / validate` | templateRef |" in calls


def test_write_pages_is_idempotent_prunes_its_own_pages_and_keeps_others(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    first = write_pages({"index.md": f"{GENERATED_MARKER}\n# a\n", "a.md": f"{GENERATED_MARKER}\nA\n"}, out)
    assert first.new == ("index.md", "a.md")
    (out / "guide.md").write_text("# hand-written\n")
    mtime = (out / "index.md").stat().st_mtime_ns

    second = write_pages({"index.md": f"{GENERATED_MARKER}\n# a\n", "b.md": f"{GENERATED_MARKER}\nB\n"}, out)
    assert (second.new, second.unchanged, second.removed) == (("b.md",), ("index.md",), ("a.md",))
    assert (out / "index.md").stat().st_mtime_ns == mtime, "unchanged pages are not rewritten"
    assert (out / "guide.md").read_text() == "# hand-written\n"
    assert not list(out.glob(".*.tmp")), "no temporary files left behind"


def test_write_pages_refuses_to_replace_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "index.md").write_text("# my own index\n")
    with pytest.raises(OutputError, match=r"index.md exists and was not written by hera-build docs"):
        write_pages({"index.md": f"{GENERATED_MARKER}\n", "x.md": f"{GENERATED_MARKER}\n"}, tmp_path)
    assert (tmp_path / "index.md").read_text() == "# my own index\n"
    assert not (tmp_path / "x.md").exists(), "nothing is written when one page is refused"


def test_docs_command_writes_pages_and_reports_json(
    project: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = project
    out = tmp_path / "site"
    assert main(["docs", "--project", str(root), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "2.1.0rc1"
    assert report["new"] == ["index.md", "workflowtemplate-pipeline.md"]
    assert report["pages"] == {"pipeline-v2-1-0rc1": str(out / "workflowtemplate-pipeline.md")}
    assert "| `min_rows` | `int` | `1` | fail below this |" in (out / "workflowtemplate-pipeline.md").read_text()
