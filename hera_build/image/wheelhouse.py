"""Every wheel a runner image needs, resolved and fetched on the host for the image's Python.

Containers cannot reach package indexes (and must never see the host's index credentials), so the image is
installed offline from a *wheelhouse*: the project's own wheel, built with PyPA ``build``, and a wheel for each
distribution of its exact dependency closure. The closure is the one the templates are emitted with: the versions
installed in this environment (or, with a lock file, the locked ones), walked through each distribution's
requirements with markers evaluated for the *target* interpreter. Index wheels come from ``pip download`` with the
target's tags, so the host's pip configuration, proxies and credentials are used as they are; local and editable
installs are built from their source. Wheels are built with ``SOURCE_DATE_EPOCH`` so that the same source gives
the same bytes, and everything is cached by its inputs.

Backends use :func:`prepare_wheelhouse` and get a :class:`Wheelhouse`; how they install it is their business.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from hera_build.core import tomlread
from hera_build.core.cachedir import default_cache_dir
from hera_build.core.epoch import source_date_epoch
from hera_build.core.integrity import check_digest, file_sha256, record_digest, recorded_digest
from hera_build.core.process import CommandFailed, CommandResult, last_lines, run_command
from hera_build.core.progress import no_progress
from hera_build.core.project import Project
from hera_build.errors import BuildError
from hera_build.image.emulation import native_architecture
from hera_build.image.target import PythonTarget

FIXED_EPOCH = 315532800
"""1980-01-01T00:00:00Z, the earliest time a zip file can hold: the epoch of wheels nobody gave one for."""
RUNNER_DISTRIBUTION = "hera"
"""The image must hold the hera that emitted the templates: the runner's contract changes between versions."""

Progress = Callable[[str], None]
_PIP_TIMEOUT = 900.0
_BUILD_TIMEOUT = 900.0
_NO_MATCH_RE = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)")
_TREE_EXCLUDES = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "build", "dist", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules", ".cache", ".eggs",
    }
)  # fmt: skip


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


# ---------------------------------------------------------------------------------------------------- the closure


@dataclass(frozen=True)
class Installed:
    """A distribution of the emitting environment, as much as resolution needs of it."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    source: Path | None = None
    """Local source directory (editable or ``pip install ./dir``) or local wheel file it was installed from."""


def _local_source(dist: importlib.metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    url = urlparse(str(data.get("url", "")))
    if url.scheme != "file" or "vcs_info" in data:
        return None
    path = Path(unquote(url.path))
    if "dir_info" in data and path.is_dir():
        return path
    if path.suffix == ".whl" and path.is_file():
        return path
    return None


def metadata_headers(text: str) -> Message:
    """The header fields of a core-metadata file (``METADATA``, ``PKG-INFO``), without parsing its body: the
    body is the project's long description, often most of the file, and no field hera-build reads is in it."""
    head, _, _ = text.replace("\r\n", "\n").partition("\n\n")
    return Parser().parsestr(head + "\n", headersonly=True)


def installed_distribution(name: str) -> Installed | None:
    """Look ``name`` up in the environment hera-build runs in (its metadata read and parsed once: importlib's
    ``version`` and ``requires`` would each parse the whole file again)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    meta = metadata_headers(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
    requires = meta.get_all("Requires-Dist")
    return Installed(
        name=canonicalize_name(meta["Name"] or name),
        version=meta["Version"] or dist.version,
        requires=tuple(requires if requires is not None else dist.requires or ()),
        source=_local_source(dist),
    )


def _memoized(lookup: Callable[[str], Installed | None]) -> Callable[[str], Installed | None]:
    """``lookup`` asked once per name: the walk asks for a name's version and for its requirements."""
    seen: dict[str, Installed | None] = {}

    def cached(name: str) -> Installed | None:
        if name not in seen:
            seen[name] = lookup(name)
        return seen[name]

    return cached


@dataclass(frozen=True)
class DependencyPin:
    """One distribution of the closure at its exact version, and where its wheel comes from."""

    name: str
    version: str
    source: Path | None = None
    """Build (directory) or take (wheel file) it from here instead of the index."""
    required_by: tuple[str, ...] = ()


class RequiresLookup(Protocol):
    def __call__(self, name: str, version: str) -> Sequence[str] | None: ...


def _parse_requirement(text: str, owner: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise BuildError(
            f"{owner} declares an invalid requirement {text!r}: {exc}", f"fix or upgrade {owner}"
        ) from None


def _marker_true(requirement: Requirement, target: PythonTarget, extras: Iterable[str]) -> bool:
    """Does ``requirement`` apply on ``target`` when its owner is installed with one of ``extras``?"""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate(target.marker_environment(extra)) for extra in extras)


