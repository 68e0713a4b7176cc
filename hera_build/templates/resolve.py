"""Pin every templateRef: to this project's versioned names, or to the version of the package that provides it.

Pure: it is given what was discovered, what providers offer and which versions are installed or locked, and
returns pins. It never imports, reads files or talks to an engine, so it is tested with plain values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hera_build.core.versions import DEFAULT_NAME_FORMAT, ProjectVersion, versioned_name
from hera_build.core.walk import walk_dicts
from hera_build.errors import ResolveError

RefKey = tuple[bool, str]
"""``(cluster_scope, name)``: a namespaced and a cluster-scoped template may share a name."""


@dataclass(frozen=True)
class RefSite:
    """One ``templateRef`` or ``workflowTemplateRef`` in one object."""

    object_name: str
    path: str
    name: str
    cluster_scope: bool
    template: str | None
    field: str = "templateRef"
    """``templateRef`` or ``workflowTemplateRef``: what the user wrote, so errors say the same."""

    @property
    def key(self) -> RefKey:
        return (self.cluster_scope, self.name)

    def describe(self) -> str:
        target = f"{self.name}/{self.template}" if self.template else self.name
        scope = "cluster " if self.cluster_scope else ""
        return f"{scope}{self.field} {target!r} in {self.object_name} ({self.path})"


@dataclass(frozen=True)
class ProvidedTemplate:
    """A template object that an installed distribution offers through the ``hera_build.templates`` entry point."""

    name: str
    cluster_scope: bool
    distribution: str
    version: str
    name_format: str = DEFAULT_NAME_FORMAT
    manifest: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> RefKey:
        return (self.cluster_scope, self.name)


@dataclass(frozen=True)
class Pin:
    """What a reference was pinned to, and why (for ``--json`` and the release manifest)."""

    ref: str
    pinned: str
    reason: Literal["local", "provider", "external"]
    cluster_scope: bool = False
    distribution: str | None = None
    version: str | None = None
    specifier: str | None = None


def is_templated(name: str) -> bool:
    """``{{inputs.parameters.wt}}``: Argo fills the name in at run time, so there is nothing to pin."""
    return "{{" in name


def find_ref_sites(object_name: str, manifest: Mapping[str, Any]) -> list[RefSite]:
    """Every ``templateRef`` and ``workflowTemplateRef`` in a manifest whose name is not templated."""
    sites = []
    for path, node in walk_dicts(manifest):
        for key in ("templateRef", "workflowTemplateRef"):
            ref = node.get(key)
            if isinstance(ref, dict) and ref.get("name") and not is_templated(str(ref["name"])):
                sites.append(
                    RefSite(
                        object_name=object_name,
                        path=f"{path}.{key}" if path else key,
                        name=str(ref["name"]),
                        cluster_scope=bool(ref.get("clusterScope", False)),
                        template=ref.get("template"),
                        field=key,
                    )
                )
    return sites


def _declared(requirements: Iterable[Requirement], distribution: str) -> Requirement | None:
    """The project's requirement on ``distribution`` that applies in this environment, if any."""
    wanted = canonicalize_name(distribution)
    for req in requirements:
        if canonicalize_name(req.name) == wanted and (req.marker is None or req.marker.evaluate({"extra": ""})):
            return req
    return None


def _candidates(site: RefSite, providers: Sequence[ProvidedTemplate], local: Iterable[RefKey]) -> str:
    names = sorted({p.name for p in providers} | {name for _, name in local})
    close = difflib.get_close_matches(site.name, names, n=3)
    return f"did you mean {', '.join(repr(c) for c in close)}?" if close else "no provider offers a similar name"


def _pin_to_provider(
    site: RefSite, provider: ProvidedTemplate, requirements: Sequence[Requirement], locked: Mapping[str, str] | None
) -> Pin:
    dist = canonicalize_name(provider.distribution)
    requirement = _declared(requirements, provider.distribution)
    if requirement is None:
        raise ResolveError(
            f"{site.describe()} is provided by {provider.distribution}, which is not a declared requirement",
            f"add '{provider.distribution}' with a version range to [project] dependencies",
        )
    if locked is not None and dist not in locked:
        raise ResolveError(
            f"{site.describe()} is provided by {provider.distribution}, which the lock file does not list",
            f"update the lock file (e.g. uv lock) so it locks {provider.distribution}, or leave out --lock",
        )
    version = provider.version if locked is None else locked[dist]
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        raise ResolveError(
            f"{site.describe()} is provided by {provider.distribution} {version}, outside the requirement "
            f"'{requirement}'",
            f"install a version of {provider.distribution} that matches '{requirement.specifier}' "
            "or change the requirement",
        )
    pinned = versioned_name(provider.name, ProjectVersion.parse(version), provider.name_format)
    return Pin(
        ref=site.name,
        pinned=pinned,
        reason="provider",
        cluster_scope=site.cluster_scope,
        distribution=provider.distribution,
        version=version,
        specifier=str(requirement.specifier) or None,
    )


def resolve_refs(
    sites: Iterable[RefSite],
    *,
    local: Mapping[RefKey, str],
    external: Iterable[str] = (),
    providers: Sequence[ProvidedTemplate] = (),
    requirements: Sequence[Requirement] = (),
    versions: Mapping[str, str] | None = None,
) -> dict[RefKey, Pin]:
    """Pin each distinct reference; raise :class:`ResolveError` naming the ref, its user and the candidates.

    ``local`` maps this project's original names to versioned names; ``versions`` (from a lock file) maps
    normalized distribution names to the version to pin to; without it, providers pin to their installed version.
    A provider that the given ``versions`` do not list is an error: a lock that misses it pins nothing.
    """
    external_names = set(external)
    locked: dict[str, str] | None = None
    if versions is not None:
        locked = {canonicalize_name(k): v for k, v in versions.items()}
    by_key: dict[RefKey, list[ProvidedTemplate]] = {}
    for provided in providers:
        by_key.setdefault(provided.key, []).append(provided)
    pins: dict[RefKey, Pin] = {}
    unresolved: dict[RefKey, RefSite] = {}
    for site in sites:
        if site.key in pins or site.key in unresolved:
            continue
        if site.key in local:
            pins[site.key] = Pin(site.name, local[site.key], "local", site.cluster_scope)
        elif site.name in external_names:
            pins[site.key] = Pin(site.name, site.name, "external", site.cluster_scope)
        else:
            offered = by_key.get(site.key, [])
            distributions = sorted({p.distribution for p in offered})
            if not offered:
                unresolved[site.key] = site
                continue
            if len(distributions) > 1:
                raise ResolveError(
                    f"{site.describe()} is provided by more than one package: {', '.join(distributions)}",
                    "uninstall one of them, or rename the template in one package",
                )
            pins[site.key] = _pin_to_provider(site, offered[0], requirements, locked)
    if unresolved:
        # All of them at once: a project with several missing providers is fixed in one round, not one per run.
        missing = list(unresolved.values())
        if len(missing) == 1:
            message = (
                f"unresolved {missing[0].describe()}: no installed requirement provides it "
                f"({_candidates(missing[0], providers, local)})"
            )
        else:
            listed = "; ".join(f"{site.describe()} ({_candidates(site, providers, local)})" for site in missing)
            message = f"{len(missing)} unresolved references, no installed requirement provides them: {listed}"
        raise ResolveError(
            message,
            "install the packages that provide them (entry point group hera_build.templates), "
            "or list the names under external in [tool.hera-build]",
        )
    return pins
