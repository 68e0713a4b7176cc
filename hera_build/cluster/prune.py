"""``publish --prune``: delete older versions of this package's objects that nothing references any more.

*This package's objects* are the ones hera-build labelled for it (``app.kubernetes.io/name`` = the package,
``app.kubernetes.io/managed-by`` = hera-build); their version is the ``hera-build.dev/version`` annotation, and
only versions lower than the one being published are candidates (a hotfix of an old line never prunes the new
one). Old CronWorkflows are candidates too: left alone they would keep scheduling the old version.

*References* come from the objects on the server themselves: every ``templateRef`` and ``workflowTemplateRef`` in
WorkflowTemplates, ClusterWorkflowTemplates, CronWorkflows and Workflows (running or finished: a retry or resubmit
needs the template; a Workflow's stored template spec counts). A candidate referenced by anything that stays,
stays, and its own references then count too: the walk repeats until nothing changes, so an old template used
only by another old template that is pruned goes as well. A namespaced template is referenced from its own
namespace; a ClusterWorkflowTemplate from any namespace, and when the other namespaces cannot be listed it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from hera_build.cluster.kube import ApiError, ClusterApi
from hera_build.cluster.objects import LoadedRelease, RefKey, references
from hera_build.templates.emit import ANNOTATION_PREFIX, MANAGED_BY, label_value

_DELETE_ORDER = ("CronWorkflow", "WorkflowTemplate", "ClusterWorkflowTemplate")
"""Referrers before what they refer to, so a failure half-way never leaves a dangling reference."""
_REFERRERS = ("WorkflowTemplate", "CronWorkflow", "Workflow")

Identity = tuple[str, str | None, str]
"""(kind, namespace or None for cluster scope, name)."""


@dataclass(frozen=True)
class Kept:
    kind: str
    name: str
    version: str
    referenced_by: str
    """``Kind/name`` (with ``namespace/`` for other namespaces) of one referrer, or why it was kept."""


@dataclass(frozen=True)
class Pruned:
    deleted: tuple[tuple[str, str, str], ...]
    """(kind, name, version) of every deleted object (or that would be, with ``--dry-run``)."""
    kept: tuple[Kept, ...]


def _identity(obj: dict[str, Any]) -> Identity:
    meta = obj.get("metadata", {})
    namespace = None if obj.get("kind") == "ClusterWorkflowTemplate" else meta.get("namespace")
    return (str(obj.get("kind")), namespace, str(meta.get("name")))


def _version(obj: dict[str, Any]) -> Version | None:
    meta = obj.get("metadata", {})
    raw = (meta.get("annotations") or {}).get(f"{ANNOTATION_PREFIX}version") or (meta.get("labels") or {}).get(
        "app.kubernetes.io/version"
    )
    try:
        return Version(raw) if raw else None
    except InvalidVersion:
        return None


def _describe(identity: Identity, namespace: str) -> str:
    kind, where, name = identity
    return f"{kind}/{name}" if where in (None, namespace) else f"{kind}/{where}/{name}"


def prune(api: ClusterApi, release: LoadedRelease, namespace: str, *, dry_run: bool) -> Pruned:
    """Delete (or, with ``dry_run``, list) the old versions of ``release``'s package that nothing references."""
    current = Version(release.manifest.version)
    selector = (
        f"app.kubernetes.io/name={label_value(release.manifest.package)},app.kubernetes.io/managed-by={MANAGED_BY}"
    )
    found = [
        *api.list("WorkflowTemplate", namespace, selector),
        *api.list("CronWorkflow", namespace, selector),
        *api.list("ClusterWorkflowTemplate", None, selector),
    ]
    candidates: dict[Identity, dict[str, Any]] = {}
    for obj in found:
        version = _version(obj)
        if version is not None and version < current:
            candidates[_identity(obj)] = obj

    cluster_candidates = any(kind == "ClusterWorkflowTemplate" for kind, _, _ in candidates)
    referrers: list[dict[str, Any]] = [*api.list("ClusterWorkflowTemplate", None)]
    everywhere = cluster_candidates
    for kind in _REFERRERS:
        if everywhere:
            try:
                referrers += api.list(kind, None)
                continue
            except ApiError as exc:
                if exc.status != 403:
                    raise
                everywhere = False
        referrers += api.list(kind, namespace)

    kept: dict[Identity, str] = {}
    if cluster_candidates and not everywhere:
        for identity in candidates:
            if identity[0] == "ClusterWorkflowTemplate":
                kept[identity] = "(other namespaces cannot be listed: it may be referenced there)"
    by_identity = {_identity(o): o for o in referrers}
    changed = True
    while changed:  # a kept candidate's own references keep what it references
        changed = False
        for identity, obj in by_identity.items():
            if identity in candidates and identity not in kept:
                continue
            for ref in references(obj):
                target = _target(ref, identity, namespace)
                if target in candidates and target not in kept and target != identity:
                    kept[target] = _describe(identity, namespace)
                    changed = True

    deleted = []
    for kind in _DELETE_ORDER:
        for identity, obj in sorted(candidates.items()):
            if identity[0] != kind or identity in kept:
                continue
            if not dry_run:
                api.delete(kind, identity[2], namespace)
            deleted.append((kind, identity[2], str(_version(obj))))
    return Pruned(
        deleted=tuple(deleted),
        kept=tuple(
            Kept(identity[0], identity[2], str(_version(candidates[identity])), why)
            for identity, why in sorted(kept.items())
        ),
    )


def _target(ref: RefKey, source: Identity, namespace: str) -> Identity:
    """What a reference in ``source`` points at: a namespaced ref resolves in the namespace of the Workflow that
    runs it, the referrer's own, or for a ClusterWorkflowTemplate any namespace (so this one too)."""
    name, cluster_scope = ref
    if cluster_scope:
        return ("ClusterWorkflowTemplate", None, name)
    return ("WorkflowTemplate", source[1] if source[1] is not None else namespace, name)