def resolve_closure(
    requirements: Sequence[Requirement],
    target: PythonTarget,
    *,
    root: str,
    versions: Mapping[str, str] | None = None,
    lookup: Callable[[str], Installed | None] = installed_distribution,
    requires_of: RequiresLookup | None = None,
) -> dict[str, DependencyPin]:
    """Walk ``requirements`` recursively, markers evaluated for ``target``, to exact pins.

    Versions come from ``versions`` (a lock file) when given, else from what ``lookup`` finds installed. The
    requirements of a distribution come from its installed metadata when that is the pinned version, else from
    ``requires_of`` (e.g. the metadata of the downloaded wheel). ``root`` (the project) is never pinned.
    """
    root_name = canonicalize_name(root)
    pins: dict[str, DependencyPin] = {}
    extras_seen: dict[str, set[str]] = {}
    queue = [(req, root) for req in requirements if _marker_true(req, target, [""])]
    for _ in range(100_000):  # bounded: a (name, extra) pair is expanded at most once
        if not queue:
            return pins
        requirement, parent = queue.pop(0)
        name = canonicalize_name(requirement.name)
        if name == root_name:
            continue
        first_visit = name not in pins
        pin = pins[name] if not first_visit else _pin(name, requirement, parent, versions, lookup)
        _check_specifier(pin, requirement, parent, versions is not None)
        if parent not in pin.required_by:
            pin = DependencyPin(pin.name, pin.version, pin.source, (*pin.required_by, parent))
        pins[name] = pin
        new_extras = {canonicalize_name(e) for e in requirement.extras} - extras_seen.setdefault(name, set())
        extras_seen[name] |= new_extras
        if not first_visit and not new_extras:
            continue
        for text in _requires(pin, lookup, requires_of, versions is not None):
            child = _parse_requirement(text, f"{name} {pin.version}")
            base = first_visit and _marker_true(child, target, [""])
            extra = bool(new_extras) and child.marker is not None and _marker_true(child, target, sorted(new_extras))
            if base or extra:
                queue.append((child, name))
    raise BuildError("the dependency walk did not end", "report this as a bug")


def _pin(
    name: str,
    requirement: Requirement,
    parent: str,
    versions: Mapping[str, str] | None,
    lookup: Callable[[str], Installed | None],
) -> DependencyPin:
    installed = lookup(name)
    if versions is not None:
        version = versions.get(name)
        if version is None:
            raise BuildError(
                f"{requirement} (required by {parent}) is not in the lock file",
                "update the lock file (e.g. uv lock) so it covers the image's platform",
            )
        source = installed.source if installed and _same_version(installed.version, version) else None
        return DependencyPin(name, version, source)
    if installed is None:
        raise BuildError(
            f"{requirement} (required by {parent}) is not installed in this environment, so its version is unknown",
            "install the project with its dependencies (pip install -e .) or pass --lock FILE",
        )
    return DependencyPin(name, installed.version, installed.source)


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _check_specifier(pin: DependencyPin, requirement: Requirement, parent: str, locked: bool) -> None:
    if requirement.url or not requirement.specifier:
        return
    if not requirement.specifier.contains(pin.version, prereleases=True):
        where = "locked" if locked else "installed"
        raise BuildError(
            f"{pin.name} {pin.version} ({where}) does not satisfy {requirement} required by {parent}",
            "install (or lock) a version that satisfies every requirement",
        )


def _requires(
    pin: DependencyPin, lookup: Callable[[str], Installed | None], requires_of: RequiresLookup | None, locked: bool
) -> Sequence[str]:
    installed = lookup(pin.name)
    if installed is not None and _same_version(installed.version, pin.version):
        return installed.requires
    found = requires_of(pin.name, pin.version) if requires_of else None
    if found is None:
        raise BuildError(
            f"cannot read the requirements of {pin.name} {pin.version}",
            "install it in this environment" if not locked else "check that the lock file's versions exist",
        )
    return found


@dataclass(frozen=True)
class WheelFacts:
    """What hera-build reads from a wheel besides installing it: the header block of its ``METADATA`` (requirements,
    ``Requires-Python``, licence for the SBOM) and its installed size (for layer grouping). Reading them opens
    the zip's central directory, thousands of entries for scipy or pandas; a wheel's facts are kept by its digest
    (:meth:`WheelCache.facts`), so each build does not read them three times over."""

    metadata: str
    """The header fields of ``*.dist-info/METADATA`` (the body, the long description, left out)."""
    installed_size: int
    """The sum of the members' uncompressed sizes."""

    def headers(self) -> Message:
        return metadata_headers(self.metadata)


