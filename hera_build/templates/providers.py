"""Find the templates that installed packages provide, through the ``hera_build.templates`` entry point.

A provider declares ``[project.entry-points."hera_build.templates"] <any-name> = "<module>"``; hera-build
imports that module by name and collects its objects, as it does for the project itself. A provider whose
``name-format`` is not the default says so with a module attribute ``__hera_build_name_format__``, so that its
consumers derive the same versioned names it emits.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterable

from packaging.utils import canonicalize_name

from hera_build.core.project import ENTRY_POINT_GROUP
from hera_build.core.versions import DEFAULT_NAME_FORMAT
from hera_build.errors import DiscoveryError
from hera_build.templates.discover import discover
from hera_build.templates.resolve import ProvidedTemplate

NAME_FORMAT_ATTRIBUTE = "__hera_build_name_format__"


def _entry_points() -> dict[str, tuple[str, list[str]]]:
    """``{normalized distribution: (version, [modules])}`` for every distribution with our entry point."""
    found: dict[str, tuple[str, list[str]]] = {}
    for dist in importlib.metadata.distributions():
        modules = [ep.module for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        if modules:
            name = canonicalize_name(dist.metadata["Name"])
            found.setdefault(name, (dist.version, []))[1].extend(modules)
    return found


def installed_providers(*, exclude: Iterable[str] = ()) -> list[ProvidedTemplate]:
    """Every template object that installed distributions (but those in ``exclude``) provide."""
    skip = {canonicalize_name(name) for name in exclude}
    provided: list[ProvidedTemplate] = []
    for dist, (version, modules) in sorted(_entry_points().items()):
        if dist in skip:
            continue
        try:
            objects = discover(modules)
        except DiscoveryError as exc:
            raise DiscoveryError(f"provider {dist} {version}: {exc.message}", exc.fix) from exc
        name_format = next(
            (
                str(getattr(sys.modules[m], NAME_FORMAT_ATTRIBUTE))
                for m in modules
                if hasattr(sys.modules.get(m), NAME_FORMAT_ATTRIBUTE)
            ),
            DEFAULT_NAME_FORMAT,
        )
        provided.extend(
            ProvidedTemplate(obj.name, obj.cluster_scoped, dist, version, name_format, obj.manifest)
            for obj in objects
            if obj.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
        )
    return provided
