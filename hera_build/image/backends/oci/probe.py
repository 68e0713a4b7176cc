"""Find the base image's Python (path, version, libc) by reading its config and layer files — never running it.

The layers are replayed in order into a table of paths (whiteouts and opaque directories applied), then the
interpreter is looked up the way a shell would: each ``PATH`` directory of the config's ``Env`` in turn, with
symlinks followed inside the image (``/bin`` → ``usr/bin`` on merged-/usr systems). The version comes from the
executable's name (``python3.11``) or the standard library directory next to it, refined by the package database
(dpkg, apk) or the ``PYTHON_VERSION`` variable of the official images; the libc family and version, which decide
which binary wheels fit, from the dynamic loader and the package database. A probe is cached by the base image's
manifest digest: the layers are read once per base image, ever.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO

from hera_build.errors import BuildError
from hera_build.image.backends.oci.base import BaseImage
from hera_build.image.backends.oci.model import Platform
from hera_build.image.cache import BuildCache
from hera_build.image.target import PythonFacts, PythonTarget, target_from_facts

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PROBE_VERSION = 1
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_LINKS = 40
_MAX_CONTENT = 16 << 20
_CONTENT_RE = re.compile(
    r"^(var/lib/dpkg/status|var/lib/dpkg/status\.d/[^/]+|lib/apk/db/installed|etc/os-release|usr/lib/os-release"
    r"|(usr/)?lib(64|32)?/([^/]+/)?libc\.so\.6|(usr/)?lib(64)?/([^/]+/)?libc-2\.\d+\.so)$"
)
_PY_NAME_RE = re.compile(r"^python(\d)\.(\d+)$")
_GLIBC_RE = re.compile(rb"GNU C Library [^\n]*?version (\d+\.\d+)")
_VERSION_RE = re.compile(r"^(\d+\.\d+(?:\.\d+)?)")
_MACHINES = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class BasePython:
    """What the wheelhouse and the venv need to know of the base image's interpreter."""

    executable: str
    """Absolute path inside the image, symlinks resolved (``/usr/bin/python3.11``)."""
    version: str
    """``3.11.2`` when the image tells, else ``3.11``."""
    platform: Platform
    libc: str | None = None
    """``glibc`` or ``musl`` (``None``: not found, e.g. a static distroless image)."""
    libc_version: str | None = None

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def home(self) -> str:
        return posixpath.dirname(self.executable)

    def facts(self) -> PythonFacts:
        """The shared probe facts, from which :func:`hera_build.image.target.target_from_facts` derives wheel tags.

        Markers that only a running interpreter knows (the kernel's ``platform_release`` and
        ``platform_version``) are left empty: requirements almost never test them.
        """
        machine = _MACHINES.get(self.platform.architecture, self.platform.architecture)
        abi_libc = "musl" if self.libc == "musl" else "gnu"
        markers = {
            "implementation_name": "cpython",
            "implementation_version": self.version,
            "os_name": "posix",
            "platform_machine": machine,
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.version,
            "platform_python_implementation": "CPython",
            "python_version": self.major_minor,
            "sys_platform": "linux",
        }
        return PythonFacts(
            executable=self.executable,
            version=self.version,
            implementation="cpython",
            soabi=f"cpython-{self.major_minor.replace('.', '')}-{machine}-linux-{abi_libc}",
            machine=machine,
            libc=(self.libc or "", self.libc_version or ""),
            markers=markers,
        )

    def target(self) -> PythonTarget:
        return target_from_facts(self.facts())


@dataclass
class _Entry:
    kind: str  # "file", "dir", "symlink", "hardlink"
    target: str = ""