def read_wheel_facts(wheel: Path) -> WheelFacts:
    """:class:`WheelFacts` from the wheel file itself. ``METADATA`` is the one of the wheel's own dist-info
    (name and version from the file name) when there are several."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        own = f"{str(name).replace('-', '_')}-{version}.dist-info/METADATA"
    except (InvalidWheelFilename, InvalidVersion):
        own = ""
    try:
        with zipfile.ZipFile(wheel) as archive:
            infos = archive.infolist()
            names = [
                i.filename for i in infos if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
            ]
            if not names:
                raise BuildError(f"{wheel.name} has no METADATA", "the wheel is broken: remove it from the cache")
            text = archive.read(own if own in names else names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "remove it from the cache and build again") from None
    head, _, _ = text.replace("\r\n", "\n").partition("\n\n")
    return WheelFacts(head + "\n", sum(info.file_size for info in infos))


def wheel_metadata_requires(wheel: Path) -> tuple[str, ...]:
    """``Requires-Dist`` of a wheel, read from its ``*.dist-info/METADATA``."""
    return tuple(read_wheel_facts(wheel).headers().get_all("Requires-Dist") or ())


def _check_requires_python(what: str, requirement: str | None, target: PythonTarget, fix: str) -> None:
    """Refuse to put ``what`` into an image whose Python its ``Requires-Python`` excludes (pip in the image
    would not say so: wheels are installed offline, from files)."""
    if not requirement or not requirement.strip():
        return
    try:
        allowed = SpecifierSet(requirement)
    except InvalidSpecifier:
        raise BuildError(f"{what} has an invalid Requires-Python {requirement!r}", "use PEP 440 specifiers") from None
    if not allowed.contains(target.version, prereleases=True):
        raise BuildError(
            f"{what} requires Python {requirement}, but the base image's Python is {target.version}",
            f"choose a base image with a Python that satisfies {requirement} (--base-image, or base-image in "
            f"[tool.hera-build]), or {fix}",
        )


# ---------------------------------------------------------------------------------------------------- the cache


class WheelCache:
    """Wheels on disk, each under a key made of everything that decided its bytes.

    * ``index/<target key>/``: wheels from the index for one target (name and version are in the file name);
    * ``built/<input digest>/``: wheels built from local source (tree hash, version, epoch, build requirements);
    * ``build-env/<digest>/``: virtual environments holding build backends, reused between builds.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def index_dir(self, target: PythonTarget) -> Path:
        return self.root / "index" / target.key

    def built_dir(self, key: str) -> Path:
        return self.root / "built" / key

    def build_env_dir(self, key: str) -> Path:
        return self.root / "build-env" / key

    def find_index_wheel(
        self, target: PythonTarget, name: str, version: str, report: Progress = no_progress
    ) -> Path | None:
        found = _find_wheel(self.index_dir(target), name, version, target)
        return found if found is None or self.intact(found, report) else None

    def store(self, directory: Path, wheel: Path) -> Path:
        """Move ``wheel`` into ``directory`` atomically (concurrent builds may share the cache), with its digest."""
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / wheel.name
        tmp = directory / f".{wheel.name}.{os.getpid()}.tmp"
        shutil.copyfile(wheel, tmp)
        os.replace(tmp, final)
        record_digest(final, file_sha256(final), _stamp_of(final))
        return final

    def facts(self, wheel: Path, digest: str | None = None) -> WheelFacts:
        """:class:`WheelFacts` of a wheel, kept under its file digest (``digest``, or the one its integrity stamp
        records): the same bytes have the same facts, so a kept entry can never be stale."""
        digest = digest or self.recorded_digest(wheel)
        if digest is None:
            return read_wheel_facts(wheel)
        record = self.root / "wheel-facts" / f"{digest.removeprefix('sha256:')}.json"
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            return WheelFacts(str(data["metadata"]), int(data["installed_size"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        facts = read_wheel_facts(wheel)
        record.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".facts-", dir=record.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"metadata": facts.metadata, "installed_size": facts.installed_size}, out)
        os.replace(tmp, record)
        return facts

    def recorded_digest(self, wheel: Path) -> str | None:
        """The digest of a wheel stored here, from its integrity stamp while that still holds (no hashing)."""
        if self.root not in wheel.parents:
            return None  # not a cached file: its stamp, if any, is not ours
        return recorded_digest(wheel, _stamp_of(wheel))

    def intact(self, wheel: Path, report: Progress = no_progress) -> bool:
        """Whether a cached wheel still has the bytes it was stored with; one that does not is removed (and said in
        one line), so that it is downloaded or built again instead of failing mid-install with a zlib error."""
        stamp = _stamp_of(wheel)
        ok = check_digest(wheel, stamp)
        if ok is None:  # stored by an older hera-build, without a digest: the zip's own CRCs decide, once
            ok = _zip_intact(wheel)
            if ok:
                record_digest(wheel, file_sha256(wheel), stamp)
        if not ok:
            wheel.unlink(missing_ok=True)
            stamp.unlink(missing_ok=True)
            report(f"cache: wheel {wheel.name} was changed on disk: removed, fetching or building it again")
        return ok


def _stamp_of(wheel: Path) -> Path:
    return wheel.with_name(f"{wheel.name}.sha256")


def _zip_intact(wheel: Path) -> bool:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError):
        return False


def _wheel_info(path: Path) -> tuple[str, Version, frozenset[object]] | None:
    try:
        name, version, _, tags = parse_wheel_filename(path.name)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return str(name), version, frozenset(tags)


def _compatible(path: Path, target: PythonTarget) -> bool:
    info = _wheel_info(path)
    return info is not None and not info[2].isdisjoint(target.supported_tags())


def _find_wheel(directory: Path, name: str, version: str, target: PythonTarget) -> Path | None:
    if not directory.is_dir():
        return None
    wanted = canonicalize_name(name)
    for path in sorted(directory.glob("*.whl")):
        if canonicalize_name(path.name.split("-", 1)[0]) != wanted:
            continue  # another distribution's wheel: not worth parsing its whole file name
        info = _wheel_info(path)
        if info and info[0] == wanted and _same_version(str(info[1]), version) and _compatible(path, target):
            return path
    return None


