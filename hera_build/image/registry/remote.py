"""What a registry already holds under a tag: manifest digest, image id and labels, read without an engine.

The release pipeline asks this before building (is the version released, and from which inputs?) and after
pushing (what exactly did land?). The answer comes from the registry API (:mod:`.client` does the
talking and the authentication), never from a local engine, whose copy of a tag may differ from the registry's.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.registry.client import MANIFEST_MEDIA_TYPES, RegistryClient, repository_path

__all__ = ["RemoteImage", "RegistryView", "RegistryApi", "host_platform"]

_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


@dataclass(frozen=True)
class RemoteImage:
    """An image as the registry has it."""

    digest: str
    """Manifest (or index) digest: what ``image:tag@digest`` pins."""
    config_digest: str | None
    """Digest of the image config (Docker's image id); of the host platform's image for an index."""
    labels: Mapping[str, str] = field(default_factory=dict)


class RegistryView(Protocol):
    """Answers "what does the registry have under this reference?"; faked in tests."""

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        """``None`` when the tag does not exist; raises :class:`PublishError` when the registry cannot answer."""
        ...


def host_platform() -> tuple[str, str]:
    """``(os, architecture)`` in OCI terms for the machine hera-build runs on (the image's platform for an index)."""
    machine = platform.machine().lower()
    return "linux", _ARCHES.get(machine, machine)


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise PublishError(
            f"the registry returned invalid JSON for {what}",
            "check for a proxy that rewrites responses between hera-build and the registry",
        ) from None
    if not isinstance(value, dict):
        raise PublishError(
            f"the registry returned unexpected JSON for {what}",
            "check for a proxy that rewrites responses between hera-build and the registry",
        )
    return value


class RegistryApi:
    """:class:`RegistryView` over the registry HTTP API, with the Docker config's credentials."""

    def __init__(
        self,
        client_factory: Callable[[ImageRef], RegistryClient] = RegistryClient.for_image,
        platform: tuple[str, str] | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._platform = platform or host_platform()

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        client = self._client_factory(ref)
        repository = repository_path(ref)
        found = self._manifest(client, repository, ref.digest or ref.tag or "latest")
        if found is None:
            return None
        digest, media_type, document = found
        if media_type in _INDEX_TYPES or "manifests" in document:
            child = self._choose(document, f"{ref}")
            chosen = self._manifest(client, repository, child)
            if chosen is None:
                raise PublishError(f"{ref} lists {child}, which the registry does not have", "push the image again")
            document = chosen[2]
        config = document.get("config")
        config_digest = str(config["digest"]) if isinstance(config, dict) and config.get("digest") else None
        labels = self._labels(client, repository, config_digest) if config_digest else {}
        return RemoteImage(digest=digest, config_digest=config_digest, labels=labels)

    def _manifest(
        self, client: RegistryClient, repository: str, reference: str
    ) -> tuple[str, str, dict[str, Any]] | None:
        info = client.manifest(repository, reference)
        if info is None:
            return None
        response = client.request(
            "GET",
            f"/v2/{repository}/manifests/{info.digest}",
            repository=repository,
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        if response.status_code != 200:
            raise PublishError(
                f"registry {client.host} answered {response.status_code} for {info.digest}", "check the registry's logs"
            )
        return info.digest, info.media_type, _json(response.content, f"{repository}@{info.digest}")

    def _choose(self, index: Mapping[str, Any], what: str) -> str:
        os_name, arch = self._platform
        entries = [e for e in index.get("manifests", []) if isinstance(e, dict) and e.get("digest")]
        for entry in entries:
            wanted = entry.get("platform") or {}
            if wanted.get("os") == os_name and wanted.get("architecture") == arch:
                return str(entry["digest"])
        if len(entries) == 1:
            return str(entries[0]["digest"])
        raise PublishError(f"{what} has no image for {os_name}/{arch}", "push an image for this platform")

    def _labels(self, client: RegistryClient, repository: str, config_digest: str) -> dict[str, str]:
        response = client.request("GET", f"/v2/{repository}/blobs/{config_digest}", repository=repository)
        if response.status_code != 200:
            raise PublishError(
                f"registry {client.host} answered {response.status_code} for the config {config_digest}",
                "check the registry's logs",
            )
        config = _json(response.content, f"the config {config_digest}").get("config") or {}
        labels = (config.get("Labels") or {}) if isinstance(config, dict) else {}
        return {str(k): str(v) for k, v in labels.items()}
