"""The base image, read without an engine: from a registry, an OCI image layout, or a ``docker save`` archive.

What the build needs of a base is its manifest digest (identity, and part of the input digest), its config (env,
history, ``rootfs.diff_ids``) and its layer descriptors; layer *contents* are fetched only when something needs
them (the Python probe on a cache miss, a tar or layout output, a push to another registry). Where a blob can
be fetched from is a :class:`BlobSource`, so the rest of the backend never knows which of the three it was.

Base specs (``base-image``):

- ``registry/repository[:tag][@digest]`` — the OCI distribution API (Docker Hub short names work);
- ``oci:PATH[:TAG]`` or a directory holding ``index.json`` — an OCI image layout;
- ``docker-archive:PATH[:NAME]``, ``oci-archive:PATH`` or a ``.tar`` file — a ``docker save`` archive (old
  ``manifest.json`` format or the OCI layout that newer Docker writes) or a tar of an OCI layout.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hera_build.core.digests import canonical_json, digest_hex, file_digest, sha256_digest
from hera_build.core.references import ImageRef, is_local_image_spec, parse_image_ref
from hera_build.errors import BuildError, ConfigError, PublishError
from hera_build.image.backends.oci.layers import COMPRESS_LEVEL
from hera_build.image.backends.oci.model import (
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Platform,
    oci_layer_type,
)
from hera_build.image.cache import BuildCache
from hera_build.image.registry import RegistryClient, repository_path

ClientFactory = Callable[[str | None], RegistryClient]
"""Registry host (``None`` for Docker Hub) → a client; injected so tests and the builder share clients."""

_REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_INDEX_DEPTH = 4


@dataclass(frozen=True)
class BaseSpec:
    """Where the base image comes from: ``kind`` is ``registry``, ``layout`` or ``archive``."""

    kind: str
    text: str
    ref: ImageRef | None = None
    path: Path | None = None
    name: str | None = None
    """For layouts and archives: the tag or ``name:tag`` to pick when the file holds several images."""


@dataclass(frozen=True)
class RemoteRepository:
    """A repository a blob already lives in: the push can mount from it instead of uploading."""

    registry: str | None
    repository: str


@dataclass(frozen=True)
class BaseLayer:
    descriptor: Descriptor
    diff_id: str


class BlobSource(Protocol):
    """Where a base image's blobs can be read from."""

    remote: RemoteRepository | None

    def path(self, descriptor: Descriptor) -> Path:
        """A local file with the blob's bytes, fetched into the cache first if needed."""
        ...


@dataclass(frozen=True)
class BaseImage:
    spec: BaseSpec
    manifest_digest: str
    config: Mapping[str, Any]
    config_descriptor: Descriptor
    layers: tuple[BaseLayer, ...]
    blobs: BlobSource
    reference_digest: str | None = None
    """What the spec as a whole resolves to (the tag's manifest or index, the layout's ``index.json``, the
    archive file): the base's identity in the shared input digest, which the release pipeline computes the same
    way without reading the image."""

    @property
    def platform(self) -> Platform:
        return Platform(
            str(self.config.get("os", "linux")),
            str(self.config.get("architecture", "amd64")),
            self.config.get("variant"),
        )

    @property
    def container_config(self) -> Mapping[str, Any]:
        value = self.config.get("config") or {}
        return value if isinstance(value, Mapping) else {}

    @property
    def env(self) -> tuple[str, ...]:
        return tuple(str(item) for item in self.container_config.get("Env") or ())

    @property
    def history(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.config.get("history") or ())


# ---------- spec parsing ----------


def _split_path_name(text: str) -> tuple[Path, str | None]:
    """``PATH[:NAME]``: the longest prefix that exists is the path."""
    if Path(text).exists():
        return Path(text), None
    head, sep, tail = text.rpartition(":")
    while sep:
        if Path(head).exists():
            return Path(head), tail
        head, sep, more = head.rpartition(":")
        tail = f"{more}:{tail}"
    return Path(text), None


def is_local_base(text: str) -> bool:
    """Whether ``text`` names a base image on disk (``oci:``, ``oci-archive:``, ``docker-archive:`` or an existing
    path) rather than a registry reference: such specs are valid ``base-image`` values that are not image
    references, for the oci backend only."""
    return is_local_image_spec(text) or os.path.exists(text.strip())


