"""What a release put on disk, read back for publishing: its manifest, its objects, and its providers' objects.

A release writes ``dist/release-manifest.json`` and the output folder (``dist/argo``); the manifest lists every
object with its file and every templateRef into another package (a *dependency edge*: ref → pinned name,
provider distribution and version). A consumer's release does not contain its providers' templates: they come
from the provider's own release, found through ``--with``: a provider's manifest, or a folder holding one
(``DIR/release-manifest.json`` or ``DIR/dist/release-manifest.json``). For each edge, the provider release of that
distribution must be the pinned version; the pinned template and the templates it references in its own
release are published first, and its own edges are followed through the other ``--with`` releases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hera_build.core.walk import walk_dicts
from hera_build.errors import ConfigError
from hera_build.release.manifest import MANIFEST_FILE, DependencyEdge, ReleaseManifest, load_manifest

PUBLISHED_KINDS = ("ClusterWorkflowTemplate", "WorkflowTemplate", "CronWorkflow")
"""What publish applies, in this order (referenced kinds first). Workflows are runs, not releases: submit them."""

RefKey = tuple[str, bool]
"""A reference target: (name, cluster scope)."""


@dataclass(frozen=True)
class ReleasedObject:
    """One object of a release, as it was written."""

    package: str
    version: str
    manifest: dict[str, Any]
    file: Path

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def key(self) -> RefKey:
        return (self.name, self.kind == "ClusterWorkflowTemplate")

    def describe(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class LoadedRelease:
    manifest: ReleaseManifest
    path: Path
    objects: tuple[ReleasedObject, ...]
    """Every object of the release that publish applies (no Workflows), in :data:`PUBLISHED_KINDS` order."""
    skipped: tuple[str, ...]
    """Objects of the release that publish does not apply (Workflows), as ``Kind/name``."""


def references(manifest: dict[str, Any]) -> set[RefKey]:
    """Every template an object refers to: ``templateRef`` anywhere (DAGs, steps, hooks, exit handlers) and
    ``workflowTemplateRef`` (Workflows, and CronWorkflows' ``workflowSpec``)."""
    found: set[RefKey] = set()
    for _, node in walk_dicts(manifest):
        for key in ("templateRef", "workflowTemplateRef"):
            ref = node.get(key)
            if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                found.add((ref["name"], bool(ref.get("clusterScope"))))
    return found


def manifest_path(given: Path) -> Path:
    """A manifest file, or the folder of one: ``DIR/release-manifest.json``, else ``DIR/dist/release-manifest.json``."""
    if given.is_dir():
        for candidate in (given / MANIFEST_FILE, given / "dist" / MANIFEST_FILE):
            if candidate.is_file():
                return candidate
        raise ConfigError(
            f"{given} holds no {MANIFEST_FILE} (nor dist/{MANIFEST_FILE})",
            "pass the release manifest, or the folder hera-build release wrote it to",
        )
    return given


def _output_folder(manifest: ReleaseManifest, path: Path) -> Path:
    """Where the release's output folder is now. The manifest records it as given to ``release`` (relative to where
    release ran); a folder copied or checked out elsewhere is found beside the manifest."""
    recorded = Path(manifest.output)
    candidates = [recorded] if recorded.is_absolute() else []
    candidates += [path.parent.parent / recorded, path.parent / recorded, path.parent / recorded.name, recorded]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"the output folder {manifest.output} of {path} is not there (looked beside the manifest and in the current "
        "folder)",
        "keep the output folder where hera-build release wrote it, beside its manifest",
    )


def load_release(given: Path) -> LoadedRelease:
    """Read a release: its manifest and every object file it lists, checked against the manifest."""
    path = manifest_path(given)
    manifest = load_manifest(path)
    folder = _output_folder(manifest, path)
    objects, skipped = [], []
    for record in manifest.objects:
        if record.kind not in PUBLISHED_KINDS:
            skipped.append(f"{record.kind}/{record.name}")
            continue
        recorded = Path(record.file)
        try:
            relative = recorded.relative_to(manifest.output)
        except ValueError:
            relative = Path(recorded.name)
        file = folder / relative
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"{file}, listed in {path}, cannot be read: {' '.join(str(exc).split())}",
                "run hera-build release again to rewrite the output folder",
            ) from None
        meta = loaded.get("metadata") if isinstance(loaded, dict) else None
        if not isinstance(meta, dict) or (loaded.get("kind"), meta.get("name")) != (record.kind, record.name):
            raise ConfigError(
                f"{file} does not hold {record.kind}/{record.name} as {path} says",
                "run hera-build release again: the output folder and its manifest disagree",
            )
        objects.append(ReleasedObject(manifest.package, manifest.version, loaded, file))
    objects.sort(key=lambda o: PUBLISHED_KINDS.index(o.kind))
    return LoadedRelease(manifest, path, tuple(objects), tuple(skipped))


def provider_objects(release: LoadedRelease, providers: Sequence[LoadedRelease]) -> list[ReleasedObject]:
    """The providers' objects ``release`` needs, dependencies before dependents, each once: for every edge, the
    pinned template of the provider release given for it, and what that template references in turn.

    An edge with no provider release given is left out here (publish then requires the pinned template to be on
    the cluster already); a provider release of another version than the pinned one is an error.
    """
    by_package = {p.manifest.package: p for p in providers}
    ordered: dict[RefKey, ReleasedObject] = {}
    visiting: set[RefKey] = set()

    def visit(edge: DependencyEdge, consumer: LoadedRelease) -> None:
        provider = by_package.get(edge.distribution)
        if provider is None:
            return
        if provider.manifest.version != edge.version:
            raise ConfigError(
                f"{consumer.manifest.package} {consumer.manifest.version} pins {edge.pinned} of {edge.distribution} "
                f"{edge.version}, but --with {provider.path} is {edge.distribution} {provider.manifest.version}",
                f"pass the release of {edge.distribution} {edge.version} to --with",
            )
        key = (edge.pinned, edge.cluster_scope)
        target = next((o for o in provider.objects if o.key == key), None)
        if target is None:
            raise ConfigError(
                f"{edge.distribution} {edge.version} ({provider.path}) has no {edge.pinned}, which "
                f"{consumer.manifest.package} pins",
                f"pass the release of {edge.distribution} {edge.version} that made {edge.pinned} to --with",
            )
        add(target, provider)

    def add(obj: ReleasedObject, owner: LoadedRelease) -> None:
        if obj.key in ordered or obj.key in visiting:
            return
        visiting.add(obj.key)
        own = {o.key: o for o in owner.objects}
        for ref in sorted(references(obj.manifest)):
            if ref in own:
                add(own[ref], owner)
            for edge in owner.manifest.dependencies:
                if (edge.pinned, edge.cluster_scope) == ref:
                    visit(edge, owner)
        visiting.discard(obj.key)
        ordered[obj.key] = obj

    for edge in release.manifest.dependencies:
        visit(edge, release)
    return list(ordered.values())


def unresolved_edges(release: LoadedRelease, providers: Sequence[LoadedRelease]) -> Iterator[DependencyEdge]:
    """The edges of ``release`` for which no provider release was given."""
    given = {p.manifest.package for p in providers}
    for edge in release.manifest.dependencies:
        if edge.distribution not in given:
            yield edge


def kind_of(key: RefKey) -> str:
    return "ClusterWorkflowTemplate" if key[1] else "WorkflowTemplate"
