"""A small client for the registry HTTP API v2 (OCI distribution): what a tag points to, with the user's auth.

Pushing is the engines' job, but two questions must be asked of the registry itself: *does this tag already
exist, and with which digest?* (versions are immutable, so an existing tag with other content is refused) and,
for a daemonless backend, every upload. Authentication follows Docker's rules: anonymous first, then the
challenge the registry answers with (Bearer token or Basic), using the credentials of the Docker config file and
its credential helpers (read with docker-py's own code). Plain HTTP is used only for loopback registries and
those listed in ``HERA_BUILD_INSECURE_REGISTRIES``, as Docker does.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "Credentials",
    "ManifestInfo",
    "RegistryClient",
    "docker_config_credentials",
    "registry_host",
    "repository_path",
]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""Accepted manifest types: without them a registry may answer with a converted (schema 1) manifest whose digest
is not the one that was pushed."""
DOCKER_HUB = "registry-1.docker.io"
_INDEX_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    """An OAuth2 refresh token (what ``docker login`` stores for some registries)."""

    def __repr__(self) -> str:  # never print secrets, not even in debug output
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class ManifestInfo:
    """What a tag (or digest) resolves to."""

    digest: str
    media_type: str
    config_digest: str | None = None
    """For single-platform manifests: the image config's digest, which Docker shows as the image id."""


def registry_host(ref: ImageRef) -> str:
    """The host to talk to: Docker Hub's API host for short names."""
    host = ref.registry
    return DOCKER_HUB if host is None or host in _INDEX_NAMES else host


def repository_path(ref: ImageRef) -> str:
    """The repository within its registry (``library/x`` for Docker Hub official images)."""
    path = ref.path
    if registry_host(ref) == DOCKER_HUB and "/" not in path:
        return f"library/{path}"
    return path


