"""Reaching a registry: which host and scheme, whose credentials, and which token for which scopes.

Authentication follows Docker's rules: anonymous first, then the challenge the registry answers with (Bearer
token or Basic), using the credentials of the Docker config file and its credential helpers (read with
docker-py's own code). A bearer token covers the scopes it was asked for and nothing else, so every request
names all the scopes it needs — a cross-repository mount needs ``pull`` on the source repository as well as
``push,pull`` on the target, or a registry that enforces scopes quietly turns the mount into a full upload.
Plain HTTP is used only for loopback registries and those listed in ``HERA_BUILD_INSECURE_REGISTRIES``, as
Docker does.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import requests

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError

DOCKER_HUB = "registry-1.docker.io"
_INDEX_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    """An OAuth2 refresh token (what ``docker login`` stores for some registries)."""

    def __repr__(self) -> str:  # never print secrets, not even in debug output
        return f"Credentials(username={self.username!r}, password=***)"


def registry_host(ref: ImageRef) -> str:
    """The host to talk to: Docker Hub's API host for short names."""
    host = ref.registry
    return DOCKER_HUB if host is None or host in _INDEX_NAMES else host


def host_of(registry: str | None) -> str:
    """The API host of a reference's registry part (Docker Hub's for short names)."""
    return registry_host(ImageRef(f"{registry}/x" if registry else "x"))


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


def repository_scope(repository: str, actions: Sequence[str]) -> str:
    """A token scope in the distribution spec's grammar: ``repository:acme/app:pull,push``."""
    return f"repository:{repository}:{','.join(actions)}"


class TransportOptions(TypedDict, total=False):
    """How to reach a registry, as :class:`Transport` takes it (and everything that makes one passes on)."""

    credentials: Credentials | None
    """``None``: the Docker config's, when ``use_docker_config``."""
    use_docker_config: bool
    session: requests.Session | None
    timeout: float
    scheme: str | None
    """``http`` or ``https``; ``None``: plain HTTP only for loopback and ``HERA_BUILD_INSECURE_REGISTRIES``."""


class Transport:
    """HTTP to one registry; authenticates on demand and remembers one token per set of scopes."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        use_docker_config: bool = True,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        scheme: str | None = None,
    ) -> None:
        self.host = host
        self.scheme = scheme or ("http" if _is_insecure(host) else "https")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._credentials = credentials
        self._use_docker_config = use_docker_config and credentials is None
        self._tokens: dict[tuple[str, ...], str] = {}

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def credentials(self) -> Credentials | None:
        if self._credentials is None and self._use_docker_config:
            self._credentials = docker_config_credentials(self.host)
            self._use_docker_config = False
        return self._credentials

    def request(
        self,
        method: str,
        path: str,
        *,
        repository: str,
        actions: Sequence[str] = ("pull",),
        also: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """``method`` ``/v2/…`` authorised for ``actions`` on ``repository`` plus the scopes in ``also``.

        Raises :class:`PublishError` when the registry cannot be reached or refuses the credentials; any other
        status is returned for the caller to judge.
        """
        scopes = (repository_scope(repository, actions), *also)
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        response = self._send(method, url, scopes, headers, **kwargs)
        if response.status_code == 401:
            self._authenticate(response, scopes, repository, actions)
            response = self._send(method, url, scopes, headers, **kwargs)
            if response.status_code == 401:
                raise self._refused(repository, actions)
        if response.status_code == 403:
            raise self._refused(repository, actions)
        return response

    def _send(
        self, method: str, url: str, scopes: tuple[str, ...], headers: Mapping[str, str] | None, **kwargs: Any
    ) -> requests.Response:
        merged = dict(headers or {})
        token = self._tokens.get(scopes)
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

    def _authenticate(
        self, response: requests.Response, scopes: tuple[str, ...], repository: str, actions: Sequence[str]
    ) -> None:
        challenge = response.headers.get("WWW-Authenticate", "")
        kind, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        credentials = self.credentials()
        if kind.lower() == "basic":
            if credentials is None or credentials.username is None:
                raise self._refused(repository, actions)
            pair = f"{credentials.username}:{credentials.password or ''}".encode()
            self._tokens[scopes] = f"Basic {base64.b64encode(pair).decode()}"
            return
        if kind.lower() != "bearer" or "realm" not in params:
            raise PublishError(f"registry {self.host} asks for unsupported authentication {kind!r}", None)
        # Ask for what this request needs; the challenge may name only the target repository, so it is an
        # addition (for scopes this client does not know about), never a replacement.
        wanted = [*scopes, *(s for s in params.get("scope", "").split() if s not in scopes)]
        self._tokens[scopes] = f"Bearer {self._token(params, wanted, credentials, repository, actions)}"

    def _token(
        self,
        params: Mapping[str, str],
        scopes: Sequence[str],
        credentials: Credentials | None,
        repository: str,
        actions: Sequence[str],
    ) -> str:
        # One ``scope`` parameter per scope, as the distribution token spec and Docker's client send them.
        query: dict[str, str | list[str]] = {
            "service": params.get("service", ""),
            "scope": scopes[0] if len(scopes) == 1 else list(scopes),
        }
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
            raise self._refused(repository, actions)
        try:
            body = answer.json()
            return str(body.get("token") or body["access_token"])
        except (ValueError, KeyError):
            raise PublishError(
                f"registry {self.host}'s token service answered {answer.status_code} without a token", None
            ) from None
