"""A generic walk over Argo manifests: refs and images can sit in DAGs, steps, hooks and exit handlers, at any
depth, and a walk finds them all without a list of places that Argo's next release would outgrow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk_dicts(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(path, mapping)`` for every mapping in ``node``, parents before children.

    With a stack rather than nested generators (each value passed up through every level) and paths made for
    containers only: emitting walks every manifest several times.
    """
    stack: list[tuple[str, Any]] = [(path, node)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            yield path, node
            children = [
                (f"{path}.{key}" if path else str(key), value)
                for key, value in node.items()
                if isinstance(value, (dict, list))
            ]
        elif isinstance(node, list):
            children = [
                (f"{path}[{index}]", value) for index, value in enumerate(node) if isinstance(value, (dict, list))
            ]
        else:
            continue
        stack.extend(reversed(children))


def workflow_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The workflow spec of any kind: CronWorkflows nest it under ``spec.workflowSpec``."""
    spec: dict[str, Any] = manifest.get("spec", {})
    if manifest.get("kind") == "CronWorkflow":
        nested: dict[str, Any] = spec.get("workflowSpec", {})
        return nested
    return spec