class ImageFiles:
    """The merged file table of an image's layers, plus the contents of the few small files the probe reads."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.contents: dict[str, bytes] = {}

    def apply_layer(self, members: Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]) -> None:
        """Replay one layer: its whiteouts hide lower layers' paths, its entries replace them."""
        added: dict[str, _Entry] = {}
        added_contents: dict[str, bytes] = {}
        removed: list[str] = []
        opaque: list[str] = []
        for info, stream in members:
            path = posixpath.normpath(info.name.lstrip("/")).removeprefix("./")
            if path in (".", ""):
                continue
            directory, name = posixpath.split(path)
            if name == _OPAQUE:
                opaque.append(directory)
                continue
            if name.startswith(_WHITEOUT):
                removed.append(posixpath.join(directory, name[len(_WHITEOUT) :]))
                continue
            if info.issym():
                added[path] = _Entry("symlink", info.linkname)
            elif info.islnk():
                added[path] = _Entry("hardlink", posixpath.normpath(info.linkname.lstrip("/")))
            elif info.isdir():
                added[path] = _Entry("dir")
            else:
                added[path] = _Entry("file")
                if stream is not None and info.size <= _MAX_CONTENT and _CONTENT_RE.match(path):
                    added_contents[path] = stream.read()
        for path in removed:
            self._remove(path, include_self=True)
        for directory in opaque:
            self._remove(directory, include_self=False)
        for path in added:
            self.contents.pop(path, None)
        for path in list(added):  # tars need not list parent directories: they exist implicitly
            parent = posixpath.dirname(path)
            while parent and parent not in added and parent not in self.entries:
                added[parent] = _Entry("dir")
                parent = posixpath.dirname(parent)
        self.entries.update(added)
        self.contents.update(added_contents)

    def _remove(self, path: str, *, include_self: bool) -> None:
        prefix = path.rstrip("/") + "/"
        doomed = [key for key in self.entries if key.startswith(prefix) or (include_self and key == path)]
        for key in doomed:
            del self.entries[key]
            self.contents.pop(key, None)

    def resolve(self, path: str) -> str | None:
        """Follow symlinks (in every component) inside the image; ``None`` if the path does not exist."""
        parts = [part for part in path.strip("/").split("/") if part not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            current = "/".join([*resolved, part])
            entry = self.entries.get(current)
            if entry is None:
                return None
            if entry.kind == "symlink":
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = entry.target
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.strip("/").split("/") if p not in ("", ".")] + parts
                continue
            if entry.kind == "hardlink":
                current = entry.target
                resolved = current.split("/")
                continue
            resolved.append(part)
        return "/".join(resolved)

    def is_file(self, path: str) -> bool:
        resolved = self.resolve(path)
        return bool(resolved) and self.entries[resolved].kind in ("file", "hardlink")  # type: ignore[index]

    def exists(self, path: str) -> bool:
        return self.resolve(path) is not None

    def read(self, path: str) -> bytes | None:
        resolved = self.resolve(path)
        return self.contents.get(resolved) if resolved else None

    def matching(self, pattern: re.Pattern[str]) -> list[str]:
        return sorted(path for path in self.entries if pattern.match(path))