def parse_base_spec(text: str) -> BaseSpec:
    """Read a base image spec (see the module docstring)."""
    text = text.strip()
    for prefix, kind in (("oci:", "layout"), ("oci-archive:", "archive"), ("docker-archive:", "archive")):
        if text.startswith(prefix):
            path, name = _split_path_name(text[len(prefix) :])
            if not path.exists():
                raise ConfigError(f"base image {text!r}: {path} does not exist", "check the path")
            return BaseSpec(kind, text, path=path, name=name)
    if text.startswith(("/", "./", "../", "~")) or os.path.exists(text):
        path = Path(text).expanduser()
        if path.is_dir():
            return BaseSpec("layout", text, path=path)
        if path.is_file():
            return BaseSpec("archive", text, path=path)
        raise ConfigError(f"base image {text!r} looks like a path, but nothing is there", "check the path")
    return BaseSpec("registry", text, ref=parse_image_ref(text, what="base image"))


# ---------- blob sources ----------


class LayoutBlobs:
    """Blobs of an OCI image layout directory."""

    remote: RemoteRepository | None = None

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, descriptor: Descriptor) -> Path:
        path = self.root / "blobs" / "sha256" / digest_hex(descriptor.digest)
        if not path.is_file():
            raise BuildError(f"OCI layout {self.root} lacks blob {descriptor.digest}", "recreate the layout")
        return path


class CacheBlobs:
    """Blobs already copied into the cache (from an archive)."""

    remote: RemoteRepository | None = None

    def __init__(self, cache: BuildCache, origin: str) -> None:
        self.cache = cache
        self.origin = origin

    def path(self, descriptor: Descriptor) -> Path:
        if not self.cache.has_blob(descriptor.digest):
            raise BuildError(f"blob {descriptor.digest} of {self.origin} is not in the cache", "build again")
        return self.cache.blob_path(descriptor.digest)


class RegistryBlobs:
    """Blobs of a registry repository, downloaded into the cache on first use."""

    def __init__(self, client: RegistryClient, registry: str | None, repository: str, cache: BuildCache) -> None:
        self.client = client
        self.cache = cache
        self.repository = repository
        self.remote: RemoteRepository | None = RemoteRepository(registry, repository)

    def path(self, descriptor: Descriptor) -> Path:
        if not self.cache.has_blob(descriptor.digest, descriptor.size):
            chunks = self.client.iter_blob(self.repository, descriptor.digest)
            self.cache.put_blob_stream(chunks, descriptor.digest)
        return self.cache.blob_path(descriptor.digest)


# ---------- manifests ----------


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise BuildError(f"{what} is not valid JSON: {exc}", "check the base image") from None
    if not isinstance(value, dict):
        raise BuildError(f"{what} is not a JSON object", "check the base image")
    return value


def _is_index(document: Mapping[str, Any], media_type: str | None = None) -> bool:
    return (media_type or document.get("mediaType")) in INDEX_TYPES or "manifests" in document


def _select(entries: list[Descriptor], platform: Platform, name: str | None, where: str) -> Descriptor:
    """Pick an index entry: by ref-name annotation when a name is given, else the target platform."""
    if name is not None:
        tag = name.rpartition(":")[2] if "/" not in name.rpartition(":")[2] else name
        named = [
            entry
            for entry in entries
            if name in (entry.annotations.get(_REF_NAME), entry.annotations.get(_CONTAINERD_NAME))
            or entry.annotations.get(_REF_NAME) == tag
        ]
        if not named:
            raise BuildError(f"{where} has no image named {name!r}", "list its images' ref names in index.json")
        entries = named
    with_platform = [entry for entry in entries if entry.platform is not None]
    if with_platform:
        matching = [entry for entry in with_platform if entry.platform is not None and platform.matches(entry.platform)]
        if not matching:
            found = ", ".join(sorted({str(entry.platform) for entry in with_platform}))
            raise BuildError(f"{where} has no image for {platform} (it has: {found})", _no_platform_fix(platform))
        return matching[0]
    if len({entry.digest for entry in entries}) == 1 or name is not None:
        return entries[0]
    raise BuildError(f"{where} holds {len(entries)} images and none is marked with a platform", "name one: PATH:TAG")


