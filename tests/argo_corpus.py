"""Argo's reference data for tests: its CRDs and example manifests (``../shared/argo`` from the repo root).

They are not part of the project, so tests that need them skip, loudly and with the reason, when they are
missing, except in CI (``CI=true``), where a missing corpus fails the test instead of hiding it.
``$HERA_BUILD_ARGO_DIR`` points elsewhere; if it is set, the folder must exist.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from hera_build.templates.lint import WORKFLOW_KINDS
from tests.support.components import require_component

__all__ = ["ARGO_DIR_ENV", "CorpusObject", "argo_dir", "crd_paths", "example_objects"]

ARGO_DIR_ENV = "HERA_BUILD_ARGO_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARGO_DIR = REPO_ROOT.parent / "shared" / "argo"


@dataclass(frozen=True)
class CorpusObject:
    """One workflow object from the examples; ``where`` is ``file.yaml``, or ``file.yaml#2`` and so on."""

    where: str
    manifest: dict[str, Any]


def _missing(reason: str) -> NoReturn:
    require_component(f"Argo reference data: {reason}. Set {ARGO_DIR_ENV} to a folder with crds/ and examples/.")


def argo_dir() -> Path:
    """The folder with ``crds/`` and ``examples/``; skips (fails in CI) when it is absent."""
    configured = os.environ.get(ARGO_DIR_ENV)
    if configured and not Path(configured).is_dir():
        pytest.fail(f"{ARGO_DIR_ENV}={configured} is not a directory")
    directory = Path(configured) if configured else DEFAULT_ARGO_DIR
    for part in ("crds", "examples"):
        if not (directory / part).is_dir():
            _missing(f"no {directory / part}")
    return directory


def crd_paths() -> list[Path]:
    """Argo's full CRD files."""
    paths = sorted((argo_dir() / "crds").glob("*.yaml"))
    if not paths:
        _missing(f"no CRD files in {argo_dir() / 'crds'}")
    return paths


def example_objects() -> list[CorpusObject]:
    """Every Workflow, WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow in the examples."""
    return list(_example_objects(argo_dir() / "examples"))


@functools.cache
def _example_objects(examples: Path) -> tuple[CorpusObject, ...]:
    found = []
    for path in sorted(examples.rglob("*.y*ml")):
        with path.open("rb") as stream:
            documents = list(yaml.safe_load_all(stream))
        for position, document in enumerate(documents):
            if isinstance(document, dict) and document.get("kind") in WORKFLOW_KINDS:
                where = str(path.relative_to(examples)) + (f"#{position + 1}" if position else "")
                found.append(CorpusObject(where, document))
    if not found:
        _missing(f"no workflow objects under {examples}")
    return tuple(found)
