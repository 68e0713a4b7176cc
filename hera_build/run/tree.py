"""The run's nodes as the tree ``argo get``/``argo watch`` shows: phase symbol, name, template, duration, message.

Step groups are not shown (their steps hang from the steps node), loop items hang from their task group and
attempts from their retry node, exactly as Argo's CLI draws them. Pure text: the CLI decides where it goes.
"""

from __future__ import annotations

from collections.abc import Iterable

from hera_build.run.nodes import Node, NodeType, Phase

SYMBOLS = {
    Phase.SUCCEEDED: "✔",
    Phase.FAILED: "✖",
    Phase.ERROR: "⚠",
    Phase.SKIPPED: "○",
    Phase.OMITTED: "○",
    Phase.RUNNING: "●",
    Phase.PENDING: "◷",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _display_parents(nodes: dict[str, Node]) -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    for node in nodes.values():
        parents.setdefault(node.id, node.boundary_id if node.boundary_id in nodes else None)
        for child_id in node.children:
            child = nodes.get(child_id)
            if child is None:
                continue
            if child.hooked or node.type in (NodeType.TASK_GROUP, NodeType.RETRY):
                parents[child_id] = node.id
            else:
                parents[child_id] = child.boundary_id if child.boundary_id in nodes else None
    return parents


def render(all_nodes: Iterable[Node]) -> list[str]:
    """One line per shown node, children indented under their parent with Argo's box-drawing prefixes."""
    nodes = {n.id: n for n in all_nodes}
    parents = _display_parents(nodes)
    children: dict[str | None, list[Node]] = {}
    for node in nodes.values():
        if node.type == NodeType.STEP_GROUP:
            continue
        parent = parents.get(node.id)
        while parent is not None and nodes[parent].type == NodeType.STEP_GROUP:
            parent = parents.get(parent)
        children.setdefault(parent, []).append(node)
    for siblings in children.values():
        siblings.sort(key=lambda n: (n.started or float("inf"), n.name))
    rows: list[tuple[str, Node]] = []

    def walk(node: Node, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─" if last else "├─")
        rows.append((f"{prefix}{branch}{SYMBOLS.get(node.phase, '?')} {node.display_name}", node))
        kids = children.get(node.id, [])
        below = prefix if root else prefix + ("  " if last else "│ ")
        for index, kid in enumerate(kids):
            walk(kid, below, index == len(kids) - 1, False)

    for root in children.get(None, []):
        walk(root, " ", True, True)
    width = max((len(text) for text, _ in rows), default=0)
    template_width = max((len(n.template_name or "") for _, n in rows), default=0)
    lines = []
    for text, node in rows:
        template = node.template_name or (node.template_ref or {}).get("template", "")
        took = duration(node.duration) if node.type == NodeType.POD else ""
        line = f"{text:<{width}}  {template:<{template_width}}  {took:>7}"
        if node.message and node.phase not in (Phase.SUCCEEDED,):
            line += f"  {node.message}"
        lines.append(line.rstrip())
    return lines
