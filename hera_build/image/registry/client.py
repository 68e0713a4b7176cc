"""The registry HTTP API v2 (OCI distribution spec), as hera-build uses it: one client for every caller.

Two kinds of question go to a registry. *What does this tag hold?* — the digest a version tag points to (versions
are immutable, so an existing tag with other content is refused), its image id and labels (the input digest that
decides reuse); the answer comes from the registry, never from a local engine, whose copy of a tag may differ.
And, for the daemonless backend, *every transfer*: blob checks, cross-repository mounts, uploads, manifests.
:mod:`.auth` does the talking and the authentication.

Why not oras-py (evaluated at 0.2.43), the maintained Python OCI client: it is built for ORAS artifacts, not
images. Its ``upload_manifest`` re-serializes the manifest, so the digest the registry computes is not the digest
of the bytes hera-build wrote (reproducible digests need byte-exact manifests); it has no cross-repository blob
mount; it keeps its own docker-config and token code; and it logs through its own logger. What is left to write
is a dozen HTTP calls of the distribution spec, here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

import requests

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.registry.auth import (
    Transport,
    TransportOptions,
    host_of,
    registry_host,
    repository_path,
    repository_scope,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_MEDIA_TYPES = (
    *INDEX_MEDIA_TYPES,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""Accepted manifest types: without them a registry may answer with a converted (schema 1) manifest whose digest
is not the one that was pushed."""
_ACCEPT = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}
_CHUNK = 1 << 20
_PULL = ("pull",)
_PUSH = ("pull", "push")
_PROXY_FIX = "check for a proxy that rewrites responses between hera-build and the registry"

log = logging.getLogger(__name__)


def _sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class ManifestInfo:
    """A manifest (or index) as the registry sent it: the exact bytes, so the digest is the one pinned."""

    digest: str
    media_type: str
    config_digest: str | None = None
    """For single-platform manifests: the image config's digest, which Docker shows as the image id."""
    data: bytes = b""

    def document(self, what: str) -> dict[str, Any]:
        """The parsed JSON; a :class:`PublishError` naming ``what`` when it is not a JSON object."""
        return _json_object(self.data, what)


@dataclass(frozen=True)
class RemoteImage:
    """An image as the registry has it."""

    digest: str
    """Manifest (or index) digest: what ``image:tag@digest`` pins."""
    config_digest: str | None
    """Digest of the image config (Docker's image id); of the host platform's image for an index."""
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    """An index: its images' ``os/architecture[/variant]``, in its order; empty for one image."""


class RegistryView(Protocol):
    """Answers "what does the registry have under this reference?"; faked in tests."""

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        """``None`` when the tag does not exist; raises :class:`PublishError` when the registry cannot answer."""
        ...


def host_platform() -> tuple[str, str]:
    """``(os, architecture)`` in OCI terms for the machine hera-build runs on (the image's platform for an index)."""
    machine = platform.machine().lower()
    return "linux", _ARCHES.get(machine, machine)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise PublishError(f"the registry returned invalid JSON for {what}", _PROXY_FIX)
    return value