def _tree_digest(root: Path) -> str:
    """Digest of a source tree's files (names and bytes), skipping VCS, venv, build output and caches."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _TREE_EXCLUDES and not d.endswith(".egg-info"))
        for filename in sorted(filenames):
            if filename.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory, filename)
            if not path.is_file():
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file_digest(path).encode() + b"\n")
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------- fetching


class WheelFetcher(Protocol):
    """Gets wheels of exact versions for a target into a directory (the index side of the wheelhouse)."""

    def fetch(self, pins: Mapping[str, str], target: PythonTarget, dest: Path) -> list[Path]: ...


class PipFetcher:
    """``pip download --only-binary=:all:`` with the target's tags; pure wheels built from sdists as a fallback.

    pip runs on the host with the host's configuration (indexes, proxies, credentials, ``PIP_*`` variables); only
    the wheel files it saves are used. A distribution without a wheel for the target is built from its sdist only
    when it has no wheel for *any* platform (a pure-Python sdist); a binary distribution that merely lacks this
    platform's wheel is an error naming the distribution and the platform.
    """

    def __init__(
        self,
        python: str = sys.executable,
        *,
        timeout: float = _PIP_TIMEOUT,
        runner: Callable[..., CommandResult] = run_command,
    ) -> None:
        self.python = python
        self.timeout = timeout
        self._run = runner

    def _pip(self, args: Sequence[str], what: str) -> CommandResult:
        argv = [self.python, "-m", "pip", "--disable-pip-version-check", *args, "--progress-bar", "off"]
        return self._run(argv, check=False, timeout=self.timeout, what=what)

    def fetch(self, pins: Mapping[str, str], target: PythonTarget, dest: Path) -> list[Path]:
        remaining = dict(pins)
        built: list[Path] = []
        for _ in range(len(pins) + 1):
            if not remaining:
                break
            specs = [f"{name}=={version}" for name, version in sorted(remaining.items())]
            args = ["download", "--only-binary=:all:", "--no-deps", *target.pip_args(), "--dest", str(dest), *specs]
            result = self._pip(args, "pip download")
            if result.ok:
                break
            match = _NO_MATCH_RE.search(result.stderr)
            failed = canonicalize_name(match.group(1)) if match else None
            if failed not in remaining:
                tail = last_lines(result.stderr or result.stdout, 1)
                said = tail[0] if tail else "no output"
                raise BuildError(
                    f"pip could not download wheels for {target.image_platform} ({target.platform}): {said}",
                    "check the index configuration (pip config list), the network and the versions",
                )
            built.append(self._pure_wheel_from_sdist(failed, remaining.pop(failed), target, dest))
        return built + [p for p in sorted(dest.glob("*.whl")) if p not in built]

    def _pure_wheel_from_sdist(self, name: str, version: str, target: PythonTarget, dest: Path) -> Path:
        """Only a pure-Python sdist becomes a wheel here. Otherwise the error says which case it is: wheels for
        other platforms or Pythons (another base image helps), or none at all (no base image does)."""
        platform = target.image_platform
        foreign = platform != f"linux/{native_architecture()}"  # a platform asked for besides this machine's
        or_drop = f", or build without {platform} (--platform, platforms in [tool.hera-build])" if foreign else ""
        drop = f" build without {platform} (--platform, platforms in [tool.hera-build])," if foreign else ""
        with tempfile.TemporaryDirectory(prefix="hera-build-sdist-") as tmp:
            probe = self._pip(
                ["download", "--only-binary=:all:", "--no-deps", "--dest", tmp, f"{name}=={version}"], "pip download"
            )
            if probe.ok:  # it has wheels, just not for the target: building from source would not be pure
                raise BuildError(
                    f"no wheel of {name} {version} for {platform} ({target.platform}, Python {target.version} of the "
                    "base image)",
                    f"use a base image whose Python and platform {name} {version} has wheels for, or a version of "
                    f"{name} that has one{or_drop}",
                )
            args = ["wheel", "--no-deps", "--no-binary", name, "--wheel-dir", tmp, f"{name}=={version}"]
            if not self._pip(args, f"pip wheel {name}").ok:
                raise BuildError(
                    f"no wheel of {name} {version} for {platform} ({target.platform}, Python {target.version} of the "
                    f"base image): {name} {version} publishes no wheel for {platform}, and its source distribution "
                    "did not build into a wheel here (or it has none)",
                    f"pin a version of {name} that publishes a wheel for {platform},{drop} or provide a {platform} "
                    "wheel of it through find-links (PIP_FIND_LINKS=DIR for pip)",
                )
            wheels = list(Path(tmp).glob("*.whl"))
            if len(wheels) != 1 or not wheels[0].name.endswith("-none-any.whl"):
                raise BuildError(  # a binary wheel built on the host is not known to work in the image
                    f"no wheel of {name} {version} for {platform} ({target.platform}, Python {target.version} of the "
                    f"base image): {name} {version} publishes no wheel for {platform}, only a source distribution "
                    "that compiles native code (built here, it would be this machine's binary, not the image's)",
                    f"pin a version of {name} that publishes a wheel for {platform},{drop} or provide a {platform} "
                    "wheel of it through find-links (PIP_FIND_LINKS=DIR for pip)",
                )
            return Path(shutil.copy2(wheels[0], dest / wheels[0].name))


# ---------------------------------------------------------------------------------------------------- building


class WheelBuilder(Protocol):
    """Builds a wheel from a source tree (the project, or a local dependency)."""

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path: ...


class ProjectWheelBuilder:
    """PyPA ``build`` running the project's build backend in a cached build environment.

    Isolated builds create a fresh environment and install the backend every time, which dominates the time of a
    rebuild; the environment here is created once per set of build requirements (under the cache) and reused.
    ``SOURCE_DATE_EPOCH`` is set for the backend, so the same source gives the same wheel.
    """

    def __init__(self, cache: WheelCache, *, python: str = sys.executable, timeout: float = _BUILD_TIMEOUT) -> None:
        self.cache = cache
        self.python = python
        self.timeout = timeout

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        import build
        from pyproject_hooks import BackendUnavailable

        env = {"SOURCE_DATE_EPOCH": str(epoch), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        with _source_at_version(source, version) as (tree, extra_env):
            env |= extra_env
            try:
                requires = _build_requires(tree)
                python = self._environment(requires)
                builder = build.ProjectBuilder(tree, python_executable=python, runner=self._runner(env))
                self._install(python, sorted(builder.get_requires_for_build("wheel")))
                wheel = Path(builder.build("wheel", out_dir))
            except build.BuildBackendException as exc:
                cause = exc.exception
                output = cause.result.stderr or cause.result.stdout if isinstance(cause, CommandFailed) else ""
                detail = last_lines(output, 1)
                raise BuildError(
                    f"building the wheel of {source} failed: {detail[0] if detail else exc}",
                    f"run `python -m build --wheel {source}` to see the build backend's output",
                ) from None
            except (build.BuildException, BackendUnavailable) as exc:
                raise BuildError(
                    f"cannot build {source}: {exc}", "check [build-system] in its pyproject.toml"
                ) from None
        return wheel

    def _runner(self, env: Mapping[str, str]) -> Callable[..., None]:
        def runner(cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
            run_command(
                cmd, cwd=Path(cwd) if cwd else None, env={**(extra_environ or {}), **env}, timeout=self.timeout,
                what="build backend",
            )  # fmt: skip

        return runner

    def _environment(self, requires: Sequence[str]) -> str:
        key = hashlib.sha256(json.dumps([self.python, sorted(requires)]).encode()).hexdigest()[:16]
        directory = self.cache.build_env_dir(key)
        python = directory / "bin" / "python"
        directory.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory.with_name(f"{directory.name}.lock")):  # other hera-build runs share the cache
            if not (directory / ".complete").is_file():
                shutil.rmtree(directory, ignore_errors=True)
                run_command([self.python, "-m", "venv", str(directory)], timeout=self.timeout, what="python -m venv")
                self._install(str(python), requires, force=True)
                (directory / ".complete").write_text("\n".join(requires), encoding="utf-8")
        return str(python)

    def _install(self, python: str, requires: Sequence[str], *, force: bool = False) -> None:
        marker = Path(python).parent.parent / ".installed"
        done = set(marker.read_text(encoding="utf-8").splitlines()) if marker.is_file() else set()
        todo = [r for r in requires if r not in done]
        if not todo and not force:
            return
        if todo:
            run_command(
                [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", *todo],
                timeout=self.timeout, what="pip install (build requirements)",
            )  # fmt: skip
        marker.write_text("\n".join(sorted(done | set(todo))), encoding="utf-8")


def platform_independent(wheel: Path) -> bool:
    """Every tag of the wheel's name says ``none`` ABI and ``any`` platform (``py3-none-any``): no extension
    module, so the same bytes serve every platform's image."""
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename:
        return False
    return bool(tags) and all(tag.abi == "none" and tag.platform == "any" for tag in tags)


