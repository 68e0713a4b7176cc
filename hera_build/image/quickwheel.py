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
  wheel member whose path ends with the file's path (``src/pkg/mod.py`` → ``pkg/mod.py``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit

from hera_build.core.digests import canonical_json, sha256_digest
from hera_build.image.cache import BuildCache
from hera_build.image.wheelhouse import WheelBuilder

VERBATIM_BACKENDS = frozenset({"hatchling.build", "flit_core.buildapi"})
"""Build backends that copy a pure-Python package's ``.py`` files into the wheel unchanged."""
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


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return key in value or any(_has_key(item, key) for item in value.values())
    return False


def _verbatim_project(source: Path) -> bool:
    """Whether the project's backend is known to copy sources verbatim, with nothing that could rewrite them."""
    try:
        document = tomlkit.parse((source / "pyproject.toml").read_text(encoding="utf-8")).unwrap()
    except (OSError, ValueError):
        return False
    if (document.get("build-system") or {}).get("build-backend") not in VERBATIM_BACKENDS:
        return False
    if (document.get("project") or {}).get("dynamic"):
        return False
    return not _has_key((document.get("tool") or {}).get("hatch") or {}, "hooks")


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


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
        if version is None and _verbatim_project(source):
            patched = self._patch(source, out_dir, epoch, files)
            if patched is not None:
                self.patched += 1
                return patched
        wheel = self.inner.build(source, out_dir, epoch=epoch, version=version)
        if version is None:
            self._remember(source, epoch, files, wheel)
        return wheel

    def _remember(self, source: Path, epoch: int, files: dict[str, str], wheel: Path) -> None:
        with wheel.open("rb") as stream:
            digest, _ = self.cache.put_blob_file(stream)
        self.cache.write_record(
            "quickwheel", self._key(source, epoch), {"files": files, "wheel": digest, "name": wheel.name}
        )

    def _patch(self, source: Path, out_dir: Path, epoch: int, files: dict[str, str]) -> Path | None:
        state = self.cache.read_record("quickwheel", self._key(source, epoch))
        if state is None or not self.cache.has_blob(str(state.get("wheel", ""))):
            return None
        previous: dict[str, str] = dict(state.get("files") or {})
        if set(previous) != set(files):
            return None
        changed = sorted(path for path in files if files[path] != previous[path])
        pyproject = (source / "pyproject.toml").read_text(encoding="utf-8")
        if any(not path.endswith(".py") or path in pyproject for path in changed):
            return None
        old_wheel = self.cache.blob_path(str(state["wheel"]))
        with zipfile.ZipFile(old_wheel) as archive:
            infos = archive.infolist()
            contents = {info.filename: archive.read(info) for info in infos}
        replacements: dict[str, bytes] = {}
        for path in changed:
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
        self._remember(source, epoch, files, wheel)
        return wheel

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