def _describe(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = response.text.strip()[:200]
    return f"HTTP {response.status_code}" + (f" ({text})" if text else "")


class RegistryClient:
    """One registry host. All requests share one :class:`~.auth.Transport`, so tokens are fetched once per scope."""

    def __init__(self, host: str, **options: Unpack[TransportOptions]) -> None:
        self.transport = Transport(host, **options)

    @classmethod
    def for_image(cls, ref: ImageRef, **options: Unpack[TransportOptions]) -> RegistryClient:
        return cls(registry_host(ref), **options)

    @property
    def host(self) -> str:
        return self.transport.host

    @property
    def scheme(self) -> str:
        return self.transport.scheme

    def _call(
        self,
        method: str,
        url: str,
        repository: str,
        actions: tuple[str, ...],
        ok: tuple[int, ...],
        allow: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> requests.Response:
        log.debug("%s %s", method, url)
        response = self.transport.request(method, url, repository=repository, actions=actions, **kwargs)
        if response.status_code in ok or response.status_code in allow:
            return response
        path = urllib.parse.urlsplit(url).path
        raise PublishError(
            f"registry {self.host}: {method} {path} failed: {_describe(response)}",
            "check the registry's logs; the error code says what it refused",
        )

    # ------------------------------------------------------------------------------------------- manifests

    def manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """What ``reference`` (a tag or digest) points to, with the manifest's bytes, in ONE GET; ``None`` if
        there is no such tag. A manifest fetched by digest must hash to that digest."""
        response = self._call(
            "GET", f"/v2/{repository}/manifests/{reference}", repository, _PULL, ok=(200,), allow=(404,),
            headers=_ACCEPT,
        )  # fmt: skip
        if response.status_code == 404:
            return None
        data = response.content
        computed = _sha256(data)
        if reference.startswith("sha256:") and computed != reference:
            raise PublishError(f"registry {self.host} sent a manifest that does not match {reference}", _PROXY_FIX)
        digest = response.headers.get("Docker-Content-Digest") or computed
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        config_digest = None
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if isinstance(body, dict):
            media_type = media_type or str(body.get("mediaType", ""))
            config = body.get("config")
            if isinstance(config, dict) and config.get("digest"):
                config_digest = str(config["digest"])
        return ManifestInfo(digest, media_type, config_digest, data)

    def get_manifest(self, repository: str, reference: str) -> ManifestInfo:
        """Like :meth:`manifest`, but a missing manifest is an error."""
        found = self.manifest(repository, reference)
        if found is None:
            raise PublishError(f"{self.host}/{repository}:{reference} does not exist", "check the image name and tag")
        return found

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """What a tag points to (``None``: no such tag or repository)."""
        found = self.manifest(repository, reference)
        return found.digest if found else None

    def tag_digest(self, ref: ImageRef) -> str | None:
        """The manifest digest ``ref``'s tag points to, or ``None`` when the tag does not exist."""
        return self.manifest_digest(repository_path(ref), ref.tag or "latest")

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT the exact bytes (never re-serialized), so the registry's digest is the one computed here."""
        return self.put_manifest_subject(repository, reference, data, media_type)[0]

    def put_manifest_subject(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> tuple[str, str | None]:
        """:meth:`put_manifest`, also returning the ``OCI-Subject`` header: a registry that answers with it
        indexes the manifest's ``subject`` for the referrers API (OCI distribution 1.1); ``None``: it does not."""
        response = self._call(
            "PUT", f"/v2/{repository}/manifests/{reference}", repository, _PUSH, ok=(200, 201, 202),
            headers={"Content-Type": media_type}, data=data,
        )  # fmt: skip
        expected = _sha256(data)
        returned = response.headers.get("Docker-Content-Digest", expected)
        if returned != expected:
            raise PublishError(
                f"registry {self.host} stored the manifest as {returned}, not {expected}",
                "use a registry that stores manifests byte for byte (OCI distribution spec)",
            )
        return expected, response.headers.get("OCI-Subject")

    def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """The descriptors of manifests whose ``subject`` is ``digest`` (OCI distribution 1.1 referrers API);
        ``None`` when the registry has no such API (it answers ``404`` for the unknown route)."""
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self._call(
            "GET", f"/v2/{repository}/referrers/{digest}", repository, _PULL, ok=(200,), allow=(404,),
            headers={"Accept": INDEX_MEDIA_TYPES[0]}, params=params,
        )  # fmt: skip
        if response.status_code == 404:
            return None
        entries = _json_object(response.content, f"the referrers of {digest}").get("manifests") or []
        return [entry for entry in entries if isinstance(entry, dict)]

    def image(self, repository: str, reference: str, platform: tuple[str, str] | None = None) -> RemoteImage | None:
        """Digest, image id and labels of what ``reference`` names; for an index, of ``platform``'s image, with
        the index's annotations over its labels."""
        found = self.manifest(repository, reference)
        if found is None:
            return None
        what = f"{self.host}/{repository}:{reference}"
        document = found.document(what)
        config_digest = found.config_digest
        annotations: dict[str, str] = {}
        platforms: tuple[str, ...] = ()
        if found.media_type in INDEX_MEDIA_TYPES or "manifests" in document:
            platforms = _platforms(document)
            child = _choose(document, platform or host_platform(), what)
            chosen = self.manifest(repository, child)
            if chosen is None:
                raise PublishError(f"{what} lists {child}, which the registry does not have", "push the image again")
            config_digest = chosen.config_digest
            raw_annotations = document.get("annotations")
            if isinstance(raw_annotations, dict):
                annotations = {str(k): str(v) for k, v in raw_annotations.items()}
        labels: dict[str, str] = {}
        if config_digest:
            config = _json_object(self.get_blob(repository, config_digest), f"the config {config_digest}")
            inner = config.get("config") or {}
            raw = (inner.get("Labels") or {}) if isinstance(inner, dict) else {}
            labels = {str(k): str(v) for k, v in raw.items()}
        # An index's annotations speak for the whole index (hera-build puts a multi-platform build's input digest
        # there), so they win over the labels of the one platform's image read here.
        return RemoteImage(found.digest, config_digest, labels | annotations, platforms)

    # ------------------------------------------------------------------------------------------- blobs

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._call("HEAD", f"/v2/{repository}/blobs/{digest}", repository, _PULL, ok=(200,), allow=(404,))
        return response.status_code == 200

    def iter_blob(self, repository: str, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks; a redirect to storage is followed (``requests`` drops the Authorization
        header when the host changes)."""
        response = self._call("GET", f"/v2/{repository}/blobs/{digest}", repository, _PULL, ok=(200,), stream=True)
        with response:
            yield from response.iter_content(_CHUNK)

    def get_blob(self, repository: str, digest: str) -> bytes:
        data = b"".join(self.iter_blob(repository, digest))
        if _sha256(data) != digest:
            raise PublishError(f"blob {digest} from {self.host}/{repository} does not match its digest", _PROXY_FIX)
        return data

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> str | None:
        """Link ``digest`` from another repository of this registry: ``None`` when mounted, else the upload
        location the registry opened instead (use it for the upload: no session is left dangling).

        The token must carry ``pull`` on the source too: a registry that enforces scopes answers a mount it may
        not read from with an upload session, and every layer would be uploaded again.
        """
        response = self._call(
            "POST", f"/v2/{repository}/blobs/uploads/", repository, _PUSH, ok=(201, 202),
            params={"mount": digest, "from": source_repository},
            also=(repository_scope(source_repository, _PULL),),
        )  # fmt: skip
        return None if response.status_code == 201 else self._location(response)

    def start_upload(self, repository: str) -> str:
        response = self._call("POST", f"/v2/{repository}/blobs/uploads/", repository, _PUSH, ok=(202,))
        return self._location(response)

    def upload_monolithic(
        self, repository: str, location: str, digest: str, size: int, open_blob: Callable[[], IO[bytes]]
    ) -> None:
        """One PUT carrying the whole blob, streamed from the file."""
        with open_blob() as stream:
            self._call(
                "PUT", location, repository, _PUSH, ok=(201, 204), params={"digest": digest}, data=stream,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )  # fmt: skip

    def upload_chunked(
        self,
        repository: str,
        location: str,
        digest: str,
        size: int,
        open_blob: Callable[[], IO[bytes]],
        chunk_size: int,
    ) -> int:
        """PATCH chunks with ``Content-Range``, then close with a PUT; returns the number of chunks."""
        chunks, offset = 0, 0
        with open_blob() as stream:
            while offset < size:
                chunk = stream.read(chunk_size)
                if not chunk:
                    raise PublishError(f"blob {digest} ended after {offset} of {size} bytes", "build again")
                end = offset + len(chunk) - 1
                response = self._call(
                    "PATCH", location, repository, _PUSH, ok=(202,), data=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end}",
                        "Content-Length": str(len(chunk)),
                    },
                )  # fmt: skip
                location = self._location(response)
                offset, chunks = end + 1, chunks + 1
        self._call("PUT", location, repository, _PUSH, ok=(201, 204), params={"digest": digest})
        return chunks

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise PublishError(
                f"registry {self.host} opened an upload without a Location header",
                "use a registry that implements the OCI distribution spec's blob uploads",
            )
        return urllib.parse.urljoin(self.transport.base_url + "/", location)


def _platforms(index: Mapping[str, Any]) -> tuple[str, ...]:
    named = [e.get("platform") for e in index.get("manifests", []) if isinstance(e, dict)]
    return tuple(
        "/".join(str(one[key]) for key in ("os", "architecture", "variant") if one.get(key))
        for one in named
        if isinstance(one, dict)
    )


def _choose(index: Mapping[str, Any], platform: tuple[str, str], what: str) -> str:
    os_name, arch = platform
    entries = [e for e in index.get("manifests", []) if isinstance(e, dict) and e.get("digest")]
    for entry in entries:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == os_name and wanted.get("architecture") == arch:
            return str(entry["digest"])
    if len(entries) == 1:
        return str(entries[0]["digest"])
    raise PublishError(f"{what} has no image for {os_name}/{arch}", "push an image for this platform")


_SHARED: dict[str, RegistryClient] = {}
"""One client per registry host in this process (see :func:`open_registry`)."""


def open_registry(registry: str | None, **options: Unpack[TransportOptions]) -> RegistryClient:
    """A client for the registry part of an image reference (``None``: Docker Hub).

    Without options, every caller in the process gets the same client for a host — the base image's reader, the
    publish policy's lookup and the push — so they share one keep-alive connection (one TLS handshake) and the
    tokens fetched for it, instead of connecting and authenticating once each.
    """
    host = host_of(registry)
    if options:
        return RegistryClient(host, **options)
    if host not in _SHARED:
        _SHARED[host] = RegistryClient(host)
    return _SHARED[host]


def _shared_for_image(ref: ImageRef) -> RegistryClient:
    return open_registry(ref.registry)


class RegistryApi:
    """:class:`RegistryView` over the registry HTTP API, with the Docker config's credentials."""

    def __init__(
        self,
        client_factory: Callable[[ImageRef], RegistryClient] = _shared_for_image,
        platform: tuple[str, str] | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._platform = platform or host_platform()
        self._clients: dict[str, RegistryClient] = {}

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        host = registry_host(ref)
        client = self._clients.get(host) or self._clients.setdefault(host, self._client_factory(ref))
        return client.image(repository_path(ref), ref.digest or ref.tag or "latest", self._platform)
