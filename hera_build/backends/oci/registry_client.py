"""A small OCI distribution client over ``requests``: manifests, blobs, mounts and uploads, with registry auth.

Why not oras-py (evaluated at 0.2.43), the maintained Python OCI client: it is built for ORAS artifacts, not
images. Its ``upload_manifest`` re-serializes the manifest with ``requests``' JSON encoder and validates it
against the ORAS schema with one fixed media type, so the digest the registry computes is not the digest of the
bytes hera-build wrote to an OCI layout (reproducible digests need byte-exact manifests); it has no
cross-repository blob mount (the feature that keeps base and dependency layers from being uploaded again); and
it logs through its own logger. Using only its low-level ``do_request`` would leave little of it. The protocol
needed here is a dozen HTTP calls, so this module implements them directly, with the same auth flows Docker
uses: anonymous or basic credentials exchanged for a bearer token at the realm the registry names, per scope.

Credentials come from :mod:`hera_build.registry` (the Docker config file and its credential helpers), so both
backends log in the same way.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import requests

from hera_build.backends.oci.model import INDEX_TYPES, MANIFEST_TYPES, sha256_digest
from hera_build.errors import PublishError

__all__ = [
    "DOCKER_HUB",
    "Credentials",
    "CredentialLookup",
    "RegistryClient",
    "registry_host",
    "uses_plain_http",
    "ManifestResponse",
]

log = logging.getLogger(__name__)

DOCKER_HUB = "registry-1.docker.io"
_ACCEPT_MANIFESTS = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_DEFAULT_TIMEOUT = 120.0
_CHUNK = 1 << 20
_AUTH_HEADER = "Authorization"


@dataclass(frozen=True)
class Credentials:
    """A username and secret; a username of ``<token>`` means the secret is an identity (refresh) token."""

    username: str
    secret: str

    @property
    def is_identity_token(self) -> bool:
        return self.username == "<token>"


CredentialLookup = Callable[[str], "Credentials | None"]
"""Registry host → credentials (``None``: anonymous)."""


@dataclass(frozen=True)
class ManifestResponse:
    data: bytes
    media_type: str
    digest: str


def registry_host(registry: str | None) -> str:
    """The host to talk to: Docker Hub's short names (no registry part, ``docker.io``) → its API host."""
    if registry in (None, "docker.io", "index.docker.io"):
        return DOCKER_HUB
    return registry


