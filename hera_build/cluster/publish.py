"""Publish a release's objects to a cluster: providers' pinned templates first, then the release's own, with
server-side apply and an immutability guard that the API server itself decides.

A released version never changes. So for each object:

- absent on the server → *create* (the server's dry run validates every object before the first is written);
- present → a forced server-side dry-run apply shows what the object would become; equal to what is there (status
  and bookkeeping metadata aside) → *unchanged*, nothing is written; different → *refuse*, naming the object and
  the first field that differs, before anything is written. ``force`` turns it into *replace*.

Comparing the server's dry-run result with the live object, rather than our file with the live object, lets the
server apply its own defaulting and field ownership: what is compared is exactly what applying would change.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from hera_build.cluster.kube import KINDS, ClusterApi, connect
from hera_build.cluster.objects import (
    LoadedRelease,
    ReleasedObject,
    kind_of,
    load_release,
    provider_objects,
    unresolved_edges,
)
from hera_build.cluster.prune import Pruned, prune
from hera_build.core.progress import no_progress
from hera_build.errors import ClusterError, ImmutableObjectError
from hera_build.release.manifest import DEFAULT_MANIFEST

Action = Literal["create", "unchanged", "replace", "refuse"]

_BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


@dataclass(frozen=True)
class PublishOptions:
    """What ``hera-build publish`` takes."""

    manifest: Path = DEFAULT_MANIFEST
    """The release to publish: its manifest, or the folder holding it."""
    providers: tuple[Path, ...] = ()
    """``--with``: releases of the packages this one pins templateRefs into (manifests or their folders)."""
    kubeconfig: Path | None = None
    """Default: ``$KUBECONFIG``, ``~/.kube/config``, else the in-cluster service account."""
    context: str | None = None
    namespace: str | None = None
    """Default: the context's namespace (in a pod: the service account's), else ``default``."""
    force: bool = False
    dry_run: bool = False
    prune: bool = False
    progress: Callable[[str], None] = field(default=no_progress, compare=False)


@dataclass(frozen=True)
class ObjectResult:
    package: str
    version: str
    kind: str
    name: str
    action: Action
    field: str | None = None
    """The first field that differs (``replace``/``refuse``)."""
    diff: str | None = None
    """Unified diff live → release (``replace``/``refuse``), or the new object (``create``)."""

    def describe(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class PublishResult:
    server: str
    namespace: str
    dry_run: bool
    objects: tuple[ObjectResult, ...]
    skipped: tuple[str, ...]
    """Objects of the release that publish does not apply (Workflows: submit them)."""
    pruned: Pruned | None

    @property
    def refused(self) -> tuple[ObjectResult, ...]:
        return tuple(o for o in self.objects if o.action == "refuse")


def normalized(obj: dict[str, Any]) -> dict[str, Any]:
    """The content of an object: no ``status``, no bookkeeping metadata the server writes."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _BOOKKEEPING}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The path of the first field where ``old`` and ``new`` differ (``spec.templates[1].script.image``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            found = first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None if len(old) == len(new) else f"{path}[{min(len(old), len(new))}]"
    return None if old == new else path or "(the object)"


def _diff(old: dict[str, Any] | None, new: dict[str, Any], what: str) -> str:
    before = yaml.safe_dump(old, sort_keys=True).splitlines(keepends=True) if old is not None else []
    after = yaml.safe_dump(new, sort_keys=True).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"live/{what}", f"release/{what}"))


def _check_namespace(obj: ReleasedObject, namespace: str) -> None:
    declared = obj.manifest["metadata"].get("namespace")
    if KINDS[obj.kind].namespaced and declared not in (None, namespace):
        raise ClusterError(
            f"{obj.describe()} ({obj.file}) declares namespace {declared}, but publishing into {namespace}",
            f"pass --namespace {declared}, or drop namespace= from the object in the Python source",
        )


