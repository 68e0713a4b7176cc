"""The run's node tree, shaped as Argo's ``status.nodes`` so that tools reading Argo's output read ours.

Names, ids and types follow Argo's controller: the root node is named after the workflow, step groups are
``name[i]``, steps and tasks ``parent.step``, loop items ``step(i:item)``, retry attempts ``step(i)``, exit handlers
``name.onExit``; an id is the workflow name and the FNV-1a hash of the node name, as ``Workflow.NodeID`` makes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class Phase:
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"
    OMITTED = "Omitted"

    FULFILLED = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED})
    FAILED_OR_ERROR = frozenset({FAILED, ERROR})


class NodeType:
    POD = "Pod"
    STEPS = "Steps"
    STEP_GROUP = "StepGroup"
    DAG = "DAG"
    TASK_GROUP = "TaskGroup"
    RETRY = "Retry"
    SKIPPED = "Skipped"
    SUSPEND = "Suspend"


def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's deterministic node id (``Workflow.NodeID``): FNV-1a 32 of the node name."""
    if node_name == workflow_name:
        return workflow_name
    value = 0x811C9DC5
    for byte in node_name.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow_name}-{value}"


def timestamp(seconds: float | None = None) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Node:
    id: str
    name: str
    display_name: str
    type: str
    template_name: str | None = None
    template_ref: dict[str, Any] | None = None
    boundary_id: str | None = None
    phase: str = Phase.PENDING
    message: str | None = None
    started: float | None = None
    finished: float | None = None
    children: list[str] = field(default_factory=list)
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    hooked: bool = False
    """An exit hook's node: a child of the node it ran after, but never what later steps hang from."""
    retried: bool = False
    """One attempt of a retry node."""
    outbound_nodes: list[str] = field(default_factory=list)
    """Of a steps or DAG node: the nodes that whatever runs after it hangs from."""
    log_path: str | None = None
    """Where the container's log is kept (relative to the run folder)."""

    @property
    def fulfilled(self) -> bool:
        return self.phase in Phase.FULFILLED

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def to_argo(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "phase": self.phase,
        }
        if self.template_name:
            data["templateName"] = self.template_name
        if self.template_ref:
            data["templateRef"] = self.template_ref
        if self.boundary_id:
            data["boundaryID"] = self.boundary_id
        if self.message:
            data["message"] = self.message
        if self.started is not None:
            data["startedAt"] = timestamp(self.started)
        data["finishedAt"] = timestamp(self.finished) if self.finished is not None else None
        if self.children:
            data["children"] = list(self.children)
        if self.hooked or self.retried:
            data["nodeFlag"] = {"hooked": True} if self.hooked else {"retried": True}
        if self.outbound_nodes:
            data["outboundNodes"] = list(self.outbound_nodes)
        if self.inputs:
            data["inputs"] = self.inputs
        if self.outputs:
            data["outputs"] = self.outputs
        return data


class NodeTree:
    """Every node of a run, shared by the executor's threads; ``on_change`` is told after each change."""

    def __init__(self, workflow_name: str, on_change: Callable[[], None] | None = None) -> None:
        self.workflow_name = workflow_name
        self._nodes: dict[str, Node] = {}
        self._lock = threading.RLock()
        self._on_change = on_change

    def create(self, name: str, display_name: str, type_: str, **fields: Any) -> Node:
        node = Node(node_id(self.workflow_name, name), name, display_name, type_, **fields)
        with self._lock:
            self._nodes[node.id] = node
        self.changed()
        return node

    def add_child(self, parent: Node | None, child: Node) -> None:
        if parent is None:
            return
        with self._lock:
            if child.id not in parent.children:
                parent.children.append(child.id)

    def start(self, node: Node) -> None:
        node.phase = Phase.RUNNING
        node.started = node.started or time.time()
        self.changed()

    def finish(self, node: Node, phase: str, message: str | None = None) -> Node:
        node.phase = phase
        if message is not None:
            node.message = message
        now = time.time()
        node.started = node.started or now
        node.finished = now
        self.changed()
        return node

    def get(self, id_: str) -> Node:
        with self._lock:
            return self._nodes[id_]

    def outbound(self, node: Node) -> list[Node]:
        """The nodes a later step or task hangs from: a pod itself, the last attempt, a group's leaves."""
        with self._lock:
            children = [self._nodes[c] for c in node.children if not self._nodes[c].hooked]
            if node.type in (NodeType.POD, NodeType.SKIPPED, NodeType.SUSPEND) or not children:
                return [node]
            if node.type == NodeType.RETRY:
                return self.outbound(children[-1])
            if node.type in (NodeType.STEPS, NodeType.DAG):
                return [self._nodes[id_] for id_ in node.outbound_nodes] or [node]
            return [n for child in children for n in self.outbound(child)]

    def __iter__(self) -> Iterator[Node]:
        with self._lock:
            return iter(list(self._nodes.values()))

    def changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def to_argo(self) -> dict[str, Any]:
        with self._lock:
            return {node.id: node.to_argo() for node in self._nodes.values()}
