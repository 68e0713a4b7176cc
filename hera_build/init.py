"""Add hera-build's configuration to an existing project: ``[tool.hera-build]`` and the templates entry point.

The modules are found the way hera-build will later use them: the project's package directories are located
(from the build backend's configuration, or the src/flat layout conventions), every module in them that imports
``hera`` is imported *by dotted name* from the installed project, and the modules that define Hera objects at
module level are kept. A project that is not installed cannot be scanned, by design: loading files by path gives
runner entrypoints the wrong module names.

The edit goes through tomlkit's document model, so everything outside the added tables stays byte for byte as
the user wrote it; only the blank lines around the new tables are tidied.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from packaging.utils import canonicalize_name
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable, Table

from hera_build.core.atomic import write_text_atomic
from hera_build.core.config import parse_config
from hera_build.core.project import ENTRY_POINT_GROUP, check_metadata, find_pyproject, read_pyproject
from hera_build.core.references import parse_repository
from hera_build.core.versions import ProjectVersion
from hera_build.errors import ConfigError, DiscoveryError, VersionError
from hera_build.image.backends import BACKENDS, DEFAULT_BACKEND
from hera_build.templates.discover import DiscoveredObject, discover

IMAGE_PLACEHOLDER = "registry.example.com/<team>/{name}"
"""Shown, commented out, when no ``--image`` is given: a value that looked valid would emit wrong images."""
_TEMPLATE_KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate")
_SKIP_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "example", "build", "dist", "venv", "scripts"}
_SKIP_FILES = {"__main__.py", "conftest.py", "setup.py"}
_VERSION_IN_NAME_RE = re.compile(r"(?:^|[-.])v\d+(?:[-.]\d+)*(?=$|[-.])")


@dataclass(frozen=True)
class InitOptions:
    project_dir: Path = Path(".")
    image: str | None = None
    """Image repository (no tag). Without it the key is written commented out and commands that need it fail."""
    backend: str | None = None
    modules: tuple[str, ...] = ()
    """Modules to configure instead of scanning the package."""
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class PackageSource:
    """A top-level package directory (or single-file module) of the project, and how it was found."""

    name: str
    path: Path
    origin: str


@dataclass(frozen=True)
class InitResult:
    pyproject: Path
    before: str = field(repr=False)
    after: str = field(repr=False)
    image: str | None
    modules: tuple[str, ...]
    backend: str
    entry_points: dict[str, str]
    """Entry point name → module in group ``hera_build.templates`` (empty when none was added)."""
    packages: tuple[PackageSource, ...]
    objects: tuple[tuple[str, str, str], ...]
    """``(kind, name, module)`` of each Hera object found."""
    warnings: tuple[str, ...]
    written: bool

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """The change as a unified diff (what ``--dry-run`` prints)."""
        name = self.pyproject.name
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# --- finding the package ----------------------------------------------------------------------------------------


def _get(table: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(table, Mapping) or key not in table:
            return None
        table = table[key]
    return table


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not name.startswith(".")


def _source(root: Path, relative: str, origin: str) -> PackageSource | None:
    path = (root / relative).resolve()
    if path.is_dir() or (path.suffix == ".py" and path.is_file()):
        name = path.stem if path.suffix == ".py" else path.name
        return PackageSource(name, path, origin) if _is_identifier(name) else None
    return None


def _from_hatch(root: Path, tool: Any) -> list[PackageSource]:
    paths = _get(tool, "hatch", "build", "targets", "wheel", "packages") or ()
    found = [_source(root, str(p), "[tool.hatch.build.targets.wheel] packages") for p in paths]
    return [s for s in found if s]


def _setuptools_find(root: Path, find: Mapping[str, Any]) -> list[PackageSource]:
    include = [str(p) for p in find.get("include", ["*"])]
    exclude = [str(p) for p in find.get("exclude", [])]
    found = []
    for where in find.get("where", ["."]):
        base = (root / str(where)).resolve()
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            name = child.name
            if not child.is_dir() or not _is_identifier(name) or name in _SKIP_DIRS:
                continue
            if not any(child.glob("*.py")) and not (child / "__init__.py").exists():
                continue
            if any(fnmatch.fnmatch(name, p) for p in include) and not any(fnmatch.fnmatch(name, p) for p in exclude):
                found.append(PackageSource(name, child, "[tool.setuptools.packages.find]"))
    return found


def _from_setuptools(root: Path, tool: Any) -> list[PackageSource]:
    setuptools = _get(tool, "setuptools")
    if not isinstance(setuptools, Mapping):
        return []
    package_dir = {str(k): str(v) for k, v in (setuptools.get("package-dir") or {}).items()}
    base = package_dir.get("", ".")
    packages = setuptools.get("packages")
    found: list[PackageSource | None] = []
    if isinstance(packages, Mapping) and isinstance(packages.get("find"), Mapping):
        return _setuptools_find(root, packages["find"])
    for name in packages or ():
        name = str(name)
        if "." not in name:
            found.append(_source(root, package_dir.get(name, f"{base}/{name}"), "[tool.setuptools] packages"))
    for name in setuptools.get("py-modules") or ():
        found.append(_source(root, f"{base}/{name}.py", "[tool.setuptools] py-modules"))
    return [s for s in found if s]


def _from_poetry(root: Path, tool: Any) -> list[PackageSource]:
    found: list[PackageSource] = []
    for entry in _get(tool, "poetry", "packages") or ():
        if not isinstance(entry, Mapping) or "include" not in entry:
            continue
        base = (root / str(entry.get("from", "."))).resolve()
        for path in sorted(base.glob(str(entry["include"]))):
            source = _source(base, path.name, "[tool.poetry] packages")
            if source:
                found.append(source)
    return found


def _conventional(root: Path, import_name: str, origin: str) -> list[PackageSource]:
    top = import_name.partition(".")[0]
    for relative in (f"src/{top}", top, f"src/{top}.py", f"{top}.py"):
        source = _source(root, relative, origin)
        if source:
            return [source]
    return []


def _from_flit(root: Path, tool: Any) -> list[PackageSource]:
    name = _get(tool, "flit", "module", "name")
    return _conventional(root, str(name), "[tool.flit.module] name") if name else []


def _from_layout(root: Path, dist_name: str) -> list[PackageSource]:
    import_name = canonicalize_name(dist_name).replace("-", "_")
    found = _conventional(root, import_name, "the project name")
    if found:
        return found
    # under src/ every folder of Python files is a package (namespace packages too); at the top only regular ones
    for base, origin, pattern in ((root / "src", "src layout", "*.py"), (root, "flat layout", "__init__.py")):
        if not base.is_dir():
            continue
        found = [
            PackageSource(child.name, child.resolve(), origin)
            for child in sorted(base.iterdir())
            if child.is_dir()
            and _is_identifier(child.name)
            and child.name not in _SKIP_DIRS
            and any(child.glob(pattern))
        ]
        if found:
            return found
    return []


def find_packages(root: Path, document: Mapping[str, Any], dist_name: str) -> tuple[PackageSource, ...]:
    """The project's top-level packages: from hatch, setuptools, poetry or flit configuration when it names them,
    else ``src/<name>`` or ``<name>`` for the project's import name, else the packages under ``src/`` or at the top.
    """
    tool = document.get("tool", {})
    for reader in (_from_hatch, _from_setuptools, _from_poetry, _from_flit):
        found = reader(root, tool)
        if found:
            return tuple(found)
    found = _from_layout(root, dist_name)
    if not found:
        name = canonicalize_name(dist_name).replace("-", "_")
        raise ConfigError(
            f"cannot find the Python package of {dist_name!r} in {root} (looked for src/{name}/, {name}/ and "
            "packages under src/ or at the top)",
            "pass --module for each module that defines Hera objects",
        )
    return tuple(found)


def _imports_hera(path: Path) -> bool:
    """Whether a file imports hera anywhere: only such modules are imported while scanning."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "hera" or name.startswith("hera.") for name in names):
            return True
    return False


