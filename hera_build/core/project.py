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

from hera_build.core.config import HeraBuildConfig, parse_config
from hera_build.core.versions import ProjectVersion
from hera_build.errors import ConfigError, VersionError

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
    if start.is_file() and start.suffix != ".toml":
        raise ConfigError(
            f"--project {start} is a file, not a project directory", "pass the folder that holds pyproject.toml"
        )
    if not path.is_file():
        raise ConfigError(
            f"no pyproject.toml in {start}", "run hera-build in the project's directory or pass --project DIR"
        )
    return path


def _typed(value: Any, kind: type, what: str, source: Path, example: str) -> Any:
    """``value`` if it has the TOML type PEP 621 gives ``what``; else one error that shows how to write it."""
    if not isinstance(value, kind):
        names: dict[type, str] = {str: "a string", list: "an array", dict: "a table"}
        raise ConfigError(
            f"{what} in {source} must be {names[kind]}, not {type(value).__name__} {value!r}", f"write it as {example}"
        )
    return value


def _requirements(values: Any, where: str, source: Path) -> tuple[Requirement, ...]:
    result = []
    for value in _typed(values if values is not None else [], list, where, source, '["data-utils>=1,<2"]'):
        try:
            result.append(Requirement(_typed(value, str, f"an entry of {where}", source, '"data-utils>=1,<2"')))
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


def _version(exact: str, source: str, pyproject: Path) -> ProjectVersion:
    """Parse the version; the error says where the bad one came from."""
    try:
        return ProjectVersion.parse(exact)
    except VersionError as exc:
        where = {"--version": "--version", "pyproject.toml": f"project.version in {pyproject}"}.get(
            source, f"the dynamic version of {pyproject}, from the {source}"
        )
        raise VersionError(f"{exc.message} ({where})", exc.fix) from None


def _optional(table: dict[str, Any], pyproject: Path) -> dict[str, tuple[Requirement, ...]]:
    extras = _typed(
        table.get("optional-dependencies", {}), dict, "project.optional-dependencies", pyproject,
        '[project.optional-dependencies] with lines like gpu = ["torch>=2"]',
    )  # fmt: skip
    return {
        str(extra): _requirements(reqs, f"[project.optional-dependencies] {extra}", pyproject)
        for extra, reqs in extras.items()
    }


def _entry_point_modules(table: dict[str, Any], pyproject: Path) -> tuple[str, ...]:
    """The modules of the project's own ``hera_build.templates`` entry points (``name = "module[:attr]"``)."""
    example = f'[project.entry-points."{ENTRY_POINT_GROUP}"] with lines like my-package = "my_package.workflows"'
    groups = _typed(table.get("entry-points", {}), dict, "project.entry-points", pyproject, example)
    group = _typed(groups.get(ENTRY_POINT_GROUP, {}), dict, f"entry points {ENTRY_POINT_GROUP}", pyproject, example)
    return tuple(
        _typed(value, str, f"entry point {key!r}", pyproject, example).partition(":")[0] for key, value in group.items()
    )


def check_metadata(document: dict[str, Any], pyproject: Path) -> None:
    """The TOML types of what hera-build reads (``[project]`` and ``[tool]``), checked without computing a version:
    for ``init``, which edits a file it must not half-understand."""
    table = document.get("project")
    if not isinstance(table, dict):
        return  # the caller explains a missing [project] table in its own words
    _typed(table.get("name"), str, "project.name", pyproject, 'name = "my-package"')
    _requirements(table.get("dependencies"), "[project] dependencies", pyproject)
    _optional(table, pyproject)
    _entry_point_modules(table, pyproject)
    _typed(table.get("dynamic", []), list, "project.dynamic", pyproject, 'dynamic = ["version"]')
    tool = _typed(document.get("tool", {}), dict, "tool", pyproject, "[tool.<name>] tables")
    _typed(tool.get("hera-build", {}), dict, "[tool.hera-build]", pyproject, "a [tool.hera-build] table")


def read_pyproject(pyproject: Path) -> str:
    """The text of ``pyproject``; a byte-order mark is named (tomlkit would say "Empty key at line 1 col 0")."""
    text = pyproject.read_text(encoding="utf-8")
    if text.startswith("\ufeff"):
        # tomllib refuses it too, and with it pip's build backends: accepting it here would only defer the error.
        raise ConfigError(
            f"{pyproject} starts with a UTF-8 byte-order mark (BOM), which TOML parsers such as tomllib refuse",
            "save the file as UTF-8 without a BOM",
        )
    return text


def load_project(path: Path | str = ".", *, version: str | None = None) -> Project:
    """Read a project's pyproject.toml; ``version`` overrides the declared one (and skips computing it)."""
    pyproject = find_pyproject(Path(path).resolve())
    try:
        document = tomlkit.parse(read_pyproject(pyproject)).unwrap()
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}", "fix the syntax at the position shown") from None
    table = document.get("project")
    if not isinstance(table, dict) or not table.get("name"):
        raise ConfigError(
            f"{pyproject} has no [project] table with a name", "add [project] with name and version (PEP 621)"
        )
    name = _typed(table["name"], str, "project.name", pyproject, 'name = "my-package"')
    tool = _typed(document.get("tool", {}), dict, "tool", pyproject, "[tool.<name>] tables")
    tool = tool.get("hera-build", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"[tool.hera-build] in {pyproject} is not a table", "write it as a [tool.hera-build] table")
    config = parse_config(tool, source=str(pyproject))
    root = pyproject.parent
    dynamic = _typed(table.get("dynamic", []), list, "project.dynamic", pyproject, 'dynamic = ["version"]')
    if version is not None:
        exact, source = version, "--version"
    elif "version" in table:
        exact = _typed(table["version"], str, "project.version", pyproject, 'version = "1.2.3"')
        source = "pyproject.toml"
    elif "version" in dynamic:
        exact, source = _dynamic_version(root, name)
    else:
        raise ConfigError(
            f"[project] in {pyproject} has no version", "set project.version or list it in project.dynamic"
        )
    return Project(
        root=root,
        name=name,
        version=_version(exact, source, pyproject),
        dependencies=_requirements(table.get("dependencies"), "[project] dependencies", pyproject),
        optional_dependencies=_optional(table, pyproject),
        config=config,
        entry_point_modules=_entry_point_modules(table, pyproject),
        version_source=source,
        raw=document,
    )