def _layers_of(manifest: Mapping[str, Any], config: Mapping[str, Any], where: str) -> tuple[BaseLayer, ...]:
    descriptors = [Descriptor.from_dict(layer) for layer in manifest.get("layers") or ()]
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or ())
    if len(diff_ids) != len(descriptors):
        raise BuildError(
            f"{where}: the manifest lists {len(descriptors)} layers but the config {len(diff_ids)} diff_ids",
            "rebuild the base image",
        )
    return tuple(
        BaseLayer(Descriptor(oci_layer_type(d.media_type), d.digest, d.size, d.annotations), str(diff_id))
        for d, diff_id in zip(descriptors, diff_ids, strict=True)
    )


def _check_platform(config: Mapping[str, Any], platform: Platform, where: str) -> None:
    found = Platform(str(config.get("os", "")), str(config.get("architecture", "")), config.get("variant"))
    if not platform.matches(found):
        raise BuildError(f"{where} is a {found} image, not {platform}", _no_platform_fix(platform))


def _no_platform_fix(platform: Platform) -> str:
    return (
        f"use a base image that has a {platform} image (an image index, for several platforms), or build without "
        f"{platform} (--platform, platforms in [tool.hera-build])"
    )


# ---------- registry ----------


def _load_registry(spec: BaseSpec, platform: Platform, client_factory: ClientFactory, cache: BuildCache) -> BaseImage:
    assert spec.ref is not None
    ref = spec.ref
    repository = repository_path(ref)
    client = client_factory(ref.registry)
    reference = ref.digest or ref.tag or "latest"
    where = f"base image {spec.text}"
    try:
        response = client.get_manifest(repository, reference)
        reference_digest = response.digest
        document = _json(response.data, f"the manifest of {where}")
        for _ in range(_MAX_INDEX_DEPTH):
            if not _is_index(document, response.media_type):
                break
            entries = [Descriptor.from_dict(entry) for entry in document.get("manifests") or ()]
            chosen = _select(entries, platform, None, where)
            response = client.get_manifest(repository, chosen.digest)
            document = _json(response.data, f"the manifest of {where}")
        config_descriptor = Descriptor.from_dict(document["config"])
        if cache.has_blob(config_descriptor.digest):
            config_bytes = cache.blob_path(config_descriptor.digest).read_bytes()
        else:
            config_bytes = client.get_blob(repository, config_descriptor.digest)
            cache.put_blob_bytes(config_bytes, config_descriptor.digest)
    except PublishError as exc:
        raise BuildError(f"cannot read {where}: {exc.message}", exc.fix or "check the base image reference") from None
    except KeyError:
        raise BuildError(f"{where} has a manifest without a config", "use an OCI or Docker v2 image") from None
    config = _json(config_bytes, f"the config of {where}")
    _check_platform(config, platform, where)
    return BaseImage(
        spec=spec,
        manifest_digest=response.digest,
        config=config,
        config_descriptor=Descriptor(OCI_CONFIG, config_descriptor.digest, config_descriptor.size),
        layers=_layers_of(document, config, where),
        blobs=RegistryBlobs(client, ref.registry, repository, cache),
        reference_digest=reference_digest,
    )


# ---------- OCI layout directory ----------


def _load_layout(spec: BaseSpec, platform: Platform) -> BaseImage:
    assert spec.path is not None
    root, where = spec.path, f"OCI layout {spec.path}"
    if not (root / "index.json").is_file():
        raise BuildError(f"{where} has no index.json", "point at the layout's top directory")
    blobs = LayoutBlobs(root)
    document = _json((root / "index.json").read_bytes(), f"{where}/index.json")
    name = spec.name
    digest = ""
    for _ in range(_MAX_INDEX_DEPTH):
        if not _is_index(document):
            break
        entries = [Descriptor.from_dict(entry) for entry in document.get("manifests") or ()]
        chosen = _select(entries, platform, name, where)
        name = None
        digest = chosen.digest
        document = _json(blobs.path(chosen).read_bytes(), f"manifest {chosen.digest} of {where}")
    config_descriptor = Descriptor.from_dict(document["config"])
    config = _json(blobs.path(config_descriptor).read_bytes(), f"the config of {where}")
    _check_platform(config, platform, where)
    return BaseImage(
        spec=spec,
        manifest_digest=digest,
        config=config,
        config_descriptor=Descriptor(OCI_CONFIG, config_descriptor.digest, config_descriptor.size),
        layers=_layers_of(document, config, where),
        blobs=blobs,
        reference_digest=sha256_digest((root / "index.json").read_bytes()),
    )


