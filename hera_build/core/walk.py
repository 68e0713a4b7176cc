"""A generic walk over Argo manifests: refs and images can sit in DAGs, steps, hooks and exit handlers, at any
depth, and a walk finds them all without a list of places that Argo's next release would outgrow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk_dicts(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(path, mapping)`` for every mapping in ``node``, parents before children."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk_dicts(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_dicts(value, f"{path}[{index}]")


def workflow_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The workflow spec of any kind: CronWorkflows nest it under ``spec.workflowSpec``."""
    spec: dict[str, Any] = manifest.get("spec", {})
    if manifest.get("kind") == "CronWorkflow":
        nested: dict[str, Any] = spec.get("workflowSpec", {})
        return nested
    return spec
