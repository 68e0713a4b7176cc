"""``hera-build init``: finding the package and its Hera modules, and editing pyproject.toml byte for byte."""

from __future__ import annotations

import difflib
import itertools
import json
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

from hera_build._cli import main
from hera_build.core.project import load_project
from hera_build.core.versions import ProjectVersion
from hera_build.errors import ConfigError, DiscoveryError
from hera_build.init import InitOptions, PackageSource, candidate_modules, find_packages, init_project, version_in_name

_counter = itertools.count()

RUNNERS = """\
    from pydantic import BaseModel

    from hera.workflows import script


    class Config(BaseModel):
        rate: float = 0.1


    @script(constructor="runner")
    def train(data_uri: str, config: Config) -> str:
        return data_uri
    """

WORKFLOWS = """\
    from hera.workflows import DAG, WorkflowTemplate

    from {pkg}.steps import train

    with WorkflowTemplate(name="{name}", entrypoint="main") as pipeline:
        with DAG(name="main"):
            train(arguments={{"data_uri": "s3://x", "config": "{{}}"}})
    """

ONLY_WORKFLOW = """\
    from hera.workflows import Steps, Workflow, script


    @script(constructor="runner")
    def hello() -> None:
        print("hi")


    with Workflow(generate_name="adhoc-", entrypoint="main") as adhoc:
        with Steps(name="main"):
            hello()
    """


