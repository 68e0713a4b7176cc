"""pyproject.toml → Project: what is read, and the one-line errors for what is wrong."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from hera_build.core.project import load_project
from hera_build.errors import ConfigError, VersionError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(text))
    return tmp_path


BASIC = """\
    [project]
    name = "ml-pipeline"
    version = "0.3.0"
    dependencies = ["data-utils>=1,<2", "hera>=5.20; python_version >= '3.8'"]

    [project.optional-dependencies]
    gpu = ["torch>=2"]

    [project.entry-points."hera_build.templates"]
    ml = "ml_pipeline.workflows"

    [tool.hera-build]
    image = "ghcr.io/acme/ml-pipeline"
    external = ["argo-events-sensor"]
    """


def test_reads_project_and_tool_tables(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, BASIC))
    assert project.name == "ml-pipeline"
    assert project.version.exact == "0.3.0"
    assert [r.name for r in project.dependencies] == ["data-utils", "hera"]
    assert [r.name for r in project.optional_dependencies["gpu"]] == ["torch"]
    assert project.config.image == "ghcr.io/acme/ml-pipeline"
    assert project.config.external == ("argo-events-sensor",)
    assert project.modules == ("ml_pipeline.workflows",), "modules default to the project's own entry points"


def test_configured_modules_win_over_entry_points(tmp_path: Path) -> None:
    text = BASIC.replace('external = ["argo-events-sensor"]', 'modules = ["ml_pipeline.other"]')
    assert load_project(write(tmp_path, text)).modules == ("ml_pipeline.other",)


def test_version_flag_overrides_the_declared_version(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, BASIC), version="2.0.0rc1")
    assert project.version.slug == "2-0-0rc1"
    assert project.version_source == "--version"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'imgae'") as info:
        load_project(write(tmp_path, BASIC.replace("image =", "imgae =")))
    assert info.value.fix == "did you mean 'image'?"


def test_snake_case_key_suggests_kebab_case(tmp_path: Path) -> None:
    text = BASIC.replace('external = ["argo-events-sensor"]', 'name_format = "{name}-{slug}"')
    with pytest.raises(ConfigError, match="unknown key 'name_format'") as info:
        load_project(write(tmp_path, text))
    assert info.value.fix == "did you mean 'name-format'?"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('image = "ghcr.io/acme/ml-pipeline:1.0"', "has a tag or digest"),
        ('image = "GHCR.io/Acme/ML"', "not an OCI image reference"),
        ('name-format = "{name}"', "must contain both"),
        ('name-format = "{name}-{version}"', "unknown placeholder"),
        ('modules = ["src/ml_pipeline/workflows.py"]', "not a dotted module name"),
        ('backend = "podman"', "backend"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    text = BASIC.replace('image = "ghcr.io/acme/ml-pipeline"', line)
    with pytest.raises(ConfigError, match=message):
        load_project(write(tmp_path, text))


def test_malformed_toml_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_project(write(tmp_path, "[project\nname = 1"))


def test_missing_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pyproject.toml"):
        load_project(tmp_path)


def test_invalid_version_in_pyproject(tmp_path: Path) -> None:
    with pytest.raises(VersionError, match="not a PEP 440"):
        load_project(write(tmp_path, BASIC.replace('"0.3.0"', '"latest"')))


def test_invalid_requirement_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid requirement 'data utils'"):
        load_project(write(tmp_path, BASIC.replace('"data-utils>=1,<2"', '"data utils"')))


def test_dynamic_version_comes_from_the_build_backend(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "dyn"
        dynamic = ["version"]

        [tool.hatch.version]
        path = "dyn/__init__.py"
        """,
    )
    (tmp_path / "dyn").mkdir()
    (tmp_path / "dyn" / "__init__.py").write_text('__version__ = "4.5.6"\n')
    project = load_project(tmp_path)
    assert project.version.exact == "4.5.6"
    assert project.version_source == "build backend metadata"


def test_dynamic_version_falls_back_to_the_installed_distribution(tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "pytest"\ndynamic = ["version"]\n[build-system]\nbuild-backend = "nope.nope"\n')
    import importlib.metadata

    project = load_project(tmp_path)
    assert project.version.exact == importlib.metadata.version("pytest")
    assert project.version_source == "installed distribution"


def test_dynamic_version_that_nothing_gives_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[project]\nname = "not-installed-anywhere"\ndynamic = ["version"]\n'
        '[build-system]\nbuild-backend = "nope.nope"\n',
    )
    with pytest.raises(ConfigError, match="version of 'not-installed-anywhere' is dynamic"):
        load_project(tmp_path)


def test_pyproject_is_read_as_tomlkit_read_it_and_bad_toml_keeps_tomlkits_error(tmp_path: Path) -> None:
    """pyproject.toml is read with tomllib where there is one (several times faster); values and error messages
    are the ones tomlkit gave."""
    import tomlkit

    from hera_build.core import tomlread

    text = '[project]\nname = "x"\nversion = "1.0"\ndependencies = ["a>=1"]\n[tool.x]\nn = 3\nwhen = 1979-05-27\n'
    assert tomlread.loads(text) == tomlkit.parse(text).unwrap()
    bad = '[project]\nname = "x"\nname = "y"\n'
    with pytest.raises(tomlread.TomlError) as info:
        tomlread.loads(bad)
    with pytest.raises(Exception) as expected:  # whatever tomlkit raises: its words are kept
        tomlkit.parse(bad)
    assert str(info.value) == str(expected.value)
    (tmp_path / "pyproject.toml").write_text(bad)
    with pytest.raises(ConfigError, match="is not valid TOML: " + re.escape(str(expected.value))):
        load_project(tmp_path)
