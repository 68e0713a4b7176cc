"""The run stage sits on top: it may use core, templates and image, never the CLI; nothing below it uses it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "hera_build"
ABOVE_RUN = {"_cli", "testing.py", "pytest_plugin.py", "api.py"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_the_run_stage_never_imports_the_cli() -> None:
    for path in (PACKAGE / "run").rglob("*.py"):
        assert not any(m.startswith("hera_build._cli") for m in imported_modules(path)), path


def test_no_stage_below_run_imports_it() -> None:
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0]
        if top in ABOVE_RUN or top == "run":
            continue
        assert not any(m.startswith("hera_build.run") for m in imported_modules(path)), path