# ---------- archives (docker save, tar of an OCI layout) ----------


def _member_bytes(tar: tarfile.TarFile, name: str, where: str) -> bytes:
    stream = None
    for candidate in (name, f"./{name}"):
        try:
            stream = tar.extractfile(candidate)
            break
        except KeyError:
            continue
    if stream is None:
        raise BuildError(f"{where} lacks {name}", "re-create the archive with docker save")
    with stream:
        return stream.read()


def _cache_layer_from_archive(
    tar: tarfile.TarFile, member: str, diff_id: str, cache: BuildCache, where: str
) -> Descriptor:
    """A layer of an archive as a gzip blob in the cache. Uncompressed layers (old ``docker save``) are
    compressed once, deterministically, and remembered by their ``diff_id``."""
    remembered = cache.read_record("gzip-of", diff_id)
    if remembered and cache.has_blob(str(remembered["digest"]), int(remembered["size"])):
        return Descriptor(OCI_LAYER_GZIP, str(remembered["digest"]), int(remembered["size"]))
    stream = tar.extractfile(member)
    if stream is None:
        raise BuildError(f"{where} lacks layer {member}", "re-create the archive with docker save")
    with stream:
        head = stream.read(2)
        stream.seek(0)
        if head == _GZIP_MAGIC:
            digest, size = cache.put_blob_file(stream)
            return Descriptor(OCI_LAYER_GZIP, digest, size)
        buffer = _GzipToCache(cache)
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=COMPRESS_LEVEL) as gz:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                gz.write(chunk)
        digest, size = buffer.finish()
    cache.write_record("gzip-of", diff_id, {"digest": digest, "size": size})
    return Descriptor(OCI_LAYER_GZIP, digest, size)


class _GzipToCache:
    """A write target that spools into a cache blob and names it by digest when done."""

    def __init__(self, cache: BuildCache) -> None:
        cache.blobs.mkdir(parents=True, exist_ok=True)
        self._cache = cache
        self._fd, name = tempfile.mkstemp(prefix=".gzip-", dir=cache.blobs)
        self._path = Path(name)
        self._out = os.fdopen(self._fd, "wb")

    def write(self, data: bytes) -> int:
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> tuple[str, int]:
        self._out.close()
        with self._path.open("rb") as stream:
            digest, size = self._cache.put_blob_file(stream)
        self._path.unlink(missing_ok=True)
        return digest, size


def _load_archive(spec: BaseSpec, platform: Platform, cache: BuildCache) -> BaseImage:
    assert spec.path is not None
    where = f"archive {spec.path}"
    try:
        tar = tarfile.open(spec.path, mode="r:*")
    except OSError as exc:
        raise BuildError(f"cannot read {where}: {exc.strerror}", "check the path") from None
    except tarfile.TarError:
        raise BuildError(
            f"cannot read {where}: not a tar archive", "pass a docker save archive or a tar of an OCI layout"
        ) from None
    with tar:
        names = {name.removeprefix("./") for name in tar.getnames()}
        if "index.json" in names:  # an OCI layout (also what Docker 25+ and hera-build's archives hold)
            base = _load_layout_tar(tar, spec, platform, cache, where)
        elif "manifest.json" in names:
            base = _load_docker_save(tar, spec, platform, cache, where)
        else:
            raise BuildError(f"{where} has neither manifest.json nor index.json", "pass a docker save archive")
    return replace(base, reference_digest=_archive_digest(spec.path, cache))


