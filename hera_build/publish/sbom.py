"""Publish an image's SBOM beside it, as ko does: an OCI artifact whose ``subject`` is the image.

The artifact is an OCI image manifest with ``artifactType: application/spdx+json``, the empty config
(``application/vnd.oci.empty.v1+json``, ``{}``) and the SBOM as its one layer (OCI image spec 1.1 "artifacts").
A registry with the referrers API answers the PUT with ``OCI-Subject`` and lists the SBOM under
``/v2/<repo>/referrers/<image digest>``. One without it (Debian's docker-registry 2.8 among them) stores the
manifest but cannot find it from the image, so the artifact is then also tagged ``sha256-<hex>.sbom`` — the tag
cosign and ko use, derived from the image digest, so a client finds the SBOM of any image it has the digest of.

:func:`find_sbom` reads back where a published SBOM is, the way publishing decided it (the fallback tag first,
then the referrers API), so a release that reuses an image records the SBOM exactly as the release that built it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Protocol

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.backends import Prepared
from hera_build.image.registry import RegistryClient, repository_path
from hera_build.image.sbom import SPDX_MEDIA_TYPE, sbom_bytes, wheelhouse_sbom
from hera_build.image.wheelhouse import FIXED_EPOCH

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
_EMPTY = b"{}"


@dataclass(frozen=True)
class PublishedSbom:
    """Where the SBOM is: its manifest digest, and the fallback tag when the registry has no referrers API."""

    digest: str
    repository: str
    referrers: bool
    """``True``: the registry indexed the ``subject`` (found through the referrers API)."""
    tag: str | None
    document: str = ""
    """``sha256:`` digest of the SPDX document itself: the artifact's one layer, a blob in the repository."""

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


def sbom_tag(image_digest: str) -> str:
    """``sha256-<hex>.sbom``: the tag of an image's SBOM where the registry has no referrers API."""
    algorithm, _, hex_part = image_digest.partition(":")
    return f"{algorithm}-{hex_part}.sbom"


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def _upload(registry: RegistryClient, repository: str, data: bytes, digest: str) -> None:
    if registry.blob_exists(repository, digest):
        return
    location = registry.start_upload(repository)
    registry.upload_monolithic(repository, location, digest, len(data), lambda: io.BytesIO(data))


def publish_sbom(registry: RegistryClient, image: ImageRef, image_digest: str, document: bytes) -> PublishedSbom:
    """Push ``document`` (SPDX JSON) as an artifact referring to ``image``'s manifest ``image_digest``."""
    repository = repository_path(image)
    subject = registry.get_manifest(repository, image_digest)
    if subject.digest != image_digest:
        raise PublishError(f"{image} has no manifest {image_digest} to attach the SBOM to", "publish the image first")
    config, layer = _descriptor(EMPTY_CONFIG_TYPE, _EMPTY), _descriptor(SPDX_MEDIA_TYPE, document)
    _upload(registry, repository, _EMPTY, str(config["digest"]))
    _upload(registry, repository, document, str(layer["digest"]))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_MEDIA_TYPE,
        "config": config,
        "layers": [layer],
        "subject": {"mediaType": subject.media_type or OCI_MANIFEST, "digest": image_digest, "size": len(subject.data)},
    }
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    digest, indexed = registry.put_manifest_subject(repository, str(_descriptor(OCI_MANIFEST, data)["digest"]),
                                                    data, OCI_MANIFEST)  # fmt: skip
    tag = None
    if indexed != image_digest:
        tag = sbom_tag(image_digest)
        registry.put_manifest(repository, tag, data, OCI_MANIFEST)
    return PublishedSbom(digest, image.repository, tag is None, tag, str(layer["digest"]))


def _artifact(registry: RegistryClient, repository: str, reference: str) -> tuple[str, str] | None:
    """(artifact manifest digest, SPDX document digest) of the SBOM artifact at ``reference``, if it is one."""
    found = registry.manifest(repository, reference)
    if found is None:
        return None
    document = found.document(f"{registry.host}/{repository}@{reference}")
    layers = document.get("layers") or []
    is_sbom = document.get("artifactType") == SPDX_MEDIA_TYPE and len(layers) == 1
    if not is_sbom or not isinstance(layers[0], dict) or layers[0].get("mediaType") != SPDX_MEDIA_TYPE:
        return None
    return found.digest, str(layers[0].get("digest"))


