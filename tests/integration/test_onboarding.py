"""A new user's first steps, for real: a plain Hera project (runner scripts, a WorkflowTemplate, no hera-build
configuration) built with each build backend, installed with pip, then `hera-build init`, `templates` and `docs`.

Isolation: every project gets its own throwaway virtual environment that sees the dev environment's packages
(hera, pydantic, hera-build, the build backends) through a ``.pth`` hook, and into which pip installs the
project (and a small provider package) with ``--no-deps --no-build-isolation --no-index``: fast, offline, and
the dev environment is left untouched. hera-build runs in that environment with ``python -I -m hera_build`` from
a neutral directory, so user code is imported by dotted name from the installed project, never from the
current directory or PYTHONPATH.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
import yaml

pytestmark = pytest.mark.slow

TIMEOUT = 300
BACKEND_MODULES = {
    "setuptools": "setuptools",
    "hatchling": "hatchling",
    "poetry-core": "poetry.core",
    "flit": "flit_core",
}


@dataclass(frozen=True)
class Case:
    backend: str
    layout: str
    editable: bool
    name: str
    version: str
    build_system: str
    tool: str = ""

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def template(self) -> str:
        return f"{self.name}-pipeline"


CASES = [
    Case(
        "setuptools",
        "src",
        True,
        "acme-etl",
        "0.4.1",
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n',
        '\n[tool.setuptools.packages.find]\nwhere = ["src"]\n',
    ),
    Case(
        "hatchling",
        "flat",
        True,
        "acme-reports",
        "1.0.0rc2",
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
    ),
    Case(
        "poetry-core",
        "src",
        False,
        "acme-ml",
        "2024.5.1",
        '[build-system]\nrequires = ["poetry-core>=2"]\nbuild-backend = "poetry.core.masonry.api"\n',
        '\n[tool.poetry]\npackages = [{ include = "acme_ml", from = "src" }]\n',
    ),
    Case(
        "flit",
        "flat",
        False,
        "acme-flit",
        "3.1.post2",
        '[build-system]\nrequires = ["flit_core>=3.9"]\nbuild-backend = "flit_core.buildapi"\n',
    ),
]

PROVIDER_PYPROJECT = """\
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "acme-checks"
    version = "2.0.1"
    description = "Shared checks (a provider of templates)"
    dependencies = ["hera>=5.20"]

    [project.entry-points."hera_build.templates"]
    acme-checks = "acme_checks.workflows"
    """

PROVIDER_WORKFLOWS = '''\
    """Templates that other packages reference."""

    from hera.workflows import WorkflowTemplate, script


    @script(constructor="runner")
    def validate_rows(min_rows: int = 1) -> str:
        return "ok" if min_rows > 0 else "empty"


    with WorkflowTemplate(name="validate-rows", entrypoint="validate-rows") as validate_rows_template:
        validate_rows()
    '''

PYPROJECT = """\
{build_system}
[project]
name = "{name}"
version = "{version}"  # released by CI
description = "A plain Hera project"
requires-python = ">=3.10"
dependencies = [
    "hera>=5.20",
    "pydantic>=2",
    "acme-checks>=2,<3",  # provides validate-rows
]
{tool}"""

STEPS = '''\
    """Runner scripts."""

    from typing import Annotated

    from pydantic import BaseModel, Field

    from hera.workflows import Parameter, script


    class Source(BaseModel):
        """A table to load."""

        uri: str = Field(description="where the table lives")
        rows: int = 0


    @script(constructor="runner")
    def load(source: Source, limit: Annotated[int, Parameter(description="load at most this many rows")] = 1000) -> str:
        """Load a table and print its URI."""
        return source.uri


    @script(constructor="runner")
    def summarize(table: str) -> str:
        return f"{table}: ok"
    '''

WORKFLOWS = """\
    \"\"\"The project's WorkflowTemplate: its own runner steps and a check from another package.\"\"\"

    from hera.workflows import DAG, Parameter, Task, WorkflowTemplate
    from hera.workflows.models import TemplateRef

    from {package}.steps import load, summarize

    with WorkflowTemplate(
        name="{template}",
        entrypoint="main",
        annotations={{
            "workflows.argoproj.io/title": "{name} pipeline",
            "workflows.argoproj.io/description": "Checks, loads and summarizes a table.",
        }},
        arguments=[Parameter(name="uri", value="s3://acme/raw", description="the table to load")],
    ) as pipeline:
        with DAG(name="main"):
            check = Task(
                name="check",
                template_ref=TemplateRef(name="validate-rows", template="validate-rows"),
                arguments={{"min_rows": "10"}},
            )
            loaded = load(arguments={{"source": '{{"uri": "{{{{workflow.parameters.uri}}}}"}}'}})
            check >> loaded >> summarize(arguments={{"table": loaded.result}})
    """


def _require(component: str, present: bool) -> None:
    """A missing component skips loudly, but fails in CI (where setup must have installed it)."""
    if present:
        return
    message = f"{component} is not installed in {sys.prefix}: pip install -e '.[test]'"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str], cwd: Path, timeout: int = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


class Env:
    """A throwaway virtual environment layered over the dev environment."""

    def __init__(self, path: Path, work: Path) -> None:
        self.path, self.work = path, work
        run([sys.executable, "-m", "venv", "--without-pip", str(path)], cwd=work)
        self.python = str(path / "bin" / "python")
        purelib = run([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work)
        hook = f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
        (Path(purelib.stdout.strip()) / "zz_dev_environment.pth").write_text(hook)

    def pip_install(self, target: Path, *, editable: bool = False) -> None:
        flags = ["--no-deps", "--no-build-isolation", "--no-index", "--force-reinstall", "--quiet"]
        run([self.python, "-m", "pip", "install", *flags, *(["-e"] if editable else []), str(target)], cwd=self.work)

    def hera_build(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([self.python, "-I", "-m", "hera_build", *args], cwd=self.work)

    def entry_points(self, distribution: str) -> dict[str, str]:
        code = (
            "import importlib.metadata as m, json;"
            f"print(json.dumps({{e.name: e.value for e in m.distribution({distribution!r}).entry_points"
            " if e.group == 'hera_build.templates'}))"
        )
        return dict(json.loads(run([self.python, "-I", "-c", code], cwd=self.work).stdout))


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require("hatchling", importlib.util.find_spec("hatchling") is not None)
    root = tmp_path_factory.mktemp("acme-checks")
    write(
        root,
        {
            "pyproject.toml": PROVIDER_PYPROJECT,
            "acme_checks/__init__.py": "",
            "acme_checks/workflows.py": PROVIDER_WORKFLOWS,
        },
    )
    wheels = tmp_path_factory.mktemp("wheels")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
            str(root),
        ],
        cwd=root,
    )
    [wheel] = wheels.glob("acme_checks-2.0.1-*.whl")
    return wheel


def make_project(root: Path, case: Case) -> Path:
    base = f"src/{case.package}" if case.layout == "src" else case.package
    write(
        root,
        {
            f"{base}/__init__.py": f'"""{case.name}: a plain Hera project."""\n',
            f"{base}/steps.py": STEPS,
            f"{base}/workflows.py": WORKFLOWS.format(package=case.package, template=case.template, name=case.name),
            "tests/test_steps.py": "import hera  # a test folder that must not be scanned\n",
        },
    )
    pyproject = PYPROJECT.format(build_system=case.build_system, name=case.name, version=case.version, tool=case.tool)
    (root / "pyproject.toml").write_text(pyproject)
    return root


def only_insertions(before: str, after: str) -> bool:
    opcodes = difflib.SequenceMatcher(
        None, before.splitlines(True), after.splitlines(True), autojunk=False
    ).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in opcodes)


def build_site(docs: Path, work: Path) -> Path:
    """The generated pages must build in a strict mkdocs site as they are."""
    config = work / "mkdocs.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_name": "templates",
                "docs_dir": str(docs),
                "strict": True,
                "validation": {"links": {"unrecognized_links": "warn", "anchors": "warn"}, "omitted_files": "warn"},
            }
        )
    )
    site = work / "site"
    run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(config), "-d", str(site)], cwd=work)
    return site


@pytest.mark.parametrize("case", CASES, ids=[f"{c.backend}-{c.layout}" for c in CASES])
def test_plain_hera_project_to_versioned_templates_and_docs(case: Case, tmp_path: Path, provider_wheel: Path) -> None:
    _require(case.backend, importlib.util.find_spec(BACKEND_MODULES[case.backend]) is not None)
    _require("mkdocs", importlib.util.find_spec("mkdocs") is not None)
    work = tmp_path / "work"
    work.mkdir()
    project = make_project(tmp_path / case.name, case)
    env = Env(tmp_path / "venv", work)
    env.pip_install(provider_wheel)
    env.pip_install(project, editable=case.editable)
    before = (project / "pyproject.toml").read_text()

    # init: scan the installed package, add the configuration and the entry point, nothing else
    image = f"127.0.0.1:5000/acme/{case.name}"
    init = json.loads(env.hera_build("init", "--project", str(project), "--image", image, "--json").stdout)
    after = (project / "pyproject.toml").read_text()
    assert init["written"] and only_insertions(before, after), init["diff"]
    assert "# released by CI" in after and "# provides validate-rows" in after
    document = tomlkit.parse(after).unwrap()
    assert document["tool"]["hera-build"] == {
        "image": image,
        "modules": [f"{case.package}.workflows"],
        "backend": "oci",
    }
    assert document["project"]["entry-points"]["hera_build.templates"] == {case.name: f"{case.package}.workflows"}
    assert init["objects"] == [
        {"kind": "WorkflowTemplate", "name": case.template, "module": f"{case.package}.workflows"}
    ]
    imported_elsewhere = [w for w in init["warnings"] if "is imported from" in w]
    assert bool(imported_elsewhere) == (not case.editable), "a non-editable install is scanned as installed"

    # the build backend accepts the edited pyproject.toml and publishes the entry point
    env.pip_install(project, editable=case.editable)
    assert env.entry_points(case.name) == {case.name: f"{case.package}.workflows"}

    # templates: names, images and the ref into the provider are pinned
    from hera_build.core.versions import ProjectVersion

    version = ProjectVersion.parse(case.version)
    versioned = f"{case.template}-v{version.slug}"
    out = tmp_path / "argo"
    summary = json.loads(env.hera_build("templates", "--project", str(project), "--out", str(out), "--json").stdout)
    [obj] = summary["objects"]
    assert obj["name"] == versioned and obj["images"] == [f"{image}:{version.tag}"]
    assert obj["refs"] == [
        {
            "ref": "validate-rows",
            "pinned": "validate-rows-v2-0-1",
            "reason": "provider",
            "distribution": "acme-checks",
            "version": "2.0.1",
            "specifier": "<3,>=2",
            "cluster_scope": False,
        }
    ]
    manifest = yaml.safe_load((out / f"workflowtemplate-{versioned}.yaml").read_text())
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["check"]["templateRef"]["name"] == "validate-rows-v2-0-1"
    load = next(t for t in manifest["spec"]["templates"] if t["name"] == "load")
    assert load["script"]["args"][-1] == f"{case.package}.steps:load", "the runner imports the installed module"

    # docs: a page with the pinned name, typed inputs and the provider's version
    docs = tmp_path / "docs"
    env.hera_build("docs", "--project", str(project), "--out", str(docs))
    page = (docs / f"workflowtemplate-{case.template}.md").read_text()
    assert f"# {case.name} pipeline\n" in page and "Checks, loads and summarizes a table." in page
    assert f"| Versioned name | `{versioned}` |" in page
    assert f"| Image | `{image}:{version.tag}` |" in page
    assert "| `source` | `Source` | *required* |  |" in page
    assert "| `limit` | `int` | `1000` | load at most this many rows |" in page
    assert "| `uri` | `str` | *required* | where the table lives |" in page
    assert "| `uri` | `string` | `s3://acme/raw` | the table to load |" in page
    assert "| `validate-rows` | `validate-rows-v2-0-1` | `acme-checks` | `2.0.1` | `<3,>=2` |" in page
    index = (docs / "index.md").read_text()
    assert f"[{case.template}](workflowtemplate-{case.template}.md) | `{versioned}`" in index

    site = build_site(docs, work)
    assert (site / f"workflowtemplate-{case.template}" / "index.html").is_file()


def test_init_refuses_to_overwrite_and_dry_run_changes_nothing(tmp_path: Path, provider_wheel: Path) -> None:
    case = CASES[0]
    _require(case.backend, importlib.util.find_spec(BACKEND_MODULES[case.backend]) is not None)
    work = tmp_path / "work"
    work.mkdir()
    project = make_project(tmp_path / case.name, case)
    env = Env(tmp_path / "venv", work)
    env.pip_install(provider_wheel)
    env.pip_install(project, editable=True)
    before = (project / "pyproject.toml").read_text()
    diff = env.hera_build("init", "--project", str(project), "--dry-run").stdout
    assert (project / "pyproject.toml").read_text() == before
    assert "+[tool.hera-build]" in diff and f'# image = "registry.example.com/<team>/{case.name}"' in diff

    env.hera_build("init", "--project", str(project), "--image", "127.0.0.1:5000/acme/etl")
    again = subprocess.run(
        [env.python, "-I", "-m", "hera_build", "init", "--project", str(project)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert again.returncode == 1
    assert "already has a [tool.hera-build] table" in again.stderr and "--force" in again.stderr
