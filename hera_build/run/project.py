"""What a project gives a local run: its objects as emitted for this version, and the templates they reference.

A run uses exactly what ``hera-build templates`` would write: names, runner images (``repo:tag``, or
``repo:tag@digest`` when pinned) and ``templateRef``s pinned to the provider versions the requirements resolve
to. A provider's own templates run in the provider's image at that version: its repository comes from the
provider's ``[tool.hera-build] image`` (found through an editable or local install) or from
``__hera_build_image__`` in its entry-point module. Every object is registered under its versioned name *and*
its name in the code, so a Workflow written in a test can reference ``templateRef: validate-dataset`` as the
code does.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from hera_build.core.project import ENTRY_POINT_GROUP, Project, load_project
from hera_build.core.references import ImageRef
from hera_build.core.versions import image_tag
from hera_build.errors import ConfigError, RunError
from hera_build.run.spec import TemplateLibrary
from hera_build.run.target import RUNNABLE, RunTarget
from hera_build.templates.discover import SENTINEL_IMAGE

IMAGE_ATTRIBUTE = "__hera_build_image__"
"""A provider module attribute naming its image repository, for providers not installed from source."""


def _replace_image(manifest: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    for template in spec.get("templates") or []:
        for kind in ("container", "script"):
            body = template.get(kind)
            if isinstance(body, dict) and body.get("image") == old:
                body["image"] = new
    return manifest


def _provider_repository(distribution: str) -> ImageRef | None:
    """The provider's image repository: its module attribute, or its source tree's pyproject."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.entry_points:
        if entry.group == ENTRY_POINT_GROUP:
            declared = getattr(importlib.import_module(entry.module), IMAGE_ATTRIBUTE, None)
            if declared:
                from hera_build.core.references import parse_repository

                return parse_repository(str(declared))
    direct_url = dist.read_text("direct_url.json")
    if direct_url:
        url = urlparse(json.loads(direct_url).get("url", ""))
        if url.scheme == "file" and Path(unquote(url.path)).is_dir():
            try:
                return load_project(Path(unquote(url.path))).config.image_ref
            except ConfigError:
                return None
    return None


def _library(objects: Iterable[Any], provider_manifests: Iterable[dict[str, Any]], project: Project) -> TemplateLibrary:
    library = TemplateLibrary()
    pins = {pin.pinned: pin for obj in objects for pin in obj.refs if pin.reason == "provider"}
    for obj in objects:
        library.add(obj.manifest)
        library.alias(obj.source_name, obj.manifest)
    for manifest in provider_manifests:
        name = str(manifest["metadata"]["name"])
        pin = pins.get(name)
        if pin is not None and pin.distribution and "hera-build.invalid" in json.dumps(manifest):
            repository = _provider_repository(pin.distribution)
            if repository is None:
                raise RunError(
                    f"cannot tell which image {pin.distribution}'s templates run in ({name} is referenced by "
                    f"{project.name})",
                    f"install {pin.distribution} from its source (pip install -e), or set {IMAGE_ATTRIBUTE} = "
                    '"registry/repository" in its hera_build.templates module',
                )
            image = str(repository.with_tag(image_tag(pin.version or "0")))
            manifest = _replace_image(manifest, SENTINEL_IMAGE, image)
        library.add(manifest)
        if pin is not None:
            library.alias(pin.ref, manifest)
    return library


def project_objects(project_dir: Path, digest: str | None) -> tuple[Project, list[Any], TemplateLibrary, Any]:
    from hera_build.templates.build import TemplateOptions, build_templates

    result = build_templates(TemplateOptions(project_dir=project_dir, digest=digest))
    library = _library(result.objects, result.provider_manifests, result.project)
    return result.project, result.objects, library, result.image


def project_target(project_dir: Path, name: str, *, digest: str | None = None) -> RunTarget:
    """The project's object ``name`` (its name in the code or its versioned name), as emitted."""
    project, objects, library, image = project_objects(project_dir, digest)
    runnable = [o for o in objects if o.kind in RUNNABLE]
    matches = [o for o in runnable if name in (o.source_name, o.name)]
    if not matches:
        names = ", ".join(sorted({o.source_name for o in runnable})) or "none"
        raise RunError(
            f"{project.name} has no Workflow or template named {name!r} (it has: {names})",
            "pass one of those names, or --file FILE for emitted YAML",
        )
    if len(matches) > 1:
        kinds = ", ".join(f"{o.kind} {o.name}" for o in matches)
        raise RunError(f"{name!r} names more than one object ({kinds})", "pass the versioned name")
    return RunTarget(matches[0].manifest, library, project.root / ".hera-build" / "runs", project, image)


def object_target(obj: Any, *, project_dir: Path | None = None) -> RunTarget:
    """A Hera object: the project's own (matched by name) runs as emitted; any other (a workflow written in a
    test) as Hera builds it, its templates on Hera's default image moved to the project's image as
    ``hera-build templates`` moves the project's own, and the project's and providers' templates to reference."""
    if project_dir is None:
        manifest = obj.to_dict()
        return RunTarget(manifest, TemplateLibrary(), Path.cwd() / ".hera-build" / "runs")
    project, objects, library, image = project_objects(project_dir, None)
    name = str(getattr(obj, "name", None) or "")
    own = [o for o in objects if name and o.source_name == name and o.kind == _kind(obj)]
    if own:
        manifest = own[0].manifest
    else:
        from hera.shared import global_config

        manifest = obj.to_dict()
        if image is not None:
            # Functions imported while hera-build discovered the project were built on its sentinel image.
            for default in (str(global_config.image), SENTINEL_IMAGE):
                manifest = _replace_image(manifest, default, str(image))
    return RunTarget(manifest, library, project.root / ".hera-build" / "runs", project, image)


def _kind(obj: Any) -> str:
    for cls in type(obj).__mro__:
        if cls.__name__ in RUNNABLE and cls.__module__.startswith("hera."):
            return cls.__name__
    return "Workflow"


def build_project_image(project: Project, image: ImageRef, progress: Callable[[str], None]) -> str:
    """Build and push the project's runner image with its configured backend (``--build``), through the publish
    stage as ``hera-build image --push`` does; the run that follows is the check."""
    from hera_build.core.epoch import source_date_epoch
    from hera_build.image.backends import BuildRequest, backend_for, get_builder, resolve_base_image
    from hera_build.image.registry import RegistryApi
    from hera_build.publish.pipeline import ShipOptions, ship

    request = BuildRequest(
        project=project,
        image=image,
        base_image=resolve_base_image(project, None),
        source_date_epoch=source_date_epoch(),
        progress=progress,
    )
    shipped = ship(get_builder(backend_for(project, None)), request, ShipOptions(push=True), RegistryApi())
    return str(shipped.result.image)
