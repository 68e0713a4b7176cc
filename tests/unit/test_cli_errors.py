"""What a user sees when something is wrong: one ``error:`` line with a fix, a non-zero exit, no traceback, and
nothing written by halves.

Each test runs ``hera-build`` in-process (``hera_build._cli.main``) on a small project in a temporary folder, with
bad input of one kind: pyproject.toml, configuration, versions, modules, references, lock files, output paths,
environment variables, missing engines and tools. Multi-line messages are allowed only where a diff is the point.
"""

from __future__ import annotations

import errno
import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from hera_build import _cli as cli
from hera_build.core.atomic import write_text_atomic
from hera_build.errors import ConfigError, HeraBuildError, OutputError, ResolveError
from hera_build.templates.resolve import ProvidedTemplate, RefSite, resolve_refs

# ---------------------------------------------------------------------------------------------------- helpers

PYPROJECT = """\
[project]
name = "{name}"
version = "1.0.0"
dependencies = ["hera"]

[tool.hera-build]
image = "registry.test/acme/{name}"
modules = ["{package}.workflows"]
"""

WORKFLOWS = """\
from hera.workflows import DAG, Task, WorkflowTemplate, script
from hera.workflows.models import TemplateRef


@script(constructor="runner")
def hello(who: str = "world") -> str:
    return f"hello {{who}}"


with WorkflowTemplate(name="greet", entrypoint="main") as greet:
    with DAG(name="main"):
        hello(name="a")
{extra}
"""


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def one_error(self, *fragments: str) -> str:
        """The single ``error:`` line, after checking what every error must be."""
        assert self.code == 1, (self.code, self.err)
        assert "Traceback" not in self.err, self.err
        assert len(self.error_lines) == 1, self.err
        line = self.error_lines[0]
        assert "(fix: " in line or "\nfix: " in self.err, f"no fix in {line!r}"
        for fragment in fragments:
            assert fragment in line, (fragment, line)
        return line


