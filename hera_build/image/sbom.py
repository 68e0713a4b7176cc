"""An SPDX 2.3 JSON SBOM of a runner image's Python distributions, the same bytes for the same image.

It lists what the wheelhouse installs — every distribution with its exact version, the sha256 of the wheel that
was installed, a ``pkg:pypi`` purl and the licence its metadata declares (PEP 639 ``License-Expression`` as
``licenseDeclared``; the free-text ``License`` field and licence classifiers only as a comment, since they are
not SPDX expressions) — and the base image by the digest of the manifest the image was built on (and the index
it was chosen from, for a multi-platform base). The image CONTAINS each distribution and is DESCENDANT_OF the
base.

Reproducible: the creation time is ``SOURCE_DATE_EPOCH`` (or the fixed epoch), element ids come from names, the
document namespace from a hash of the content, and the JSON is canonical. Publishing it beside the image (an OCI
artifact whose ``subject`` is the image) is the publish stage's business; this module only writes the document.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Final

from packaging.utils import canonicalize_name, parse_wheel_filename

from hera_build import __version__
from hera_build.errors import BuildError
from hera_build.image.labels import rfc3339

SPDX_MEDIA_TYPE: Final = "application/spdx+json"
"""The artifact type of the SBOM when it is published as an OCI artifact."""
SPDX_VERSION: Final = "SPDX-2.3"
_NAMESPACE = "https://spdx.hera-build.dev/sbom"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


@dataclass(frozen=True)
class SbomPackage:
    """One installed distribution, as the SBOM lists it."""

    name: str
    version: str
    sha256: str
    """Hex digest of the wheel file that was installed."""
    license_expression: str | None = None
    license_text: str | None = None
    summary: str | None = None
    homepage: str | None = None

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{canonicalize_name(self.name)}@{self.version}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _metadata(wheel: Path, known: str | None = None) -> Any:
    if known is not None:
        return HeaderParser().parsestr(known)
    name, version, _, _ = parse_wheel_filename(wheel.name)
    info = f"{str(name).replace('-', '_')}-{version}.dist-info/METADATA"
    with zipfile.ZipFile(wheel) as archive:
        candidates = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        member = info if info in candidates else (candidates[0] if candidates else None)
        if member is None:
            raise BuildError(f"{wheel.name} has no METADATA", "rebuild the wheel")
        return HeaderParser().parsestr(archive.read(member).decode("utf-8", "replace"))


def wheel_package(wheel: Path, sha256: str | None = None, metadata: str | None = None) -> SbomPackage:
    """The SBOM entry of a wheel: name and version from its metadata, licence where declared. ``sha256`` (the
    file's ``sha256:`` digest) and ``metadata`` (the header fields of its ``METADATA``) when the caller knows them."""
    try:
        meta = _metadata(wheel, metadata)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise BuildError(f"cannot read wheel {wheel}: {exc}", "rebuild the wheelhouse") from None
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    free_text = (meta.get("License") or "").strip()
    if free_text and ("\n" in free_text or len(free_text) > 200):
        free_text = free_text.splitlines()[0][:200] + " …"
    license_text = "; ".join(part for part in (free_text, *classifiers) if part) or None
    urls = [u.split(",", 1)[1].strip() for u in meta.get_all("Project-URL") or [] if "," in u]
    return SbomPackage(
        name=str(meta.get("Name") or parse_wheel_filename(wheel.name)[0]),
        version=str(meta.get("Version") or parse_wheel_filename(wheel.name)[1]),
        sha256=sha256.removeprefix("sha256:") if sha256 else _sha256(wheel),
        license_expression=(meta.get("License-Expression") or "").strip() or None,
        license_text=license_text,
        summary=(meta.get("Summary") or "").strip() or None,
        homepage=(meta.get("Home-page") or "").strip() or (urls[0] if urls else None),
    )


def _spdx_id(kind: str, name: str) -> str:
    return f"SPDXRef-{kind}-{_ID_UNSAFE.sub('-', name)}"


def _package(package: SbomPackage) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": _spdx_id("Package-python", str(canonicalize_name(package.name))),
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "checksums": [{"algorithm": "SHA256", "checksumValue": package.sha256}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": package.license_expression or "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": package.purl}
        ],
        "primaryPackagePurpose": "LIBRARY",
    }
    if package.license_text:
        entry["licenseComments"] = f"declared in the distribution's metadata: {package.license_text}"
    if package.summary:
        entry["summary"] = package.summary
    if package.homepage:
        entry["homepage"] = package.homepage
    return entry


