"""An in-memory API server behind :class:`hera_build.cluster.kube.ClusterApi`, and releases written to disk.

The fake enforces what the real server does where publish relies on it: a dry run writes nothing, apply stores
what was sent (with the namespace and bookkeeping metadata the server adds), only served kinds exist, and the
errors come as :class:`~hera_build.cluster.kube.ApiError` with the status the real client reports. It does not
default fields; the integration tests cover the real server's behaviour.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hera_build.cluster.kube import KINDS, ApiError
from hera_build.errors import ClusterError
from hera_build.release.manifest import DependencyEdge, EmittedObject, ReleaseManifest

Key = tuple[str, str | None, str]


class FakeCluster:
    server = "https://fake.invalid:6443"

    def __init__(self, served: Sequence[str] = tuple(KINDS)) -> None:
        self.served = set(served)
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, Key]] = []
        """("apply" | "delete", key) of every change, in order."""
        self.fail: dict[str, ApiError] = {}
        """Operation name (``get``, ``apply``, ``list-all``, ``delete``) → the error it raises."""
        self._version = itertools.count(1)

    @staticmethod
    def key(kind: str, name: str, namespace: str | None) -> Key:
        return (kind, namespace if KINDS[kind].namespaced else None, name)

    def put(self, manifest: dict[str, Any], namespace: str | None = None) -> None:
        """Create an object directly, as another client would."""
        obj = copy.deepcopy(manifest)
        if KINDS[obj["kind"]].namespaced:
            obj["metadata"]["namespace"] = namespace
        self.objects[self.key(obj["kind"], obj["metadata"]["name"], namespace)] = obj

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.fail:
            raise self.fail[operation]

    def check_kinds(self, kinds: set[str]) -> None:
        missing = sorted(k for k in kinds if k not in self.served)
        if missing:
            raise ClusterError(f"the cluster does not serve {', '.join(missing)}", "install Argo Workflows")

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        self._maybe_fail("get")
        found = self.objects.get(self.key(kind, name, namespace))
        return copy.deepcopy(found) if found is not None else None

    def apply(self, manifest: dict[str, Any], namespace: str, *, force: bool, dry_run: bool) -> dict[str, Any]:
        self._maybe_fail("apply")
        obj = copy.deepcopy(manifest)
        if KINDS[obj["kind"]].namespaced:
            obj["metadata"]["namespace"] = namespace
        obj["metadata"]["resourceVersion"] = str(next(self._version))
        obj["metadata"]["managedFields"] = [{"manager": "hera-build", "operation": "Apply"}]
        key = self.key(obj["kind"], obj["metadata"]["name"], namespace)
        if not dry_run:
            self.objects[key] = obj
            self.writes.append(("apply", key))
        return copy.deepcopy(obj)

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        if namespace is None and KINDS[kind].namespaced:
            self._maybe_fail("list-all")
        wanted = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
        found = []
        for (k, ns, _), obj in sorted(self.objects.items(), key=lambda item: str(item[0])):
            if k != kind or (namespace is not None and KINDS[kind].namespaced and ns != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            if all(labels.get(name) == value for name, value in wanted.items()):
                found.append(copy.deepcopy(obj))
        return found

    def delete(self, kind: str, name: str, namespace: str) -> None:
        self._maybe_fail("delete")
        key = self.key(kind, name, namespace)
        if self.objects.pop(key, None) is not None:
            self.writes.append(("delete", key))


def forbidden(what: str = "list workflows") -> ApiError:
    return ApiError(f"{what}: the API server answered 403 forbidden", "ask for RBAC rights", 403)


def template(
    kind: str, name: str, *, package: str | None = None, version: str | None = None, refs: Sequence[Any] = ()
) -> dict[str, Any]:
    """An Argo object; ``package``/``version`` label it as hera-build does; ``refs`` are templateRef names (or
    ``(name, cluster_scope)``), or for a CronWorkflow/Workflow the workflowTemplateRef."""
    metadata: dict[str, Any] = {"name": name}
    if package is not None:
        metadata["labels"] = {
            "app.kubernetes.io/name": package,
            "app.kubernetes.io/version": version,
            "app.kubernetes.io/managed-by": "hera-build",
        }
        metadata["annotations"] = {"hera-build.dev/version": version, "hera-build.dev/source-name": name}
    pairs = [r if isinstance(r, tuple) else (r, False) for r in refs]
    if kind in ("CronWorkflow", "Workflow"):
        spec: dict[str, Any] = {"workflowTemplateRef": {"name": pairs[0][0]}} if pairs else {"entrypoint": "main"}
        if kind == "CronWorkflow":
            spec = {"schedules": ["0 3 * * *"], "workflowSpec": spec}
    else:
        steps = [
            [{"name": f"s{i}", "templateRef": {"name": n, "template": "main", **({"clusterScope": True} if c else {})}}]
            for i, (n, c) in enumerate(pairs)
        ]
        main = {"name": "main", "steps": steps} if steps else {"name": "main", "container": {"image": "busybox"}}
        spec = {"entrypoint": "main", "templates": [main]}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}


def write_release(
    root: Path,
    package: str,
    version: str,
    objects: Sequence[dict[str, Any]],
    dependencies: Sequence[DependencyEdge] = (),
) -> Path:
    """A release as ``hera-build release`` lays it out: ``root/dist/argo/*.yaml`` and
    ``root/dist/release-manifest.json`` (paths in the manifest relative to ``root``); returns ``root``."""
    out = root / "dist" / "argo"
    out.mkdir(parents=True)
    records = []
    for obj in objects:
        file = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (out / file).write_text(yaml.safe_dump(obj, sort_keys=False))
        records.append(
            EmittedObject(
                kind=obj["kind"],
                source_name=obj["metadata"]["name"],
                name=obj["metadata"]["name"],
                file=f"dist/argo/{file}",
            )
        )
    digest = "sha256:" + "0" * 64
    manifest = ReleaseManifest.model_validate(
        {
            "package": package,
            "version": version,
            "image": {
                "repository": f"registry.invalid/{package}",
                "tag": version,
                "digest": digest,
                "id": digest,
                "reference": f"registry.invalid/{package}:{version}@{digest}",
            },
            "backend": {"name": "oci", "version": None},
            "base_image": {"reference": "python:3.11-slim", "digest": None},
            "input_digest": digest,
            "source_date_epoch": None,
            "git": None,
            "hera_version": "7.1.0",
            "hera_build_version": "0.1.0",
            "output": "dist/argo",
            "objects": [r.model_dump() for r in records],
            "dependencies": [d.model_dump() for d in dependencies],
        }
    )
    (root / "dist" / "release-manifest.json").write_text(manifest.to_json())
    return root


def edge(ref: str, pinned: str, distribution: str, version: str, used_by: Sequence[str] = ()) -> DependencyEdge:
    return DependencyEdge(
        ref=ref,
        cluster_scope=False,
        pinned=pinned,
        distribution=distribution,
        version=version,
        specifier=None,
        used_by=tuple(used_by),
    )