def _is_insecure(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.endswith("]") else host.strip("[]")
    listed = {h.strip() for h in os.environ.get("HERA_BUILD_INSECURE_REGISTRIES", "").split(",") if h.strip()}
    if host in listed or name in listed or name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def docker_config_credentials(host: str) -> Credentials | None:
    """Credentials for ``host`` from the Docker config file (``$DOCKER_CONFIG``) and its credential helpers."""
    from docker import auth
    from docker.errors import DockerException

    try:
        config = auth.load_config()
        entry = auth.resolve_authconfig(config, None if host == DOCKER_HUB else host)
    except (DockerException, OSError, ValueError) as exc:
        raise PublishError(
            f"cannot read credentials for {host} from the Docker config: {exc}", "run docker login again"
        ) from None
    if not entry:
        return None
    return Credentials(
        username=entry.get("Username") or entry.get("username"),
        password=entry.get("Password") or entry.get("password"),
        identity_token=entry.get("IdentityToken") or entry.get("identitytoken"),
    )


class RegistryClient:
    """Talks to one registry; authenticates per repository scope on demand and remembers tokens."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        use_docker_config: bool = True,
        session: requests.Session | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
        scheme: str | None = None,
    ) -> None:
        self.host = host
        self.scheme = scheme or ("http" if _is_insecure(host) else "https")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._credentials = credentials
        self._use_docker_config = use_docker_config and credentials is None
        self._tokens: dict[str, str] = {}

    @classmethod
    def for_image(cls, ref: ImageRef, **kwargs: Any) -> RegistryClient:
        return cls(registry_host(ref), **kwargs)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def credentials(self) -> Credentials | None:
        if self._credentials is None and self._use_docker_config:
            self._credentials = docker_config_credentials(self.host)
            self._use_docker_config = False
        return self._credentials

    # ------------------------------------------------------------------------------------------- requests

    def request(
        self,
        method: str,
        path: str,
        *,
        repository: str,
        actions: Sequence[str] = ("pull",),
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """``method`` ``/v2/…`` with authentication for ``repository`` and ``actions`` (``pull``, ``push``).

        Raises :class:`PublishError` when the registry cannot be reached or refuses the credentials; any other
        status is returned for the caller to judge.
        """
        scope = f"repository:{repository}:{','.join(actions)}"
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        response = self._send(method, url, scope, headers, **kwargs)
        if response.status_code == 401:
            self._authenticate(response, scope)
            response = self._send(method, url, scope, headers, **kwargs)
            if response.status_code == 401:
                raise self._refused(repository, actions)
        if response.status_code == 403:
            raise self._refused(repository, actions)
        return response

    def _send(
        self, method: str, url: str, scope: str, headers: Mapping[str, str] | None, **kwargs: Any
    ) -> requests.Response:
        merged = dict(headers or {})
        token = self._tokens.get(scope)
        if token:
            merged["Authorization"] = token
        try:
            return self.session.request(method, url, headers=merged, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> PublishError:
        reason = type(exc).__name__
        if isinstance(exc, requests.ConnectionError):
            reason = "connection refused or host unknown"
        elif isinstance(exc, requests.Timeout):
            reason = f"no answer within {self.timeout:.0f}s"
        return PublishError(
            f"registry {self.host} is unreachable ({reason}, {self.scheme})",
            "check the image repository's host and port, that the registry is running, and proxy settings",
        )

    def _refused(self, repository: str, actions: Sequence[str]) -> PublishError:
        who = "anonymous access" if self.credentials() is None else "the credentials from the Docker config"
        return PublishError(
            f"registry {self.host} refused {who} to {'/'.join(actions)} {repository}",
            f"log in with `docker login {self.host}` (or fix the repository name)",
        )

    def _authenticate(self, response: requests.Response, scope: str) -> None:
        challenge = response.headers.get("WWW-Authenticate", "")
        kind, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        credentials = self.credentials()
        if kind.lower() == "basic":
            if credentials is None or credentials.username is None:
                raise self._refused(scope.split(":")[1], scope.rsplit(":", 1)[1].split(","))
            pair = f"{credentials.username}:{credentials.password or ''}".encode()
            self._tokens[scope] = f"Basic {base64.b64encode(pair).decode()}"
            return
        if kind.lower() != "bearer" or "realm" not in params:
            raise PublishError(f"registry {self.host} asks for unsupported authentication {kind!r}", None)
        self._tokens[scope] = f"Bearer {self._token(params, scope, credentials)}"

    def _token(self, params: Mapping[str, str], scope: str, credentials: Credentials | None) -> str:
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        try:
            if credentials is not None and credentials.identity_token:
                form = {**query, "grant_type": "refresh_token", "refresh_token": credentials.identity_token}
                answer = self.session.post(
                    params["realm"], data=form | {"client_id": "hera-build"}, timeout=self.timeout
                )
            else:
                auth = (
                    (credentials.username, credentials.password or "") if credentials and credentials.username else None
                )
                answer = self.session.get(params["realm"], params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        if answer.status_code in (401, 403):
            raise self._refused(scope.split(":")[1], scope.rsplit(":", 1)[1].split(","))
        try:
            body = answer.json()
            return str(body.get("token") or body["access_token"])
        except (ValueError, KeyError):
            raise PublishError(
                f"registry {self.host}'s token service answered {answer.status_code} without a token", None
            ) from None

    # ------------------------------------------------------------------------------------------- manifests

    def manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """What ``reference`` (a tag or digest) points to in ``repository``; ``None`` if there is no such tag."""
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PublishError(
                f"registry {self.host} answered {response.status_code} for {repository}:{reference}: "
                f"{response.text.strip()[:200]}",
                None,
            )
        digest = (
            response.headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(response.content).hexdigest()}"
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        config_digest = None
        try:
            body: dict[str, Any] = json.loads(response.content)
            media_type = media_type or str(body.get("mediaType", ""))
            config = body.get("config")
            if isinstance(config, dict) and config.get("digest"):
                config_digest = str(config["digest"])
        except ValueError:
            pass
        return ManifestInfo(digest=digest, media_type=media_type, config_digest=config_digest)

    def tag_digest(self, ref: ImageRef) -> str | None:
        """The manifest digest ``ref``'s tag points to, or ``None`` when the tag does not exist."""
        info = self.manifest(repository_path(ref), ref.tag or "latest")
        return info.digest if info else None
