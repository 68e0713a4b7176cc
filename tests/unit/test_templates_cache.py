"""``hera-build templates`` reuses an earlier run's objects only when nothing they are built from changed: the
modules' sources, files they read, folders the import system looked in, the environment, the options. Each
change below must be seen, and a reused run writes the very bytes a fresh one does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hera_build.templates.build import TemplateOptions
from hera_build.templates.cache import emit_templates
from tests.unit import test_cli_errors
from tests.unit.test_cli_errors import Result, edit, package_of

hera_build = test_cli_errors.hera_build  # the CLI in-process, on a small installed project whose cwd is its folder
project = test_cli_errors.project

REUSED = "reused the objects of an earlier run"


def files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def templates(hera_build: Callable[..., Result], *args: str, env: dict[str, str] | None = None) -> Result:
    result = hera_build("templates", "--force", *args, env=env)
    assert result.code == 0, result.err
    return result


def test_a_run_with_nothing_changed_reuses_the_objects_and_writes_the_same_bytes(
    project: Path, hera_build: Callable[..., Result]
) -> None:
    assert REUSED not in templates(hera_build, "--out", "fresh").err
    assert REUSED in templates(hera_build, "--out", "reused").err
    assert REUSED not in templates(hera_build, "--out", "uncached", "--no-cache").err

    assert files(project / "fresh") == files(project / "reused") == files(project / "uncached")
    assert len(files(project / "fresh")) == 2, "greet and the kustomization"


def test_an_edited_module_is_built_again(project: Path, hera_build: Callable[..., Result]) -> None:
    templates(hera_build)
    module = project / "src" / package_of(project) / "workflows.py"
    edit(module, 'name="greet"', 'name="greeting"')

    result = templates(hera_build, "--json")

    assert REUSED not in result.err
    assert [o["source_name"] for o in json.loads(result.out)["objects"]] == ["greeting"]


def test_a_file_a_module_reads_is_seen(project: Path, hera_build: Callable[..., Result]) -> None:
    folder = project / "src" / package_of(project)
    (folder / "who.txt").write_text("world")
    edit(folder / "workflows.py", 'who: str = "world"', "who: str = WHO")
    edit(
        folder / "workflows.py",
        "from hera.workflows.models import TemplateRef\n",
        "from hera.workflows.models import TemplateRef\nfrom pathlib import Path\n\n"
        'WHO = (Path(__file__).parent / "who.txt").read_text()\n',
    )
    templates(hera_build)
    (folder / "who.txt").write_text("moon!")

    result = templates(hera_build)

    assert REUSED not in result.err
    assert "moon!" in (project / "dist" / "argo" / "workflowtemplate-greet-v1-0-0.yaml").read_text()


def test_the_environment_is_seen(project: Path, hera_build: Callable[..., Result]) -> None:
    module = project / "src" / package_of(project) / "workflows.py"
    edit(module, 'who: str = "world"', 'who: str = __import__("os").environ.get("WHO", "world")')
    templates(hera_build, env={"WHO": "earth"})

    result = templates(hera_build, env={"WHO": "mars"})

    assert REUSED not in result.err
    assert "mars" in (project / "dist" / "argo" / "workflowtemplate-greet-v1-0-0.yaml").read_text()


def test_a_new_module_that_shadows_an_imported_one_is_seen(project: Path, hera_build: Callable[..., Result]) -> None:
    """A package folder wins over a module file of the same name: the file did not change, the folder did."""
    folder = project / "src" / package_of(project)
    (folder / "names.py").write_text('WHO = "module"\n')
    edit(folder / "workflows.py", 'who: str = "world"', "who: str = WHO")
    edit(folder / "workflows.py", "from hera.workflows.models", "from .names import WHO\nfrom hera.workflows.models")
    templates(hera_build)
    (folder / "names").mkdir()
    (folder / "names" / "__init__.py").write_text('WHO = "package"\n')

    result = templates(hera_build)

    assert REUSED not in result.err
    assert "package" in (project / "dist" / "argo" / "workflowtemplate-greet-v1-0-0.yaml").read_text()


def test_a_module_shadowing_one_in_a_folder_listed_before_the_run_is_seen(
    project: Path, hera_build: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process lists a folder on the path once (``python -m hera_build`` lists the current folder at start-up):
    a module added there later shadows one the run imported from a folder further down the path."""
    package = package_of(project)
    early, late = project / "early", project / "late"
    early.mkdir()
    late.mkdir()
    (early / f"{package}_warm.py").write_text("")
    (late / f"{package}_names.py").write_text('WHO = "late"\n')
    monkeypatch.syspath_prepend(str(late))
    monkeypatch.syspath_prepend(str(early))
    __import__(f"{package}_warm")  # the import system has listed `early` before any run records
    module = project / "src" / package / "workflows.py"
    edit(module, 'who: str = "world"', "who: str = WHO")
    edit(module, "from hera.workflows.models", f"from {package}_names import WHO\nfrom hera.workflows.models")
    templates(hera_build)
    assert REUSED in templates(hera_build).err
    (early / f"{package}_names.py").write_text('WHO = "early"\n')

    assert REUSED not in templates(hera_build).err