@pytest.fixture
def pkg(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh import name per test, forgotten afterwards (discovery imports it for real)."""
    name = f"initsample{next(_counter)}"
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def make_project(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    pkg: str,
    pyproject: str,
    *,
    layout: str = "src",
    template_name: str = "train-pipeline",
    extra: dict[str, str] | None = None,
) -> Path:
    """A plain Hera project (runner scripts and a WorkflowTemplate), importable by name as if installed."""
    base = root / "src" if layout == "src" else root
    package = base / pkg
    package.mkdir(parents=True)
    files = {
        "__init__.py": '"""A plain Hera project."""\n',
        "steps.py": RUNNERS,
        "workflows.py": WORKFLOWS.format(pkg=pkg, name=template_name),
        **(extra or {}),
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(textwrap.dedent(text))
    (root / "pyproject.toml").write_text(textwrap.dedent(pyproject).replace("PKG", pkg))
    monkeypatch.syspath_prepend(str(base))
    return root


HATCH = """\
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "PKG"
    version = "1.2.0"   # bumped by the release script
    dependencies = [
        "hera>=5.20",  # runner
        'pydantic >= 2',
    ]

    [tool.hatch.build.targets.wheel]
    packages = ["src/PKG"]

    # lint settings
    [tool.ruff]
    line-length    =   100
    """


def only_insertions(before: str, after: str) -> bool:
    """True when ``after`` is ``before`` with lines added, every original line kept byte for byte."""
    opcodes = difflib.SequenceMatcher(
        None, before.splitlines(True), after.splitlines(True), autojunk=False
    ).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in opcodes)


def test_adds_config_and_entry_point_and_keeps_everything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    before = (root / "pyproject.toml").read_text()
    result = init_project(InitOptions(root, image="registry.example.com/acme/train", backend="docker"))
    after = (root / "pyproject.toml").read_text()

    assert result.written and after == result.after
    assert only_insertions(before, after), result.diff()
    assert "# bumped by the release script" in after and "line-length    =   100" in after
    doc = tomlkit.parse(after).unwrap()
    assert doc["tool"]["hera-build"] == {
        "image": "registry.example.com/acme/train",
        "modules": [f"{pkg}.workflows"],
        "backend": "docker",
    }
    assert doc["project"]["entry-points"]["hera_build.templates"] == {pkg: f"{pkg}.workflows"}
    assert result.objects == (("WorkflowTemplate", "train-pipeline", f"{pkg}.workflows"),)
    assert [(p.name, p.origin) for p in result.packages] == [(pkg, "[tool.hatch.build.targets.wheel] packages")]

    project = load_project(root)
    assert project.config.image == "registry.example.com/acme/train"
    assert project.modules == (f"{pkg}.workflows",)
    assert project.entry_point_modules == (f"{pkg}.workflows",)


def test_new_tables_are_separated_by_one_blank_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    after = init_project(InitOptions(root, image="r.example.com/a/b")).after
    assert "\n\n\n" not in after
    assert f'\n\n[project.entry-points."hera_build.templates"]\n{pkg} = "{pkg}.workflows"\n\n[tool.hatch' in after
    assert after.endswith(
        f'\n\n[tool.hera-build]\nimage = "r.example.com/a/b"\nmodules = ["{pkg}.workflows"]\nbackend = "oci"\n'
    )


def test_dry_run_returns_the_diff_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    before = (root / "pyproject.toml").read_text()
    result = init_project(InitOptions(root, image="r.example.com/a/b", dry_run=True))
    assert not result.written
    assert (root / "pyproject.toml").read_text() == before
    diff = result.diff()
    assert diff.startswith("--- a/pyproject.toml\n+++ b/pyproject.toml\n")
    assert "+[tool.hera-build]\n" in diff and f'+modules = ["{pkg}.workflows"]\n' in diff
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]


def test_refuses_existing_config_without_force_and_force_keeps_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    existing = HATCH + '\n[tool.hera-build]\nimage = "r.example.com/old/name"\nname-format = "{name}-{slug}"\n'
    root = make_project(tmp_path, monkeypatch, pkg, existing)
    before = (root / "pyproject.toml").read_text()
    with pytest.raises(ConfigError, match=r"already has a \[tool.hera-build\] table") as info:
        init_project(InitOptions(root, image="r.example.com/new/name"))
    assert "--force" in str(info.value.fix)
    assert (root / "pyproject.toml").read_text() == before

    result = init_project(InitOptions(root, image="r.example.com/new/name", force=True))
    table = tomlkit.parse(result.after).unwrap()["tool"]["hera-build"]
    assert table == {
        "image": "r.example.com/new/name",
        "name-format": "{name}-{slug}",
        "modules": [f"{pkg}.workflows"],
        "backend": "oci",
    }


def test_an_empty_table_is_filled_without_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH + "\n[tool.hera-build]\n")
    result = init_project(InitOptions(root, image="r.example.com/a/b"))
    assert tomlkit.parse(result.after).unwrap()["tool"]["hera-build"]["image"] == "r.example.com/a/b"


def test_existing_entry_point_for_the_same_modules_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    text = HATCH + '\n[project.entry-points."hera_build.templates"]\nmine = "PKG.workflows"\n'
    root = make_project(tmp_path, monkeypatch, pkg, text)
    result = init_project(InitOptions(root, image="r.example.com/a/b"))
    assert result.entry_points == {"mine": f"{pkg}.workflows"}
    assert tomlkit.parse(result.after).unwrap()["project"]["entry-points"]["hera_build.templates"] == {
        "mine": f"{pkg}.workflows"
    }


def test_existing_entry_point_for_other_modules_needs_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    text = HATCH + '\n[project.entry-points."hera_build.templates"]\nmine = "PKG.elsewhere"\n'
    root = make_project(tmp_path, monkeypatch, pkg, text)
    with pytest.raises(ConfigError, match=r"already has a \[project.entry-points.\"hera_build.templates\"\] table"):
        init_project(InitOptions(root, image="r.example.com/a/b"))
    result = init_project(InitOptions(root, image="r.example.com/a/b", force=True))
    assert tomlkit.parse(result.after).unwrap()["project"]["entry-points"]["hera_build.templates"] == {
        pkg: f"{pkg}.workflows"
    }


def test_inline_entry_points_table_gets_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    text = '[project]\nname = "PKG"\nversion = "1"\nentry-points = { console_scripts = { x = "a:b" } }\n'
    root = make_project(tmp_path, monkeypatch, pkg, text, layout="flat")
    doc = tomlkit.parse(init_project(InitOptions(root, image="r.example.com/a/b")).after).unwrap()
    assert doc["project"]["entry-points"] == {
        "console_scripts": {"x": "a:b"},
        "hera_build.templates": {pkg: f"{pkg}.workflows"},
    }


def test_without_image_the_key_is_commented_out_and_a_warning_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    result = init_project(InitOptions(root))
    assert f'# image = "registry.example.com/<team>/{pkg}"' in result.after
    assert any("no --image given" in w for w in result.warnings)
    assert load_project(root).config.image is None, "a placeholder must never be taken for a real repository"


def test_invalid_image_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    with pytest.raises(ConfigError, match=r"--image 'Registry/Acme:1.0'"):
        init_project(InitOptions(root, image="Registry/Acme:1.0"))


def test_unknown_backend_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    with pytest.raises(ConfigError, match=r"unknown backend 'kaniko'"):
        init_project(InitOptions(root, image="r.example.com/a/b", backend="kaniko"))


def test_warns_about_versions_in_template_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, template_name="train-pipeline-v2")
    result = init_project(InitOptions(root, image="r.example.com/a/b", dry_run=True))
    [warning] = [w for w in result.warnings if "version" in w]
    assert "WorkflowTemplate 'train-pipeline-v2'" in warning and "rename it (e.g. to 'train-pipeline')" in warning


def test_warns_about_the_package_version_in_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, template_name="train-1-2-0")
    result = init_project(InitOptions(root, image="r.example.com/a/b", dry_run=True))
    assert any("already has a version ('1-2-0')" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("train-v2", None, "v2"),
        ("v1-train", None, "v1"),
        ("train-v1-2-3", None, "v1-2-3"),
        ("train.v3.beta", None, "v3"),
        ("train-pipeline", "1.2.3", None),
        ("devops-v", None, None),
        ("dev3-train", None, None),
        ("train-1-2-3", "1.2.3", "1-2-3"),
        ("train-1.2.3", "1.2.3", "1.2.3"),
        ("step-1", "1", None),
        ("train-2024", "2024.1", None),
    ],
)
def test_version_in_name(name: str, version: str | None, expected: str | None) -> None:
    assert version_in_name(name, ProjectVersion.parse(version) if version else None) == expected


def test_entry_point_lists_only_modules_with_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, extra={"adhoc.py": ONLY_WORKFLOW})
    result = init_project(InitOptions(root, image="r.example.com/a/b"))
    assert result.modules == (f"{pkg}.adhoc", f"{pkg}.workflows")
    assert result.entry_points == {pkg: f"{pkg}.workflows"}


def test_objects_reexported_by_a_parent_package_are_attributed_to_their_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    init = '"""Re-exports."""\nimport hera.workflows  # noqa: F401\n\nfrom .workflows import pipeline  # noqa: F401\n'
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, extra={"__init__.py": init})
    assert init_project(InitOptions(root, image="r.example.com/a/b")).modules == (f"{pkg}.workflows",)


def test_explicit_modules_skip_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, extra={"adhoc.py": ONLY_WORKFLOW})
    result = init_project(InitOptions(root, image="r.example.com/a/b", modules=(f"{pkg}.workflows",)))
    assert result.modules == (f"{pkg}.workflows",) and result.packages == ()


def test_a_project_that_is_not_installed_cannot_be_scanned(tmp_path: Path, pkg: str) -> None:
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("from hera.workflows import WorkflowTemplate\n")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "{pkg}"\nversion = "1"\n')
    with pytest.raises(DiscoveryError, match=rf"package '{pkg}' .* is not importable") as info:
        init_project(InitOptions(tmp_path))
    assert "pip install -e ." in str(info.value.fix)


def test_a_package_without_hera_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    for name in ("steps.py", "workflows.py"):
        (root / "src" / pkg / name).write_text("X = 1\n")
    with pytest.raises(DiscoveryError, match=r"no module in .* imports hera"):
        init_project(InitOptions(root))


def test_poetry_only_metadata_is_explained(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.poetry]\nname = "x"\nversion = "1"\n')
    with pytest.raises(ConfigError, match=r"no \[project\] table") as info:
        init_project(InitOptions(tmp_path))
    assert "poetry-core 2" in str(info.value.fix)


def test_dynamic_entry_points_are_left_to_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str) -> None:
    text = HATCH.replace('version = "1.2.0"', 'version = "1.2.0"\ndynamic = ["entry-points"]')
    root = make_project(tmp_path, monkeypatch, pkg, text)
    result = init_project(InitOptions(root, image="r.example.com/a/b"))
    assert result.entry_points == {}
    assert "entry-points" not in tomlkit.parse(result.after).unwrap()["project"]
    assert any("entry-points are dynamic" in w and f"{pkg}.workflows" in w for w in result.warnings)


def test_warns_when_the_package_is_imported_from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    installed = make_project(tmp_path / "site", monkeypatch, pkg, HATCH)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text((installed / "pyproject.toml").read_text())
    shutil.copytree(installed / "src", checkout / "src")  # another copy: imports still come from the installed one
    result = init_project(InitOptions(checkout, image="r.example.com/a/b", dry_run=True))
    assert any(f"package '{pkg}' is imported from {installed / 'src' / pkg}" in w for w in result.warnings)


# --- finding the package ----------------------------------------------------------------------------------------


def _tree(root: Path, *files: str) -> None:
    for file in files:
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def _found(root: Path, pyproject: str, name: str = "my-pkg") -> list[tuple[str, str]]:
    document = tomlkit.parse(textwrap.dedent(pyproject)).unwrap()
    return [(p.name, str(p.path.relative_to(root.resolve()))) for p in find_packages(root, document, name)]


@pytest.mark.parametrize(
    ("pyproject", "files", "expected"),
    [
        pytest.param(
            '[tool.hatch.build.targets.wheel]\npackages = ["lib/core"]',
            ["lib/core/__init__.py"],
            [("core", "lib/core")],
            id="hatch",
        ),
        pytest.param(
            '[tool.setuptools.packages.find]\nwhere = ["src"]\nexclude = ["legacy*"]',
            ["src/alpha/__init__.py", "src/legacy_x/__init__.py", "src/tests/__init__.py", "src/alpha/sub/__init__.py"],
            [("alpha", "src/alpha")],
            id="setuptools-find",
        ),
        pytest.param(
            '[tool.setuptools]\npackages = ["alpha", "alpha.sub"]\npackage-dir = {"" = "lib"}',
            ["lib/alpha/__init__.py"],
            [("alpha", "lib/alpha")],
            id="setuptools-package-dir",
        ),
        pytest.param(
            '[tool.setuptools]\npy-modules = ["single"]',
            ["single.py"],
            [("single", "single.py")],
            id="setuptools-py-modules",
        ),
        pytest.param(
            '[tool.poetry]\npackages = [{ include = "beta", from = "src" }]',
            ["src/beta/__init__.py"],
            [("beta", "src/beta")],
            id="poetry",
        ),
        pytest.param(
            '[tool.flit.module]\nname = "gamma"',
            ["src/gamma/__init__.py"],
            [("gamma", "src/gamma")],
            id="flit-src",
        ),
        pytest.param("", ["my_pkg/__init__.py", "tests/__init__.py"], [("my_pkg", "my_pkg")], id="flat-by-name"),
        pytest.param("", ["src/my_pkg/__init__.py"], [("my_pkg", "src/my_pkg")], id="src-by-name"),
        pytest.param(
            "",
            ["src/other/__init__.py", "src/more/x.py"],
            [("more", "src/more"), ("other", "src/other")],
            id="src-scan",
        ),
        pytest.param("", ["tool/__init__.py", "docs/__init__.py"], [("tool", "tool")], id="flat-scan"),
    ],
)
def test_find_packages(tmp_path: Path, pyproject: str, files: list[str], expected: list[tuple[str, str]]) -> None:
    _tree(tmp_path, *files)
    assert _found(tmp_path, pyproject) == expected


def test_find_packages_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot find the Python package of 'my-pkg' .*src/my_pkg/") as info:
        find_packages(tmp_path, {}, "my-pkg")
    assert "--module" in str(info.value.fix)


def test_candidate_modules_are_those_importing_hera_deepest_first(tmp_path: Path) -> None:
    package = tmp_path / "pk"
    files = {
        "__init__.py": "from .flows import x\n",
        "flows.py": "from hera.workflows import WorkflowTemplate\n",
        "deep/__init__.py": "",
        "deep/more.py": "def f():\n    import hera.workflows\n",
        "util.py": "import os\n",
        "bad.py": "def (:\n",
        "tests/test_flows.py": "import hera\n",
        "__main__.py": "import hera\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert candidate_modules([PackageSource("pk", package, "test")]) == ["pk.deep.more", "pk.flows"]


# --- the command ------------------------------------------------------------------------------------------------


def test_cli_dry_run_prints_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    before = (root / "pyproject.toml").read_text()
    assert main(["init", "--project", str(root), "--image", "r.example.com/a/b", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--- a/pyproject.toml") and '+image = "r.example.com/a/b"' in out
    assert (root / "pyproject.toml").read_text() == before


def test_cli_json_and_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path, monkeypatch, pkg, HATCH)
    assert (
        main(["init", "--project", str(root), "--image", "r.example.com/a/b", "--backend", "buildpacks", "--json"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] is True
    assert summary["modules"] == [f"{pkg}.workflows"] and summary["backend"] == "buildpacks"
    assert summary["entry_points"] == {pkg: f"{pkg}.workflows"}
    assert summary["objects"] == [{"kind": "WorkflowTemplate", "name": "train-pipeline", "module": f"{pkg}.workflows"}]

    assert main(["init", "--project", str(root), "--image", "r.example.com/a/b"]) == 1
    assert "error: " in capsys.readouterr().err


def test_a_module_that_fails_to_import_is_named_with_a_way_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pkg: str
) -> None:
    broken = "import hera\nraise RuntimeError('needs a database')\n"
    root = make_project(tmp_path, monkeypatch, pkg, HATCH, extra={"cli.py": broken})
    with pytest.raises(
        DiscoveryError, match=rf"importing module '{pkg}.cli' failed: RuntimeError: needs a database"
    ) as info:
        init_project(InitOptions(root, image="r.example.com/a/b"))
    assert "--module" in str(info.value.fix)
    assert init_project(InitOptions(root, image="r.example.com/a/b", modules=(f"{pkg}.workflows",))).written
