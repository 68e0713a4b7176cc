"""Render manifests and write them atomically, one file per object plus a ``kustomization.yaml``.

A release folder is shared by versions (old ones stay until nothing references them), so writing *adds* this
version's files. The whole folder is staged beside the target and swapped in with renames: a failed run leaves
the previous folder exactly as it was, and a file that already exists with other content is refused.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from hera_build.core.atomic import unwritable
from hera_build.errors import OutputError
from hera_build.templates.yamltext import dump_yaml

__all__ = [
    "DEFAULT_OUT",
    "Format",
    "WriteResult",
    "render",
    "render_stream",
    "file_name",
    "write_output",
    "check_writable",
    "KUSTOMIZATION",
]

Format = Literal["yaml", "json"]
KUSTOMIZATION = "kustomization.yaml"
DEFAULT_OUT = Path("dist/argo")
"""Where ``templates`` and ``release`` write unless told otherwise."""
_DIFF_LINES = 20


def render(manifest: Mapping[str, Any], fmt: Format = "yaml") -> str:
    if fmt == "json":
        return json.dumps(manifest, indent=2) + "\n"
    return dump_yaml(manifest)


def render_stream(manifests: Sequence[Mapping[str, Any]], fmt: Format = "yaml") -> str:
    """All manifests in one stream: YAML documents separated by ``---``, or a JSON list."""
    if fmt == "json":
        return json.dumps(list(manifests), indent=2) + "\n"
    return "---\n".join(render(m) for m in manifests)


def file_name(manifest: Mapping[str, Any], fmt: Format = "yaml") -> str:
    """``<kind>-<name>.<ext>``: names are unique per kind, and the kind keeps listings grouped."""
    metadata = manifest.get("metadata", {})
    name = metadata.get("name") or str(metadata.get("generateName", "unnamed")).rstrip("-.")
    return f"{str(manifest.get('kind', 'object')).lower()}-{name}.{fmt}"


@dataclass(frozen=True)
class WriteResult:
    directory: Path
    new: tuple[str, ...]
    unchanged: tuple[str, ...]
    replaced: tuple[str, ...]


def _diff(path: Path, new: str) -> str:
    old = path.read_text(encoding="utf-8").splitlines()
    lines = list(difflib.unified_diff(old, new.splitlines(), f"{path} (existing)", f"{path} (new)", lineterm=""))
    more = f"\n... {len(lines) - _DIFF_LINES} more lines" if len(lines) > _DIFF_LINES else ""
    return "\n".join(lines[:_DIFF_LINES]) + more


def _kustomization(directory: Path) -> str:
    resources = sorted(
        p.name
        for p in directory.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".json") and p.name != KUSTOMIZATION
    )
    document = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    return yaml.safe_dump(document, sort_keys=False)


def check_writable(path: Path, *, what: str, folder: bool) -> None:
    """Fail before any work (a build, a push) when ``path`` cannot be written as a folder (``folder``) or a file.

    Checks what can be known without writing: the kind of what is already there, that the nearest existing
    ancestor is a folder, and that it is writable. Writers still turn the ``OSError``\\ s of the write itself
    (a full disk, a read-only mount that ``os.access`` does not see) into :class:`OutputError`.
    """
    path = Path(path).absolute()
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder", "pass a folder path (it is created when missing)")
    if not folder and path.is_dir():
        raise OutputError(f"{what} {path} is a folder, not a file", "pass a file path")
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        raise OutputError(f"cannot create {what} {path}: {existing} is a file", f"pass a {what} path under a folder")
    # Writers stage beside the target (a temporary folder or file, then a rename), so the parent must be writable.
    for place in (existing, path) if folder and path.is_dir() else (existing,):
        if not os.access(place, os.W_OK | os.X_OK):
            raise OutputError(
                f"cannot write {what} {path}: {place} is not writable",
                "choose a writable location, or fix the folder's permissions",
            )


def plan_output(files: Mapping[str, str], out: Path) -> WriteResult:
    """Classify files as new, unchanged or replaced (different content), without writing."""
    new, unchanged, replaced = [], [], []
    for name, content in files.items():
        target = out / name
        if not target.exists():
            new.append(name)
        elif target.read_text(encoding="utf-8") == content:
            unchanged.append(name)
        else:
            replaced.append(name)
    return WriteResult(out, tuple(new), tuple(unchanged), tuple(replaced))


def write_output(files: Mapping[str, str], out: Path, *, force: bool = False) -> WriteResult:
    """Add ``files`` to the folder ``out`` and refresh its kustomization, all or nothing."""
    out = out.resolve()
    check_writable(out, what="output folder", folder=True)
    result = plan_output(files, out)
    if result.replaced and not force:
        name = result.replaced[0]
        raise OutputError(
            f"{out / name} already exists with other content (a released version must not change):\n"
            f"{_diff(out / name, files[name])}",
            "bump the version, or pass --force to overwrite",
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise unwritable(out, exc) from None
    backup = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        if out.exists():
            shutil.copytree(out, staging, dirs_exist_ok=True)
        for name, content in files.items():
            (staging / name).write_text(content, encoding="utf-8")
        (staging / KUSTOMIZATION).write_text(_kustomization(staging), encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            os.rename(out, backup)
        os.rename(staging, out)
    except BaseException:  # an OSError here (a full disk) reaches the CLI, which prints it as one line
        shutil.rmtree(staging, ignore_errors=True)
        if backup.exists() and not out.exists():
            os.rename(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    return result
