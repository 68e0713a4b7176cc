"""The dependency layers: the venv skeleton, then one layer per group of :mod:`.layering`, built in parallel and
each cached by its own inputs.

A group's cache key holds its members (name, version, wheel file name — which carries the platform tags — and
wheel content digest), the venv path, the interpreter, the epoch and the compression: nothing of the project.
So a second project with the same numpy on the same base reuses numpy's layer from the cache, and its push
mounts the blob from the first project's repository instead of uploading it.

Dependency layers always carry :data:`DEPENDENCY_EPOCH` as their file times, not the project's
``SOURCE_DATE_EPOCH``: their bytes come from wheels, not from the project's commit, and a commit-derived time
would give every project (and every commit) its own copy of the same numpy layer. They stay reproducible.

Installing (zip reads, file writes) and gzip (zlib releases the GIL) run in a thread pool, one group per task;
each layer's bytes depend only on its own group, so the parallel build gives the same digests as a serial one.
"""

from __future__ import annotations

import os
import shutil
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from hera_build.core.integrity import file_sha256
from hera_build.errors import BuildError
from hera_build.image.backends.oci.inputs import content_digest, layer_key
from hera_build.image.backends.oci.layering import Distribution, LayerGroup, plan_layers
from hera_build.image.backends.oci.layers import DEFAULT_EPOCH, Layer, write_layer
from hera_build.image.backends.oci.model import OCI_LAYER_GZIP, Descriptor
from hera_build.image.backends.oci.venv import VenvLayout, install_wheels, write_venv_skeleton
from hera_build.image.cache import BuildCache

DEPENDENCY_EPOCH = DEFAULT_EPOCH
"""File times in dependency layers (1980-01-01): fixed, so that projects share them."""
DEPENDENCY_COMPRESS_LEVEL = 1
"""gzip level of dependency layers: zlib's fastest, as ko (go-containerregistry) writes layers. On scipy's 126 MB
installed it compresses in 5 s instead of 13 s at level 6, for 13% more bytes; compression is most of a cold
build. zstd would be faster and smaller, but Docker reads zstd layers only from 23.0 on (Debian's 20.10 does not)."""
SKELETON = "venv"
"""The name of the skeleton layer (``pyvenv.cfg``, ``bin/python*``, ``lib64``, an empty ``site-packages``)."""


@dataclass(frozen=True)
class DependencyLayer:
    """One written (or cached) dependency layer and what it holds."""

    name: str
    """``venv``, ``dist-<name>`` or ``bucket-<nn>``."""
    members: tuple[Distribution, ...]
    layer: Layer
    cached: bool

    def created_by(self, venv: VenvLayout) -> str:
        """The history entry: which distributions this layer installs into the venv."""
        if not self.members:
            return f"hera-build: virtual environment at {venv.path} for {venv.python_executable}"
        listed = ", ".join(f"{m.name}=={m.version}" for m in self.members)
        return f"hera-build: {listed} installed into {venv.path}"


