"""Reading a run's Argo Workflow object in tests: nodes by display name, as Hera's system tests find them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hera_build.run.executor import RunResult

__all__ = ["ROOT", "EXAMPLES", "CORPUS", "node", "phases", "output"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CORPUS = ROOT / "tests" / "packages" / "run_corpus"
"""Workflows with known outcomes (an installable project with its own image), for the real-engine tests."""


def node(result: RunResult, display_name: str) -> dict[str, Any]:
    """The one node with this display name (as Hera's system tests find nodes)."""
    found = [n for n in result.workflow["status"]["nodes"].values() if n["displayName"] == display_name]
    assert len(found) == 1, f"{len(found)} nodes named {display_name!r}: {sorted(phases(result))}"
    return found[0]


def phases(result: RunResult) -> dict[str, str]:
    return {n["displayName"]: n["phase"] for n in result.workflow["status"]["nodes"].values()}


def output(result: RunResult, display_name: str, name: str | None = None) -> str:
    outputs = node(result, display_name).get("outputs") or {}
    if name is None:
        return str(outputs["result"])
    return next(str(p["value"]) for p in outputs.get("parameters", []) if p["name"] == name)