def _module_files(source: PackageSource) -> Iterator[tuple[str, Path]]:
    if source.path.is_file():
        yield source.name, source.path
        return
    for path in sorted(source.path.rglob("*.py")):
        parts = path.relative_to(source.path).with_suffix("").parts
        if path.name in _SKIP_FILES or any(p in _SKIP_DIRS or not _is_identifier(p) for p in parts):
            continue
        dotted = ".".join((source.name, *parts))
        yield dotted.removesuffix(".__init__"), path


def candidate_modules(packages: Iterable[PackageSource]) -> list[str]:
    """Dotted names of the modules that import hera, deepest first (so an object re-exported by a parent
    package is attributed to the module that defines it)."""
    found = [name for source in packages for name, path in _module_files(source) if _imports_hera(path)]
    return sorted(found, key=lambda name: (-name.count("."), name))


# --- checks on what was found -----------------------------------------------------------------------------------


def version_in_name(name: str, version: ProjectVersion | None) -> str | None:
    """The part of ``name`` that already looks like a version (``-v2``, ``-v1-2``, or the package version).

    hera-build appends the version itself; a second one makes names like ``train-v2-v2-0-0`` that drift apart.
    """
    match = _VERSION_IN_NAME_RE.search(name)
    if match:
        return match.group(0).lstrip("-.")
    if version is not None:
        forms = {version.exact, version.canonical, version.slug}
        for form in sorted(forms, key=len, reverse=True):
            if ("." in form or "-" in form) and form in name:
                return form
    return None