def wheel_distribution(wheel: Path, installed_size: Callable[[Path], int] | None = None) -> Distribution:
    """Name and version from the file name; installed size as the sum of the members' uncompressed sizes (from
    ``installed_size`` when the caller knows it: :meth:`Wheelhouse.facts_of`)."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if installed_size is not None:
            return Distribution(str(name), str(version), installed_size(wheel))
        with zipfile.ZipFile(wheel) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except InvalidWheelFilename as exc:
        raise BuildError(f"{wheel} is not a wheel: {exc}", "rebuild the wheelhouse") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "rebuild the wheelhouse") from None
    return Distribution(str(name), str(version), size)


@dataclass(frozen=True)
class _Job:
    name: str
    members: tuple[Distribution, ...]
    wheels: tuple[Path, ...]
    key: str


def _python(venv: VenvLayout) -> dict[str, str]:
    return {"executable": str(venv.python_executable), "version": venv.python_version}


def _jobs(
    wheels: Sequence[Path],
    venv: VenvLayout,
    cache: BuildCache,
    base_layers: int,
    sha256_of: Callable[[Path], str],
    installed_size: Callable[[Path], int] | None,
) -> list[_Job]:
    by_name = {}
    for wheel in wheels:
        dist = wheel_distribution(wheel, installed_size)
        by_name[dist.canonical_name] = (dist, wheel)
    groups: Sequence[LayerGroup] = plan_layers([dist for dist, _ in by_name.values()], base_layers=base_layers)
    common = {"venv": str(venv.path), "python": _python(venv), "epoch": DEPENDENCY_EPOCH}
    common["gzip"] = {"level": DEPENDENCY_COMPRESS_LEVEL, "zlib": zlib.ZLIB_RUNTIME_VERSION}
    jobs = [_Job(SKELETON, (), (), layer_key("venv-skeleton", **common))]
    for group in groups:
        pairs = [by_name[member.canonical_name] for member in group.members]
        members = [[wheel.name, content_digest(wheel, cache, sha256_of(wheel))] for _, wheel in pairs]
        key = layer_key("distributions", members=members, **common)
        jobs.append(_Job(group.name, group.members, tuple(wheel for _, wheel in pairs), key))
    return jobs


def _cached(cache: BuildCache, key: str) -> Layer | None:
    record = cache.read_record("dependency-layers", key)
    if record is None or not cache.has_blob(str(record["digest"]), int(record["size"])):
        return None
    digest = str(record["digest"])
    descriptor = Descriptor(OCI_LAYER_GZIP, digest, int(record["size"]))
    return Layer(cache.blob_path(digest), descriptor, str(record["diff_id"]))


def _build(job: _Job, venv: VenvLayout, cache: BuildCache, work: Path) -> Layer:
    root = work / f"layer-{job.name}"
    try:
        if job.name == SKELETON:
            write_venv_skeleton(venv, root)
        else:
            install_wheels(job.wheels, venv, root)
        layer = write_layer(root, cache.blobs, epoch=DEPENDENCY_EPOCH, level=DEPENDENCY_COMPRESS_LEVEL)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cache.record_blob(layer.digest)  # the next build finds it without hashing it again
    record = {"digest": layer.digest, "size": layer.descriptor.size, "diff_id": layer.diff_id, "layer": job.name}
    cache.write_record("dependency-layers", job.key, record)
    return layer


def build_dependency_layers(
    wheels: Sequence[Path],
    venv: VenvLayout,
    cache: BuildCache,
    work: Path,
    *,
    base_layers: int,
    progress: Callable[[str], None],
    workers: int | None = None,
    sha256_of: Callable[[Path], str] = file_sha256,
    installed_size: Callable[[Path], int] | None = None,
) -> list[DependencyLayer]:
    """The skeleton and group layers, bottom to top; cached ones read from the cache, the rest built in parallel.
    ``sha256_of`` and ``installed_size`` give what the wheelhouse already knows of its wheels (else read)."""
    jobs = _jobs(wheels, venv, cache, base_layers, sha256_of, installed_size)
    found = {job.name: _cached(cache, job.key) for job in jobs}
    missing = [job for job in jobs if found[job.name] is None]
    built: dict[str, Layer] = {}
    if missing:
        threads = workers or min(len(missing), max(2, os.cpu_count() or 1) * 2)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hera-build-layer") as pool:
            largest_first = sorted(missing, key=lambda job: -sum(member.size for member in job.members))
            futures = {job.name: pool.submit(_build, job, venv, cache, work) for job in largest_first}
            built = {name: future.result() for name, future in futures.items()}
    layers = []
    for job in jobs:
        cached_layer = found[job.name]
        layer = cached_layer if cached_layer is not None else built[job.name]
        layers.append(DependencyLayer(job.name, job.members, layer, cached_layer is not None))
    for item in layers:
        if not item.cached:
            listed = ", ".join(f"{m.name} {m.version}" for m in item.members) or str(venv.path)
            progress(f"dependency layer {item.name} ({listed}): built, {item.layer.descriptor.size} bytes")
    reused = sum(item.cached for item in layers)
    progress(f"dependency layers: {len(layers)} ({reused} from the cache, {len(layers) - reused} built)")
    return layers