def _archive_digest(path: Path, cache: BuildCache) -> str:
    """The archive file's digest, remembered by path, size and mtime (hashing a large archive costs a second)."""
    stat = path.stat()
    key = sha256_digest(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    record = cache.read_record("file-digests", key)
    if record is not None and isinstance(record.get("digest"), str):
        return str(record["digest"])
    digest = file_digest(path)
    cache.write_record("file-digests", key, {"digest": digest, "path": str(path)})
    return digest


def _load_docker_save(
    tar: tarfile.TarFile, spec: BaseSpec, platform: Platform, cache: BuildCache, where: str
) -> BaseImage:
    entries = json.loads(_member_bytes(tar, "manifest.json", where))
    if not isinstance(entries, list) or not entries:
        raise BuildError(f"{where} has an empty manifest.json", "re-create the archive with docker save")
    if spec.name:
        wanted = spec.name if ":" in spec.name.rpartition("/")[2] else f"{spec.name}:latest"
        entries = [entry for entry in entries if wanted in (entry.get("RepoTags") or ())]
        if not entries:
            raise BuildError(
                f"{where} has no image tagged {wanted!r}", "check the name with: tar -xOf ARCHIVE manifest.json"
            )
    elif len(entries) > 1:
        raise BuildError(f"{where} holds {len(entries)} images", "name one: docker-archive:PATH:NAME:TAG")
    entry = entries[0]
    config_bytes = _member_bytes(tar, str(entry["Config"]), where)
    config = _json(config_bytes, f"the config of {where}")
    _check_platform(config, platform, where)
    config_digest = sha256_digest(config_bytes)
    cache.put_blob_bytes(config_bytes, config_digest)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or ())
    members = list(entry.get("Layers") or ())
    if len(diff_ids) != len(members):
        raise BuildError(f"{where}: {len(members)} layers but {len(diff_ids)} diff_ids", "re-create the archive")
    layers = tuple(
        BaseLayer(_cache_layer_from_archive(tar, str(member), str(diff_id), cache, where), str(diff_id))
        for member, diff_id in zip(members, diff_ids, strict=True)
    )
    config_descriptor = Descriptor(OCI_CONFIG, config_digest, len(config_bytes))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor.to_dict(),
        "layers": [layer.descriptor.to_dict() for layer in layers],
    }
    return BaseImage(
        spec=spec,
        manifest_digest=sha256_digest(canonical_json(manifest)),
        config=config,
        config_descriptor=config_descriptor,
        layers=layers,
        blobs=CacheBlobs(cache, where),
    )


def _load_layout_tar(
    tar: tarfile.TarFile, spec: BaseSpec, platform: Platform, cache: BuildCache, where: str
) -> BaseImage:
    def blob(descriptor: Descriptor) -> bytes:
        return _member_bytes(tar, f"blobs/sha256/{digest_hex(descriptor.digest)}", where)

    document = _json(_member_bytes(tar, "index.json", where), f"{where}/index.json")
    name, digest = spec.name, ""
    for _ in range(_MAX_INDEX_DEPTH):
        if not _is_index(document):
            break
        entries = [Descriptor.from_dict(entry) for entry in document.get("manifests") or ()]
        chosen = _select(entries, platform, name, where)
        name, digest = None, chosen.digest
        document = _json(blob(chosen), f"manifest {chosen.digest} of {where}")
    config_descriptor = Descriptor.from_dict(document["config"])
    config_bytes = blob(config_descriptor)
    config = _json(config_bytes, f"the config of {where}")
    _check_platform(config, platform, where)
    cache.put_blob_bytes(config_bytes, config_descriptor.digest)
    layers = _layers_of(document, config, where)
    for layer in layers:
        if not cache.has_blob(layer.descriptor.digest, layer.descriptor.size):
            member = tar.extractfile(f"blobs/sha256/{digest_hex(layer.descriptor.digest)}")
            if member is None:
                raise BuildError(f"{where} lacks layer {layer.descriptor.digest}", "re-create the archive")
            with member:
                cache.put_blob_file(member)
    return BaseImage(
        spec=spec,
        manifest_digest=digest,
        config=config,
        config_descriptor=Descriptor(OCI_CONFIG, config_descriptor.digest, config_descriptor.size),
        layers=layers,
        blobs=CacheBlobs(cache, where),
    )


def load_base(
    spec: BaseSpec | str, *, platform: Platform, client_factory: ClientFactory, cache: BuildCache
) -> BaseImage:
    """Read the base image's manifest, config and layer list for ``platform``."""
    spec = parse_base_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "registry":
        return _load_registry(spec, platform, client_factory, cache)
    if spec.kind == "layout":
        return _load_layout(spec, platform)
    return _load_archive(spec, platform, cache)
