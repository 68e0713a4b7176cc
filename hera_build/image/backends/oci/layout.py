"""Write a built image as an OCI image layout directory, or as one tar that is both an OCI layout and a
``docker load`` archive (the combined format ``docker save`` writes since Docker 25).

The tar carries ``oci-layout``, ``index.json`` and ``blobs/sha256/…`` plus Docker's ``manifest.json`` naming
the same blobs, so ``docker load`` (which decompresses gzip layers and checks them against the config's
``diff_ids``) and OCI tools (``skopeo copy oci-archive:…``, ``crane``) read the same file. Entries are sorted
and stamped with the image's epoch: the same image gives the same archive bytes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from hera_build.core.digests import canonical_json, digest_hex
from hera_build.errors import OutputError
from hera_build.image.backends.oci.image import BuiltImage, BuiltIndex
from hera_build.image.backends.oci.model import OCI_INDEX, Descriptor

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
_LAYOUT = {"imageLayoutVersion": "1.0.0"}
_FILE_MODE = 0o644


def is_archive_path(path: Path) -> bool:
    """``--output`` names a tar archive when it ends in ``.tar``; anything else is a layout directory."""
    return path.suffix == ".tar"


def _index_entries(image: BuiltImage, names: Sequence[str]) -> list[dict[str, Any]]:
    return _index_entries_of(image.manifest_descriptor, names)


def _docker_manifest(image: BuiltImage, names: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "Config": f"blobs/sha256/{digest_hex(image.config_descriptor.digest)}",
            "RepoTags": list(names),
            "Layers": [f"blobs/sha256/{digest_hex(layer.descriptor.digest)}" for layer in image.layers],
        }
    ]


def _index_entries_of(descriptor: Descriptor, names: Sequence[str]) -> list[dict[str, Any]]:
    """One ``index.json`` entry per name (``repository:tag``), annotated the way containerd and skopeo look up
    images (one unnamed entry when there are no names)."""
    entries = []
    for name in names or ("",):
        entry = descriptor.to_dict()
        if name:
            entry["annotations"] = {IMAGE_NAME_ANNOTATION: name, REF_NAME_ANNOTATION: name.rpartition(":")[2]}
        entries.append(entry)
    return entries


def write_layout(image: BuiltImage | BuiltIndex, directory: Path, names: Sequence[str]) -> Path:
    """Add the image — or a multi-platform index with every platform's image — to an OCI layout at
    ``directory`` (created if needed). Entries with the same names are replaced; other images in the layout stay,
    so one layout can collect several versions."""
    images = [member for _, member in image.images] if isinstance(image, BuiltIndex) else [image]
    top = image.descriptor if isinstance(image, BuiltIndex) else image.manifest_descriptor
    blobs = directory / "blobs" / "sha256"
    try:
        blobs.mkdir(parents=True, exist_ok=True)
        for member in images:
            for layer in member.layers:
                target = blobs / digest_hex(layer.descriptor.digest)
                if not (target.is_file() and target.stat().st_size == layer.descriptor.size):
                    _copy_atomic(layer.fetch(), target)
            for data, descriptor in (
                (member.config, member.config_descriptor),
                (member.manifest, member.manifest_descriptor),
            ):
                _write_atomic(blobs / digest_hex(descriptor.digest), data)
        if isinstance(image, BuiltIndex):
            _write_atomic(blobs / digest_hex(image.digest), image.index)
        _write_atomic(directory / "oci-layout", json.dumps(_LAYOUT).encode())
        index_path = directory / "index.json"
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        if index_path.is_file():
            index = json.loads(index_path.read_text(encoding="utf-8"))
        wanted = set(names)
        kept = [
            entry
            for entry in index.get("manifests", [])
            if (entry.get("annotations") or {}).get(IMAGE_NAME_ANNOTATION) not in wanted
            and not (not wanted and entry.get("digest") == top.digest)
        ]
        index["manifests"] = kept + _index_entries_of(top, names)
        _write_atomic(index_path, json.dumps(index, indent=1).encode() + b"\n")
    except OSError as exc:
        raise OutputError(
            f"cannot write the OCI layout {directory}: {exc.strerror}", "check the path and free space"
        ) from None
    return directory


def _tar_add(
    tar: tarfile.TarFile, name: str, epoch: int, data: bytes | None = None, source: Path | None = None
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is None and source is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.mode = 0o644
    if source is not None:
        info.size = source.stat().st_size
        with source.open("rb") as stream:
            tar.addfile(info, stream)
    else:
        assert data is not None
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def write_archive(
    image: BuiltImage, path: Path, names: Sequence[str], epoch: int, *, omit: Collection[str] = ()
) -> Path:
    """Write ``path`` (a ``.tar``): an OCI layout that ``docker load`` also accepts, tagged with ``names``.

    Layers in ``omit`` are listed but not included: only for loading into an engine that already has them
    (``docker load`` reads a layer's file only when its layer store lacks that layer).
    """
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": _index_entries(image, names)}
    blobs: dict[str, tuple[bytes | None, Path | None]] = {}
    for layer in image.layers:
        if layer.descriptor.digest not in omit:
            blobs[digest_hex(layer.descriptor.digest)] = (None, layer.fetch())
    blobs[digest_hex(image.config_descriptor.digest)] = (image.config, None)
    blobs[digest_hex(image.manifest_descriptor.digest)] = (image.manifest, None)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write the image archive {path}: {exc.strerror}", "check the path and its permissions"
        ) from None
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _tar_add(tar, "blobs/", epoch)
            _tar_add(tar, "blobs/sha256/", epoch)
            for hex_digest in sorted(blobs):
                data, source = blobs[hex_digest]
                _tar_add(tar, f"blobs/sha256/{hex_digest}", epoch, data=data, source=source)
            _tar_add(tar, "index.json", epoch, data=canonical_json(index))
            _tar_add(tar, "manifest.json", epoch, data=canonical_json(_docker_manifest(image, names)))
            _tar_add(tar, "oci-layout", epoch, data=canonical_json(_LAYOUT))
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise OutputError(
            f"cannot write the image archive {path}: {exc.strerror}", "check the path and free space"
        ) from None
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp_name, _FILE_MODE)
    os.replace(tmp_name, path)


def _copy_atomic(source: Path, target: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, tmp_name)
    os.chmod(tmp_name, _FILE_MODE)
    os.replace(tmp_name, target)