def _name_warnings(objects: Sequence[DiscoveredObject], version: ProjectVersion | None) -> list[str]:
    warnings = []
    for obj in objects:
        found = version_in_name(obj.name, version) if obj.name else None
        if found:
            suggestion = obj.name.replace(found, "").replace("--", "-").strip("-.") or obj.name
            warnings.append(
                f"{obj.kind} {obj.name!r} ({obj.module}.{obj.attribute}) already has a version ({found!r}) in its "
                f"name; hera-build appends the package version to names, so rename it (e.g. to {suggestion!r})"
            )
    return warnings


def _origin_warnings(packages: Sequence[PackageSource]) -> list[str]:
    """A package imported from elsewhere than the project's sources (a non-editable or stale install)."""
    warnings = []
    for source in packages:
        module = sys.modules.get(source.name)
        location = getattr(module, "__file__", None)
        if not location:
            continue
        imported = Path(location).resolve()
        inside = imported == source.path or source.path in imported.parents
        if not inside:
            warnings.append(
                f"package {source.name!r} is imported from {imported.parent}, not from {source.path}: hera-build "
                "scans what is installed, so install this checkout editable (pip install -e .) to keep them the same"
            )
    return warnings


def _project_version(table: Mapping[str, Any], name: str) -> ProjectVersion | None:
    """Best effort, only for the name check: the declared version, else the installed one."""
    text = table.get("version")
    if text is None:
        try:
            text = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    try:
        return ProjectVersion.parse(str(text))
    except VersionError:  # reported by the commands that use the version
        return None


def _require_importable(packages: Sequence[PackageSource]) -> None:
    for source in packages:
        if importlib.util.find_spec(source.name) is None:
            raise DiscoveryError(
                f"package {source.name!r} ({source.path}) is not importable from {sys.executable}: hera-build "
                "imports your modules by name to find their Hera objects",
                "install the project into this environment first (pip install -e .)",
            )


# --- editing pyproject.toml -------------------------------------------------------------------------------------


def _project_table(document: tomlkit.TOMLDocument, pyproject: Path) -> Any:
    project = document.get("project")
    if isinstance(project, Mapping) and project.get("name"):
        return project
    tool = document.get("tool", {})
    if "poetry" in tool:
        fix = "move name, version and dependencies from [tool.poetry] to [project] (poetry-core 2 reads PEP 621)"
    elif _get(tool, "flit", "metadata") is not None:
        fix = "move [tool.flit.metadata] to a PEP 621 [project] table (flit_core 3.2 and later read it)"
    else:
        fix = "add a PEP 621 [project] table with name and version"
    raise ConfigError(f"{pyproject} has no [project] table with a name: hera-build reads PEP 621 metadata", fix)


def _table(document: Container | Table, key: str) -> Any:
    """``document[key]`` as a table, created as a super table (``[a.b]`` without ``[a]``) when missing."""
    if key not in document:
        document[key] = tomlkit.table(is_super_table=True)
    return document[key]


def _write_tool_table(
    document: tomlkit.TOMLDocument, name: str, image: str | None, modules: Sequence[str], backend: str
) -> None:
    tool = _table(document, "tool")
    existing = tool.get("hera-build")
    table = existing if isinstance(existing, (Table, InlineTable)) else tomlkit.table()
    if image is not None:
        table["image"] = image
    elif "image" not in table:
        placeholder = IMAGE_PLACEHOLDER.format(name=canonicalize_name(name))
        table.add(tomlkit.comment(f'image = "{placeholder}"  # set the runner image\'s repository'))
    table["modules"] = list(modules)
    table["backend"] = backend
    if existing is None:
        tool["hera-build"] = table


def _entry_point_names(name: str, modules: Sequence[str]) -> dict[str, str]:
    """One module: named after the distribution (as the examples do); several: after their modules."""
    if len(modules) == 1:
        return {canonicalize_name(name): modules[0]}
    return {module: module for module in modules}


def _write_entry_points(project: Any, entries: Mapping[str, str]) -> None:
    group = _table(project, "entry-points")
    if isinstance(group, InlineTable):
        inline = tomlkit.inline_table()
        inline.update(entries)
        group[ENTRY_POINT_GROUP] = inline
        return
    existing = group.get(ENTRY_POINT_GROUP)
    if existing is not None:
        for key in list(existing):
            del existing[key]
        existing.update(entries)
        return
    table = tomlkit.table()
    table.update(entries)
    group[ENTRY_POINT_GROUP] = table


