"""Push an image the oci backend wrote (no engine involved): every blob is checked before it is sent, mounted
when the registry already has it in another repository, and uploaded only as a last resort — monolithically,
or in chunks when it is large.

The result counts what each blob cost (``exists``, ``mounted``, ``uploaded``), so tests and benchmarks can prove
that a code-only change uploads nothing but the application layer, the config and the manifest. Blobs pushed
once are remembered in the cache by registry and repository, so another project's push to the same registry
can mount a shared dependency layer instead of uploading it again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hera_build.core.references import ImageRef
from hera_build.image.backends.oci.image import BuiltImage, BuiltIndex, ImageLayer
from hera_build.image.backends.oci.model import OCI_INDEX, OCI_MANIFEST, Descriptor
from hera_build.image.cache import BuildCache
from hera_build.image.registry import RegistryClient, host_of, repository_path

CHUNK_THRESHOLD = 64 << 20
"""Blobs larger than this go up in chunks (PATCH …, PUT), smaller ones in one PUT."""
CHUNK_SIZE = 16 << 20
SMALL_BLOB = 32 << 10
_NEW_WITH_THE_CODE = frozenset({"application", "config"})
"""The application layer and the config change with every code change. When small (under :data:`SMALL_BLOB`)
and not known to this registry (not the base's, never pushed there from this cache), they are uploaded without
asking first: the question costs a round trip, as much as sending them. Every other blob is asked about, so a
runner with an empty cache still uploads no dependency layer the registry has."""


@dataclass(frozen=True)
class BlobPush:
    digest: str
    size: int
    role: str
    action: str
    """``exists`` (HEAD found it), ``mounted`` (cross-repository mount) or ``uploaded``."""
    chunks: int = 1


@dataclass(frozen=True)
class PushResult:
    repository: str
    tags: tuple[str, ...]
    digest: str
    blobs: tuple[BlobPush, ...]
    manifests_put: int

    def count(self, action: str) -> int:
        return sum(1 for blob in self.blobs if blob.action == action)

    @property
    def uploaded(self) -> tuple[BlobPush, ...]:
        return tuple(blob for blob in self.blobs if blob.action == "uploaded")

    @property
    def uploaded_bytes(self) -> int:
        return sum(blob.size for blob in self.uploaded)


def _pushed_record_key(host: str, digest: str) -> str:
    return f"{host.replace(':', '_').replace('/', '_')}-{digest.replace('sha256:', '')}"


def _mount_sources(layer: ImageLayer | None, cache: BuildCache, host: str, digest: str, repository: str) -> list[str]:
    """Repositories on this registry that hold the blob: the base image's, then where hera-build pushed it."""
    sources: list[str] = []
    if layer is not None and layer.remote is not None and host_of(layer.remote.registry) == host:
        sources.append(layer.remote.repository)
    record = cache.read_record("pushed", _pushed_record_key(host, digest)) or {}
    sources += [str(repo) for repo in record.get("repositories", []) if str(repo) not in sources]
    return [source for source in sources if source != repository]


def _pushed_to(cache: BuildCache, host: str, digest: str, repository: str) -> bool:
    record = cache.read_record("pushed", _pushed_record_key(host, digest)) or {}
    return repository in [str(repo) for repo in record.get("repositories", [])]


def _remember(cache: BuildCache, host: str, digest: str, repository: str) -> None:
    key = _pushed_record_key(host, digest)
    record = cache.read_record("pushed", key) or {}
    repositories = [str(repo) for repo in record.get("repositories", [])]
    if repository not in repositories:
        cache.write_record("pushed", key, {"repositories": [*repositories[-9:], repository]})


def _push_blob(
    client: RegistryClient,
    repository: str,
    descriptor: Descriptor,
    open_blob: Callable[[], IO[bytes]],
    layer: ImageLayer | None,
    role: str,
    cache: BuildCache,
    chunk_threshold: int,
    chunk_size: int,
) -> BlobPush:
    digest, size = descriptor.digest, descriptor.size
    sources = _mount_sources(layer, cache, client.host, digest, repository)
    known = bool(sources) or _pushed_to(cache, client.host, digest, repository) or bool(layer and layer.remote)
    ask = known or size > SMALL_BLOB or role not in _NEW_WITH_THE_CODE
    if ask and client.blob_exists(repository, digest):
        _remember(cache, client.host, digest, repository)
        return BlobPush(digest, size, role, "exists")
    location: str | None = None
    for source in sources:
        if location is not None:  # a refused mount opened an upload session; do not leave a second one
            break
        location = client.mount_blob(repository, digest, source)
        if location is None:
            _remember(cache, client.host, digest, repository)
            return BlobPush(digest, size, role, "mounted")
    location = location or client.start_upload(repository)
    if size > chunk_threshold:
        chunks = client.upload_chunked(repository, location, digest, size, open_blob, chunk_size)
    else:
        client.upload_monolithic(repository, location, digest, size, open_blob)
        chunks = 1
    _remember(cache, client.host, digest, repository)
    return BlobPush(digest, size, role, "uploaded", chunks)


def _push_blobs(
    image: BuiltImage, repository: str, client: RegistryClient, cache: BuildCache, chunk_threshold: int,
    chunk_size: int,
) -> list[BlobPush]:  # fmt: skip
    """Layers, then the config: every blob a manifest names must exist before the manifest is put."""
    pushes: list[BlobPush] = []
    for layer in image.layers:
        path_holder: dict[str, Path] = {}

        def open_layer(layer: ImageLayer = layer, holder: dict[str, Path] = path_holder) -> IO[bytes]:
            if "path" not in holder:
                holder["path"] = layer.fetch()
            return holder["path"].open("rb")

        pushes.append(
            _push_blob(
                client,
                repository,
                layer.descriptor,
                open_layer,
                layer,
                layer.role,
                cache,
                chunk_threshold,
                chunk_size,
            )
        )
    pushes.append(
        _push_blob(
            client,
            repository,
            image.config_descriptor,
            lambda: io.BytesIO(image.config),
            None,
            "config",
            cache,
            chunk_threshold,
            chunk_size,
        )
    )
    return pushes


def push_image(
    image: BuiltImage,
    target: ImageRef,
    tags: Sequence[str],
    client: RegistryClient,
    cache: BuildCache,
    *,
    chunk_threshold: int = CHUNK_THRESHOLD,
    chunk_size: int = CHUNK_SIZE,
) -> PushResult:
    """Push layers, then the config, then one manifest PUT per tag (blobs must exist before the manifest)."""
    repository = repository_path(target)
    pushes = _push_blobs(image, repository, client, cache, chunk_threshold, chunk_size)
    for tag in tags:
        client.put_manifest(repository, tag, image.manifest, OCI_MANIFEST)
    return PushResult(repository, tuple(tags), image.digest, tuple(pushes), len(tags))


def push_index(
    index: BuiltIndex,
    target: ImageRef,
    tags: Sequence[str],
    client: RegistryClient,
    cache: BuildCache,
    *,
    chunk_threshold: int = CHUNK_THRESHOLD,
    chunk_size: int = CHUNK_SIZE,
) -> PushResult:
    """Push each platform's blobs and manifest (by digest: untagged), then the index once per tag: a registry
    refuses an index that names manifests it lacks. The result lists each blob once."""
    repository = repository_path(target)
    pushes: list[BlobPush] = []
    seen: set[str] = set()
    for _, image in index.images:
        for push in _push_blobs(image, repository, client, cache, chunk_threshold, chunk_size):
            if push.digest not in seen:
                seen.add(push.digest)
                pushes.append(push)
        client.put_manifest(repository, image.digest, image.manifest, OCI_MANIFEST)
    for tag in tags:
        client.put_manifest(repository, tag, index.index, OCI_INDEX)
    return PushResult(repository, tuple(tags), index.digest, tuple(pushes), len(index.images) + len(tags))
