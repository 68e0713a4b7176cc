"""The OCI distribution calls the daemonless backend needs — manifests, blobs, mounts, uploads — on top
of :class:`~.client.RegistryClient`, which does the authentication (Docker config, credential helpers,
bearer tokens per scope) and the plain-HTTP rule for both backends.

Why not oras-py (evaluated at 0.2.43), the maintained Python OCI client: it is built for ORAS artifacts, not
images. Its ``upload_manifest`` re-serializes the manifest with ``requests``' JSON encoder and validates it
against the ORAS schema with one fixed media type, so the digest the registry computes is not the digest of the
bytes hera-build wrote to an OCI layout (reproducible digests need byte-exact manifests); it has no
cross-repository blob mount (what keeps base and dependency layers from being uploaded again); it keeps its own
docker-config and token code beside the one hera-build already has; and it logs through its own logger. What
is left to write is a dozen HTTP calls of the distribution spec, here.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import requests

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.backends.oci.model import INDEX_TYPES, MANIFEST_TYPES, sha256_digest
from hera_build.image.registry.client import RegistryClient, registry_host

__all__ = ["OciRegistry", "ManifestResponse", "open_registry", "host_of"]

log = logging.getLogger(__name__)

_ACCEPT_MANIFESTS = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
_CHUNK = 1 << 20
_PULL = ("pull",)
_PUSH = ("pull", "push")


@dataclass(frozen=True)
class ManifestResponse:
    data: bytes
    media_type: str
    digest: str


def host_of(registry: str | None) -> str:
    """The API host of a reference's registry part (Docker Hub's for short names)."""
    return registry_host(ImageRef(f"{registry}/x" if registry else "x"))


def _describe(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = response.text.strip()[:200]
    return f"HTTP {response.status_code}" + (f" ({text})" if text else "")


class OciRegistry:
    """One registry host; all requests go through the shared client, so tokens are fetched once per scope."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    @property
    def host(self) -> str:
        return self.client.host

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
        response = self.client.request(method, url, repository=repository, actions=actions, **kwargs)
        if response.status_code in ok or response.status_code in allow:
            return response
        path = urllib.parse.urlsplit(url).path
        raise PublishError(
            f"registry {self.host}: {method} {path} failed: {_describe(response)}",
            "check the registry's logs; the error code says what it refused",
        )

    # ---------- manifests ----------

    def get_manifest(self, repository: str, reference: str) -> ManifestResponse:
        response = self._call(
            "GET", f"/v2/{repository}/manifests/{reference}", repository, _PULL, ok=(200,), allow=(404,),
            headers={"Accept": _ACCEPT_MANIFESTS},
        )  # fmt: skip
        if response.status_code == 404:
            raise PublishError(f"{self.host}/{repository}:{reference} does not exist", "check the image name and tag")
        data = response.content
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise PublishError(
                f"registry {self.host} sent a manifest that does not match {reference}",
                "check for a proxy that rewrites responses between hera-build and the registry",
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestResponse(data, media_type, digest)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """What a tag points to (``None``: no such tag or repository)."""
        response = self._call(
            "HEAD", f"/v2/{repository}/manifests/{reference}", repository, _PULL, ok=(200,), allow=(404,),
            headers={"Accept": _ACCEPT_MANIFESTS},
        )  # fmt: skip
        if response.status_code == 404:
            return None
        return response.headers.get("Docker-Content-Digest") or self.get_manifest(repository, reference).digest

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
        expected = sha256_digest(data)
        returned = response.headers.get("Docker-Content-Digest", expected)
        if returned != expected:
            raise PublishError(
                f"registry {self.host} stored the manifest as {returned}, not {expected}",
                "use a registry that stores manifests byte for byte (OCI distribution spec)",
            )
        return expected, response.headers.get("OCI-Subject")

    # ---------- blobs ----------

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
        if sha256_digest(data) != digest:
            raise PublishError(
                f"blob {digest} from {self.host}/{repository} does not match its digest",
                "check for a proxy that rewrites responses between hera-build and the registry",
            )
        return data

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> str | None:
        """Link ``digest`` from another repository of this registry: ``None`` when mounted, else the upload
        location the registry opened instead (use it for the upload: no session is left dangling)."""
        response = self._call(
            "POST", f"/v2/{repository}/blobs/uploads/", repository, _PUSH, ok=(201, 202),
            params={"mount": digest, "from": source_repository},
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
        return urllib.parse.urljoin(self.client.base_url + "/", location)


def open_registry(registry: str | None, **kwargs: Any) -> OciRegistry:
    """A client for the registry part of an image reference (``None``: Docker Hub)."""
    return OciRegistry(RegistryClient(host_of(registry), **kwargs))
