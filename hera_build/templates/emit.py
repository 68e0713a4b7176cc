"""Turn discovered objects into version-pinned Argo manifests.

Works on the built model (plain dicts from Hera's ``to_dict()``), never on YAML text: names, images and refs are
replaced where they are, so nothing that merely *looks* like a name is touched.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.core.versions import MAX_CRON_NAME_LENGTH, MAX_NAME_LENGTH, ProjectVersion, versioned_name
from hera_build.core.walk import walk_dicts, workflow_spec
from hera_build.errors import ConfigError, VersionError
from hera_build.templates.discover import SENTINEL_IMAGE, DiscoveredObject
from hera_build.templates.resolve import Pin, RefKey, find_ref_sites

ANNOTATION_PREFIX = "hera-build.dev/"
MANAGED_BY = "hera-build"
_RUNNER_ARGS = ["-m", "hera.workflows.runner"]
LABEL_VALUE_LIMIT = 63
"""Kubernetes label values: at most 63 characters, alphanumeric at both ends, ``-_.`` inside."""
_LABEL_HASH = 8
_REFERABLE = ("WorkflowTemplate", "ClusterWorkflowTemplate")
"""The kinds a ``templateRef`` / ``workflowTemplateRef`` can name."""


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
    version_tag: str = ""
    """The version as an image tag: objects without a name are filed under it (see ``output.layout``)."""

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterWorkflowTemplate"


def is_runner_script(template: Mapping[str, Any]) -> bool:
    """Hera runner scripts run ``python -m hera.workflows.runner -e module:function``."""
    script = template.get("script")
    return isinstance(script, dict) and list(script.get("args", [])[:2]) == _RUNNER_ARGS


def _name_limit(kind: str) -> int:
    return MAX_CRON_NAME_LENGTH if kind == "CronWorkflow" else MAX_NAME_LENGTH


def _versioned(obj: DiscoveredObject, settings: EmitSettings) -> str:
    return versioned_name(obj.name, settings.version, settings.name_format, limit=_name_limit(obj.kind))


def local_names(objects: Sequence[DiscoveredObject], settings: EmitSettings) -> dict[RefKey, str]:
    """Original → versioned name of every template a ref can name; checks the names of every object.

    Names are unique per kind (a CronWorkflow may share its WorkflowTemplate's name): two objects of one kind with
    one name, before or after versioning, are an error naming both modules, never an overwrite. A template with
    only a ``generateName`` is refused: it could be neither referenced nor versioned.
    """
    names: dict[RefKey, str] = {}
    sources: dict[tuple[str, bool, str], str] = {}
    versioned_sources: dict[tuple[str, str], tuple[str, str]] = {}
    for obj in objects:
        where = f"{obj.module}.{obj.attribute}"
        metadata = obj.manifest.get("metadata", {})
        if not metadata.get("name"):
            if obj.kind != "Workflow":
                base = str(metadata.get("generateName") or "my-template").rstrip("-.")
                raise VersionError(
                    f"{obj.kind} {where} has no name (generateName {metadata.get('generateName')!r}): hera-build "
                    "versions templates by name, and a templateRef needs one",
                    f"give it a name, e.g. {obj.kind}(name={base!r}, ...)",
                )
            continue
        key = (obj.kind, obj.cluster_scoped, obj.name)
        if key in sources:
            raise VersionError(
                f"two {obj.kind}s are named {obj.name!r}: {sources[key]} and {where}",
                f"give each {obj.kind} a unique name",
            )
        sources[key] = where
        versioned = _versioned(obj, settings)
        if (obj.kind, versioned) in versioned_sources:
            other, other_name = versioned_sources[(obj.kind, versioned)]
            raise VersionError(
                f"{obj.kind}s {other_name!r} ({other}) and {obj.name!r} ({where}) map to the same versioned name "
                f"{versioned!r}",
                "rename one of them, or change name-format",
            )
        versioned_sources[(obj.kind, versioned)] = (where, obj.name)
        if obj.kind in _REFERABLE:
            names[(obj.cluster_scoped, obj.name)] = versioned
    return names


def _pin_images(manifest: dict[str, Any], settings: EmitSettings) -> tuple[list[str], bool]:
    """Replace the sentinel (templates left on Hera's default image) and our own repository's image.

    Returns every image of the object, and whether any template runs the project's image.
    """
    own = settings.image.repository if settings.image else None
    images: list[str] = []
    runs_ours = False
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
                runs_ours = True
            images.append(image)
        if settings.runner_command and is_runner_script(template):
            template["script"]["command"] = list(settings.runner_command)
    return sorted(set(images)), runs_ours


def _repository(image: str) -> str | None:
    try:
        return parse_image_ref(image).repository
    except ConfigError:
        return None


def _pin_refs(manifest: dict[str, Any], pins: Mapping[RefKey, Pin]) -> list[Pin]:
    """Pin every ref that was resolved; templated names (``{{inputs.parameters.wt}}``) stay as written."""
    used: list[Pin] = []
    for _, node in walk_dicts(manifest):
        for key in ("templateRef", "workflowTemplateRef"):
            ref = node.get(key)
            if not isinstance(ref, dict) or not ref.get("name"):
                continue
            pin = pins.get((bool(ref.get("clusterScope", False)), str(ref["name"])))
            if pin is None:
                continue
            ref["name"] = pin.pinned
            if pin not in used:
                used.append(pin)
    return used


_LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def label_value(value: str) -> str:
    """``value`` as a valid Kubernetes label value: a long one is cut and ends in a hash of the whole.

    Project names and version tags use only the label alphabet, so only the length can be wrong; anything else is
    replaced by ``-`` (the full value is kept in an annotation by the caller).
    """
    if len(value) <= LABEL_VALUE_LIMIT and _LABEL_VALUE_RE.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:_LABEL_HASH]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", value)[: LABEL_VALUE_LIMIT - _LABEL_HASH - 1]
    head = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", head)
    return f"{head}-{digest}" if head else digest


def _label(settings: EmitSettings, source_name: str, runs_ours: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Our labels and annotations. ``hera-build.dev/image`` and ``/digest`` only on objects with a template that
    runs the project's image: an object that only runs other images is not tied to ours."""
    name, tag = label_value(settings.project), label_value(settings.version.tag)
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/version": tag,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    annotations = {
        f"{ANNOTATION_PREFIX}version": settings.version.exact,
        f"{ANNOTATION_PREFIX}source-name": source_name,
    }
    if name != settings.project:  # the version's full value is in hera-build.dev/version already
        annotations[f"{ANNOTATION_PREFIX}project"] = settings.project
    if settings.image is not None and runs_ours:
        annotations[f"{ANNOTATION_PREFIX}image"] = str(settings.image)
        if settings.image.digest:
            annotations[f"{ANNOTATION_PREFIX}digest"] = settings.image.digest
    return labels, annotations


_IMMUTABLE = (str, int, float, bool, type(None))


class _NotPlain(Exception):
    pass


def _copy(manifest: dict[str, Any]) -> dict[str, Any]:
    """``copy.deepcopy`` of a manifest, at a fraction of its cost for the plain data Hera's ``to_dict()`` makes
    (dicts with string keys, lists, scalars); anything else, and a container met twice, takes ``deepcopy`` itself."""
    seen: set[int] = set()

    def copy_value(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            if id(value) in seen:
                raise _NotPlain
            seen.add(id(value))
            if not all(type(key) is str for key in value):
                raise _NotPlain
            return {key: copy_value(item) for key, item in value.items()}
        if kind is list:
            if id(value) in seen:
                raise _NotPlain
            seen.add(id(value))
            return [copy_value(item) for item in value]
        if kind in _IMMUTABLE:
            return value
        raise _NotPlain

    try:
        copied: dict[str, Any] = copy_value(manifest)
    except _NotPlain:
        return copy.deepcopy(manifest)
    return copied


def pin_objects(
    objects: Sequence[DiscoveredObject], pins: Mapping[RefKey, Pin], names: Mapping[RefKey, str], settings: EmitSettings
) -> list[PinnedObject]:
    """Pin names, images, refs, labels and annotations of every object (on copies).

    ``names`` are :func:`local_names`' (which checked every name); objects no ref can name are versioned here.
    """
    pinned = []
    for obj in objects:
        manifest = _copy(obj.manifest)
        metadata = manifest.setdefault("metadata", {})
        name = obj.name
        if metadata.get("name"):
            key = (obj.cluster_scoped, obj.name)
            name = metadata["name"] = names[key] if obj.kind in _REFERABLE else _versioned(obj, settings)
        images, runs_ours = _pin_images(manifest, settings)
        refs = _pin_refs(manifest, pins)
        labels, annotations = _label(settings, obj.name, runs_ours)
        metadata["labels"] = {**metadata.get("labels", {}), **labels}
        metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
        pinned.append(
            PinnedObject(
                obj.kind,
                obj.name,
                name,
                obj.module,
                obj.attribute,
                manifest,
                tuple(images),
                tuple(refs),
                settings.version.tag,
            )
        )
    return pinned


def ref_sites(objects: Sequence[DiscoveredObject]) -> list[Any]:
    """All reference sites of the discovered objects (before pinning)."""
    return [site for obj in objects for site in find_ref_sites(obj.name, obj.manifest)]