def _decide(api: ClusterApi, obj: ReleasedObject, namespace: str) -> ObjectResult:
    live = api.get(obj.kind, obj.name, namespace)
    what = obj.describe()
    if live is None:
        would = api.apply(obj.manifest, namespace, force=False, dry_run=True)  # the server validates it
        return ObjectResult(
            obj.package, obj.version, obj.kind, obj.name, "create", diff=_diff(None, normalized(would), what)
        )
    would = api.apply(obj.manifest, namespace, force=True, dry_run=True)
    before, after = normalized(live), normalized(would)
    changed = first_difference(before, after)
    if changed is None:
        return ObjectResult(obj.package, obj.version, obj.kind, obj.name, "unchanged")
    return ObjectResult(obj.package, obj.version, obj.kind, obj.name, "refuse", changed, _diff(before, after, what))


def _require_pinned(
    api: ClusterApi, release: LoadedRelease, providers: Sequence[LoadedRelease], namespace: str
) -> None:
    """Every templateRef without a provider release given must already be on the cluster."""
    for edge in unresolved_edges(release, providers):
        kind = kind_of((edge.pinned, edge.cluster_scope))
        if api.get(kind, edge.pinned, namespace) is None:
            where = "the cluster" if edge.cluster_scope else f"namespace {namespace}"
            raise ClusterError(
                f"{release.manifest.package} {release.manifest.version} references {kind}/{edge.pinned} of "
                f"{edge.distribution} {edge.version}, which is not in {where}",
                f"publish {edge.distribution} {edge.version} first, or pass its release folder with --with DIR",
            )


def publish(options: PublishOptions, api: ClusterApi | None = None) -> PublishResult:
    """Publish the release at ``options.manifest`` (and its providers' pinned templates); ``api`` defaults to the
    cluster of ``options.kubeconfig``/``context``.

    Raises :class:`ImmutableObjectError` when an object of this version is on the server with other content and
    neither ``force`` nor ``dry_run`` is set; nothing is written then.
    """
    release = load_release(options.manifest)
    providers = [load_release(p) for p in options.providers]
    if api is None:
        connection = connect(options.kubeconfig, options.context, options.namespace)
        api, namespace = connection.api, connection.namespace
    else:
        namespace = options.namespace or "default"
    needed = provider_objects(release, providers)
    ordered = [*needed, *release.objects]
    kinds = {o.kind for o in ordered} | ({"WorkflowTemplate", "CronWorkflow", "Workflow"} if options.prune else set())
    api.check_kinds(kinds or {"WorkflowTemplate"})
    for obj in ordered:
        _check_namespace(obj, namespace)
    _require_pinned(api, release, providers, namespace)

    decided = [_decide(api, obj, namespace) for obj in ordered]
    refused = [d for d in decided if d.action == "refuse"]
    if refused and options.force:
        decided = [replace(d, action="replace") if d.action == "refuse" else d for d in decided]
    elif refused and not options.dry_run:
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        where = f"in namespace {namespace}" if KINDS[first.kind].namespaced else "on the cluster"
        raise ImmutableObjectError(
            f"{first.describe()} ({first.package} {first.version}) exists {where} with other content: "
            f"{first.field} differs{more}",
            "a released version never changes: bump the version; --dry-run shows the diff, --force overwrites",
        )
    if not options.dry_run:
        for obj, result in zip(ordered, decided, strict=True):
            if result.action in ("create", "replace"):
                api.apply(obj.manifest, namespace, force=result.action == "replace", dry_run=False)
                options.progress(f"{'created' if result.action == 'create' else 'replaced'} {result.describe()}")
    pruned = prune(api, release, namespace, dry_run=options.dry_run) if options.prune else None
    return PublishResult(
        server=api.server,
        namespace=namespace,
        dry_run=options.dry_run,
        objects=tuple(decided),
        skipped=release.skipped,
        pruned=pruned,
    )