def find_sbom(registry: RegistryClient, image: ImageRef, image_digest: str) -> PublishedSbom | None:
    """The SBOM published beside ``image``'s manifest ``image_digest``; ``None`` when there is none.

    Looked for as :func:`publish_sbom` placed it: the ``sha256-<hex>.sbom`` tag exists exactly when the registry
    did not index the subject, so it is asked first; then the referrers API (``404``: the registry has none); for
    a multi-platform index, then its first platform's image's SBOM.
    Several SPDX referrers (another tool attached one too) resolve to the lowest digest, the same every time.
    """
    repository = repository_path(image)
    tag = sbom_tag(image_digest)
    tagged = _artifact(registry, repository, tag)
    if tagged is not None:
        return PublishedSbom(tagged[0], image.repository, False, tag, tagged[1])
    candidates = sorted(
        str(entry["digest"])
        for entry in registry.referrers(repository, image_digest, SPDX_MEDIA_TYPE) or []
        if entry.get("artifactType") == SPDX_MEDIA_TYPE and entry.get("digest")
    )
    for digest in candidates:
        found = _artifact(registry, repository, digest)
        if found is not None:
            return PublishedSbom(found[0], image.repository, True, None, found[1])
    first = _first_of_index(registry, repository, image_digest)
    return find_sbom(registry, image, first) if first is not None else None


def _first_of_index(registry: RegistryClient, repository: str, digest: str) -> str | None:
    """The first platform's manifest when ``digest`` is a multi-platform index: an index has no SBOM of its own
    (each platform's image has its own), and the first platform's is the one recorded for the whole image."""
    entries = _index_entries(registry, repository, digest)
    return entries[0][1] if entries else None


def _index_entries(registry: RegistryClient, repository: str, digest: str) -> tuple[tuple[str, str], ...]:
    found = registry.manifest(repository, digest)
    document = found.document(f"{registry.host}/{repository}@{digest}") if found is not None else {}
    manifests = document.get("manifests")
    entries = []
    for entry in manifests if isinstance(manifests, list) else []:
        if isinstance(entry, dict) and entry.get("digest"):
            platform = entry.get("platform")
            named = platform if isinstance(platform, dict) else {}
            parts = [str(named.get(key) or "") for key in ("os", "architecture", "variant")]
            entries.append(("/".join(part for part in parts if part), str(entry["digest"])))
    return tuple(entries)


def index_platforms(registry: RegistryClient, image: ImageRef, digest: str) -> tuple[tuple[str, str], ...]:
    """``(os/architecture[/variant], manifest digest)`` of each image the index ``digest`` lists, in its order;
    empty when ``digest`` is a single image's manifest (or not in the registry)."""
    return _index_entries(registry, repository_path(image), digest)


class SbomFor(Protocol):
    """The SBOM of an image, given its manifest digest once pushed (and, for one platform's image of a
    multi-platform build, that platform)."""

    def __call__(self, image_digest: str, platform: str | None = None) -> bytes: ...


def sbom_document_for(prepared: Prepared) -> SbomFor:
    """The SBOM of the image ``prepared`` describes, given the image's digest once it is known; of one
    platform's image (its own wheels) when ``prepared`` is a multi-platform build. The base is named by the
    manifest the image was built on; the index the base reference resolved to, when it is one, is kept beside it."""
    inputs = prepared.inputs
    epoch = inputs.source_date_epoch if inputs.source_date_epoch is not None else FIXED_EPOCH

    def document(image_digest: str, platform: str | None = None) -> bytes:
        wheelhouse = prepared.wheelhouses[platform] if platform is not None else prepared.wheelhouse
        manifest = prepared.base_manifests.get(platform) if platform is not None else prepared.base_manifest
        wheels = [wheelhouse.project_wheel, *wheelhouse.dependency_wheels]
        return sbom_bytes(
            wheelhouse_sbom(
                wheels, image=str(prepared.request.image), image_digest=image_digest,
                base_image=inputs.base_image, base_digest=manifest or inputs.base_digest,
                base_index=inputs.base_digest if manifest else None, epoch=epoch,
                sha256_of=wheelhouse.sha256_of, metadata_of=lambda wheel: wheelhouse.facts_of(wheel).metadata,
            )
        )  # fmt: skip

    return document
