"""Turn discovered objects into version-pinned Argo manifests.

Works on the built model (plain dicts from Hera's ``to_dict()``), never on YAML text: names, images and refs are
replaced where they are, so nothing that merely *looks* like a name is touched.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.core.versions import MAX_CRON_NAME_LENGTH, MAX_NAME_LENGTH, ProjectVersion, versioned_name
from hera_build.core.walk import walk_dicts, workflow_spec
from hera_build.errors import ConfigError, VersionError
from hera_build.templates.discover import SENTINEL_IMAGE, DiscoveredObject
from hera_build.templates.resolve import Pin, RefKey, find_ref_sites

__all__ = [
    "ANNOTATION_PREFIX",
    "MANAGED_BY",
    "EmitSettings",
    "PinnedObject",
    "is_runner_script",
    "local_names",
    "pin_objects",
]

ANNOTATION_PREFIX = "hera-build.dev/"
MANAGED_BY = "hera-build"
_RUNNER_ARGS = ["-m", "hera.workflows.runner"]


@dataclass(frozen=True)
class EmitSettings:
    """What the emitted objects are pinned to."""

    project: str
    version: ProjectVersion
    name_format: str
    image: ImageRef | None
    """``repository:tag[@digest]`` of the runner image, or ``None`` if the project configures none."""
    runner_command: tuple[str, ...] | None = None
    """Replaces the ``command`` of runner scripts (e.g. through the CNB launcher for buildpacks images)."""


@dataclass(frozen=True)
class PinnedObject:
    """One emitted object and what was pinned in it."""

    kind: str
    source_name: str
    name: str
    module: str
    attribute: str
    manifest: dict[str, Any] = field(repr=False)
    images: tuple[str, ...] = ()
    refs: tuple[Pin, ...] = ()

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterWorkflowTemplate"


def is_runner_script(template: Mapping[str, Any]) -> bool:
    """Hera runner scripts run ``python -m hera.workflows.runner -e module:function``."""
    script = template.get("script")
    return isinstance(script, dict) and list(script.get("args", [])[:2]) == _RUNNER_ARGS


def _name_limit(kind: str) -> int:
    return MAX_CRON_NAME_LENGTH if kind == "CronWorkflow" else MAX_NAME_LENGTH


def local_names(objects: Sequence[DiscoveredObject], settings: EmitSettings) -> dict[RefKey, str]:
    """Original → versioned name for every named object; collisions are errors, never silent overwrites."""
    names: dict[RefKey, str] = {}
    sources: dict[tuple[bool, str], str] = {}
    for obj in objects:
        if not obj.manifest.get("metadata", {}).get("name"):
            continue
        where = f"{obj.module}.{obj.attribute}"
        if obj.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate") and (obj.cluster_scoped, obj.name) in names:
            raise VersionError(
                f"two {obj.kind}s are named {obj.name!r}: {sources[(obj.cluster_scoped, obj.name)]} and {where}",
                "give each template a unique name",
            )
        versioned = versioned_name(obj.name, settings.version, settings.name_format, limit=_name_limit(obj.kind))
        names[(obj.cluster_scoped, obj.name)] = versioned
        sources[(obj.cluster_scoped, obj.name)] = where
    clashes = [name for name, count in Counter(names.values()).items() if count > 1]
    if clashes:
        raise VersionError(
            f"different templates map to the same versioned name {clashes[0]!r}",
            "rename one of them, or change name-format",
        )
    return names


def _pin_images(manifest: dict[str, Any], settings: EmitSettings) -> list[str]:
    """Replace the sentinel (templates left on Hera's default image) and our own repository's image."""
    own = settings.image.repository if settings.image else None
    images: list[str] = []
    for template in workflow_spec(manifest).get("templates", []):
        for _, node in walk_dicts(template):
            image = node.get("image")
            if not isinstance(image, str):
                continue
            ours = image == SENTINEL_IMAGE or (own is not None and _repository(image) == own)
            if ours:
                if settings.image is None:
                    raise ConfigError(
                        f"template {template.get('name')!r} uses the project's default image, but no image is "
                        "configured",
                        'set image = "registry/repository" in [tool.hera-build]',
                    )
                node["image"] = image = str(settings.image)
            images.append(image)
        if settings.runner_command and is_runner_script(template):
            template["script"]["command"] = list(settings.runner_command)
    return sorted(set(images))


def _repository(image: str) -> str | None:
    try:
        return parse_image_ref(image).repository
    except ConfigError:
        return None


def _pin_refs(manifest: dict[str, Any], pins: Mapping[RefKey, Pin]) -> list[Pin]:
    used: list[Pin] = []
    for _, node in walk_dicts(manifest):
        for key in ("templateRef", "workflowTemplateRef"):
            ref = node.get(key)
            if isinstance(ref, dict) and ref.get("name"):
                pin = pins[(bool(ref.get("clusterScope", False)), str(ref["name"]))]
                ref["name"] = pin.pinned
                if pin not in used:
                    used.append(pin)
    return used


def _label(settings: EmitSettings, source_name: str) -> tuple[dict[str, str], dict[str, str]]:
    labels = {
        "app.kubernetes.io/name": settings.project,
        "app.kubernetes.io/version": settings.version.tag,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    annotations = {
        f"{ANNOTATION_PREFIX}version": settings.version.exact,
        f"{ANNOTATION_PREFIX}source-name": source_name,
    }
    if settings.image is not None:
        annotations[f"{ANNOTATION_PREFIX}image"] = str(settings.image)
        if settings.image.digest:
            annotations[f"{ANNOTATION_PREFIX}digest"] = settings.image.digest
    return labels, annotations


def pin_objects(
    objects: Sequence[DiscoveredObject], pins: Mapping[RefKey, Pin], names: Mapping[RefKey, str], settings: EmitSettings
) -> list[PinnedObject]:
    """Pin names, images, refs, labels and annotations of every object (on copies)."""
    pinned = []
    for obj in objects:
        manifest = copy.deepcopy(obj.manifest)
        metadata = manifest.setdefault("metadata", {})
        name = obj.name
        if metadata.get("name"):
            name = metadata["name"] = names[(obj.cluster_scoped, obj.name)]
        images = _pin_images(manifest, settings)
        refs = _pin_refs(manifest, pins)
        labels, annotations = _label(settings, obj.name)
        metadata["labels"] = {**metadata.get("labels", {}), **labels}
        metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
        pinned.append(
            PinnedObject(obj.kind, obj.name, name, obj.module, obj.attribute, manifest, tuple(images), tuple(refs))
        )
    return pinned


def ref_sites(objects: Sequence[DiscoveredObject]) -> list[Any]:
    """All reference sites of the discovered objects (before pinning)."""
    return [site for obj in objects for site in find_ref_sites(obj.name, obj.manifest)]
