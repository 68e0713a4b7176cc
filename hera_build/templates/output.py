"""Render manifests and write them into an output folder, one file per object plus a ``kustomization.yaml``.

A release folder is shared by versions (old ones stay until nothing references them), so writing *adds* this
version's files. Every object has a file of its own (:func:`layout`): ``<kind>-<name>.<ext>`` for named
objects, listed in the kustomization, and ``submit/<tag>/workflow-<generateName>.<module>.<attribute>.<ext>`` for
Workflows with only a ``generateName``, which ``kubectl apply`` cannot create and are kept out of it.

Writing is safe against crashes and concurrent runs. A lock file beside the folder (``.<name>.lock``, ``flock``)
makes writers take turns; the folder is staged beside the target (``.<name>.new-*``) and swapped in with two
renames, the old one moved aside (``.<name>.old-<pid>``) in between. A kill at any instant leaves either the
folder or its moved-aside copy, and the next writer, under the lock, puts the copy back and removes leftovers.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hera_build.core.atomic import unwritable
from hera_build.errors import OutputError
from hera_build.templates.emit import PinnedObject
from hera_build.templates.yamltext import dump_yaml

Format = Literal["yaml", "json"]
KUSTOMIZATION = "kustomization.yaml"
DEFAULT_OUT = Path("dist/argo")
"""Where ``templates`` and ``release`` write unless told otherwise."""
SUBMIT = "submit"
"""Subfolder for Workflows with only a ``generateName``: created with ``argo submit`` / ``kubectl create``."""
LOCK_TIMEOUT = 300.0
"""Seconds a writer waits for another one writing the same folder before it gives up."""
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


def _object_path(obj: PinnedObject, fmt: Format) -> str:
    """Where one object goes: a path of its own, decided by the object alone (another object never renames it)."""
    kind = obj.kind.lower()
    if obj.manifest.get("metadata", {}).get("name"):
        return f"{kind}-{obj.name}.{fmt}"
    # Several Workflows may share a generateName (``hello-``): where each is defined tells them apart, and the
    # version's own folder keeps a bumped version from clashing with the files of the previous one.
    base = obj.name.rstrip("-.") or "unnamed"
    return f"{SUBMIT}/{obj.version_tag}/{kind}-{base}.{obj.module}.{obj.attribute}.{fmt}"


def layout(objects: Sequence[PinnedObject], fmt: Format = "yaml") -> dict[str, PinnedObject]:
    """``{path in the output folder: object}``, in the objects' order; two objects on one path is an error."""
    paths: dict[str, PinnedObject] = {}
    for obj in objects:
        path = _object_path(obj, fmt)
        if path in paths:
            first = paths[path]
            raise OutputError(
                f"{first.kind} {first.module}.{first.attribute} and {obj.kind} {obj.module}.{obj.attribute} "
                f"would both be written to {path}",
                "give the objects different names",
            )
        paths[path] = obj
    return paths


@dataclass(frozen=True)
class WriteResult:
    """What a write did, by path relative to ``directory``: every given file is in exactly one of the lists."""

    directory: Path
    new: tuple[str, ...]
    unchanged: tuple[str, ...]
    replaced: tuple[str, ...]


def _diff(path: Path, new: str) -> str:
    old = path.read_text(encoding="utf-8").splitlines()
    lines = list(difflib.unified_diff(old, new.splitlines(), f"{path} (existing)", f"{path} (new)", lineterm=""))
    more = f"\n... {len(lines) - _DIFF_LINES} more lines" if len(lines) > _DIFF_LINES else ""
    return "\n".join(lines[:_DIFF_LINES]) + more


def _resources(directory: Path) -> list[str]:
    # Only files at the top: the submit/ folder holds Workflows that `kubectl apply -k` cannot create.
    with os.scandir(directory) as entries:  # a scan's entries know their type: no stat per file
        return sorted(
            entry.name
            for entry in entries
            if os.path.splitext(entry.name)[1] in (".yaml", ".json") and entry.name != KUSTOMIZATION and entry.is_file()
        )


def check_listable(out: Path) -> None:
    """Refuse an output folder holding a file its kustomization cannot name: one whose name is not UTF-8.

    kustomization.yaml lists every top-level file, and YAML text is UTF-8, so such a name could only be written
    as Python's stand-in for the undecodable bytes (``"\\uDCFF.yaml"``), a file kustomize would not find.
    Leaving it out instead would deploy less than the folder holds without anyone noticing, so it is an error,
    raised before a release builds anything.
    """
    out = Path(out)
    if not out.is_dir():
        return
    for name in _resources(out):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raw_name = os.fsencode(name)
            raise OutputError(
                f"output folder {out} holds a file whose name is not UTF-8 ({raw_name!r}), which kustomization.yaml "
                "cannot list",
                "rename the file to a UTF-8 name, or move it out of the folder",
            ) from None


def _kustomization(directory: Path) -> str:
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": _resources(directory),
    }
    return dump_yaml(document)


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


