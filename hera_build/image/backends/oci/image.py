"""Assemble the image: base layers + dependency layer + application layer, a config, and a manifest; and for a
multi-platform build, the OCI image index over one such image per platform.

Pure data in, bytes out: given the same base, layers and settings, :func:`assemble` returns byte-identical
config and manifest documents (canonical JSON, timestamps from the epoch), hence the same image digest; given
the same images, :func:`assemble_index` the same index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hera_build.core.digests import canonical_json
from hera_build.image.backends.oci.base import BaseImage, RemoteRepository
from hera_build.image.backends.oci.model import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Descriptor, Platform
from hera_build.image.backends.oci.probe import DEFAULT_PATH
from hera_build.image.labels import rfc3339

_KEPT_CONFIG_KEYS = ("ExposedPorts", "Volumes", "StopSignal", "Labels", "Env")


@dataclass(frozen=True)
class ImageLayer:
    """A layer of the final image and where its bytes are."""

    descriptor: Descriptor
    diff_id: str
    fetch: Callable[[], Path] = field(compare=False)
    """A local file with the blob (downloads a remote base layer into the cache on first call)."""
    remote: RemoteRepository | None = None
    """A repository that already holds the blob (the base image's): pushes mount from there."""
    role: str = "base"
    """``base``, ``dependencies`` or ``application``: for reports and push statistics."""
    created_by: str = ""


@dataclass(frozen=True)
class ImageSettings:
    """Everything of the config that is not a layer."""

    epoch: int
    venv: str
    user: str
    working_dir: str
    labels: Mapping[str, str]
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the base's environment (after ``PATH``, which always starts with the venv's ``bin``)."""
    cmd: tuple[str, ...] = ("python",)


@dataclass(frozen=True)
class BuiltImage:
    config: bytes
    config_descriptor: Descriptor
    manifest: bytes
    manifest_descriptor: Descriptor
    layers: tuple[ImageLayer, ...]

    @property
    def digest(self) -> str:
        return self.manifest_descriptor.digest

    @property
    def image_id(self) -> str:
        """What a Docker engine calls the image once loaded: the digest of its config."""
        return self.config_descriptor.digest


def image_env(base_env: Sequence[str], venv: str, extra: Mapping[str, str]) -> list[str]:
    """The base's ``Env`` with the venv's ``bin`` first on ``PATH``, ``VIRTUAL_ENV`` and ``extra`` set."""
    values: dict[str, str] = {}
    for item in base_env:
        name, sep, value = item.partition("=")
        if sep:
            values[name] = value
    base_path = values.get("PATH", DEFAULT_PATH)
    bin_dir = f"{venv}/bin"
    values["PATH"] = bin_dir + ":" + ":".join(part for part in base_path.split(":") if part and part != bin_dir)
    values["VIRTUAL_ENV"] = venv
    values.update(extra)
    return [f"{name}={value}" for name, value in values.items()]


def _history(base: BaseImage, layers: Sequence[ImageLayer], created: str) -> list[dict[str, Any]]:
    history = [dict(entry) for entry in base.history]
    for layer in layers:
        history.append({"created": created, "created_by": layer.created_by, "comment": "hera-build"})
    return history


def assemble(base: BaseImage, layers: Sequence[ImageLayer], settings: ImageSettings) -> BuiltImage:
    """Stack ``layers`` (the ones hera-build wrote) on ``base`` and serialize config and manifest."""
    created = rfc3339(settings.epoch)
    base_config = base.container_config
    container: dict[str, Any] = {key: base_config[key] for key in _KEPT_CONFIG_KEYS if base_config.get(key)}
    container["Env"] = image_env(base.env, settings.venv, settings.env)
    container["Labels"] = {**dict(base_config.get("Labels") or {}), **settings.labels}
    container["User"] = settings.user
    container["WorkingDir"] = settings.working_dir
    container["Cmd"] = list(settings.cmd)
    config: dict[str, Any] = {
        "architecture": base.platform.architecture,
        "os": base.platform.os,
        "created": created,
        "config": container,
        "rootfs": {
            "type": "layers",
            "diff_ids": [layer.diff_id for layer in base.layers] + [layer.diff_id for layer in layers],
        },
        "history": _history(base, layers, created),
    }
    if base.platform.variant:
        config["variant"] = base.platform.variant
    config_bytes = canonical_json(config)
    config_descriptor = Descriptor.of(OCI_CONFIG, config_bytes)
    all_layers = tuple(
        ImageLayer(
            descriptor=layer.descriptor,
            diff_id=layer.diff_id,
            fetch=lambda layer=layer: base.blobs.path(layer.descriptor),  # type: ignore[misc]
            remote=base.blobs.remote,
            role="base",
        )
        for layer in base.layers
    ) + tuple(layers)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor.to_dict(),
        "layers": [layer.descriptor.to_dict() for layer in all_layers],
    }
    manifest_bytes = canonical_json(manifest)
    return BuiltImage(
        config=config_bytes,
        config_descriptor=config_descriptor,
        manifest=manifest_bytes,
        manifest_descriptor=Descriptor.of(OCI_MANIFEST, manifest_bytes),
        layers=all_layers,
    )


@dataclass(frozen=True)
class BuiltIndex:
    """A multi-platform image: one :class:`BuiltImage` per platform under an OCI image index.

    The index carries the multi-platform input digest as annotations (the labels of an image are in its config;
    an index has none), so the publish policy reads it from the index as it reads a label from a config.
    """

    index: bytes
    descriptor: Descriptor
    images: tuple[tuple[Platform, BuiltImage], ...]

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def annotations(self) -> dict[str, str]:
        document = json.loads(self.index)
        return {str(key): str(value) for key, value in (document.get("annotations") or {}).items()}


def assemble_index(images: Sequence[tuple[Platform, BuiltImage]], annotations: Mapping[str, str]) -> BuiltIndex:
    """The index over ``images`` in the order given (a client without a platform preference takes the first)."""
    manifests = [
        Descriptor(OCI_MANIFEST, image.digest, image.manifest_descriptor.size, platform=platform).to_dict()
        for platform, image in images
    ]
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    if annotations:
        document["annotations"] = dict(annotations)
    data = canonical_json(document)
    return BuiltIndex(data, Descriptor.of(OCI_INDEX, data), tuple(images))
