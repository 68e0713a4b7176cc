"""The docs site: generated reference pages are complete and current, and the site builds with --strict."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_gen"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_gen()


def test_every_error_hera_build_raises_is_in_the_troubleshooting_page() -> None:
    page = (ROOT / "docs" / "reference" / "troubleshooting.md").read_text(encoding="utf-8")
    sites = gen.error_sites()
    assert len(sites) > 50, "the scan finds the raise sites of the whole code base"
    missing = [f"{s.path}:{s.line} {s.cls}: {s.message}" for s in sites if gen.render_message(s) not in page]
    assert not missing, "errors missing from docs/reference/troubleshooting.md (run `python docs/gen.py`):\n" + (
        "\n".join(missing)
    )


def test_every_error_in_the_page_has_its_fix() -> None:
    page = (ROOT / "docs" / "reference" / "troubleshooting.md").read_text(encoding="utf-8")
    for site in gen.error_sites():
        if site.fix:
            assert f"**Fix:** {gen._prose(site.fix)}" in page, f"{site.path}:{site.line}"


def test_the_scan_finds_errors_however_they_are_raised(tmp_path: Path) -> None:
    package = tmp_path / "hera_build"
    package.mkdir()
    (package / "errors.py").write_text(
        textwrap.dedent(
            """\
            class HeraBuildError(Exception):
                def __init__(self, message, fix=None):
                    super().__init__(message)

            class ConfigError(HeraBuildError):
                \"\"\"Bad configuration.\"\"\"
            """
        )
    )
    (package / "engine.py").write_text(
        textwrap.dedent(
            """\
            from hera_build import errors
            from hera_build.errors import ConfigError

            class EngineDown(ConfigError):
                pass

            def check(name, names):
                if not name:
                    raise ConfigError(f"unknown backend {name!r}", f"use one of: {', '.join(names)}")
                fix = "start it" if name else "install it"
                raise EngineDown("engine " + name + " is down", fix=fix)

            def helper(path):
                return errors.ConfigError(message=f"{path} is missing")

            class Thing:
                def method(self, text):
                    raise ConfigError(text, None) from None
            """
        )
    )
    classes = gen.error_classes(tmp_path, ["hera_build"])
    assert {name: cls.base for name, cls in classes.items()} == {
        "HeraBuildError": "Exception",
        "ConfigError": "HeraBuildError",
        "EngineDown": "ConfigError",
    }
    sites = gen.error_sites(tmp_path, ["hera_build"])
    assert [(s.cls, s.message, s.fix, s.where) for s in sites] == [
        ("ConfigError", "unknown backend <name>", "use one of: <names>", "hera_build.engine.check"),
        ("EngineDown", "engine <name> is down", "start it; or: install it", "hera_build.engine.check"),
        ("ConfigError", "<path> is missing", None, "hera_build.engine.helper"),
        ("ConfigError", "<text>", None, "hera_build.engine.Thing.method"),
    ]
    page = gen.troubleshooting_page(sites, classes)
    assert "- `unknown backend <name>`\n    - **Fix:** use one of: &lt;names&gt;\n" in page
    assert "### EngineDown" in page and "Bad configuration." in page


def test_reference_pages_are_up_to_date() -> None:
    stale = [str(path.relative_to(ROOT)) for path, text in gen.generate().items() if path.read_text() != text]
    assert not stale, f"{', '.join(stale)} out of date: run `python docs/gen.py`"


def test_configuration_reference_covers_every_key() -> None:
    from hera_build.core.config import HeraBuildConfig

    page = gen.configuration_page()
    for name, info in HeraBuildConfig.model_fields.items():
        assert info.description, f"config field {name} needs a description: the reference is generated from it"
        assert f"| `{info.alias or name}` |" in page


def test_cli_reference_covers_every_command_and_option() -> None:
    from hera_build._cli import build_parser

    page = gen.cli_page()
    commands, _ = gen._subcommands(build_parser())
    assert {"templates", "init", "docs"} <= set(commands)
    for name, parser in commands.items():
        assert f"## hera-build {name}\n" in page
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page.split(f"## hera-build {name}\n")[1], f"{name} {option}"


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        message = "mkdocs is not installed (pip install -e '.[docs]'): the docs site was not built"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for page in ("index.html", "reference/troubleshooting/index.html", "reference/cli/index.html"):
        assert (tmp_path / page).is_file(), page
