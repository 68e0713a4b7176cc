"""Rebuild the project's wheel without the build backend when only Python source files changed — what Jib does
with class files: the wheel of a pure-Python project holds those files verbatim, so a new wheel is the previous
one with their bytes (and ``RECORD``) replaced.

This is a :class:`hera_build.image.wheelhouse.WheelBuilder` that wraps the real one (PyPA ``build`` with the project's
backend) and is plugged into the shared wheelhouse; it is not a second wheelhouse. A warm rebuild otherwise
spends most of its time starting the build backend twice (``get_requires_for_build_wheel``, ``build_wheel``).

It patches only when it can be sure the backend would produce the same files, and builds for real otherwise:

- the backend copies sources verbatim: ``hatchling`` or ``flit_core``, no build hooks, no ``dynamic`` metadata
  (a dynamic version read from a file would change ``METADATA``), no ``--version`` override;
- the previous wheel was built by the backend (or patched from one) from the same directory with the same epoch,
  and the source tree has the same files: none added or removed;
- every changed file is a ``.py`` file not named in ``pyproject.toml``, and its previous content is exactly one
  wheel member whose path ends with the file's path (``src/pkg/mod.py`` → ``pkg/mod.py``);
- or ``pyproject.toml`` itself, when the two documents differ only in ``[project] dependencies`` (and in
  ``[tool.hera-build]``, which no build backend reads), the backend is hatchling, and the wheel does not ship
  the file: then only ``METADATA`` changes, in its ``Requires-Dist`` lines (:func:`requires_dist_patch`).
  Adding, upgrading or removing a dependency is the commonest change to the file, and otherwise it costs a
  backend run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from hera_build.core import tomlread
from hera_build.core.digests import canonical_json, sha256_digest
from hera_build.image.cache import BuildCache
from hera_build.image.wheelhouse import WheelBuilder

VERBATIM_BACKENDS = frozenset({"hatchling.build", "flit_core.buildapi"})
"""Build backends that copy a pure-Python package's ``.py`` files into the wheel unchanged."""
METADATA_BACKENDS = frozenset({"hatchling.build"})
"""Backends whose ``Requires-Dist`` lines :func:`requires_dist_patch` writes as they do (flit_core normalizes
requirements its own way: a changed dependency list is built for real)."""
PYPROJECT = "pyproject.toml"
_IGNORED_TABLES = ("hera-build",)
"""``[tool.*]`` tables no build backend reads: hera-build's own configuration."""
_EXCLUDED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "build", "dist", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules", ".cache", ".eggs",
    }
)  # fmt: skip
_STATE_VERSION = 1