def uses_plain_http(host: str) -> bool:
    """Loopback registries speak plain HTTP, as Docker assumes; others must be listed in
    ``HERA_BUILD_INSECURE_REGISTRIES`` (comma-separated hosts) to be reached without TLS."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in ("localhost", "[::1]") or name.startswith("127."):
        return True
    insecure = {item.strip() for item in os.environ.get("HERA_BUILD_INSECURE_REGISTRIES", "").split(",")}
    return host in insecure


def _errors_of(response: requests.Response) -> str:
    try:
        body = response.json()
        errors = body.get("errors") or []
        text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors if isinstance(e, dict))
    except ValueError:
        text = response.text[:200]
    return f"HTTP {response.status_code}" + (f" ({text})" if text else "")


class RegistryClient:
    """One registry host. Tokens are cached per scope for the client's lifetime (one build)."""

    def __init__(
        self,
        registry: str | None,
        *,
        credentials: CredentialLookup | None = None,
        session: requests.Session | None = None,
        plain_http: bool | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> None:
        self.host = registry_host(registry)
        self.scheme = "http" if (uses_plain_http(self.host) if plain_http is None else plain_http) else "https"
        self.base_url = f"{self.scheme}://{self.host}"
        self._credentials = credentials
        self._session = session or requests.Session()
        self._timeout = timeout
        self._tokens: dict[str, str] = {}
        self._basic: str | None = None

    # ---------- auth ----------

    def _lookup_credentials(self) -> Credentials | None:
        if self._credentials is None:
            return None
        key = "docker.io" if self.host == DOCKER_HUB else self.host
        return self._credentials(key)

    def _fetch_token(self, challenge: Mapping[str, str], scopes: list[str]) -> str:
        realm = challenge.get("realm")
        if not realm:
            raise PublishError(f"registry {self.host} sent a bearer challenge without a realm", None)
        params: list[tuple[str, str]] = []
        if challenge.get("service"):
            params.append(("service", challenge["service"]))
        params.extend(("scope", scope) for scope in scopes)
        creds = self._lookup_credentials()
        try:
            if creds is not None and creds.is_identity_token:
                form = dict(params[:1]) | {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.secret,
                    "client_id": "hera-build",
                    "scope": " ".join(scopes),
                }
                response = self._session.post(realm, data=form, timeout=self._timeout)
            else:
                auth = (creds.username, creds.secret) if creds is not None else None
                response = self._session.get(realm, params=params, auth=auth, timeout=self._timeout)
        except requests.RequestException as exc:
            raise PublishError(f"cannot reach the token service of {self.host}: {exc}", "check the network") from None
        if response.status_code in (401, 403):
            raise PublishError(
                f"registry {self.host} refused the credentials ({_errors_of(response)})",
                f"log in again (docker login {self.host}) or fix the credential helper",
            )
        if response.status_code != 200:
            raise PublishError(f"token request to {realm} failed: {_errors_of(response)}", None)
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise PublishError(f"the token service of {self.host} returned no token", None)
        return str(token)

    def _authorize(self, response: requests.Response, scopes: list[str]) -> dict[str, str]:
        """Answer a 401 challenge: a bearer token for ``scopes`` (and the challenge's), or basic credentials."""
        header = response.headers.get("WWW-Authenticate", "")
        kind, _, rest = header.partition(" ")
        challenge = dict(_CHALLENGE_RE.findall(rest))
        if kind.lower() == "bearer":
            wanted = sorted({*scopes, *challenge.get("scope", "").split()} - {""})
            key = " ".join(wanted)
            if key not in self._tokens:
                self._tokens[key] = self._fetch_token(challenge, wanted)
            return {_AUTH_HEADER: f"Bearer {self._tokens[key]}"}
        if kind.lower() == "basic":
            creds = self._lookup_credentials()
            if creds is None:
                raise PublishError(
                    f"registry {self.host} needs a login", f"docker login {self.host} (hera-build reads its config)"
                )
            raw = f"{creds.username}:{creds.secret}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode()
            return {_AUTH_HEADER: self._basic}
        raise PublishError(f"registry {self.host} asks for an unknown authentication ({header!r})", None)

    def _auth_header(self, scopes: list[str]) -> dict[str, str]:
        key = " ".join(sorted(scopes))
        if key in self._tokens:
            return {_AUTH_HEADER: f"Bearer {self._tokens[key]}"}
        if self._basic:
            return {_AUTH_HEADER: self._basic}
        return {}

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: list[str],
        headers: Mapping[str, str] | None = None,
        body: Callable[[], bytes | IO[bytes] | None] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """One request, answering an auth challenge once. ``body`` is a callable so a streamed body can be
        re-opened for the retry; statuses in ``allow`` are returned, others outside ``ok`` raise."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        response = None
        for attempt in range(2):
            all_headers = {**self._auth_header(scopes), **(headers or {})}
            if attempt and response is not None:
                all_headers.update(self._authorize(response, scopes))
            data = body() if body is not None else None
            log.debug("%s %s", method, url)
            try:
                response = self._session.request(
                    method, url, headers=all_headers, data=data, params=params, stream=stream, timeout=self._timeout
                )
            except requests.RequestException as exc:
                raise PublishError(
                    f"registry {self.host} is unreachable: {exc.__class__.__name__}",
                    f"check that {self.base_url}/v2/ answers (and HERA_BUILD_INSECURE_REGISTRIES for plain HTTP)",
                ) from None
            finally:
                if data is not None and hasattr(data, "close"):
                    data.close()
            if response.status_code != 401 or attempt:
                break
        assert response is not None
        if response.status_code in ok or response.status_code in allow:
            return response
        if response.status_code in (401, 403):
            raise PublishError(
                f"registry {self.host} refused {method} {urllib.parse.urlsplit(url).path}: {_errors_of(response)}",
                f"log in (docker login {self.host}) with an account that may push there",
            )
        raise PublishError(f"registry {self.host}: {method} {urllib.parse.urlsplit(url).path} failed: "
                           f"{_errors_of(response)}", None)

    # ---------- manifests ----------

    def get_manifest(self, repository: str, reference: str, accept: str = _ACCEPT_MANIFESTS) -> ManifestResponse:
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scopes=[f"repository:{repository}:pull"],
            headers={"Accept": accept}, ok=(200,), allow=(404,),
        )
        if response.status_code == 404:
            raise PublishError(
                f"{self.host}/{repository}:{reference} does not exist in the registry",
                "check the image name and tag (and that it was pushed)",
            )
        data = response.content
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise PublishError(f"registry {self.host} returned a manifest that does not match {reference}", None)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestResponse(data, media_type, digest)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag points at, or ``None`` when the repository or tag does not exist."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", scopes=[f"repository:{repository}:pull"],
            headers={"Accept": _ACCEPT_MANIFESTS}, ok=(200,), allow=(404,),
        )
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        return self.get_manifest(repository, reference).digest

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        response = self.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", scopes=[f"repository:{repository}:pull,push"],
            headers={"Content-Type": media_type}, body=lambda: data, ok=(200, 201, 202),
        )
        expected = sha256_digest(data)
        returned = response.headers.get("Docker-Content-Digest", expected)
        if returned != expected:
            raise PublishError(f"registry {self.host} stored the manifest as {returned}, not {expected}", None)
        return expected

    # ---------- blobs ----------

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scopes=[f"repository:{repository}:pull"],
            ok=(200,), allow=(404,),
        )
        return response.status_code == 200

    def iter_blob(self, repository: str, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks (registries may redirect to storage; ``requests`` follows and drops the
        Authorization header on another host)."""
        response = self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", scopes=[f"repository:{repository}:pull"], stream=True
        )
        with response:
            yield from response.iter_content(_CHUNK)

    def get_blob(self, repository: str, digest: str) -> bytes:
        data = b"".join(self.iter_blob(repository, digest))
        if sha256_digest(data) != digest:
            raise PublishError(f"blob {digest} from {self.host}/{repository} does not match its digest", None)
        return data

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> str | None:
        """Ask the registry to link ``digest`` from another repository: ``None`` if it did, else the upload
        location the registry opened instead (to be used for a normal upload)."""
        response = self.request(
            "POST", f"/v2/{repository}/blobs/uploads/",
            scopes=[f"repository:{repository}:pull,push", f"repository:{source_repository}:pull"],
            params={"mount": digest, "from": source_repository}, ok=(201, 202),
        )
        if response.status_code == 201:
            return None
        return self._location(response)

    def start_upload(self, repository: str) -> str:
        response = self.request(
            "POST", f"/v2/{repository}/blobs/uploads/", scopes=[f"repository:{repository}:pull,push"],
            ok=(202,),
        )
        return self._location(response)

    def upload_monolithic(
        self, repository: str, location: str, digest: str, size: int, open_blob: Callable[[], IO[bytes]]
    ) -> None:
        """One PUT with the whole blob, streamed from ``open_blob``."""
        self.request(
            "PUT", location, scopes=[f"repository:{repository}:pull,push"],
            params={"digest": digest},
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=open_blob, ok=(201, 204),
        )

    def upload_chunked(
        self, repository: str, location: str, digest: str, size: int, open_blob: Callable[[], IO[bytes]],
        chunk_size: int,
    ) -> int:
        """PATCH chunks with ``Content-Range``, then close with a PUT: for blobs too large for one request
        through proxies. Returns the number of chunks sent."""
        scopes = [f"repository:{repository}:pull,push"]
        chunks = 0
        with open_blob() as stream:
            offset = 0
            while offset < size:
                chunk = stream.read(chunk_size)
                if not chunk:
                    raise PublishError(f"blob {digest} is shorter than its descriptor says ({offset} < {size})", None)
                end = offset + len(chunk) - 1
                response = self.request(
                    "PATCH", location, scopes=scopes,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end}",
                        "Content-Length": str(len(chunk)),
                    },
                    body=lambda chunk=chunk: chunk,  # type: ignore[misc]
                    ok=(202,),
                )
                location = self._location(response)
                offset = end + 1
                chunks += 1
        self.request("PUT", location, scopes=scopes, params={"digest": digest}, ok=(201, 204))
        return chunks

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise PublishError(f"registry {self.host} opened an upload without a Location header", None)
        return urllib.parse.urljoin(self.base_url + "/", location)

    def ping(self) -> dict[str, Any]:
        """``GET /v2/``: reachable (auth challenges count as reachable)."""
        response = self.request("GET", "/v2/", scopes=[], ok=(200,), allow=(401,))
        return {"status": response.status_code}
