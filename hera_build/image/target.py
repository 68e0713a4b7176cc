"""Which Python a base image has: path, version, ABI, platform tags and marker environment.

Wheels are chosen on the host for the *image's* interpreter, so hera-build has to know it. A prober gathers a
few raw facts (:class:`PythonFacts`) and :func:`target_from_facts` derives everything else on the host, so any
way of reading the facts can be plugged in: :class:`ContainerProber` runs a tiny script in the image; a prober that
reads the image's files without running it (the OCI backend) only has to fill :class:`PythonFacts` too. Results
are cached on disk by image id, which names the image's content.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags

from hera_build.core.cachedir import default_cache_dir
from hera_build.errors import BuildError

_CACHE_VERSION = 1

PROBE_SCRIPT = r"""
import glob, json, os, platform, re, subprocess, sys, sysconfig
libc = ["", ""]
try:
    name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    libc = ["glibc", version]
except (AttributeError, OSError, ValueError):
    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        out = subprocess.run([loader], capture_output=True, text=True).stderr
        found = re.search(r"Version (\d+\.\d+)", out)
        if found:
            libc = ["musl", found.group(1)]
            break
impl = sys.implementation
iv = impl.version
impl_version = "%d.%d.%d" % iv[:3] + ("" if iv.releaselevel == "final" else iv.releaselevel[0] + str(iv.serial))
print(json.dumps({
    "executable": sys.executable,
    "version": platform.python_version(),
    "implementation": impl.name,
    "soabi": sysconfig.get_config_var("SOABI") or "",
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "debug": hasattr(sys, "gettotalrefcount"),
    "machine": platform.machine(),
    "libc": libc,
    "markers": {
        "implementation_name": impl.name,
        "implementation_version": impl_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"""
"""Runs with any Python 3 and nothing but the standard library; prints :class:`PythonFacts` as JSON."""

_INTERPRETER_CODES = {"cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_LEGACY_MANYLINUX_ARCHES = {
    "manylinux2014": {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"},
    "manylinux2010": {"x86_64", "i686"},
    "manylinux1": {"x86_64", "i686"},
}


@dataclass(frozen=True)
class PythonFacts:
    """What a prober reads off an image; everything else is derived on the host."""

    executable: str
    version: str
    implementation: str = "cpython"
    soabi: str = ""
    free_threaded: bool = False
    debug: bool = False
    machine: str = "x86_64"
    libc: tuple[str, str] = ("glibc", "2.17")
    markers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PythonFacts:
        try:
            libc = data.get("libc") or ("", "")
            return cls(
                executable=str(data["executable"]),
                version=str(data["version"]),
                implementation=str(data.get("implementation", "cpython")),
                soabi=str(data.get("soabi", "")),
                free_threaded=bool(data.get("free_threaded", False)),
                debug=bool(data.get("debug", False)),
                machine=str(data.get("machine", "")),
                libc=(str(libc[0]), str(libc[1])),
                markers={str(k): str(v) for k, v in dict(data.get("markers", {})).items()},
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise BuildError(f"the Python probe gave unexpected output ({exc})", "report this as a bug") from None


@functools.lru_cache(maxsize=8)
def _supported_tags(
    implementation: str, major_minor: str, interpreter: str, abi: str, platforms: tuple[str, ...]
) -> tuple[Tag, ...]:
    """Computed once per target: about a thousand tags, asked for every wheel a build looks at."""
    version = tuple(int(part) for part in major_minor.split("."))
    if implementation == "cp":
        tags = list(cpython_tags(version, [abi], list(platforms)))
    else:
        tags = list(generic_tags(interpreter, [abi], list(platforms)))
    tags += list(compatible_tags(version, interpreter, list(platforms)))
    return tuple(tags)


@dataclass(frozen=True)
class PythonTarget:
    """The interpreter wheels are chosen for, and the arguments that make ``pip download`` choose them."""

    python: str
    """Path of the interpreter in the image (what the virtual environment is created with)."""
    version: str
    """Full version, e.g. ``3.11.2``."""
    interpreter: str
    """Interpreter tag, e.g. ``cp311``."""
    abi: str
    """ABI tag, e.g. ``cp311``."""
    platforms: tuple[str, ...]
    """Platform tags, most specific first (``manylinux_2_36_x86_64`` … ``linux_x86_64``)."""
    markers: Mapping[str, str] = field(default_factory=dict)
    """PEP 508 marker environment of the image's interpreter."""

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def implementation(self) -> str:
        """Two-letter implementation code for ``pip --implementation`` (``cp``)."""
        return self.interpreter[:2]

    @property
    def platform(self) -> str:
        """A short, human name of the target for messages: ``cp311-manylinux_2_36_x86_64``."""
        return f"{self.abi}-{self.platforms[0] if self.platforms else 'any'}"

    @property
    def image_platform(self) -> str:
        """The OCI platform these wheels are for, as users name it (``linux/arm64``): for messages."""
        last = self.platforms[-1] if self.platforms else ""  # always ``linux_<arch>`` (:func:`platform_tags`)
        arch = last.removeprefix("linux_")
        return f"linux/{_OCI_ARCHES.get(arch, arch or 'unknown')}"

    @property
    def key(self) -> str:
        """Stable digest of everything that decides which wheels fit: a cache key."""
        text = json.dumps([self.major_minor, self.interpreter, self.abi, list(self.platforms)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def marker_environment(self, extra: str = "") -> dict[str, str]:
        return {**self.markers, "extra": extra}

    def supported_tags(self) -> tuple[Tag, ...]:
        """Wheel tags this interpreter accepts, best first (as ``packaging.tags.sys_tags`` would say in the image)."""
        return _supported_tags(self.implementation, self.major_minor, self.interpreter, self.abi, tuple(self.platforms))

    def pip_args(self) -> list[str]:
        """``pip download`` arguments that select wheels for this interpreter instead of the host's."""
        args = ["--implementation", self.implementation, "--python-version", self.major_minor, "--abi", self.abi]
        for platform in self.platforms:
            args += ["--platform", platform]
        return args

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"platforms": list(self.platforms), "markers": dict(self.markers)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PythonTarget:
        return cls(
            python=str(data["python"]),
            version=str(data["version"]),
            interpreter=str(data["interpreter"]),
            abi=str(data["abi"]),
            platforms=tuple(str(p) for p in data["platforms"]),
            markers={str(k): str(v) for k, v in dict(data.get("markers", {})).items()},
        )


_OCI_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def _arch(machine: str) -> str:
    return {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686"}.get(machine.lower(), machine.lower())


def platform_tags(machine: str, libc: tuple[str, str]) -> tuple[str, ...]:
    """Linux platform tags for a libc, newest first, as ``packaging``'s manylinux/musllinux logic makes them."""
    arch = _arch(machine)
    family, _, version = libc[0], None, libc[1]
    tags: list[str] = []
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if family == "glibc" and major == 2:
        oldest = 5 if arch in ("x86_64", "i686") else 17
        for glibc_minor in range(minor, oldest - 1, -1):
            tags.append(f"manylinux_2_{glibc_minor}_{arch}")
            legacy = _LEGACY_MANYLINUX.get((2, glibc_minor))
            if legacy and arch in _LEGACY_MANYLINUX_ARCHES[legacy]:
                tags.append(f"{legacy}_{arch}")
    elif family == "musl" and major == 1:
        tags += [f"musllinux_1_{m}_{arch}" for m in range(minor, -1, -1)]
    tags.append(f"linux_{arch}")
    return tuple(tags)


def _abi(facts: PythonFacts, interpreter: str) -> str:
    if facts.implementation == "cpython":
        return interpreter + ("t" if facts.free_threaded else "") + ("d" if facts.debug else "")
    return facts.soabi.replace(".", "_").replace("-", "_") or "none"


def target_from_facts(facts: PythonFacts) -> PythonTarget:
    """Derive tags, ABI and pip arguments from what a prober saw."""
    parts = facts.version.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        raise BuildError(
            f"the base image's Python reports version {facts.version!r}", "use a base image with CPython 3"
        )
    code = _INTERPRETER_CODES.get(facts.implementation, facts.implementation[:2])
    interpreter = f"{code}{parts[0]}{parts[1]}"
    return PythonTarget(
        python=facts.executable,
        version=facts.version,
        interpreter=interpreter,
        abi=_abi(facts, interpreter),
        platforms=platform_tags(facts.machine, facts.libc),
        markers=dict(facts.markers),
    )


def host_facts() -> PythonFacts:
    """The facts of the interpreter running hera-build (for tests, and for images built from the host's Python)."""
    import subprocess
    import sys

    output = subprocess.run([sys.executable, "-c", PROBE_SCRIPT], capture_output=True, text=True, check=True).stdout
    return PythonFacts.from_json(json.loads(output))


class Prober(Protocol):
    """Finds the Python of an image; implementations differ in how they look at the image."""

    def probe(self, image: str) -> PythonTarget: ...


class ProbeCache:
    """Probe results on disk, one JSON file per image id (content-addressed, so never stale)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()) / "probe"

    def _path(self, image_id: str) -> Path:
        return self.root / f"{image_id.replace(':', '-')}.json"

    def get(self, image_id: str) -> PythonTarget | None:
        try:
            data = json.loads(self._path(image_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("cache_version") != _CACHE_VERSION:
            return None
        try:
            return PythonTarget.from_json(data["target"])
        except (KeyError, TypeError):
            return None

    def put(self, image_id: str, target: PythonTarget) -> None:
        path = self._path(image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"cache_version": _CACHE_VERSION, "target": target.to_json()}), encoding="utf-8")
        os.replace(tmp, path)


_PYTHON_CANDIDATES = ("python3", "python")


@dataclass(frozen=True)
class RunOutcome:
    """How a command in a container ended."""

    exit_code: int
    stdout: str
    stderr: str


class ContainerRunner(Protocol):
    """Runs one command in a fresh container of an image, without network. The Docker backend implements it;
    any engine can."""

    def image_id(self, image: str) -> str:
        """The local image's id; raises a HeraBuildError that says how to get the image when it is missing."""
        ...

    def run(
        self,
        image: str,
        *,
        entrypoint: list[str],
        command: list[str],
        files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> RunOutcome:
        """Run ``entrypoint + command``; ``files`` (absolute path → content) are put in the container first."""
        ...


class ContainerProber:
    """Runs :data:`PROBE_SCRIPT` in the image through a :class:`ContainerRunner`, caching by image id."""

    def __init__(self, runner: ContainerRunner, cache: ProbeCache | None = None, *, timeout: float = 120.0) -> None:
        self.runner = runner
        self.cache = cache if cache is not None else ProbeCache()
        self.timeout = timeout

    def probe(self, image: str) -> PythonTarget:
        image_id = self.runner.image_id(image)
        cached = self.cache.get(image_id)
        if cached is not None:
            return cached
        failures = []
        for python in _PYTHON_CANDIDATES:
            outcome = self.runner.run(image_id, entrypoint=[python], command=["-c", PROBE_SCRIPT], timeout=self.timeout)
            if outcome.exit_code == 0:
                try:
                    facts = PythonFacts.from_json(json.loads(outcome.stdout))
                except ValueError:
                    failures.append(f"{python}: unreadable output {outcome.stdout[-200:]!r}")
                    continue
                target = target_from_facts(facts)
                self.cache.put(image_id, target)
                return target
            detail = (outcome.stderr or outcome.stdout).strip()[-200:] or f"exit code {outcome.exit_code}"
            failures.append(f"{python}: {detail}")
        raise BuildError(
            f"base image {image} has no working Python 3 ({'; '.join(failures)})",
            "use a base image with python3 on PATH, e.g. python:3.11-slim",
        )
