"""Base images are read without an engine: from a registry, an OCI layout, or a docker save archive."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hera_build.errors import BuildError, ConfigError
from hera_build.image.backends.oci.base import is_local_base, load_base, parse_base_spec
from hera_build.image.backends.oci.model import Platform
from hera_build.image.cache import BuildCache
from hera_build.image.registry import RegistryClient, open_registry
from tests.support.oci_images import FakeRegistry, fake_registry, write_base_layout, write_docker_save

AMD64 = Platform("linux", "amd64")


def _offline(registry: str | None) -> RegistryClient:
    raise AssertionError(f"no registry may be contacted (asked for {registry})")


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    yield from fake_registry()


def test_spec_kinds(tmp_path: Path) -> None:
    (tmp_path / "layout").mkdir()
    (tmp_path / "image.tar").write_bytes(b"")

    assert parse_base_spec("python:3.11-slim").kind == "registry"
    assert parse_base_spec("127.0.0.1:5000/base:1@sha256:" + "a" * 64).ref.digest == "sha256:" + "a" * 64  # type: ignore[union-attr]
    layout = parse_base_spec(f"oci:{tmp_path / 'layout'}:v2")
    assert (layout.kind, layout.path, layout.name) == ("layout", tmp_path / "layout", "v2")
    archive = parse_base_spec(f"docker-archive:{tmp_path / 'image.tar'}:base:test")
    assert (archive.kind, archive.path, archive.name) == ("archive", tmp_path / "image.tar", "base:test")
    assert parse_base_spec(str(tmp_path / "layout")).kind == "layout"
    assert parse_base_spec(str(tmp_path / "image.tar")).kind == "archive"
    with pytest.raises(ConfigError, match="does not exist"):
        parse_base_spec(f"oci:{tmp_path / 'missing'}")
    assert is_local_base(f"oci:{tmp_path / 'layout'}") and is_local_base(str(tmp_path / "image.tar"))
    assert not is_local_base("python:3.11-slim") and not is_local_base("127.0.0.1:5000/base:1")


def test_layout_with_two_platforms_gives_the_requested_one(tmp_path: Path) -> None:
    info = write_base_layout(tmp_path / "base", platforms=("arm64", "amd64"))
    cache = BuildCache(tmp_path / "cache")

    base = load_base(f"oci:{tmp_path / 'base'}", platform=AMD64, client_factory=_offline, cache=cache)

    assert base.manifest_digest == info["manifests"]["amd64"]
    assert [layer.descriptor.digest for layer in base.layers] == info["layers"]["amd64"]
    assert [layer.diff_id for layer in base.layers] == info["diff_ids"]["amd64"]
    assert base.layers[0].descriptor.media_type == "application/vnd.oci.image.layer.v1.tar+gzip", "docker type mapped"
    assert base.platform == AMD64
    assert "LANG=C.UTF-8" in base.env
    with pytest.raises(BuildError, match="no image for linux/s390x"):
        load_base(f"oci:{tmp_path / 'base'}", platform=Platform("linux", "s390x"), client_factory=_offline, cache=cache)


def test_layout_image_is_picked_by_ref_name(tmp_path: Path) -> None:
    write_base_layout(tmp_path / "base", name="base:v1")
    cache = BuildCache(tmp_path / "cache")

    assert load_base(f"oci:{tmp_path / 'base'}:v1", platform=AMD64, client_factory=_offline, cache=cache).layers
    with pytest.raises(BuildError, match="no image named 'v9'"):
        load_base(f"oci:{tmp_path / 'base'}:v9", platform=AMD64, client_factory=_offline, cache=cache)


def test_docker_save_archive_layers_are_compressed_once_and_remembered(tmp_path: Path) -> None:
    info = write_docker_save(tmp_path / "base.tar")
    cache = BuildCache(tmp_path / "cache")

    base = load_base(f"docker-archive:{tmp_path / 'base.tar'}", platform=AMD64, client_factory=_offline, cache=cache)

    layer = base.layers[0]
    assert layer.diff_id == info["diff_ids"][0]
    blob = base.blobs.path(layer.descriptor).read_bytes()
    assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == layer.diff_id
    assert blob[4:8] == b"\x00\x00\x00\x00", "compressed deterministically (gzip mtime 0)"
    assert base.config_descriptor.digest == info["config_digest"]
    again = load_base(str(tmp_path / "base.tar"), platform=AMD64, client_factory=_offline, cache=cache)
    assert again.layers == base.layers and again.manifest_digest == base.manifest_digest


def test_tar_of_an_oci_layout_is_read_like_a_layout(tmp_path: Path) -> None:
    info = write_base_layout(tmp_path / "layout")
    with tarfile.open(tmp_path / "layout.tar", "w") as tar:
        for path in sorted((tmp_path / "layout").rglob("*")):
            tar.add(path, arcname=path.relative_to(tmp_path / "layout").as_posix(), recursive=False)
    cache = BuildCache(tmp_path / "cache")

    base = load_base(f"oci-archive:{tmp_path / 'layout.tar'}", platform=AMD64, client_factory=_offline, cache=cache)

    assert base.manifest_digest == info["manifests"]["amd64"]
    assert base.blobs.path(base.layers[0].descriptor).is_file()


def test_registry_index_is_resolved_to_the_platform_manifest(tmp_path: Path, registry: FakeRegistry) -> None:
    info = write_base_layout(tmp_path / "layout", platforms=("arm64", "amd64"))
    blobs = tmp_path / "layout/blobs/sha256"
    for blob in blobs.iterdir():
        registry.add_blob("library/base", blob.read_bytes())
    index = json.loads((tmp_path / "layout/index.json").read_text())
    index["mediaType"] = "application/vnd.oci.image.index.v1+json"
    for arch in ("arm64", "amd64"):
        digest = info["manifests"][arch]
        data = (blobs / digest.split(":")[1]).read_bytes()
        registry.add_manifest("library/base", digest, data, "application/vnd.oci.image.manifest.v1+json")
    registry.add_manifest("library/base", "1.0", json.dumps(index).encode(), "application/vnd.oci.image.index.v1+json")
    cache = BuildCache(tmp_path / "cache")

    base = load_base(f"{registry.host}/library/base:1.0", platform=AMD64, client_factory=open_registry, cache=cache)

    assert base.manifest_digest == info["manifests"]["amd64"]
    assert base.blobs.remote is not None and base.blobs.remote.repository == "library/base"
    assert not registry.requests("GET", "blobs")[1:], "only the config blob is fetched; layers stay remote"
    layer_path = base.blobs.path(base.layers[0].descriptor)
    assert hashlib.sha256(layer_path.read_bytes()).hexdigest() == base.layers[0].descriptor.digest.split(":")[1]


def test_missing_registry_image_is_a_clear_error(tmp_path: Path, registry: FakeRegistry) -> None:
    with pytest.raises(BuildError, match="cannot read base image .*does not exist"):
        load_base(
            f"{registry.host}/nothing:1", platform=AMD64, client_factory=open_registry, cache=BuildCache(tmp_path)
        )