def test_a_distribution_installed_on_the_path_is_seen(project: Path, hera_build: Callable[..., Result]) -> None:
    """Distributions are folders on the path (``name-version.dist-info``): installing, upgrading or removing one
    changes a folder the run looked in."""
    templates(hera_build)
    (project / "src" / "extra-1.0.dist-info").mkdir()

    assert REUSED not in templates(hera_build).err
    assert REUSED in templates(hera_build).err


@pytest.mark.parametrize("option", [("--digest", "sha256:" + "cd" * 32), ("--version", "2.0.0"), ("--format", "json")])
def test_other_options_are_other_entries(
    project: Path, hera_build: Callable[..., Result], option: tuple[str, str]
) -> None:
    templates(hera_build, "--out", "plain")
    result = templates(hera_build, "--out", "other", *option)

    assert REUSED not in result.err
    assert files(project / "other") != files(project / "plain")


def test_a_failed_run_is_not_reused(project: Path, hera_build: Callable[..., Result]) -> None:
    templates(hera_build)
    module = project / "src" / package_of(project) / "workflows.py"
    edit(module, 'hello(name="a")', 'hello(name="a")\n        hello(name="a")')  # two tasks named "a"

    assert hera_build("templates").code == 1
    assert hera_build("templates").code == 1


@pytest.mark.parametrize(
    "line",
    [
        '__import__("subprocess").run(["true"], check=True)  # its output is not seen',
        'COUNT = __import__("pathlib").Path("count.txt"); COUNT.write_text(COUNT.read_text() + "1")',
    ],
    ids=["runs-a-program", "changes-what-it-read"],
)
def test_a_build_that_cannot_be_checked_later_is_not_kept(
    project: Path, hera_build: Callable[..., Result], line: str
) -> None:
    (project / "count.txt").write_text("")
    module = project / "src" / package_of(project) / "workflows.py"
    edit(
        module,
        "from hera.workflows.models import TemplateRef\n",
        f"from hera.workflows.models import TemplateRef\n{line}\n",
    )
    templates(hera_build)

    assert REUSED not in templates(hera_build).err


@pytest.mark.parametrize("damage", ['{"format": 1, "environment"', '{"format": 1, "files": []}', '{"format": 1}'])
def test_a_damaged_entry_is_ignored_and_replaced(
    project: Path, hera_build: Callable[..., Result], tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    templates(hera_build, env={"HERA_BUILD_CACHE_DIR": str(cache)})
    (entry,) = (cache / "templates").iterdir()
    entry.write_text(damage)

    assert REUSED not in templates(hera_build).err
    assert REUSED in templates(hera_build).err


def test_a_library_caller_asks_for_the_cache(project: Path, tmp_path: Path) -> None:
    """A longer-lived process may hold what the cache cannot see (Hera's global_config set in memory)."""
    options = TemplateOptions(project_dir=project)

    assert not emit_templates(options, cache_dir=tmp_path).cached
    assert not emit_templates(options, cache_dir=tmp_path).cached
    assert not emit_templates(options, cache=True, cache_dir=tmp_path).cached
    reused = emit_templates(options, cache=True, cache_dir=tmp_path)
    assert reused.cached and reused.texts == emit_templates(options).texts


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_stdout_of_a_reused_run_is_a_fresh_runs(project: Path, hera_build: Callable[..., Result], fmt: str) -> None:
    fresh = templates(hera_build, "--stdout", "--format", fmt)
    reused = templates(hera_build, "--stdout", "--format", fmt)
    uncached = templates(hera_build, "--stdout", "--format", fmt, "--no-cache")

    assert REUSED not in fresh.err and REUSED in reused.err
    assert fresh.out == reused.out == uncached.out and "greet-v1-0-0" in fresh.out


def test_a_cache_that_cannot_be_written_costs_only_time(
    project: Path, hera_build: Callable[..., Result], tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    env = {"HERA_BUILD_CACHE_DIR": str(blocked)}

    assert REUSED not in templates(hera_build, env=env).err
    assert REUSED not in templates(hera_build, env=env).err
    assert (project / "dist" / "argo" / "workflowtemplate-greet-v1-0-0.yaml").is_file()
