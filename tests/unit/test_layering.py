"""The architecture, as a test: stages import only stages below them, backends never import each other, commands
never import each other. Every import counts, also the ones inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hera_build"

STAGES = {
    "errors": 0,
    "core": 1,
    "templates": 2,
    "image": 3,
    "publish": 4,
    "release": 5,
    "run": 6,
    "cluster": 6,
    "init": 7,
    "api": 8,
    "testing": 8,
    "_cli": 9,
    "__main__": 9,
}
"""Each module's stage is its first component under hera_build; a stage may import only its own and lower ones."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, text: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in ``text`` (default: the file's), read as the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from hera_build import errors` imports the module hera_build.errors
                if _is_module(f"{module}.{alias.name}"):
                    yield node.lineno, f"{module}.{alias.name}"


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "hera_build" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in STAGES else None


def _edges() -> list[tuple[str, int, str]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        for line, target in _imports(path):
            if target.startswith("hera_build.") and _stage(target) is not None:
                edges.append((f"{source}:{line}", line, target))
    return edges


def test_every_module_belongs_to_a_stage() -> None:
    unknown = sorted({_module_name(p) for p in PACKAGE.rglob("*.py")} - {"hera_build"})
    assert [m for m in unknown if _stage(m) is None] == []


def test_stages_import_only_themselves_and_stages_below() -> None:
    upward = []
    for where, _, target in _edges():
        source_stage, target_stage = _stage(where.split(":")[0]), _stage(target)
        assert source_stage is not None and target_stage is not None
        if STAGES[target_stage] > STAGES[source_stage]:
            upward.append(f"{where} imports {target}")
    assert upward == []


def test_the_templates_stage_never_imports_the_image_stage() -> None:
    found = [
        f"{w} imports {t}" for w, _, t in _edges() if w.startswith("hera_build.templates") and _stage(t) == "image"
    ]
    assert found == []


def test_backends_never_import_each_other() -> None:
    crossing = []
    for where, _, target in _edges():
        source, target_parts = where.split(":")[0].split("."), target.split(".")
        if source[:3] == ["hera_build", "image", "backends"] and len(source) > 3:
            if target_parts[:3] == ["hera_build", "image", "backends"] and len(target_parts) > 3:
                if target_parts[3] != source[3]:
                    crossing.append(f"{where} imports {target}")
    assert crossing == []


def test_commands_never_import_other_commands() -> None:
    """Shared CLI pieces live in underscore modules (``_common``, ``_checks`` …); a command is a plain module."""
    crossing = []
    for where, _, target in _edges():
        source, target_parts = where.split(":")[0].split("."), target.split(".")
        if source[:2] == ["hera_build", "_cli"] and len(source) == 3 and not source[2].startswith("_"):
            if target_parts[:2] == ["hera_build", "_cli"] and len(target_parts) >= 3:
                name = target_parts[2]
                if not name.startswith("_") and name != source[2]:
                    crossing.append(f"{where} imports {target}")
    assert crossing == []


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        ("hera_build/templates/x.py", "from hera_build.image.inputs import A", "hera_build.image.inputs"),
        ("hera_build/image/backends/docker.py", "from .oci import B", "hera_build.image.backends.oci"),
        ("hera_build/_cli/__init__.py", "from . import templates", "hera_build._cli.templates"),
    ],
)
def test_the_import_reader_resolves_absolute_relative_and_package_imports(
    source: str, line: str, expected: str
) -> None:
    """The checks above are only as good as the reader: it must see every spelling of an import."""
    imports = {target for _, target in _imports(PACKAGE.parent / source, line + "\n")}
    assert expected in imports


def test_the_public_api_is_one_small_module() -> None:
    """Like PyPA build's, the public surface is a handful of names; modules without ``__all__`` are internal."""
    import hera_build.api as api

    assert len(api.__all__) <= 18  # options, result and function for each of six entry points
    assert all(hasattr(api, name) for name in api.__all__)
    declaring = sorted(
        _module_name(p)
        for p in PACKAGE.rglob("*.py")
        if any(line.startswith("__all__") for line in p.read_text().splitlines())
    )
    public = {"hera_build", "hera_build.api", "hera_build.errors", "hera_build.testing"}
    reexporting_packages = {"hera_build.image.registry"}
    assert set(declaring) <= public | reexporting_packages