class _SharedBuild:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wheel: Path | None = None


class SharedWheelBuilder:
    """One build per source tree for all the wheelhouses of a multi-platform build.

    A wheel is built with this machine's Python whatever the target, so every platform's build of a source tree
    gives the same bytes; a cold build ran the backend once per platform for them. The first platform to ask
    builds (the others wait for it) and a platform-independent wheel is handed to the others; a platform-specific
    one is not shared, so each platform still builds its own (and a foreign platform refuses the wheel that does
    not fit it, as a build for that platform alone does). Builds of one tree also no longer run side by side in
    its directory.
    """

    def __init__(self, inner: WheelBuilder, directory: Path) -> None:
        self.inner = inner
        self.directory = directory
        self._lock = threading.Lock()
        self._builds: dict[tuple[str, int, str | None], _SharedBuild] = {}

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        key = (str(source.resolve()), epoch, version)
        with self._lock:
            shared = self._builds.setdefault(key, _SharedBuild())
        with shared.lock:
            if shared.wheel is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                return Path(shutil.copy2(shared.wheel, out_dir / shared.wheel.name))
            wheel = self.inner.build(source, out_dir, epoch=epoch, version=version)
            if platform_independent(wheel):
                keep = self.directory / hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16] / wheel.name
                keep.parent.mkdir(parents=True, exist_ok=True)
                shared.wheel = Path(shutil.copy2(wheel, keep))
            return wheel


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX); elsewhere no lock, as concurrent builds are then the user's call."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_requires(tree: Path) -> list[str]:
    try:
        data = tomlread.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ["setuptools>=40.8.0"]  # PEP 517's default backend
    requires = data.get("build-system", {}).get("requires")
    return [str(r) for r in requires] if requires is not None else ["setuptools>=40.8.0"]