def tree_files(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every source file (VCS, virtualenvs, build output and caches skipped)."""
    files: dict[str, str] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _EXCLUDED_DIRS and not d.endswith(".egg-info"))
        for filename in filenames:
            if filename.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory, filename)
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _read_pyproject(source: Path, files: Mapping[str, str]) -> str | None:
    """The text of ``pyproject.toml`` if it is the file that was hashed (``None``: missing, unreadable, or just
    rewritten, in which case nothing is patched and no state is kept of it)."""
    try:
        data = (source / PYPROJECT).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if files.get(PYPROJECT) == hashlib.sha256(data).hexdigest() else None


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return key in value or any(_has_key(item, key) for item in value.values())
    return False


def _verbatim_project(source: Path) -> bool:
    """Whether the project's backend is known to copy sources verbatim, with nothing that could rewrite them
    (hatchling also reads ``hatch.toml``, where build hooks can be: a project with one is always built)."""
    if (source / "hatch.toml").exists():
        return False
    try:
        document = tomlread.loads((source / PYPROJECT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if (document.get("build-system") or {}).get("build-backend") not in VERBATIM_BACKENDS:
        return False
    if (document.get("project") or {}).get("dynamic"):
        return False
    return not _has_key((document.get("tool") or {}).get("hatch") or {}, "hooks")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


_NAME_SEPARATORS = re.compile(r"[-_.]+")


def _hatchling_requirement(text: str, verified: bool) -> str | None:
    """One ``Requires-Dist`` value as hatchling writes it (normalized name and lower-case specifiers, ``str`` of
    packaging's ``Requirement``, single quotes), or ``None`` when unsure: hatchling's context fields (``{root}``)
    and direct references are not rendered here, and extras and markers only when ``verified`` (the same text is
    among the dependencies whose lines were found in the previous wheel, so their rendering was checked)."""
    if "{" in text:
        return None
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if requirement.url or (not verified and (requirement.extras or requirement.marker is not None)):
        return None
    requirement.name = _NAME_SEPARATORS.sub("-", requirement.name).lower()
    if requirement.specifier:
        requirement.specifier = SpecifierSet(str(requirement.specifier).lower())
    requirement.extras = {_NAME_SEPARATORS.sub("-", extra).lower() for extra in requirement.extras}
    return str(requirement).replace('"', "'")


def _requires_dist_lines(entries: object, verified: frozenset[str] = frozenset()) -> list[str] | None:
    """hatchling's ``Requires-Dist`` lines for ``[project] dependencies``: rendered, deduplicated, sorted."""
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        return None
    rendered = set()
    for entry in entries:
        line = _hatchling_requirement(entry, entry in verified)
        if line is None:
            return None
        rendered.add(f"Requires-Dist: {line}")
    return sorted(rendered)


def _without_dependencies(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a backend sees it, less ``[project] dependencies`` and the tables no backend reads."""
    project = {key: value for key, value in (document.get("project") or {}).items() if key != "dependencies"}
    tool = {key: value for key, value in (document.get("tool") or {}).items() if key not in _IGNORED_TABLES}
    return document | {"project": project, "tool": tool}


def requires_dist_patch(old_pyproject: str, new_pyproject: str, metadata: bytes) -> bytes | None:
    """``METADATA`` of the previous wheel with the ``Requires-Dist`` lines of the new ``pyproject.toml``, or
    ``None`` when the new wheel could differ in anything else, or the lines cannot be placed for sure.

    The previous dependencies, rendered as hatchling renders them, must be found in ``METADATA`` as one whole
    run of ``Requires-Dist`` lines, exactly once: that checks the rendering against the backend's own output
    (and that the run is the core dependencies, not an extra's). An empty previous list gives nothing to check
    against, so it is built for real."""
    try:
        old_document, new_document = tomlread.loads(old_pyproject), tomlread.loads(new_pyproject)
    except ValueError:
        return None
    if (new_document.get("build-system") or {}).get("build-backend") not in METADATA_BACKENDS:
        return None
    if _without_dependencies(old_document) != _without_dependencies(new_document):
        return None
    old_entries = (old_document.get("project") or {}).get("dependencies", [])
    checked = (
        frozenset(entry for entry in old_entries if isinstance(entry, str))
        if isinstance(old_entries, list)
        else frozenset()
    )
    old_lines = _requires_dist_lines(old_entries, checked)
    new_lines = _requires_dist_lines((new_document.get("project") or {}).get("dependencies", []), checked)
    if not old_lines or new_lines is None:
        return None
    try:
        text = metadata.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, separator, body = text.partition("\n\n")
    lines = head.split("\n")
    count = len(old_lines)
    starts = [
        start for start in range(len(lines) - count + 1)
        if lines[start : start + count] == old_lines
        and not (start > 0 and lines[start - 1].startswith("Requires-Dist:"))
        and not (start + count < len(lines) and lines[start + count].startswith("Requires-Dist:"))
    ]  # fmt: skip
    if len(starts) != 1:
        return None
    lines[starts[0] : starts[0] + count] = new_lines
    return ("\n".join(lines) + separator + body).encode("utf-8")


def _suffix_of(member: str, relpath: str) -> bool:
    member_parts, path_parts = member.split("/"), relpath.split("/")
    return len(member_parts) <= len(path_parts) and path_parts[-len(member_parts) :] == member_parts


class IncrementalWheelBuilder:
    """Patches the previous wheel when that is provably what the backend would build; else delegates."""

    def __init__(self, inner: WheelBuilder, cache: BuildCache) -> None:
        self.inner = inner
        self.cache = cache
        self.patched = 0
        """How many wheels this builder patched instead of building (for reports and tests)."""

    def _key(self, source: Path, epoch: int) -> str:
        return sha256_digest(canonical_json([_STATE_VERSION, str(source.resolve()), epoch]))

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        files = tree_files(source)
        pyproject = _read_pyproject(source, files)
        if version is None and pyproject is not None and _verbatim_project(source):
            patched = self._patch(source, out_dir, epoch, files, pyproject)
            if patched is not None:
                self.patched += 1
                return patched
        wheel = self.inner.build(source, out_dir, epoch=epoch, version=version)
        if version is None:
            self._remember(source, epoch, files, wheel, pyproject)
        return wheel

    def _remember(self, source: Path, epoch: int, files: dict[str, str], wheel: Path, pyproject: str | None) -> None:
        with wheel.open("rb") as stream:
            digest, _ = self.cache.put_blob_file(stream)
        state = {"files": files, "wheel": digest, "name": wheel.name, "pyproject": pyproject}
        self.cache.write_record("quickwheel", self._key(source, epoch), state)

    def _patch(self, source: Path, out_dir: Path, epoch: int, files: dict[str, str], pyproject: str) -> Path | None:
        state = self.cache.read_record("quickwheel", self._key(source, epoch))
        if state is None or not self.cache.has_blob(str(state.get("wheel", ""))):
            return None
        previous: dict[str, str] = dict(state.get("files") or {})
        if set(previous) != set(files):
            return None
        changed = sorted(path for path in files if files[path] != previous[path])
        code = [path for path in changed if path != PYPROJECT]
        if any(not path.endswith(".py") or path in pyproject for path in code):
            return None
        old_wheel = self.cache.blob_path(str(state["wheel"]))
        with zipfile.ZipFile(old_wheel) as archive:
            infos = archive.infolist()
            contents = {info.filename: archive.read(info) for info in infos}
        replacements: dict[str, bytes] = {}
        if PYPROJECT in changed:
            metadata = self._metadata_patch(contents, state.get("pyproject"), previous[PYPROJECT], pyproject)
            if metadata is None:
                return None
            replacements |= metadata
        for path in code:
            members = [
                name for name, data in contents.items()
                if _suffix_of(name, path) and hashlib.sha256(data).hexdigest() == previous[path]
            ]  # fmt: skip
            if len(members) != 1:
                return None
            replacements[members[0]] = (source / path).read_bytes()
        record = next((name for name in contents if name.endswith(".dist-info/RECORD") and name.count("/") == 1), None)
        if record is None:
            return None
        contents.update(replacements)
        contents[record] = self._record(contents[record], replacements)
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / str(state["name"])
        with zipfile.ZipFile(wheel, "w") as out:
            for info in infos:
                out.writestr(info, contents[info.filename])
        self._remember(source, epoch, files, wheel, pyproject)
        return wheel

    @staticmethod
    def _metadata_patch(
        contents: Mapping[str, bytes], old_pyproject: object, old_digest: str, new_pyproject: str
    ) -> dict[str, bytes] | None:
        """``{METADATA member: new bytes}`` for a dependency change, or ``None`` (build for real)."""
        if not isinstance(old_pyproject, str) or hashlib.sha256(old_pyproject.encode()).hexdigest() != old_digest:
            return None  # state of an older hera-build, or not the file the previous wheel was built from
        if any(hashlib.sha256(data).hexdigest() == old_digest for data in contents.values()):
            return None  # the wheel ships pyproject.toml itself
        names = [name for name in contents if name.endswith(".dist-info/METADATA") and name.count("/") == 1]
        if len(names) != 1:
            return None
        metadata = requires_dist_patch(old_pyproject, new_pyproject, contents[names[0]])
        return None if metadata is None else {names[0]: metadata}

    @staticmethod
    def _record(record: bytes, replacements: Mapping[str, bytes]) -> bytes:
        """``RECORD`` with new hashes and sizes for the replaced files; every other line kept byte for byte."""
        lines = []
        for line in record.decode("utf-8").splitlines(keepends=True):
            row = next(csv.reader([line]), [])
            if row and row[0] in replacements:
                data = replacements[row[0]]
                buffer = io.StringIO()
                ending = line[len(line.rstrip("\r\n")) :]
                csv.writer(buffer, lineterminator=ending).writerow([row[0], _record_hash(data), len(data)])
                line = buffer.getvalue()
            lines.append(line)
        return "".join(lines).encode("utf-8")
