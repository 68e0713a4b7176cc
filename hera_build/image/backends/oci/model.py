"""The OCI image data model the rest of the backend speaks: media types, descriptors, canonical JSON, digests.

Every JSON document hera-build writes (config, manifest, index) is serialized once, by :func:`canonical_json`,
and its digest is taken from exactly those bytes: the bytes on disk, in the registry and in the digest are the
same bytes, which is what makes the image digest reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hera_build.core.digests import sha256_digest
from hera_build.errors import BuildError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
_LAYER_TYPES = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER_TAR: OCI_LAYER_TAR}


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]``, as image indexes select manifests."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise BuildError(f"invalid platform {text!r}", "write it as os/architecture[/variant], e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` (an index entry's or a config's platform) is this one; a missing variant matches."""
        if other.os != self.os or other.architecture != self.architecture:
            return False
        return self.variant is None or other.variant in (None, self.variant)

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


@dataclass(frozen=True)
class Descriptor:
    """A content-addressed reference to a blob: what manifests and indexes are made of."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None

    @classmethod
    def of(cls, media_type: str, data: bytes, **annotations: str) -> Descriptor:
        return cls(media_type, sha256_digest(data), len(data), dict(annotations))

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Descriptor:
        try:
            platform = value.get("platform")
            return cls(
                media_type=str(value["mediaType"]),
                digest=str(value["digest"]),
                size=int(value["size"]),
                annotations=dict(value.get("annotations") or {}),
                platform=Platform(platform["os"], platform["architecture"], platform.get("variant"))
                if platform
                else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"malformed OCI descriptor {dict(value)!r}: {exc}", "check the image's manifest") from None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.platform is not None:
            platform = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                platform["variant"] = self.platform.variant
            data["platform"] = platform
        return data


def oci_layer_type(media_type: str) -> str:
    """Docker's layer media types → their OCI twins (same bytes); anything else is kept."""
    return _LAYER_TYPES.get(media_type, media_type)
