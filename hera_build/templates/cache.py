"""The emitted objects of a run, reused by the next run whose inputs are all the same.

Most of ``hera-build templates`` is importing Hera and the project's modules and building their models, and the
result is decided by what those read. So a run records what it read, and stores its result (the pinned objects,
their rendered text and the lint warnings) under a key of its options, format and working directory. The next
run with that key reuses it only when everything else is unchanged:

- hera-build's version, the Python (executable, version, flags), ``sys.path`` and the whole environment;
- the project's version (a dynamic one is computed again, as without the cache);
- every file opened for reading while the objects were built, and the file of every imported module: module
  sources, data files a module reads, pyproject.toml, the lock and CRD files, distributions' metadata. Each is
  compared by size, modification and change time first and by SHA-256 when those differ;
- every folder listed meanwhile, every folder on ``sys.path`` and every imported package's, by their names: a
  new module that would shadow another, or a distribution installed, upgraded or removed, changes one.

Only runs that succeeded are stored (an error is found again by the next run), and the result is what that run
wrote, so the output is the same bytes, name collisions and lint errors are still errors, and the folder is
still written atomically. A run is not stored when what it read cannot be checked later: a file that changed
while it was read, a pipe or device, a program started while the objects were built (its output is not seen).

What the cache cannot see is what a module decides from neither files nor the environment (the clock, random
numbers, the network, whether a file it never opens exists), nor files a C extension reads without Python's
I/O (no audit event is raised): ``--no-cache`` builds from scratch. Runs with ``--argo`` are
not cached (Argo's validator is another program). Print-outs of user modules at import happen only when the
modules are imported, so a reused run does not repeat them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hera_build.core.atomic import write_text_atomic
from hera_build.core.cachedir import default_cache_dir
from hera_build.core.project import Project, load_project
from hera_build.errors import HeraBuildError
from hera_build.templates import build
from hera_build.templates.build import TemplateOptions, TemplatesResult, runner_image
from hera_build.templates.emit import PinnedObject
from hera_build.templates.lint import Finding
from hera_build.templates.output import Format, render
from hera_build.templates.resolve import Pin

FORMAT = 1
"""The entry format; a change of it (or of hera-build's sources, which are recorded too) starts afresh."""
KEEP = 16
"""Entries kept per cache folder: one per options, format and working directory, the newest first."""
_UNSEEN = ("/proc/", "/dev/", "/sys/")
_CHUNK = 1 << 20
_RECENT_NS = 2_000_000_000
"""A file changed this recently before a run is stored is compared by digest, not by its times (as git does)."""


@dataclass(frozen=True)
class Emitted:
    """The result of a run and each object rendered in the run's format, in the objects' order."""

    result: TemplatesResult
    texts: list[str]
    cached: bool = False
    """Whether this came from the cache."""


@dataclass
class _Reads:
    """What a build read: files opened for reading, with their state then, and folders listed (absolute paths)."""

    programs: bool
    """Whether starting another program is allowed (its output is not seen: when it is not, the run is not kept)."""
    files: dict[str, list[Any]] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    complete: bool = True
    """False when something was read that cannot be checked later: such a run is not stored."""


_recording: list[_Reads] = []
_hooked = False
_PROGRAMS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork", "pty.spawn")
_EVENTS = frozenset(("open", "os.listdir", "os.scandir", "os.fwalk", *_PROGRAMS))


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording or event not in _EVENTS:
        return
    reads = _recording[-1]
    try:  # an audit hook that raises would fail the program's own call
        path = args[0] if args else None
        if event == "open":
            # A descriptor (a pipe, a dup) names no file: what it reads was opened, or started, before.
            if isinstance(path, int) or (isinstance(args[2], int) and args[2] & os.O_ACCMODE == os.O_WRONLY):
                return
            name = os.path.abspath(os.fsdecode(args[0]))
            if name not in reads.files:
                reads.files[name] = _file_state(name)
        elif event in _PROGRAMS:
            reads.complete = reads.complete and reads.programs
        elif isinstance(path, int) or event == "os.fwalk":
            reads.complete = False
        else:
            reads.folders.add(os.path.abspath(os.fsdecode(path if path is not None else ".")))
    except Exception:  # noqa: BLE001 - not understood: not stored, never failed
        reads.complete = False


@contextlib.contextmanager
def _record(*, programs: bool = False) -> Iterator[_Reads]:
    """Record what is read meanwhile, through the interpreter's audit events (``open``, ``os.listdir``...)."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)  # for good: an audit hook cannot be removed, so it records only when asked
        _hooked = True
    reads = _Reads(programs)
    _recording.append(reads)
    try:
        yield reads
    finally:
        _recording.remove(reads)


def _file_state(path: str) -> list[Any]:
    """``[size, mtime_ns, ctime_ns, inode]`` (``ctime`` changes with every write and cannot be set back); ``[]``
    for a missing file, ``["folder"]`` or ``["other"]`` for what is not a regular file."""
    try:
        info = os.stat(path)
    except OSError:
        return []
    if not stat.S_ISREG(info.st_mode):
        return ["folder" if stat.S_ISDIR(info.st_mode) else "other"]
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _file_digest(path: str) -> str:
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                sha.update(chunk)
    except OSError:
        return ""
    return sha.hexdigest()


def _folder_digest(path: str) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return ""
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def _seen(path: str, cache: Path) -> bool:
    return not path.startswith(_UNSEEN) and not path.startswith(f"{cache}{os.sep}")


def _module_files() -> set[str]:
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            files.add(os.path.abspath(path))
    return files


def _import_folders() -> set[str]:
    """The folders the import system looks in: each on ``sys.path`` and each imported package's. A module added to
    one can shadow a module the run imported, yet the run may never list it: a process lists a folder once and
    keeps the names while the folder's modification time stays, so one listed before the recording began (the
    current folder of ``python -m hera_build``, site-packages) raises no audit event during the build."""
    folders = {os.path.abspath(path or ".") for path in sys.path if isinstance(path, str)}
    for module in list(sys.modules.values()):
        try:
            folders.update(os.path.abspath(path) for path in getattr(module, "__path__", None) or ())
        except Exception:  # noqa: BLE001 - a module's own __path__ object; its files are checked all the same
            continue
    return folders


def _environment(project: Project) -> str:
    """Digest of what decides the output besides files: hera-build, the Python, its path, the environment."""
    import hera_build

    facts = {
        "format": FORMAT,
        "hera-build": hera_build.__version__,
        "python": [sys.executable, sys.version, repr(sys.flags), sys.path],
        "environ": sorted(os.environ.items()),
        "project": [str(project.root), project.version.exact],
    }
    return hashlib.sha256(json.dumps(facts).encode("utf-8", "surrogateescape")).hexdigest()


def _key(options: TemplateOptions, fmt: Format) -> str:
    facts = [FORMAT, fmt, os.getcwd(), repr(options), str(Path(options.project_dir).resolve())]
    return hashlib.sha256(json.dumps(facts).encode("utf-8", "surrogateescape")).hexdigest()


def _checks(reads: list[_Reads], cache: Path) -> tuple[dict[str, Any], dict[str, str]] | None:
    """What a stored run is checked against: ``{file: [state, sha256]}`` and ``{folder: digest of its names}``;
    ``None`` when it cannot be checked (a file changed while it was read, a pipe was read, a program was run)."""
    if not all(r.complete for r in reads):
        return None
    opened: dict[str, list[Any]] = {}
    folders: set[str] = set()
    for r in reads:
        opened = r.files | opened  # the state at the first opening wins
        folders |= r.folders
    folders |= _import_folders()
    now = time.time_ns()
    files: dict[str, Any] = {}
    for path in sorted(opened.keys() | _module_files()):
        if not _seen(path, cache) or f"{os.sep}__pycache__{os.sep}" in path:  # bytecode follows its source
            continue
        state = _file_state(path)
        if path in opened and opened[path] != state:
            return None
        if state[:1] == ["folder"]:
            folders.add(path)
            continue
        if state[:1] == ["other"]:
            return None
        if state and now - max(state[1], state[2]) < _RECENT_NS:
            state = ["recent"]  # a write within the clock's resolution could hide: compare its digest next time
        files[path] = [state, _file_digest(path)]
    return files, {path: _folder_digest(path) for path in sorted(folders) if _seen(path, cache)}


def _unchanged(entry: dict[str, Any]) -> bool:
    for path, (state, digest) in entry["files"].items():
        if _file_state(path) != state and _file_digest(path) != digest:
            return False
    return all(_folder_digest(path) == digest for path, digest in entry["folders"].items())


def _result_json(emitted: Emitted) -> str:
    result = emitted.result
    names = [f.name for f in fields(PinnedObject)]  # not asdict: it would deep-copy every manifest
    return json.dumps(
        {
            "objects": [
                {name: getattr(obj, name) for name in names} | {"refs": [asdict(pin) for pin in obj.refs]}
                for obj in result.objects
            ],
            "provider_manifests": result.provider_manifests,
            "findings": [asdict(finding) for finding in result.findings],
            "texts": emitted.texts,
        }
    )


def _from_json(text: str, project: Project, options: TemplateOptions) -> Emitted:
    data = json.loads(text)
    objects = [
        PinnedObject(
            **{
                **obj,
                "images": tuple(obj["images"]),
                "refs": tuple(Pin(**pin) for pin in obj["refs"]),
            }
        )
        for obj in data["objects"]
    ]
    findings = [Finding(**finding) for finding in data["findings"]]
    image = runner_image(project, options.digest)
    result = TemplatesResult(project, image, objects, data["provider_manifests"], findings)
    return Emitted(result, data["texts"], cached=True)


def _reuse(
    entry: dict[str, Any] | None, environment: str, project: Project, options: TemplateOptions
) -> Emitted | None:
    """The stored run, if it was made in this environment and nothing it read changed; a damaged entry is none."""
    if entry is None:
        return None
    try:
        if entry["environment"] == environment and _unchanged(entry):
            return _from_json(entry["result"], project, options)
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    return None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == FORMAT else None


def _store(folder: Path, path: Path, entry: dict[str, Any]) -> None:
    """Write the entry (atomically) and drop the oldest beyond :data:`KEEP`; a cache that cannot be written only
    costs the next run its time."""
    with contextlib.suppress(OSError, HeraBuildError):
        write_text_atomic(path, json.dumps(entry))
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)


def emit_templates(
    options: TemplateOptions, fmt: Format = "yaml", *, cache: bool = False, cache_dir: Path | None = None
) -> Emitted:
    """:func:`~hera_build.templates.build.build_templates` and each object rendered in ``fmt``; with ``cache``,
    reused from the cache when every input is the same (see the module's docstring), else built and stored.

    The CLI asks for the cache: a fresh process holds nothing the files and the environment do not decide. A
    longer-lived caller may have changed Hera's ``global_config`` or reloaded modules in memory, which the cache
    cannot see, so it must ask for it knowingly.
    """
    if not cache or options.argo:
        project = load_project(options.project_dir, version=options.version)
        result = build.build_templates(options, project)
        return Emitted(result, [render(obj.manifest, fmt) for obj in result.objects])
    folder = (cache_dir or default_cache_dir()) / "templates"
    path = folder / f"{_key(options, fmt)}.json"
    with _record(programs=True) as loading:  # run every time: a dynamic version's program is run again
        project = load_project(options.project_dir, version=options.version)
    environment = _environment(project)
    reused = _reuse(_load(path), environment, project, options)
    if reused is not None:
        return reused
    with _record() as building:
        result = build.build_templates(options, project)
        emitted = Emitted(result, [render(obj.manifest, fmt) for obj in result.objects])
    checks = _checks([loading, building], folder.resolve())
    if checks is not None:
        files, folders = checks
        try:
            stored = _result_json(emitted)
        except (TypeError, ValueError):  # a value JSON cannot hold (the texts were rendered from it all the same)
            return emitted
        entry = {"format": FORMAT, "environment": environment, "files": files, "folders": folders}
        _store(folder, path, entry | {"result": stored})
    return emitted