class _source_at_version:
    """The source tree to build so that the wheel has ``version`` (``--version`` or the decided dynamic version),
    with any environment it needs.

    A static ``[project] version`` is rewritten in a copy of the tree (with tomlkit, so the file stays as it was);
    a dynamic one is set the way setuptools-scm takes it, which hatch-vcs uses underneath: the pretend version
    for this distribution (and the generic one, for older setuptools-scm releases).
    """

    def __init__(self, source: Path, version: str | None) -> None:
        self.source = source
        self.version = version
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> tuple[Path, dict[str, str]]:
        if self.version is None:
            return self.source, {}
        import tomlkit

        pyproject = self.source / "pyproject.toml"
        document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
        project = document.get("project")
        if project is None or "version" not in project:
            name = canonicalize_name(str(project.get("name", ""))) if project else ""
            suffix = name.upper().replace("-", "_").replace(".", "_")
            return self.source, {
                "SETUPTOOLS_SCM_PRETEND_VERSION": self.version,
                f"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{suffix}": self.version,
            }
        if _same_version(str(project["version"]), self.version):
            return self.source, {}
        self._tmp = tempfile.TemporaryDirectory(prefix="hera-build-src-")
        tree = Path(self._tmp.name) / self.source.name
        shutil.copytree(self.source, tree, ignore=shutil.ignore_patterns(*_TREE_EXCLUDES, "*.egg-info", "*.pyc"))
        project["version"] = self.version
        (tree / "pyproject.toml").write_text(tomlkit.dumps(document), encoding="utf-8")
        return tree, {}

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


# ---------------------------------------------------------------------------------------------------- the wheelhouse


@dataclass(frozen=True)
class Wheelhouse:
    """What a backend installs: one project wheel, the dependency wheels, and digests that key image caches."""

    project_wheel: Path
    dependency_wheels: tuple[Path, ...]
    pins: dict[str, str]
    """Normalized name → exact version of every dependency (the project itself excluded)."""
    dependency_digest: str
    """Digest of the dependency wheels' names and bytes: the dependency layer changes exactly when it does."""
    project_digest: str
    """Digest of the project wheel's bytes."""
    target: PythonTarget
    sources: dict[str, str] = field(default_factory=dict)
    """Normalized name → local source a wheel was built from (for plans and manifests)."""
    file_digests: dict[Path, str] = field(default_factory=dict)
    """``sha256:`` of the placed wheel files, known without hashing them again (:func:`_placed`)."""
    facts: dict[Path, WheelFacts] = field(default_factory=dict)
    """:class:`WheelFacts` of the placed wheels, from the cache."""

    def facts_of(self, wheel: Path) -> WheelFacts:
        """A wheel's :class:`WheelFacts`: known for the wheels placed here, else read from the file."""
        known = self.facts.get(wheel)
        return known if known is not None else read_wheel_facts(wheel)

    def sha256_of(self, wheel: Path) -> str:
        """The ``sha256:`` digest of a wheel file: known for the wheels placed here, else hashed. Input digests,
        layer keys and the SBOM all need it; hashing 150 MB of wheels once per use was most of a warm build."""
        known = self.file_digests.get(wheel)
        return known if known is not None else file_digest(wheel)

    @property
    def input_digest(self) -> str:
        text = json.dumps([self.dependency_digest, self.project_digest, self.target.key])
        return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"

    def requirements_text(self) -> str:
        """``name==version`` lines of the dependencies, sorted: a constraints/requirements file for installers."""
        return "".join(f"{name}=={version}\n" for name, version in sorted(self.pins.items()))


