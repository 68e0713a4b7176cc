"""The registry client: tag → digest lookups with the right Accept headers and Docker's auth flow, and one clear
error for an unreachable registry or refused credentials. The HTTP side is a fake session; the integration tests
talk to a real registry on 127.0.0.1:5000."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from hera_build.core.references import parse_image_ref
from hera_build.errors import PublishError
from hera_build.image.registry import (
    Credentials,
    RegistryApi,
    RegistryClient,
    RemoteImage,
    open_registry,
    registry_host,
    repository_path,
)
from hera_build.image.registry.client import MANIFEST_MEDIA_TYPES
from tests.support.oci_images import FakeRegistry, fake_registry

DIGEST = "sha256:" + "1" * 64
CONFIG = "sha256:" + "2" * 64


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update(headers or {})
    return r


class FakeSession:
    def __init__(self, handler: Callable[[str, str, dict[str, Any]], requests.Response]) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append((method, url, kwargs))
        return self.handler(method, url, kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPES[3], "config": {"digest": CONFIG}}).encode()


def client(
    handler: Callable[[str, str, dict[str, Any]], requests.Response], host: str = "127.0.0.1:5000", **kw: Any
) -> tuple[RegistryClient, FakeSession]:
    session = FakeSession(handler)
    return RegistryClient(host, session=session, use_docker_config=False, **kw), session  # type: ignore[arg-type]


def test_tag_lookup_asks_for_every_manifest_type_and_reads_the_digest_header() -> None:
    c, session = client(
        lambda m, u, k: response(
            200, MANIFEST, {"Docker-Content-Digest": DIGEST, "Content-Type": MANIFEST_MEDIA_TYPES[3]}
        )
    )
    info = c.manifest("acme/app", "1.0")
    assert info is not None and (info.digest, info.config_digest) == (DIGEST, CONFIG)
    method, url, kwargs = session.calls[0]
    assert (method, url) == ("GET", "http://127.0.0.1:5000/v2/acme/app/manifests/1.0")
    assert set(kwargs["headers"]["Accept"].split(", ")) == set(MANIFEST_MEDIA_TYPES)


def test_a_missing_tag_is_none() -> None:
    c, _ = client(lambda m, u, k: response(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'))
    assert c.tag_digest(parse_image_ref("127.0.0.1:5000/acme/app:1.0")) is None


def test_without_a_digest_header_the_digest_is_computed_from_the_body() -> None:
    import hashlib

    c, _ = client(lambda m, u, k: response(200, MANIFEST))
    info = c.manifest("acme/app", "1.0")
    assert info is not None and info.digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def test_bearer_challenge_gets_a_token_with_credentials_and_retries() -> None:
    def handler(method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        if url.startswith("https://auth.example.test/token"):
            assert kwargs["auth"] == ("me", "secret")
            assert kwargs["params"]["scope"] == "repository:acme/app:pull"
            return response(200, b'{"token": "T"}')
        if kwargs["headers"].get("Authorization") == "Bearer T":
            return response(200, MANIFEST, {"Docker-Content-Digest": DIGEST})
        challenge = 'Bearer realm="https://auth.example.test/token",service="registry.example.test"'
        return response(401, b"", {"WWW-Authenticate": challenge})

    c, session = client(handler, host="registry.example.test", credentials=Credentials("me", "secret"))
    assert c.scheme == "https", "only loopback registries are spoken to over plain HTTP"
    assert c.tag_digest(parse_image_ref("registry.example.test/acme/app:1.0")) == DIGEST
    assert len(session.calls) == 3


def test_refused_credentials_are_one_clear_error_with_the_fix() -> None:
    def handler(method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        if "token" in url:
            return response(401)
        return response(401, b"", {"WWW-Authenticate": 'Bearer realm="https://auth.example.test/token",service="r"'})

    c, _ = client(handler, host="registry.example.test", credentials=Credentials("me", "wrong"))
    with pytest.raises(
        PublishError,
        match=r"registry registry.example.test refused the credentials from the Docker config to pull acme/app",
    ) as info:
        c.manifest("acme/app", "1.0")
    assert "docker login registry.example.test" in (info.value.fix or "")


def test_basic_auth_challenge_without_credentials_is_refused_anonymously() -> None:
    c, _ = client(lambda m, u, k: response(401, b"", {"WWW-Authenticate": 'Basic realm="r"'}))
    with pytest.raises(PublishError, match="refused anonymous access to pull acme/app"):
        c.manifest("acme/app", "1.0")


def test_an_unreachable_registry_is_one_clear_error() -> None:
    def handler(method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        raise requests.ConnectionError("refused")

    c, _ = client(handler, host="127.0.0.1:5999")
    with pytest.raises(
        PublishError, match=r"registry 127.0.0.1:5999 is unreachable \(connection refused or host unknown, http\)"
    ):
        c.manifest("acme/app", "1.0")


def test_docker_hub_short_names_map_to_its_api_host_and_library() -> None:
    ref = parse_image_ref("python:3.11-slim")
    assert (registry_host(ref), repository_path(ref)) == ("registry-1.docker.io", "library/python")
    ref = parse_image_ref("localhost:5000/acme/app:1")
    assert (registry_host(ref), repository_path(ref)) == ("localhost:5000", "acme/app")


def test_credentials_never_show_the_password() -> None:
    assert "secret" not in repr(Credentials("me", "secret"))


# ------------------------------------------------------------------------------------------------ over HTTP


@pytest.fixture
def token_registry() -> Iterator[FakeRegistry]:
    yield from fake_registry(token_auth=True)


def _config(labels: dict[str, str]) -> bytes:
    return json.dumps({"config": {"Labels": labels}}).encode()


def test_lookup_reads_digest_id_and_labels_through_an_index_one_get_per_manifest(
    token_registry: FakeRegistry,
) -> None:
    registry = token_registry
    amd_config = registry.add_blob("acme/x", _config({"hera-build.dev/input-digest": "sha256:inputs"}))
    arm_config = registry.add_blob("acme/x", _config({}))
    children = {}
    for arch, config in (("amd64", amd_config), ("arm64", arm_config)):
        body = json.dumps({"schemaVersion": 2, "config": {"digest": config}, "layers": []}).encode()
        children[arch] = registry.add_manifest("acme/x", f"sha256-{arch}", body, MANIFEST_MEDIA_TYPES[2])
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [
            {"digest": children[arch], "platform": {"os": "linux", "architecture": arch}} for arch in ("arm64", "amd64")
        ],
    }).encode()  # fmt: skip
    index_digest = registry.add_manifest("acme/x", "1.0", index, MANIFEST_MEDIA_TYPES[0])
    api = RegistryApi(platform=("linux", "amd64"), client_factory=lambda ref: RegistryClient(
        registry_host(ref), use_docker_config=False))  # fmt: skip

    assert api.lookup(parse_image_ref(f"{registry.host}/acme/x:2.0")) is None  # also fetches the pull token
    registry.clear_log()

    found = api.lookup(parse_image_ref(f"{registry.host}/acme/x:1.0"))

    assert found == RemoteImage(
        index_digest, amd_config, {"hera-build.dev/input-digest": "sha256:inputs"}, ("linux/arm64", "linux/amd64")
    ), "an index's platforms in its order"
    assert [(method, path) for method, path, _ in registry.log] == [
        ("GET", "/v2/acme/x/manifests/1.0"),
        ("GET", f"/v2/acme/x/manifests/{children['amd64']}"),
        ("GET", f"/v2/acme/x/blobs/{amd_config}"),
    ], "one GET per manifest, the token reused"


def test_a_tag_digest_is_one_request(token_registry: FakeRegistry) -> None:
    body = json.dumps({"schemaVersion": 2, "config": {"digest": CONFIG}, "layers": []}).encode()
    digest = token_registry.add_manifest("acme/app", "1.0", body, MANIFEST_MEDIA_TYPES[2])
    client = open_registry(token_registry.host, use_docker_config=False)
    client.manifest_digest("acme/app", "0.9")  # fetches the pull token
    token_registry.clear_log()

    assert client.manifest_digest("acme/app", "1.0") == digest
    assert [(method, path) for method, path, _ in token_registry.log] == [("GET", "/v2/acme/app/manifests/1.0")]


def test_callers_in_one_process_share_one_client_per_registry_host() -> None:
    """The base image's reader, the publish policy and the push talk to a registry through one client: one
    keep-alive connection (one TLS handshake) and one set of tokens, not one each."""
    from hera_build.image.registry import RegistryApi, open_registry

    assert open_registry("registry.example:5000") is open_registry("registry.example:5000")
    assert open_registry("registry.example:5000") is not open_registry("other.example")
    assert open_registry("registry.example:5000", use_docker_config=False) is not open_registry("registry.example:5000")
    api = RegistryApi()
    assert api._client_factory(parse_image_ref("registry.example:5000/a/b:1")) is open_registry("registry.example:5000")
