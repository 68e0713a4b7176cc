"""pyproject.toml → a frozen :class:`Project`, read once at the start of every command.

Everything downstream (names, tags, images, dependency pinning) is derived from this value, which is what makes
the Python package the single source of truth.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

from hera_build.config import HeraBuildConfig, parse_config
from hera_build.errors import ConfigError
from hera_build.versions import ProjectVersion

__all__ = ["Project", "load_project", "find_pyproject", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "hera_build.templates"
"""Entry-point group through which a package says which of its modules define templates for others."""


@dataclass(frozen=True)
class Project:
    """What hera-build knows of a project: its identity, version, requirements and configuration."""

    root: Path
    name: str
    version: ProjectVersion
    dependencies: tuple[Requirement, ...]
    optional_dependencies: dict[str, tuple[Requirement, ...]]
    config: HeraBuildConfig
    entry_point_modules: tuple[str, ...] = ()
    version_source: str = "pyproject.toml"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def distribution_name(self) -> str:
        """The normalized distribution name (PEP 503), as installers and lock files write it."""
        return canonicalize_name(self.name)

    @property
    def modules(self) -> tuple[str, ...]:
        """Modules to scan: configured ones, else those of the project's own entry points."""
        return self.config.modules or self.entry_point_modules

    @property
    def all_requirements(self) -> tuple[Requirement, ...]:
        extra = tuple(req for reqs in self.optional_dependencies.values() for req in reqs)
        return self.dependencies + extra

    def with_version(self, version: str) -> Project:
        """The same project at another version (``--version``)."""
        return replace(self, version=ProjectVersion.parse(version), version_source="--version")


def find_pyproject(start: Path) -> Path:
    """``start`` itself if it is a file, else ``start/pyproject.toml``."""
    path = start if start.is_file() else start / "pyproject.toml"
    if not path.is_file():
        raise ConfigError(
            f"no pyproject.toml in {start}", "run hera-build in the project's directory or pass --project DIR"
        )
    return path


def _requirements(values: Any, where: str, source: Path) -> tuple[Requirement, ...]:
    result = []
    for value in values or ():
        try:
            result.append(Requirement(str(value)))
        except InvalidRequirement as exc:
            raise ConfigError(
                f"invalid requirement {value!r} in {where} of {source}: {exc}",
                "use PEP 508 syntax, e.g. 'data-utils>=1,<2'",
            ) from None
    return tuple(result)


def _dynamic_version(root: Path, name: str) -> tuple[str, str]:
    """A dynamic version: the project's built metadata first (fresh for setuptools-scm/hatch-vcs), then the
    installed distribution."""
    import build.util

    for isolated in (False, True):  # the current environment's backend first: fast, and offline
        try:
            metadata = build.util.project_wheel_metadata(root, isolated=isolated)
        except Exception:  # noqa: BLE001 - any backend failure: try isolation, then the installed dist
            continue
        version = metadata["Version"]
        if version:
            return str(version), "build backend metadata"
    try:
        return importlib.metadata.version(name), "installed distribution"
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the version of {name!r} is dynamic and neither its build backend nor an installed distribution gives it",
            "install the project (pip install -e .) or pass --version",
        ) from None


def load_project(path: Path | str = ".", *, version: str | None = None) -> Project:
    """Read a project's pyproject.toml; ``version`` overrides the declared one (and skips computing it)."""
    pyproject = find_pyproject(Path(path).resolve())
    try:
        document = tomlkit.parse(pyproject.read_text(encoding="utf-8")).unwrap()
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}", "fix the syntax at the position shown") from None
    table = document.get("project")
    if not isinstance(table, dict) or not table.get("name"):
        raise ConfigError(
            f"{pyproject} has no [project] table with a name", "add [project] with name and version (PEP 621)"
        )
    name = str(table["name"])
    tool = document.get("tool", {}).get("hera-build", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"[tool.hera-build] in {pyproject} is not a table", "write it as a [tool.hera-build] table")
    config = parse_config(tool, source=str(pyproject))
    root = pyproject.parent
    if version is not None:
        exact, source = version, "--version"
    elif "version" in table:
        exact, source = str(table["version"]), "pyproject.toml"
    elif "version" in table.get("dynamic", ()):
        exact, source = _dynamic_version(root, name)
    else:
        raise ConfigError(
            f"[project] in {pyproject} has no version", "set project.version or list it in project.dynamic"
        )
    entry_points = table.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    optional = {
        extra: _requirements(reqs, f"[project.optional-dependencies] {extra}", pyproject)
        for extra, reqs in (table.get("optional-dependencies") or {}).items()
    }
    return Project(
        root=root,
        name=name,
        version=ProjectVersion.parse(exact),
        dependencies=_requirements(table.get("dependencies"), "[project] dependencies", pyproject),
        optional_dependencies=optional,
        config=config,
        entry_point_modules=tuple(str(value).partition(":")[0] for value in entry_points.values()),
        version_source=source,
        raw=document,
    )