def _dependency_digest(wheels: Mapping[Path, str]) -> str:
    """Of the wheels' names and file digests (given: :func:`_placed` knows them)."""
    digest = hashlib.sha256()
    for wheel in sorted(wheels, key=lambda p: p.name):
        digest.update(f"{wheel.name} {wheels[wheel]}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _place(wheel: Path, directory: Path) -> Path:
    """Copy a cached wheel into the destination; the cache keeps the original.

    A copy, not a hard link: linking (and removing the link with the scratch folder) changes the cached file's
    ctime, which is part of its integrity stamp (:mod:`hera_build.core.integrity`), so every build would hash
    every cached wheel again. Copying the few MB costs less than hashing them."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / wheel.name
    if target.exists():
        target.unlink()
    shutil.copyfile(wheel, target)
    return target


def _placed(cache: WheelCache, wheel: Path, directory: Path) -> tuple[Path, str]:
    """:func:`_place` and the copy's digest. A cached wheel's digest is the one its integrity stamp records, read
    before and after the copy: unchanged, the copy has the bytes it names, and nothing is hashed. Any other wheel
    (a local wheel file, a cached one whose stamp no longer holds) is hashed as copied."""
    before = cache.recorded_digest(wheel)
    target = _place(wheel, directory)
    if before is not None and cache.recorded_digest(wheel) == before:
        return target, before
    return target, file_digest(target)


def _epoch(value: int | None) -> int:
    if value is not None:
        return value
    from_env = source_date_epoch()
    return FIXED_EPOCH if from_env is None else from_env


@dataclass
class _Context:
    target: PythonTarget
    cache: WheelCache
    fetcher: WheelFetcher
    builder: WheelBuilder
    progress: Progress


def _built_wheel(ctx: _Context, source: Path, *, epoch: int, version: str | None, what: str) -> Path:
    """A wheel of a local source tree, from the cache when nothing that goes into it changed."""
    key_text = json.dumps([_tree_digest(source), version, epoch, sorted(_build_requires(source)), ctx.target.key])
    directory = ctx.cache.built_dir(hashlib.sha256(key_text.encode()).hexdigest()[:24])
    cached = sorted(directory.glob("*.whl")) if directory.is_dir() else []
    if len(cached) == 1 and ctx.cache.intact(cached[0], ctx.progress):
        return cached[0]
    ctx.progress(f"building the wheel of {what} from {source} for {ctx.target.image_platform}")
    with tempfile.TemporaryDirectory(prefix="hera-build-wheel-") as tmp:
        wheel = ctx.builder.build(source, Path(tmp), epoch=epoch, version=version)
        if not _compatible(wheel, ctx.target):
            raise BuildError(
                f"the wheel built from {source} ({wheel.name}) does not fit {ctx.target.platform}",
                "build it on a machine matching the base image, or use a base image matching this machine",
            )
        return ctx.cache.store(directory, wheel)


def _index_wheels(ctx: _Context, pins: Mapping[str, str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for name, version in pins.items():
        hit = ctx.cache.find_index_wheel(ctx.target, name, version, ctx.progress)
        if hit is None:
            missing[name] = version
        else:
            found[name] = hit
    if missing:
        ctx.progress(f"downloading {len(missing)} wheel(s) for {ctx.target.image_platform} ({ctx.target.platform})")
        with tempfile.TemporaryDirectory(prefix="hera-build-download-") as tmp:
            for wheel in ctx.fetcher.fetch(missing, ctx.target, Path(tmp)):
                info = _wheel_info(wheel)
                if info and info[0] in missing and _compatible(wheel, ctx.target):
                    ctx.cache.store(ctx.cache.index_dir(ctx.target), wheel)
        for name, version in missing.items():
            hit = ctx.cache.find_index_wheel(ctx.target, name, version)
            if hit is None:
                raise BuildError(
                    f"no wheel of {name} {version} for {ctx.target.image_platform} ({ctx.target.platform}) was "
                    "downloaded",
                    f"check that {name} {version} has a wheel for this platform on your index",
                )
            found[name] = hit
    return found


def fetch_index_wheels(
    pins: Mapping[str, str],
    target: PythonTarget,
    *,
    cache: WheelCache | None = None,
    fetcher: WheelFetcher | None = None,
    progress: Progress = no_progress,
) -> dict[str, Path]:
    """Cached index wheels of exact versions for ``target`` (e.g. the installer a backend runs in its build stage)."""
    cache = cache or WheelCache()
    ctx = _Context(target, cache, fetcher or PipFetcher(), ProjectWheelBuilder(cache), progress)
    return _index_wheels(ctx, {canonicalize_name(name): version for name, version in pins.items()})


def _is_local(ctx: _Context, pin: DependencyPin) -> bool:
    """Installed from a local source tree, or from a local wheel that fits the target (else: the index's)."""
    return pin.source is not None and (pin.source.is_dir() or _compatible(pin.source, ctx.target))


def _required(wheel: Path | None) -> Path:
    assert wheel is not None, "a local pin always gives a wheel"
    return wheel


def _dependency_wheel(ctx: _Context, pin: DependencyPin) -> Path | None:
    if pin.source is None:
        return None
    if pin.source.is_dir():
        return _built_wheel(ctx, pin.source, epoch=FIXED_EPOCH, version=None, what=f"{pin.name} {pin.version}")
    if _compatible(pin.source, ctx.target):
        return pin.source
    return None  # a local wheel for another platform: take the index's


def _check_runner(project: Project, pins: Mapping[str, str], lookup: Callable[[str], Installed | None]) -> None:
    version = pins.get(RUNNER_DISTRIBUTION)
    if version is None:
        raise BuildError(
            f"{RUNNER_DISTRIBUTION} is not among the dependencies of {project.name}, but the runner image needs it",
            f"add {RUNNER_DISTRIBUTION} to [project] dependencies",
        )
    emitting = lookup(RUNNER_DISTRIBUTION)
    if emitting is not None and not _same_version(emitting.version, version):
        raise BuildError(
            f"the image would get {RUNNER_DISTRIBUTION} {version}, but templates are emitted with "
            f"{RUNNER_DISTRIBUTION} {emitting.version} (the runner's contract differs between versions)",
            f"emit with the locked {RUNNER_DISTRIBUTION} version (pip install {RUNNER_DISTRIBUTION}=={version}) "
            "or update the lock file",
        )


def default_wheel_builder(cache: WheelCache) -> WheelBuilder:
    """The one way every backend (and ``plan``) builds the project's wheel: PyPA ``build`` with the project's
    backend, skipped when only ``.py`` files (or ``[project] dependencies``) changed and the previous wheel can be
    patched (:mod:`.quickwheel`)."""
    from hera_build.image.cache import BuildCache
    from hera_build.image.quickwheel import IncrementalWheelBuilder

    return IncrementalWheelBuilder(ProjectWheelBuilder(cache), BuildCache())


def prepare_wheelhouse(
    project: Project,
    target: PythonTarget,
    dest: Path,
    *,
    lock: Path | None = None,
    source_date_epoch: int | None = None,
    cache: WheelCache | None = None,
    fetcher: WheelFetcher | None = None,
    builder: WheelBuilder | None = None,
    lookup: Callable[[str], Installed | None] = installed_distribution,
    progress: Progress = no_progress,
) -> Wheelhouse:
    """Resolve, fetch and build every wheel the project's runner image needs into ``dest``.

    ``dest/app/`` receives the project wheel and ``dest/deps/`` the dependency wheels (linked from the cache).
    Dependencies are the closure of ``[project] dependencies`` for ``target``, pinned to the installed versions
    or, with ``lock``, the locked ones. Raises :class:`BuildError` naming the distribution and platform when a
    wheel cannot be had.
    """
    project_table = project.raw.get("project")
    requires_python = project_table.get("requires-python") if isinstance(project_table, dict) else None
    _check_requires_python(
        f"{project.name} {project.version.exact}",
        str(requires_python) if requires_python is not None else None,
        target,
        f"relax requires-python in {project.pyproject}",
    )
    cache = cache or WheelCache()
    ctx = _Context(target, cache, fetcher or PipFetcher(), builder or default_wheel_builder(cache), progress)
    lookup = _memoized(lookup)
    versions: dict[str, str] | None = None
    if lock is not None:
        from hera_build.core.lockfiles import read_lock_versions

        versions = read_lock_versions(lock)
    epoch = _epoch(source_date_epoch)
    # The version is decided once (``--version``, or a dynamic one computed when the project was loaded) and the
    # backend is told it: setuptools-scm dates a dirty tree's version with SOURCE_DATE_EPOCH, which is pinned
    # here, so left alone the wheel would carry another version than the tag and the templates.
    override = None if project.version_source == "pyproject.toml" else project.version.exact
    # The project's wheel depends on its source tree alone, not on the closure: it is built (a build backend
    # process) while the closure is resolved and downloaded (pip processes), not after. Each result depends only
    # on its own inputs, so the wheelhouse is the same as a serial one's; a failing resolution still wins.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hera-build-project-wheel") as project_pool:
        project_build = project_pool.submit(
            _built_wheel, ctx, project.root, epoch=epoch, version=override, what=project.name
        )
        wheels, pins, sources = _dependency_wheelhouse(project, ctx, versions, lookup)
        project_wheel = project_build.result()
    _check_project_wheel(project, project_wheel)
    for stale in (dest / "app", dest / "deps"):
        shutil.rmtree(stale, ignore_errors=True)
    placed = dict(_placed(cache, wheels[name], dest / "deps") for name in sorted(wheels))
    app_wheel, app_digest = _placed(cache, project_wheel, dest / "app")
    digests = placed | {app_wheel: app_digest}
    return Wheelhouse(
        project_wheel=app_wheel,
        dependency_wheels=tuple(placed),
        pins=pins,
        dependency_digest=_dependency_digest(placed),
        project_digest=app_digest,
        target=target,
        sources=sources,
        file_digests=digests,
        facts={wheel: cache.facts(wheel, digest) for wheel, digest in digests.items()},
    )


def _dependency_wheelhouse(
    project: Project,
    ctx: _Context,
    versions: Mapping[str, str] | None,
    lookup: Callable[[str], Installed | None],
) -> tuple[dict[str, Path], dict[str, str], dict[str, str]]:
    """(wheel per dependency, pins, local sources): the closure resolved, downloaded and built."""
    target = ctx.target

    def requires_from_wheel(name: str, version: str) -> Sequence[str] | None:
        wheel = _index_wheels(ctx, {name: version})[name]
        return tuple(ctx.cache.facts(wheel).headers().get_all("Requires-Dist") or ())

    closure = resolve_closure(
        project.dependencies,
        target,
        root=project.name,
        versions=versions,
        lookup=lookup,
        requires_of=requires_from_wheel,
    )
    pins = {name: pin.version for name, pin in closure.items()}
    _check_runner(project, pins, lookup)
    local = {name: pin for name, pin in sorted(closure.items()) if _is_local(ctx, pin)}
    # Downloads and local builds are other processes (pip, build backends) that do not wait for each other: run
    # them side by side (builds sharing a build environment wait for the one that makes it). Each result depends
    # only on its own inputs, so the wheelhouse is the same as a serial one's.
    with ThreadPoolExecutor(max_workers=1 + len(local), thread_name_prefix="hera-build-wheel") as pool:
        index = pool.submit(_index_wheels, ctx, {n: p.version for n, p in closure.items() if n not in local})
        built = {name: pool.submit(_dependency_wheel, ctx, pin) for name, pin in local.items()}
        wheels: dict[str, Path] = {name: _required(future.result()) for name, future in built.items()}
        wheels |= index.result()
    sources = {name: str(pin.source) for name, pin in local.items()}
    for name in sorted(wheels):
        _check_requires_python(
            f"{name} {pins[name]} (a dependency of {project.name})",
            ctx.cache.facts(wheels[name]).headers().get("Requires-Python"),
            target,
            f"pin a version of {name} that supports Python {target.major_minor} (a lock file, or in this environment)",
        )
    return wheels, pins, sources


def _check_project_wheel(project: Project, wheel: Path) -> None:
    info = _wheel_info(wheel)
    if info is None or info[0] != project.distribution_name:
        raise BuildError(f"building {project.root} gave {wheel.name}, not a wheel of {project.name}", None)
    if info[1] != Version(project.version.canonical):
        if project.version_source == "--version":
            fix = "the build backend ignored --version; set the version in pyproject.toml instead"
        else:
            fix = (
                "make the build backend take the version from SETUPTOOLS_SCM_PRETEND_VERSION (setuptools-scm, "
                "hatch-vcs), or set project.version in pyproject.toml, or pass --version"
            )
        raise BuildError(
            f"the wheel built from {project.root} has version {info[1]}, not {project.version.exact} "
            f"(from the {project.version_source})",
            fix,
        )