def _layer_members(stream: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for info in tar:
            content = tar.extractfile(info) if info.isreg() else None
            yield info, content


def scan_layers(base: BaseImage) -> ImageFiles:
    """Read every layer of ``base`` (fetching it into the cache if it is remote)."""
    files = ImageFiles()
    for layer in base.layers:
        if layer.descriptor.media_type.endswith("+zstd"):
            raise BuildError(
                f"base image layer {layer.descriptor.digest} is zstd-compressed, which hera-build cannot read",
                "use a base image with gzip layers",
            )
        with base.blobs.path(layer.descriptor).open("rb") as stream:
            try:
                files.apply_layer(_layer_members(stream))
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise BuildError(
                    f"cannot read base image layer {layer.descriptor.digest}: {exc}",
                    "check the base image (a truncated download is fetched again after clearing the oci cache)",
                ) from None
    return files


def _env_value(env: tuple[str, ...], key: str) -> str | None:
    for item in env:
        name, sep, value = item.partition("=")
        if sep and name == key:
            return value
    return None


def _packages(files: ImageFiles) -> dict[str, str]:
    """Installed package → version, from dpkg (incl. distroless ``status.d``) and apk databases."""
    versions: dict[str, str] = {}
    texts = [files.read("var/lib/dpkg/status")]
    texts += [files.read(path) for path in files.matching(re.compile(r"^var/lib/dpkg/status\.d/[^/]+$"))]
    for text in texts:
        for stanza in (text or b"").decode("utf-8", "replace").split("\n\n"):
            fields = dict(re.findall(r"^(Package|Version): (.+)$", stanza, flags=re.MULTILINE))
            if "Package" in fields and "Version" in fields:
                versions[fields["Package"].strip()] = fields["Version"].strip()
    apk = files.read("lib/apk/db/installed")
    for stanza in (apk or b"").decode("utf-8", "replace").split("\n\n"):
        fields = dict(re.findall(r"^([PV]):(.+)$", stanza, flags=re.MULTILINE))
        if "P" in fields and "V" in fields:
            versions[fields["P"].strip()] = fields["V"].strip()
    return versions


def _upstream(version: str | None) -> str | None:
    match = _VERSION_RE.match(version.split(":")[-1]) if version else None
    return match.group(1) if match else None


def _find_python(files: ImageFiles, env: tuple[str, ...]) -> tuple[str, str]:
    """The interpreter on PATH: (resolved path, major.minor)."""
    path_dirs = (_env_value(env, "PATH") or DEFAULT_PATH).split(":")
    for directory in path_dirs:
        for name in ("python3", "python"):
            candidate = posixpath.join(directory, name)
            resolved = files.resolve(candidate)
            if resolved is None or files.entries[resolved].kind not in ("file", "hardlink"):
                continue
            executable = "/" + resolved
            match = _PY_NAME_RE.match(posixpath.basename(resolved))
            if match:
                return executable, f"{match[1]}.{match[2]}"
            prefix = posixpath.dirname(posixpath.dirname(resolved))
            stdlib = files.matching(re.compile(rf"^{re.escape(prefix)}/lib/python3\.\d+/os\.py$"))
            if len(stdlib) == 1:
                return executable, stdlib[0].split("/")[-2].removeprefix("python")
            raise BuildError(
                f"the base image's {candidate} ({executable}) has no recognisable version",
                "use a base image whose python3 is named python3.X or has lib/python3.X next to it",
            )
    raise BuildError(
        f"the base image has no python3 on its PATH ({':'.join(path_dirs)})",
        "use a base image with Python 3 (e.g. python:3.11-slim or a Debian image with python3)",
    )


def _libc(files: ImageFiles, packages: dict[str, str]) -> tuple[str | None, str | None]:
    if files.matching(re.compile(r"^(usr/)?lib/ld-musl-[^/]+\.so\.1$")):
        return "musl", _upstream(packages.get("musl"))
    glibc = _upstream(packages.get("libc6")) or _upstream(packages.get("glibc"))
    if glibc:
        return "glibc", ".".join(glibc.split(".")[:2])
    for path in files.matching(_CONTENT_RE):
        if "libc" in posixpath.basename(path):
            match = _GLIBC_RE.search(files.contents.get(path, b""))
            if match:
                return "glibc", match[1].decode()
    if files.matching(re.compile(r"^(usr/)?lib(64)?/(.*/)?ld-linux[^/]*\.so\.\d$")):
        return "glibc", None
    return None, None


def probe_files(files: ImageFiles, env: tuple[str, ...], platform: Platform) -> BasePython:
    """The probe itself, on a replayed file table (separate from I/O so it can be tested on fakes)."""
    executable, major_minor = _find_python(files, env)
    packages = _packages(files)
    version = major_minor
    candidates = [
        _env_value(env, "PYTHON_VERSION"),
        _upstream(packages.get(f"python{major_minor}-minimal")),
        _upstream(packages.get(f"libpython{major_minor}-minimal")),
        _upstream(packages.get(f"python{major_minor}")),
        _upstream(packages.get("python3")),
    ]
    for candidate in candidates:
        if candidate and (candidate == major_minor or candidate.startswith(major_minor + ".")):
            version = _upstream(candidate) or version
            break
    libc, libc_version = _libc(files, packages)
    return BasePython(executable, version, platform, libc, libc_version)


def probe_python(base: BaseImage, cache: BuildCache) -> BasePython:
    """Probe ``base`` (cached by its manifest digest and the probe's own version)."""
    key = f"{base.manifest_digest.replace('sha256:', '')}-v{_PROBE_VERSION}"
    record = cache.read_record("probes", key)
    if record is not None:
        try:
            platform = Platform(**record.pop("platform"))
            return BasePython(platform=platform, **record)
        except (TypeError, KeyError):
            pass
    probe = probe_files(scan_layers(base), base.env, base.platform)
    value = asdict(probe)
    cache.write_record("probes", key, value)
    return probe