@pytest.fixture
def hera_build(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process; stdout and stderr separately, as a pipeline sees them."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


_counter = iter(range(10**6))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed-looking project (importable by name) with one runner template; cwd is its folder."""
    package = f"cli_errors_{os.getpid()}_{next(_counter)}"
    root = tmp_path / "project"
    (root / "src" / package).mkdir(parents=True)
    (root / "src" / package / "__init__.py").write_text("")
    (root / "src" / package / "workflows.py").write_text(WORKFLOWS.format(extra=""))
    (root / "pyproject.toml").write_text(PYPROJECT.format(name=package.replace("_", "-"), package=package))
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.chdir(root)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("HERA_BUILD_CRD_DIR", raising=False)
    return root


def package_of(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir())


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts)


# ---------------------------------------------------------------------------------------------------- pyproject.toml

# Every command that reads the project; `check` and `image` fail on the project before they need an engine.
READERS = [
    ("templates",),
    ("lint",),
    ("docs",),
    ("plan",),
    ("release",),
    ("image", "--dry-run"),
    ("check", "registry.test/acme/x:1"),
]


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_malformed_pyproject_is_one_line_naming_the_file_for_every_command(
    project: Path, hera_build: Callable[..., Result], command: tuple[str, ...]
) -> None:
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "this is [not toml\n")
    hera_build(*command).one_error("pyproject.toml is not valid TOML", "at line 9")


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_a_pyproject_without_project_table_says_what_to_add(
    project: Path, hera_build: Callable[..., Result], command: tuple[str, ...]
) -> None:
    edit(project / "pyproject.toml", "[project]", "[projekt]")
    hera_build(*command).one_error("has no [project] table with a name", "PEP 621")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('dependencies = ["hera"]', 'dependencies = "hera"', "dependencies in"),
        ('dependencies = ["hera"]', 'dependencies = ["hera", 5]', "an entry of [project] dependencies"),
        ('dependencies = ["hera"]', 'dependencies = ["hera"]\noptional-dependencies = "x"', "optional-dependencies"),
        ('dependencies = ["hera"]', 'dependencies = ["hera"]\nentry-points = "x"', "project.entry-points"),
        ('version = "1.0.0"', "version = 3", "project.version"),
        ('version = "1.0.0"', 'dynamic = "version"', "project.dynamic"),
    ],
    ids=["deps-string", "deps-int-entry", "optional-string", "entry-points-string", "version-int", "dynamic-string"],
)
def test_pyproject_values_of_the_wrong_toml_type_are_named_with_an_example(
    project: Path, hera_build: Callable[..., Result], old: str, new: str, expected: str
) -> None:
    edit(project / "pyproject.toml", old, new)
    line = hera_build("templates").one_error(expected, "must be")
    assert "write it as" in line


def test_an_invalid_version_says_where_it_came_from(project: Path, hera_build: Callable[..., Result]) -> None:
    hera_build("templates", "--version", "garbage").one_error("invalid version 'garbage'", "(--version)")
    edit(project / "pyproject.toml", 'version = "1.0.0"', 'version = "not-a-version"')
    hera_build("templates").one_error("invalid version 'not-a-version'", "project.version in", "pyproject.toml")


def test_a_file_that_is_not_a_pyproject_is_not_parsed_as_one(project: Path, hera_build: Callable[..., Result]) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    hera_build("templates", "--project", str(module)).one_error("is a file, not a project directory")


@pytest.mark.parametrize("command", [("templates",), ("init", "--force", "--dry-run")], ids=lambda c: c[0])
def test_a_pyproject_with_a_byte_order_mark_says_so(
    project: Path, hera_build: Callable[..., Result], command: tuple[str, ...]
) -> None:
    """tomlkit alone says "Empty key at line 1 col 0", which sends users looking for a key."""
    (project / "pyproject.toml").write_text("\ufeff" + (project / "pyproject.toml").read_text(), encoding="utf-8")
    line = hera_build(*command).one_error("pyproject.toml starts with a UTF-8 byte-order mark (BOM)", "without a BOM")
    assert "Empty key" not in line


def test_registry_host_names_are_case_insensitive() -> None:
    """`LocalHost:5000/...` is the loopback registry that `localhost:5000/...` is: plain HTTP, not remote HTTPS."""
    from hera_build.core.references import parse_image_ref
    from hera_build.image.registry.client import RegistryClient, registry_host

    ref = parse_image_ref("LocalHost:5000/acme/app:1")
    assert (ref.registry, str(ref)) == ("localhost:5000", "localhost:5000/acme/app:1")
    assert parse_image_ref("GHCR.io/acme/app").repository == "ghcr.io/acme/app"
    assert parse_image_ref("acme/app").registry is None, "a Docker Hub path is not a host"
    assert RegistryClient(registry_host(ref)).scheme == "http"


def test_a_standard_library_module_in_modules_is_an_error(project: Path, hera_build: Callable[..., Result]) -> None:
    edit(project / "pyproject.toml", "modules = [", 'modules = ["email", ')
    hera_build("templates").one_error("module 'email' is part of Python's standard library")


# ---------------------------------------------------------------------------------------------------- configuration


def test_an_unknown_config_key_suggests_the_known_one(project: Path, hera_build: Callable[..., Result]) -> None:
    edit(project / "pyproject.toml", "modules =", "modlues =")
    line = hera_build("templates").one_error("unknown key 'modlues' in [tool.hera-build]")
    assert "did you mean 'modules'?" in line


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("modules = [", 'modules = "x"\nnot-modules = [', "'modules'"),
        ("modules = [", "external = 5\nmodules = [", "'external'"),
        ("modules = [", 'backend = "podman"\nmodules = [', "'backend'"),
    ],
    ids=["modules-string", "external-int", "backend-unknown"],
)
def test_invalid_config_values_name_the_key_and_show_how_to_write_it(
    project: Path, hera_build: Callable[..., Result], old: str, new: str, expected: str
) -> None:
    edit(project / "pyproject.toml", old, new)
    if "not-modules" in new:  # keep the file valid TOML with one bad value: drop the list that followed
        text = (project / "pyproject.toml").read_text()
        (project / "pyproject.toml").write_text(text[: text.index("not-modules")])
    line = hera_build("templates").one_error(f"invalid value for {expected} in [tool.hera-build]")
    assert "write it like" in line


def test_an_invalid_image_reference_names_the_table_and_file(project: Path, hera_build: Callable[..., Result]) -> None:
    edit(project / "pyproject.toml", 'image = "registry.test/acme/', 'image = "registry.test/Acme Corp/')
    hera_build("templates").one_error("not an OCI image reference", "in [tool.hera-build] of", "pyproject.toml")


# ---------------------------------------------------------------------------------------------------- modules and refs


def test_a_module_that_is_not_installed_says_to_install_the_project(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    edit(project / "pyproject.toml", f"{package_of(project)}.workflows", "not_installed_anywhere.workflows")
    hera_build("templates").one_error("'not_installed_anywhere' is not installed", "pip install -e .")


def test_a_missing_module_of_an_installed_package_is_not_called_uninstalled(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    edit(project / "pyproject.toml", ".workflows", ".nope")
    line = hera_build("templates").one_error("does not exist", "is installed but has no such module")
    assert "check the module name" in line


def test_a_file_path_as_module_gets_the_dotted_name_to_use(project: Path, hera_build: Callable[..., Result]) -> None:
    package = package_of(project)
    edit(project / "pyproject.toml", f'modules = ["{package}.workflows"]', "")
    hera_build("templates").one_error("no modules to scan")
    result = hera_build("init", "--force", "--module", f"src/{package}/workflows.py", "--dry-run")
    result.one_error("is not a dotted module name", f"e.g. '{package}.workflows'")


def test_a_module_that_raises_at_import_shows_the_error_and_where(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    module.write_text(module.read_text() + 'raise RuntimeError("boom at import")\n')
    hera_build("templates").one_error("RuntimeError: boom at import", f"(at {module}:")


def test_a_syntax_error_points_at_the_users_file_not_at_importlib(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    module.write_text(module.read_text() + "def (\n")
    line = hera_build("templates").one_error("SyntaxError", f"(at {module}:")
    assert "<frozen" not in line


def test_an_unresolved_template_ref_suggests_a_close_name_and_external(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    task = 'Task(name="x", template_ref=TemplateRef(name="gret", template="main"))'
    ref = f'    with DAG(name="other"):\n        {task}\n'
    module.write_text(module.read_text().replace('        hello(name="a")\n', '        hello(name="a")\n' + ref))
    line = hera_build("templates").one_error("unresolved templateRef 'gret/main'", "did you mean 'greet'?")
    assert "external" in line


def test_a_lock_file_that_does_not_list_the_provider_is_an_error_not_a_silent_fallback() -> None:
    provider = ProvidedTemplate("validate-dataset", False, "data-utils", "1.4.0")
    site = RefSite(object_name="wt", path="spec", name="validate-dataset", cluster_scope=False, template="t")
    requirements = [Requirement("data-utils>=1")]
    pinned = resolve_refs([site], local={}, providers=[provider], requirements=requirements)
    assert pinned[(False, "validate-dataset")].version == "1.4.0"  # no lock: the installed version
    with pytest.raises(ResolveError, match="which the lock file does not list") as info:
        resolve_refs([site], local={}, providers=[provider], requirements=requirements, versions={"other": "1"})
    assert "uv lock" in (info.value.fix or "")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: None, "lock file missing/uv.lock does not exist"),
        (lambda root: (root / "uv.lock").mkdir(), "cannot read lock file uv.lock: Is a directory"),
        (lambda root: (root / "uv.lock").write_text("not [valid"), "lock file uv.lock is not valid TOML"),
        (lambda root: (root / "uv.lock").write_text('package = "x"\n'), "has no [[package]] tables"),
    ],
    ids=["missing", "directory", "malformed", "wrong-shape"],
)
def test_lock_file_problems_are_one_line(
    project: Path, hera_build: Callable[..., Result], setup: Callable[[Path], Any], expected: str
) -> None:
    setup(project)
    path = "missing/uv.lock" if "missing" in expected else "uv.lock"
    for command in ("templates", "plan"):
        hera_build(command, "--lock", path).one_error(expected)


# ---------------------------------------------------------------------------------------------------- output paths


@pytest.mark.parametrize(
    "command",
    [("templates", "--out"), ("docs", "--out"), ("release", "--out"), ("plan", "--out")],
    ids=lambda c: c[0],
)
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(
    project: Path, hera_build: Callable[..., Result], command: tuple[str, str]
) -> None:
    (project / "afile").write_text("keep me\n")
    before = listing(project)
    hera_build(*command, "afile").one_error("is a file, not a folder")
    hera_build(*command, "afile/sub").one_error("afile is a file")
    assert listing(project) == before and (project / "afile").read_text() == "keep me\n"


def test_a_release_manifest_path_that_is_a_folder_is_refused_before_anything_is_written(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    (project / "manifest-dir").mkdir()
    hera_build("release", "--manifest", "manifest-dir").one_error("--manifest", "is a folder, not a file")
    assert listing(project / "manifest-dir") == [] and not (project / "dist").exists()


def test_an_unwritable_output_location_is_refused_before_any_work(
    project: Path, hera_build: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = project / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "hera_build.templates.output.os.access", lambda p, mode: Path(p) != locked and real_access(p, mode)
    )
    for command in ("templates", "docs", "release"):
        hera_build(command, "--out", "locked/out").one_error("cannot write --out", "locked is not writable")
    hera_build("image", "--output", "locked/image.tar", "--backend", "docker").one_error("is not writable")
    assert listing(locked) == []


def test_image_output_under_a_file_is_refused_before_the_build(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    (project / "afile").write_text("x")
    hera_build("image", "--output", "afile/image.tar").one_error("cannot create --output", "afile is a file")


def test_an_atomic_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        write_text_atomic(tmp_path / "target", "text")
    assert listing(tmp_path) == ["target"]


def test_init_writes_nothing_when_configuration_exists_without_force(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    before = (project / "pyproject.toml").read_bytes()
    hera_build("init", "--image", "ghcr.io/acme/x").one_error("already has a [tool.hera-build] table", "--force")
    hera_build("init", "--force", "--image", "Not An Image").one_error("invalid --image")
    assert (project / "pyproject.toml").read_bytes() == before
    assert listing(project).count("pyproject.toml") == 1 and not any(".tmp" in p for p in listing(project))


def test_init_refuses_a_pyproject_of_the_wrong_shape_and_writes_nothing(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    text = (project / "pyproject.toml").read_text()
    broken = text[: text.index("[tool.hera-build]")].replace('dependencies = ["hera"]', 'entry-points = "x"')
    (project / "pyproject.toml").write_text(broken)
    hera_build("init", "--image", "ghcr.io/acme/x").one_error("project.entry-points", "must be a table")
    assert (project / "pyproject.toml").read_text() == broken


def test_a_diff_error_puts_the_fix_on_its_own_line(project: Path, hera_build: Callable[..., Result]) -> None:
    assert hera_build("templates").code == 0
    module = project / "src" / package_of(project) / "workflows.py"
    edit(module, 'who: str = "world"', 'who: str = "moon"')
    result = hera_build("templates")
    assert result.code == 1 and "Traceback" not in result.err and len(result.error_lines) == 1
    assert result.err.rstrip().splitlines()[-1] == "fix: bump the version, or pass --force to overwrite"
    assert "+    " in result.err and "-    " in result.err  # the diff is the point here


def test_multi_line_messages_get_the_fix_on_a_line_of_their_own() -> None:
    assert str(HeraBuildError("one line", "do this")) == "one line (fix: do this)"
    assert str(HeraBuildError("diff:\n-a\n+b", "do this")) == "diff:\n-a\n+b\nfix: do this"


# ---------------------------------------------------------------------------------------------------- environment


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "99999999999999999999"])
def test_a_bad_source_date_epoch_fails_first_with_one_line(
    project: Path, hera_build: Callable[..., Result], value: str
) -> None:
    # image and plan would otherwise build a wheel (and fail inside the build backend) before reading it.
    for command in (("image", "--dry-run", "--backend", "docker"), ("plan",), ("release",)):
        line = hera_build(*command, env={"SOURCE_DATE_EPOCH": value}).one_error(f"SOURCE_DATE_EPOCH={value!r}")
        assert "seconds since 1970" in line


def test_a_missing_docker_engine_is_one_line_for_the_docker_backend(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    result = hera_build("image", "--backend", "docker", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    result.one_error("no Docker engine answers at unix:///nonexistent.sock", "DOCKER_HOST")


def test_a_missing_pack_names_the_variable_that_points_at_it(project: Path, hera_build: Callable[..., Result]) -> None:
    edit(project / "pyproject.toml", "modules =", 'builder = "registry.test/builder:1"\nmodules =')
    result = hera_build("image", "--backend", "buildpacks", env={"HERA_BUILD_PACK": "/nonexistent/pack"})
    line = result.one_error("/nonexistent/pack does not exist", "HERA_BUILD_PACK")
    assert line.count("not installed") <= 1


def test_a_crd_dir_variable_that_points_nowhere_is_an_error(project: Path, hera_build: Callable[..., Result]) -> None:
    hera_build("lint", env={"HERA_BUILD_CRD_DIR": str(project / "nope")}).one_error("HERA_BUILD_CRD_DIR=")


# ---------------------------------------------------------------------------------------------------- lint's files


def test_yaml_errors_are_one_line_with_the_position(project: Path, hera_build: Callable[..., Result]) -> None:
    (project / "bad.yaml").write_text(": : bad [\n")
    hera_build("lint", "bad.yaml").one_error("bad.yaml is not valid YAML: line 1, column 1")
    hera_build("templates", "--crd", "bad.yaml").one_error("CRD file", "bad.yaml is not valid YAML: line 1, column 1")
    hera_build("lint", "missing.yaml").one_error("cannot read missing.yaml: No such file or directory")


def test_lint_problems_are_listed_once_in_one_error(project: Path, hera_build: Callable[..., Result]) -> None:
    (project / "wt.yaml").write_text("kind: WorkflowTemplate\nmetadata: {}\nspec: {}\n")
    result = hera_build("lint", "wt.yaml")
    result.one_error("problem")
    assert result.err.count("has neither name nor generateName") == 1, result.err


def test_linting_files_without_argo_objects_is_an_error_not_a_pass(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    (project / "other.yaml").write_text("kind: ConfigMap\n")
    hera_build("lint", "other.yaml").one_error("no Argo objects", "other.yaml")


# ---------------------------------------------------------------------------------------------------- flags


def test_an_invalid_extra_tag_is_refused_before_the_build(project: Path, hera_build: Callable[..., Result]) -> None:
    hera_build("image", "--tag", "bad tag", "--dry-run").one_error("invalid --tag 'bad tag': not an image tag")
    hera_build("image", "--tag", "tág", "--dry-run").one_error("invalid --tag")


def test_stdout_and_json_together_are_a_usage_error(project: Path, hera_build: Callable[..., Result]) -> None:
    result = hera_build("templates", "--stdout", "--json")
    assert result.code == 2 and "not allowed with argument --stdout" in result.err and result.out == ""


def test_debug_works_after_the_command_too(project: Path, hera_build: Callable[..., Result]) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    module.write_text(module.read_text() + 'raise RuntimeError("boom")\n')
    for args in (("--debug", "templates"), ("templates", "--debug")):
        result = hera_build(*args)
        assert result.code == 1 and "Traceback" in result.err and len(result.error_lines) == 1


# ---------------------------------------------------------------------------------------------------- last resort


def test_an_os_error_no_writer_expected_is_one_line(
    project: Path, hera_build: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(project / "dist"))

    monkeypatch.setattr("hera_build.templates.output.write_output", full)
    hera_build("templates").one_error("No space left on device:", "dist")


def test_a_bug_is_one_line_asking_for_a_report_and_the_traceback_with_debug(
    project: Path, hera_build: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr("hera_build.templates.build.build_templates", bug)
    hera_build("templates").one_error("internal error: KeyError", "report the traceback")
    assert "Traceback" in hera_build("templates", "--debug").err


# ---------------------------------------------------------------------------------------------------- --json purity


@pytest.mark.parametrize(
    "command",
    [("templates", "--json"), ("lint", "--json"), ("docs", "--json"), ("init", "--force", "--dry-run", "--json")],
    ids=lambda c: c[0],
)
def test_json_output_is_only_json_on_stdout(
    project: Path, hera_build: Callable[..., Result], command: tuple[str, ...]
) -> None:
    result = hera_build(*command)
    assert result.code == 0, result.err
    json.loads(result.out)  # nothing but one JSON document
    assert not result.err.lstrip().startswith(("{", "["))


def test_json_errors_leave_stdout_empty(project: Path, hera_build: Callable[..., Result]) -> None:
    edit(project / "pyproject.toml", "modules =", "modlues =")
    result = hera_build("templates", "--json")
    result.one_error("unknown key")
    assert result.out == ""


# ---------------------------------------------------------------------------------------------------- engines, directly


def test_checking_an_image_the_engine_does_not_have_is_one_error() -> None:
    from docker.errors import APIError, ImageNotFound

    from hera_build.errors import BuildError, EngineError
    from hera_build.image.backends.docker import DockerEngine

    class Containers:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def create(self, image: str, **kwargs: Any) -> None:
            raise self.error

        def list(self, **kwargs: Any) -> list[Any]:
            return []

    class Client:
        def __init__(self, error: Exception) -> None:
            self.containers = Containers(error)

    with pytest.raises(BuildError, match="image repo/x:1 is not in the Docker engine") as info:
        DockerEngine(Client(ImageNotFound("no such image"))).run("repo/x:1", entrypoint=["python"], command=[])
    assert "docker pull repo/x:1" in (info.value.fix or "")
    bad = APIError("400", explanation="invalid reference format: repository name must be lowercase")
    with pytest.raises(EngineError, match="cannot run Not A Ref: invalid reference format"):
        DockerEngine(Client(bad)).run("Not A Ref", entrypoint=["python"], command=[])


def test_config_errors_from_validators_keep_their_fix() -> None:
    from hera_build.core.config import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config({"image": "Registry/Bad Name"}, source="p.toml")
    assert "in [tool.hera-build] of p.toml" in info.value.message and info.value.fix


def test_every_help_has_a_description_and_examples() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():  # type: ignore[union-attr]
        text = sub.format_help()
        assert sub.description, name
        assert "examples:" in text, name
        assert textwrap.dedent(sub.epilog or "").strip(), name


# ---------------------------------------------------------------------------------------------------- signals


_SIGTERMED_COMMAND = """
import argparse, os, signal, sys
from hera_build import _cli as cli

def command(args):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached")
    finally:
        print("cleaned up")
    return 0

parser = argparse.ArgumentParser()
parser.add_argument("--debug", action="store_true")
parser.set_defaults(run=command)
cli.build_parser = lambda *args: parser
before = signal.getsignal(signal.SIGTERM)
code = cli.main([])
print("handler restored" if signal.getsignal(signal.SIGTERM) is before else "handler left")
sys.exit(code)
"""


def test_sigterm_unwinds_the_command_so_its_clean_up_runs() -> None:
    """CI runners and ``timeout`` stop a job with SIGTERM; Python's default would end the process on the spot,
    skipping every ``finally`` (and leaving the image check's container behind). The command unwinds instead,
    says so in one line and exits 143; the previous handler is back afterwards. (In a subprocess: on failure the
    signal must not end the test run.)"""
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _SIGTERMED_COMMAND], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stdout.split("\n")[:2] == ["cleaned up", "handler restored"]
    assert done.stderr == "error: terminated (SIGTERM); cleaned up\n"


def test_connecting_to_the_engine_removes_containers_of_killed_hera_build_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A check container of a process killed with SIGKILL is removed by the next command that uses the engine,
    whether or not that command runs a container itself; containers of live processes, and of processes on other
    machines that share the engine, are left alone."""
    import socket
    import subprocess
    import sys

    import docker

    from hera_build.image.engine import OWNER_HOST_LABEL, OWNER_LABEL, DockerEngine

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = dead.stdout.strip()

    class Container:
        def __init__(self, owner: str, host: str = socket.gethostname()) -> None:
            self.labels = {OWNER_LABEL: owner, OWNER_HOST_LABEL: host}
            self.removed = False

        def remove(self, force: bool) -> None:
            self.removed = force

    orphan, running = Container(dead_pid), Container(str(os.getpid()))
    elsewhere = Container(dead_pid, host="another-ci-runner")  # the same engine, shared with another machine

    class Containers:
        def list(self, all: bool, filters: dict[str, str]) -> list[Container]:
            assert all and filters == {"label": OWNER_LABEL}
            return [orphan, running, elsewhere]

    class Client:
        containers = Containers()

        def ping(self) -> bool:
            return True

    monkeypatch.setattr(docker, "from_env", lambda **kwargs: Client())
    DockerEngine.from_env()
    assert (orphan.removed, running.removed, elsewhere.removed) == (True, False, False)