def _tidy_insertions(before: str, after: str) -> str:
    """One blank line around each inserted block, whatever tomlkit did; lines it kept are not touched."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    result: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag != "insert":
            result.extend(new[j1:j2])
            continue
        block = new[j1:j2]
        while block and not block[0].strip():
            block.pop(0)
        while block and not block[-1].strip():
            block.pop()
        if not block:
            continue
        if result and result[-1].strip():
            if not result[-1].endswith("\n"):
                result[-1] += "\n"
            result.append("\n")
        result.extend(block)
        if i1 < len(old) and old[i1].strip():
            result.append("\n")
    return "".join(result)


def _render(document: tomlkit.TOMLDocument, before: str) -> str:
    after = tomlkit.dumps(document)
    tidy = _tidy_insertions(before, after)
    try:
        same = tomlkit.parse(tidy).unwrap() == tomlkit.parse(after).unwrap()
    except TOMLKitError:
        same = False
    return tidy if same else after


# --- the whole step ---------------------------------------------------------------------------------------------


def _existing_config_error(pyproject: Path, what: str) -> ConfigError:
    return ConfigError(
        f"{pyproject} already has {what}",
        "pass --force to replace it (other keys in [tool.hera-build] are kept), or edit it by hand",
    )


def _scan(
    options: InitOptions, root: Path, document: Mapping[str, Any], name: str
) -> tuple[tuple[PackageSource, ...], list[DiscoveredObject]]:
    if options.modules:
        return (), discover(options.modules)
    packages = find_packages(root, document, name)
    candidates = candidate_modules(packages)
    if not candidates:
        where = ", ".join(str(p.path) for p in packages)
        raise DiscoveryError(
            f"no module in {where} imports hera, so none can define Hera objects",
            "pass --module for each module that defines your WorkflowTemplates",
        )
    _require_importable(packages)
    try:
        return packages, discover(candidates, packages=[p.name for p in packages])
    except DiscoveryError as exc:  # a module that cannot be imported may not be one that matters: say how to skip it
        raise DiscoveryError(exc.message, f"{exc.fix}; or name the modules with --module") from exc


def _ordered_modules(objects: Iterable[DiscoveredObject], kinds: Sequence[str] | None = None) -> tuple[str, ...]:
    return tuple(sorted({obj.module for obj in objects if kinds is None or obj.kind in kinds}))


def init_project(options: InitOptions) -> InitResult:
    """Plan the edit of pyproject.toml and, unless ``dry_run``, write it atomically."""
    pyproject = find_pyproject(options.project_dir.resolve())
    before = read_pyproject(pyproject)
    try:
        document = tomlkit.parse(before)
    except TOMLKitError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}", "fix the syntax at the position shown") from None
    project = _project_table(document, pyproject)
    check_metadata(document.unwrap(), pyproject)
    name = str(project["name"])
    existing_tool = _get(document, "tool", "hera-build")
    if existing_tool and not options.force:
        raise _existing_config_error(pyproject, "a [tool.hera-build] table")
    if options.image is not None:
        parse_repository(options.image, what="--image")
    backend = options.backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}", f"use one of: {', '.join(BACKENDS)}")

    packages, objects = _scan(options, pyproject.parent, document, name)
    modules = tuple(options.modules) or _ordered_modules(objects)
    provided = tuple(m for m in modules if m in _ordered_modules(objects, _TEMPLATE_KINDS))
    warnings = _name_warnings(objects, _project_version(project, name)) + _origin_warnings(packages)

    entries: dict[str, str] = {}
    if provided and "entry-points" in (project.get("dynamic") or ()):
        wanted = ", ".join(f"{key} = {value!r}" for key, value in _entry_point_names(name, provided).items())
        warnings.append(
            "entry-points are dynamic in [project]: declare the hera_build.templates entry point where your build "
            f"backend reads entry points ({wanted})"
        )
    elif provided:
        entries = _entry_point_names(name, provided)
        current = _get(project, "entry-points", ENTRY_POINT_GROUP)
        if current is not None and {str(v).partition(":")[0] for v in current.values()} == set(provided):
            entries = {str(k): str(v) for k, v in current.items()}
        elif current is not None and not options.force:
            raise _existing_config_error(pyproject, f'a [project.entry-points."{ENTRY_POINT_GROUP}"] table')
        else:
            _write_entry_points(project, entries)

    _write_tool_table(document, name, options.image, modules, backend)
    config = parse_config(document["tool"]["hera-build"].unwrap(), source=str(pyproject))
    if config.image is None:
        warnings.append(
            "no --image given: set image in [tool.hera-build] (written commented out) before building images or "
            "emitting runner templates"
        )
    after = _render(document, before)
    written = not options.dry_run and after != before and write_text_atomic(pyproject, after)
    return InitResult(
        pyproject=pyproject,
        before=before,
        after=after,
        image=config.image,
        modules=modules,
        backend=backend,
        entry_points=entries,
        packages=packages,
        objects=tuple((obj.kind, obj.name, obj.module) for obj in objects),
        warnings=tuple(warnings),
        written=written,
    )