def _oci_purl(repository: str, digest: str) -> str:
    """``pkg:oci/<name>@sha256%3A…?repository_url=<registry/path>`` (the purl spec's OCI type)."""
    name = repository.rsplit("/", 1)[-1]
    return f"pkg:oci/{name}@{digest.replace(':', '%3A')}?repository_url={repository}"


def _container(spdx_id: str, name: str, digest: str | None) -> dict[str, Any]:
    """An image as an SPDX package: versioned and checksummed by its digest, when known."""
    package: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    }
    if digest:
        package["versionInfo"] = digest
        package["checksums"] = [{"algorithm": "SHA256", "checksumValue": digest.split(":", 1)[1]}]
    return package


def spdx_document(
    *,
    image: str,
    image_digest: str | None,
    packages: Sequence[SbomPackage],
    base_image: str,
    base_digest: str | None,
    epoch: int,
    base_index: str | None = None,
) -> dict[str, Any]:
    """The SPDX 2.3 document (a JSON-ready dict): ``image`` (``repo:tag``) with its distributions and base.

    ``base_digest`` is the manifest the image was built on; ``base_index`` the multi-platform index it was
    chosen from, when the base reference names one (an ``OTHER`` external reference of the base package)."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    image_package = _container("SPDXRef-Image", image, image_digest)
    if image_digest:
        image_package["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": _oci_purl(repository, image_digest),
            }
        ]
    base_package = _container("SPDXRef-BaseImage", base_image, base_digest)
    if base_index and base_index != base_digest:
        base_package["externalRefs"] = [
            {"referenceCategory": "OTHER", "referenceType": "oci-image-index", "referenceLocator": base_index}
        ]
    ordered = sorted(packages, key=lambda p: (str(canonicalize_name(p.name)), p.version))
    python_packages = [_package(package) for package in ordered]
    pairs = [
        ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
        ("SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-BaseImage"),
    ]
    pairs += [("SPDXRef-Image", "CONTAINS", entry["SPDXID"]) for entry in python_packages]
    relationships = [
        {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}
        for element, kind, related in pairs
    ]
    body: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{image} python distributions",
        "creationInfo": {"created": rfc3339(epoch), "creators": [f"Tool: hera-build-{__version__}"]},
        "packages": [image_package, base_package, *python_packages],
        "relationships": relationships,
    }
    content = hashlib.sha256(sbom_bytes(body)).hexdigest()
    return {**body, "documentNamespace": f"{_NAMESPACE}/{_ID_UNSAFE.sub('-', repository)}/{content}"}


def sbom_bytes(document: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no whitespace, UTF-8): one document, one digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wheelhouse_sbom(
    wheels: Sequence[Path],
    *,
    image: str,
    image_digest: str | None,
    base_image: str,
    base_digest: str | None,
    epoch: int,
    base_index: str | None = None,
    sha256_of: Callable[[Path], str] | None = None,
    metadata_of: Callable[[Path], str] | None = None,
) -> dict[str, Any]:
    """The document for the wheels an image installs (the project's and its dependencies'); ``sha256_of`` and
    ``metadata_of`` give a wheel's file digest and ``METADATA`` header fields when the caller knows them."""
    packages = [
        wheel_package(wheel, sha256_of(wheel) if sha256_of else None, metadata_of(wheel) if metadata_of else None)
        for wheel in wheels
    ]
    return spdx_document(
        image=image, image_digest=image_digest, packages=packages, base_image=base_image, base_digest=base_digest,
        epoch=epoch, base_index=base_index,
    )  # fmt: skip