_held: dict[Path, int] = {}
"""Locks this process holds, with their depth: ``release`` holds the lock over the folder and its manifest, and
``write_output`` inside it takes it again (a second ``flock`` on a new descriptor would wait for itself)."""


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def output_lock(out: Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of the output folder ``out``; wait up to ``timeout`` seconds for another writer.

    The lock is an ``flock`` on ``.<name>.lock`` beside the folder: the kernel drops it when its holder dies, so a
    killed run never leaves it stuck. The file itself stays (removing it would let two writers lock two files).
    """
    out = Path(out).resolve()  # one lock file however the folder is named (relative, through a symlink)
    path = _lock_path(out)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(path, exc) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"another hera-build run is writing {out} (it holds {path}); gave up after {timeout:g} s",
                        "let the other run finish, then run again",
                    ) from None
                time.sleep(0.05)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _leftover_re(out: Path) -> re.Pattern[str]:
    """Staging (``.<name>.new-*``; ``.<name>.XXXXXXXX`` from older hera-build) and moved-aside copies."""
    return re.compile(rf"^\.{re.escape(out.name)}\.(?:new-[A-Za-z0-9_]+|old-[0-9]+|[a-z0-9_]{{8}})$")


def _recover(out: Path) -> None:
    """Undo what a killed writer left (call with the lock held): put a moved-aside folder back if the folder is
    missing, and remove staging folders and stale copies."""
    pattern = _leftover_re(out)
    leftovers = [p for p in out.parent.iterdir() if pattern.match(p.name) and p.is_dir() and not p.is_symlink()]
    if not out.exists():
        aside = sorted((p for p in leftovers if ".old-" in p.name), key=lambda p: p.stat().st_mtime, reverse=True)
        if aside:
            os.rename(aside[0], out)
            leftovers.remove(aside[0])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def write_output(
    files: Mapping[str, str], out: Path, *, force: bool = False, lock_timeout: float = LOCK_TIMEOUT
) -> WriteResult:
    """Add ``files`` (paths relative to ``out``) to the folder ``out`` and refresh its kustomization, all or
    nothing, with the folder's lock held: runs writing the same folder take turns and both keep their files."""
    out = out.resolve()
    check_writable(out, what="output folder", folder=True)
    with output_lock(out, timeout=lock_timeout):
        try:
            _recover(out)
        except OSError as exc:
            raise unwritable(out, exc) from None
        check_listable(out)
        result = plan_output(files, out)  # under the lock: what another run wrote meanwhile counts
        if result.replaced and not force:
            name = result.replaced[0]
            raise OutputError(
                f"{out / name} already exists with other content (a released version must not change):\n"
                f"{_diff(out / name, files[name])}",
                "bump the version, or pass --force to overwrite",
            )
        if result.new or result.replaced or not _kustomization_current(out):
            _swap_in({name: files[name] for name in (*result.new, *result.replaced)}, out)
        # else the folder already holds exactly these files: writing them again would change nothing
    return result


def _kustomization_current(out: Path) -> bool:
    """Whether ``out`` has the kustomization its files call for (a run that adds no file may still find it stale)."""
    try:
        return (out / KUSTOMIZATION).read_text(encoding="utf-8") == _kustomization(out)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _stage_previous(out: Path, staging: Path, skip: Mapping[str, str]) -> None:
    """Put the files of ``out`` into ``staging``, except those in ``skip`` (written anew): hard links where the file
    system has them (a file that stays costs no copy, and removing the old folder frees nothing), else copies.

    A hard-linked file is shared with the moved-aside folder only until that is removed, and neither is written
    to in place: a changed file is always a new file.
    """
    for folder, subfolders, names in os.walk(out):
        here = Path(folder)
        relative = here.relative_to(out)
        target = staging / relative
        for name in subfolders:
            if (here / name).is_symlink():  # os.walk does not follow it: keep it as the link it is
                os.symlink(os.readlink(here / name), target / name)
            else:
                (target / name).mkdir()
        for name in names:
            if (relative / name).as_posix() in skip or (folder == str(out) and name == KUSTOMIZATION):
                continue
            source = here / name
            if source.is_symlink():
                os.symlink(os.readlink(source), target / name)
                continue
            try:
                os.link(source, target / name)
            except OSError:  # no hard links here (another file system's rules): a copy is as good
                shutil.copy2(source, target / name)


def _swap_in(files: Mapping[str, str], out: Path) -> None:
    """Stage the folder with ``files`` added or replaced and rename it into place; at every instant ``out`` or its
    moved-aside copy is whole, and :func:`_recover` finishes what a kill interrupted."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise unwritable(out, exc) from None
    aside = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        if out.exists():
            _stage_previous(out, staging, files)
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        (staging / KUSTOMIZATION).write_text(_kustomization(staging), encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            os.rename(out, aside)
        os.rename(staging, out)
    except BaseException:  # an OSError here (a full disk) reaches the CLI, which prints it as one line
        shutil.rmtree(staging, ignore_errors=True)
        if aside.exists() and not out.exists():
            os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
