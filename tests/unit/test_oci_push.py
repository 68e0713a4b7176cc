"""Pushing sends only what the registry lacks: HEAD first, then a mount, then an upload (chunked when large)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hera_build.core.references import parse_image_ref
from hera_build.errors import PublishError
from hera_build.image.backends.oci.base import load_base
from hera_build.image.backends.oci.image import BuiltImage, ImageLayer, ImageSettings, assemble
from hera_build.image.backends.oci.layers import write_layer
from hera_build.image.backends.oci.model import Platform
from hera_build.image.cache import BuildCache
from hera_build.image.registry import open_registry
from hera_build.publish.oci import push_image
from tests.support.oci_images import FakeRegistry, fake_registry, write_base_layout

AMD64 = Platform("linux", "amd64")


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    yield from fake_registry()


@pytest.fixture
def token_registry() -> Iterator[FakeRegistry]:
    yield from fake_registry(token_auth=True)


def _publish_base(tmp_path: Path, registry: FakeRegistry) -> str:
    """Put the fake base image into the registry as ``base/python:1`` (as ``docker push`` would)."""
    info = write_base_layout(tmp_path / "layout")
    blobs = tmp_path / "layout/blobs/sha256"
    manifest = info["manifests"]["amd64"]
    for blob in blobs.iterdir():
        if "sha256:" + blob.name != manifest:
            registry.add_blob("base/python", blob.read_bytes())
    data = (blobs / manifest.split(":")[1]).read_bytes()
    registry.add_manifest("base/python", "1", data, "application/vnd.oci.image.manifest.v1+json")
    return f"{registry.host}/base/python:1"


def _image(tmp_path: Path, registry: FakeRegistry, app_text: str, cache: BuildCache) -> BuiltImage:
    base = load_base(_publish_base(tmp_path, registry), platform=AMD64, client_factory=open_registry, cache=cache)
    layers = []
    for role, text in (("dependencies", "big dependency payload\n" * 2000), ("application", app_text)):
        root = tmp_path / f"{role}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        (root / "opt/venv").mkdir(parents=True, exist_ok=True)
        (root / "opt/venv" / f"{role}.py").write_text(text)
        layer = write_layer(root, cache.blobs)
        path = layer.path
        layers.append(ImageLayer(layer.descriptor, layer.diff_id, fetch=lambda p=path: p, role=role))  # type: ignore[misc]
    settings = ImageSettings(epoch=0, venv="/opt/venv", user="65532", working_dir="/app", labels={})
    return assemble(base, layers, settings)


def _actions(result: object) -> dict[str, str]:
    return {blob.role: blob.action for blob in result.blobs}  # type: ignore[attr-defined]


def test_first_push_mounts_the_base_and_uploads_the_rest(tmp_path: Path, registry: FakeRegistry) -> None:
    cache = BuildCache(tmp_path / "cache")
    image = _image(tmp_path, registry, "print(1)\n", cache)
    target = parse_image_ref(f"{registry.host}/acme/app:1.0")
    registry.clear_log()

    result = push_image(image, target, ["1.0", "latest"], open_registry(target.registry), cache)

    assert _actions(result) == {
        "base": "mounted",
        "dependencies": "uploaded",
        "application": "uploaded",
        "config": "uploaded",
    }
    assert not [r for r in registry.requests("GET", "blobs")], "the base layer is never downloaded to be pushed"
    assert registry.manifests[("acme/app", "1.0")][0] == image.manifest, "the manifest bytes are ours, unchanged"
    assert registry.manifests[("acme/app", "latest")][0] == image.manifest
    assert result.digest == image.digest == "sha256:" + hashlib.sha256(image.manifest).hexdigest()
    assert result.manifests_put == 2


def test_code_change_uploads_only_the_application_layer_and_config(tmp_path: Path, registry: FakeRegistry) -> None:
    cache = BuildCache(tmp_path / "cache")
    target = parse_image_ref(f"{registry.host}/acme/app:1.0")
    client = open_registry(target.registry)
    push_image(_image(tmp_path, registry, "print(1)\n", cache), target, ["1.0"], client, cache)
    registry.clear_log()

    changed = _image(tmp_path, registry, "print(2)\n", cache)
    result = push_image(changed, target, ["1.0"], client, cache)

    assert _actions(result) == {
        "base": "exists",
        "dependencies": "exists",
        "application": "uploaded",
        "config": "uploaded",
    }
    uploads = registry.requests("PUT", "uploads")
    assert len(uploads) == 2
    assert {q["digest"][0] for _, _, q in uploads} == {
        changed.layers[-1].descriptor.digest,
        changed.config_descriptor.digest,
    }
    assert len(registry.requests("PUT", "manifests")) == 1


def test_a_runner_with_an_empty_cache_asks_before_sending_any_dependency_layer(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    """Only the small blobs a code change makes new (application layer, config) go up without a HEAD; a dependency
    layer, however small (the dependency layer here compresses to a few hundred bytes), is asked about first."""
    target = parse_image_ref(f"{registry.host}/acme/app:1.0")
    first_cache = BuildCache(tmp_path / "runner-1")
    push_image(_image(tmp_path, registry, "print(1)\n", first_cache), target, ["1.0"], open_registry(target.registry),
               first_cache)  # fmt: skip
    registry.clear_log()

    empty = BuildCache(tmp_path / "runner-2")
    changed = _image(tmp_path, registry, "print(2)\n", empty)
    result = push_image(changed, target, ["1.0"], open_registry(target.registry), empty)

    assert _actions(result) == {
        "base": "exists",
        "dependencies": "exists",
        "application": "uploaded",
        "config": "uploaded",
    }
    asked = {path.rsplit("/", 1)[1] for method, path, _ in registry.log if method == "HEAD"}
    assert changed.layers[-1].descriptor.digest not in asked and changed.config_descriptor.digest not in asked


def test_another_repository_mounts_layers_this_cache_pushed_before(tmp_path: Path, registry: FakeRegistry) -> None:
    cache = BuildCache(tmp_path / "cache")
    image = _image(tmp_path, registry, "print(1)\n", cache)
    first = parse_image_ref(f"{registry.host}/acme/one:1")
    push_image(image, first, ["1"], open_registry(first.registry), cache)
    registry.clear_log()

    second = parse_image_ref(f"{registry.host}/acme/two:1")
    result = push_image(image, second, ["1"], open_registry(second.registry), cache)

    assert _actions(result) == {
        "base": "mounted",
        "dependencies": "mounted",
        "application": "mounted",
        "config": "mounted",
    }
    assert not registry.requests("PUT", "uploads")


def test_large_blobs_go_up_in_chunks(tmp_path: Path, registry: FakeRegistry) -> None:
    cache = BuildCache(tmp_path / "cache")
    image = _image(tmp_path, registry, "print(1)\n", cache)
    target = parse_image_ref(f"{registry.host}/acme/app:1.0")
    dependency = image.layers[1].descriptor

    result = push_image(
        image, target, ["1.0"], open_registry(target.registry), cache, chunk_threshold=100, chunk_size=64
    )

    pushed = {blob.role: blob for blob in result.blobs}
    assert pushed["dependencies"].chunks == -(-dependency.size // 64)
    assert len(registry.requests("PATCH")) == sum(blob.chunks for blob in result.uploaded if blob.size > 100)
    assert registry.blobs[dependency.digest] == image.layers[1].fetch().read_bytes()


def test_token_auth_covers_the_mount_source(tmp_path: Path, token_registry: FakeRegistry) -> None:
    cache = BuildCache(tmp_path / "cache")
    image = _image(tmp_path, token_registry, "print(1)\n", cache)
    target = parse_image_ref(f"{token_registry.host}/acme/app:1.0")

    result = push_image(image, target, ["1.0"], open_registry(target.registry, use_docker_config=False), cache)

    assert _actions(result) == {
        "base": "mounted",  # the fake, like a real token registry, uploads what the token may not read
        "dependencies": "uploaded",
        "application": "uploaded",
        "config": "uploaded",
    }
    assert ["repository:acme/app:pull,push", "repository:base/python:pull"] in token_registry.token_scopes


def test_unreachable_registry_is_a_publish_error(tmp_path: Path) -> None:
    client = open_registry("127.0.0.1:9")
    with pytest.raises(PublishError, match="unreachable"):
        client.blob_exists("acme/app", "sha256:" + "0" * 64)


def test_manifest_that_does_not_match_its_digest_is_refused(registry: FakeRegistry) -> None:
    claimed = "sha256:" + "0" * 64
    registry.manifests[("acme/app", claimed)] = (json.dumps({"schemaVersion": 2}).encode(), "application/json")

    with pytest.raises(PublishError, match="does not match"):
        open_registry(registry.host).get_manifest("acme/app", claimed)
