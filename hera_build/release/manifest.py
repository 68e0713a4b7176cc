"""The release manifest: one machine-readable record of what a release put where.

``hera-build release`` writes it; ``hera-build templates --manifest FILE`` emits from it, so a pipeline can build
in one step and emit (or re-emit) in another without rebuilding; ``hera-build plan --json`` predicts it. It records
the release, not the run that made it: no times and no "built or skipped" flag, so re-running a release writes
the same bytes. The JSON schema in ``docs/reference/release-manifest.schema.json`` is generated from these models
(:func:`write_schema`); ``schema_version`` changes whenever a field changes meaning or is removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hera_build.core.atomic import write_text_atomic
from hera_build.core.references import ImageRef
from hera_build.errors import ConfigError

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_FILE = "release-manifest.json"
DEFAULT_MANIFEST = Path("dist") / MANIFEST_FILE
"""Beside the templates folder, not in it: kustomization.yaml lists every .json file there."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SbomRecord(_Record):
    """The image's SBOM, published beside it as an OCI artifact whose `subject` is the image.

    A release that reuses the image reads it back from the registry, so it records what the building release did.
    """

    media_type: Literal["application/spdx+json"] = Field(description="Media type of the SBOM document.")
    format: Literal["SPDX-2.3"] = Field(description="The SBOM's specification and version.")
    digest: str | None = Field(
        description="`sha256:` digest of the SBOM document: a blob in the image's repository, the artifact's one "
        "layer; `null` in a plan of an image not built yet."
    )
    artifact: str | None = Field(
        description="The artifact manifest that carries it: `repository@sha256:…`; `null` in a plan of an image not "
        "built yet."
    )
    found_by: Literal["referrers", "tag"] | None = Field(
        description="`referrers`: the registry lists it under `/v2/<repository>/referrers/<image digest>`; `tag`: the "
        "registry has no referrers API and the artifact is tagged `tag`; `null` in a plan of an image not built yet."
    )
    tag: str | None = Field(
        description="`sha256-<image digest hex>.sbom` when `found_by` is `tag`, else `null`.",
    )


class ImageRecord(_Record):
    """The runner image of this version."""

    repository: str = Field(
        description="Image repository including the registry host, e.g. `ghcr.io/acme/ml-pipeline`."
    )
    tag: str = Field(description="The tag derived from the version (`1.2.3+local.7` → `1.2.3_local.7`).")
    digest: str | None = Field(
        description="`sha256:` manifest digest in the registry; `null` when the image was not pushed (then templates "
        "pin the tag only)."
    )
    id: str | None = Field(description="Image id: the `sha256:` digest of the image config.")
    reference: str = Field(description="What templates pin to: `repository:tag@digest` (or `repository:tag`).")
    checked: bool | None = Field(
        default=None,
        description="`true`: the image check passed on this image (built, or reused and checked again); `false`: no "
        "engine could run the check, and a later release checks the image before reusing it; `null`: not asked "
        "(`--no-check`).",
    )
    sbom: SbomRecord | None = Field(
        default=None,
        description="The SBOM published beside the image; `null` when the image was not pushed, or when a reused "
        "image has none in the registry (published by an older hera-build, or the SBOM upload failed).",
    )

    @property
    def ref(self) -> ImageRef:
        return ImageRef(self.repository, self.tag, self.digest)


class BackendRecord(_Record):
    """What built the image."""

    name: Literal["docker", "buildpacks", "oci"] = Field(description="hera-build backend.")
    version: str | None = Field(description="Version of the backend (engine, pack, or hera-build for `oci`), if known.")


class BaseImageRecord(_Record):
    reference: str = Field(description="Base image as configured.")
    digest: str | None = Field(description="Digest the base image resolved to when the release was planned, if known.")


