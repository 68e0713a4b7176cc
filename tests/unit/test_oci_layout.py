"""Built images are written as OCI layouts and as archives that both OCI tools and ``docker load`` read."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from hera_build.image.backends.oci.base import BaseImage, load_base
from hera_build.image.backends.oci.image import BuiltImage, ImageLayer, ImageSettings, assemble
from hera_build.image.backends.oci.layers import write_layer
from hera_build.image.backends.oci.layout import write_archive, write_layout
from hera_build.image.backends.oci.model import Platform
from hera_build.image.cache import BuildCache
from tests.support.oci_images import write_base_layout

AMD64 = Platform("linux", "amd64")
NAME = "registry.example/acme/app:1.0.0"


def _offline(registry: str | None) -> object:
    raise AssertionError("no registry may be contacted")


def _base(tmp_path: Path) -> BaseImage:
    write_base_layout(tmp_path / "base")
    return load_base(
        f"oci:{tmp_path / 'base'}", platform=AMD64, client_factory=_offline, cache=BuildCache(tmp_path / "c")
    )  # type: ignore[arg-type]


def _image(tmp_path: Path, text: str = "v = 1\n") -> BuiltImage:
    root = tmp_path / f"root-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    (root / "opt/venv").mkdir(parents=True, exist_ok=True)
    (root / "opt/venv/app.py").write_text(text)
    layer = write_layer(root, tmp_path / "blobs", epoch=100)
    path = layer.path
    settings = ImageSettings(epoch=100, venv="/opt/venv", user="65532:65532", working_dir="/app", labels={"a": "b"})
    extra = ImageLayer(layer.descriptor, layer.diff_id, fetch=lambda: path, role="application", created_by="test")
    return assemble(_base(tmp_path), [extra], settings)


def test_layout_round_trips_through_the_base_reader(tmp_path: Path) -> None:
    image = _image(tmp_path)
    write_layout(image, tmp_path / "out", [NAME])

    again = load_base(
        f"oci:{tmp_path / 'out'}:1.0.0", platform=AMD64, client_factory=_offline, cache=BuildCache(tmp_path / "c2")
    )  # type: ignore[arg-type]
    assert again.manifest_digest == image.digest
    assert [layer.descriptor.digest for layer in again.layers] == [layer.descriptor.digest for layer in image.layers]
    assert again.config["config"]["User"] == "65532:65532"
    index = json.loads((tmp_path / "out/index.json").read_text())
    assert index["manifests"][0]["annotations"] == {
        "io.containerd.image.name": NAME,
        "org.opencontainers.image.ref.name": "1.0.0",
    }
    assert json.loads((tmp_path / "out/oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    blob = tmp_path / "out/blobs/sha256" / image.digest.split(":")[1]
    assert blob.read_bytes() == image.manifest and oct(blob.stat().st_mode & 0o777) == "0o644"


def test_layout_collects_versions_and_replaces_a_rewritten_name(tmp_path: Path) -> None:
    first, second = _image(tmp_path, "v = 1\n"), _image(tmp_path, "v = 2\n")
    write_layout(first, tmp_path / "out", ["acme/app:1"])
    write_layout(second, tmp_path / "out", ["acme/app:2"])
    write_layout(second, tmp_path / "out", ["acme/app:1"])

    index = json.loads((tmp_path / "out/index.json").read_text())
    names = {entry["annotations"]["io.containerd.image.name"]: entry["digest"] for entry in index["manifests"]}
    assert names == {"acme/app:1": second.digest, "acme/app:2": second.digest}


def test_archive_is_an_oci_layout_and_a_docker_load_archive(tmp_path: Path) -> None:
    image = _image(tmp_path)
    write_archive(image, tmp_path / "image.tar", [NAME, "registry.example/acme/app:latest"], epoch=100)

    with tarfile.open(tmp_path / "image.tar") as tar:
        names = tar.getnames()
        docker = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(docker[0]["Config"]).read()  # type: ignore[union-attr]
        mtimes = {member.mtime for member in tar.getmembers()}
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert docker[0]["RepoTags"] == [NAME, "registry.example/acme/app:latest"]
    assert docker[0]["Layers"] == [f"blobs/sha256/{layer.descriptor.digest.split(':')[1]}" for layer in image.layers]
    assert config == image.config
    assert mtimes == {100}
    base = load_base(
        str(tmp_path / "image.tar"), platform=AMD64, client_factory=_offline, cache=BuildCache(tmp_path / "c3")
    )  # type: ignore[arg-type]
    assert base.manifest_digest == image.digest


def test_archive_bytes_are_reproducible(tmp_path: Path) -> None:
    image = _image(tmp_path)
    write_archive(image, tmp_path / "a.tar", [NAME], epoch=100)
    write_archive(image, tmp_path / "b.tar", [NAME], epoch=100)

    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_unwritable_output_is_an_output_error(tmp_path: Path) -> None:
    from hera_build.errors import OutputError

    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write the OCI layout"):
        write_layout(_image(tmp_path), tmp_path / "file" / "out", [NAME])