class SourceRecord(_Record):
    """Where the source came from; absent for builds outside git."""

    commit: str = Field(description="Full git commit hash of `HEAD`.")
    dirty: bool = Field(
        description="Uncommitted changes were present (the version then has a `+dirty.` segment "
        "unless `--allow-dirty` was given)."
    )


class EmittedObject(_Record):
    """One Argo object written by the release."""

    kind: str = Field(description="`WorkflowTemplate`, `ClusterWorkflowTemplate`, `CronWorkflow` or `Workflow`.")
    source_name: str = Field(description="The name in the Python code.")
    name: str = Field(description="The versioned name it was emitted under.")
    file: str = Field(description="Path of the file it was written to.")


class DependencyEdge(_Record):
    """A templateRef into another package, and the version of that package it is pinned to."""

    ref: str = Field(description="The templateRef name as written in the code.")
    cluster_scope: bool = Field(description="Whether the ref is to a ClusterWorkflowTemplate.")
    pinned: str = Field(description="The versioned name it was pinned to.")
    distribution: str = Field(description="The Python distribution that provides the template.")
    version: str = Field(description="The provider's version the ref resolved to (installed or locked).")
    specifier: str | None = Field(description="The project's requirement specifier on the provider, e.g. `>=1,<2`.")
    used_by: tuple[str, ...] = Field(description="Versioned names of the emitted objects that use the ref.")


class ReleaseManifest(_Record):
    """What one version of a package released: image, inputs, source and the emitted Argo objects."""

    schema_version: Literal[1] = Field(
        default=1, description="Version of this format; readers refuse versions they do not know."
    )
    package: str = Field(description="Normalized distribution name (PEP 503).")
    version: str = Field(description="The exact PEP 440 version released (with `+dirty.<hash>` for dirty trees).")
    image: ImageRecord
    backend: BackendRecord
    base_image: BaseImageRecord
    input_digest: str = Field(
        description="Hash of everything that went into the image (also the image label "
        "`dev.hera-build.input-digest`); equal digests mean an equal image."
    )
    source_date_epoch: int | None = Field(description="`SOURCE_DATE_EPOCH` the image was built with, if set.")
    git: SourceRecord | None = Field(description="Source commit; `null` outside a git work tree.")
    hera_version: str = Field(description="Version of Hera that emitted the templates (and that the image holds).")
    hera_build_version: str = Field(description="Version of hera-build that made the release.")
    output: str = Field(description="The folder the objects were written to (with its kustomization.yaml).")
    objects: tuple[EmittedObject, ...] = Field(description="Every emitted object, in emission order.")
    dependencies: tuple[DependencyEdge, ...] = Field(
        description="templateRefs into other packages, sorted by ref; refs to the project's own templates and "
        "`external` names are not dependencies."
    )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def load_manifest(path: Path) -> ReleaseManifest:
    """Read and validate a manifest; every problem names the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"release manifest {path} does not exist", "run hera-build release first, or fix the path"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"release manifest {path} is not readable JSON: {exc}", "pass the file hera-build release wrote"
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != MANIFEST_SCHEMA_VERSION:
        raise ConfigError(
            f"release manifest {path} has schema_version {version!r}; this hera-build reads {MANIFEST_SCHEMA_VERSION}",
            "use the hera-build version that wrote it",
        )
    try:
        return ReleaseManifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "?"
        raise ConfigError(
            f"release manifest {path} is invalid at {where}: {error['msg']}",
            "pass the manifest hera-build release wrote, unedited",
        ) from None


def write_manifest(manifest: ReleaseManifest, path: Path) -> bool:
    """Write atomically; returns False when the file already held exactly this manifest."""
    return write_text_atomic(path, manifest.to_json())


def manifest_json_schema() -> dict[str, Any]:
    schema = ReleaseManifest.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def write_schema(path: Path) -> bool:
    """Export the JSON schema (docs/reference/release-manifest.schema.json); False when already current."""
    return write_text_atomic(path, json.dumps(manifest_json_schema(), indent=2) + "\n")
