"""The lint agreement corpus: ``tests/lint_cases/*.yaml``, one case per file.

Each file's first document is ``case:`` — what both linters must conclude, and why — and the rest are the
objects linted together (a consumer with its pinned provider templates, for instance):

- ``verdict``: ``valid`` or ``invalid``, the truth for a cluster (API server and Argo's controller);
- ``reason``: why; ``ours``: a phrase hera-build's error must contain;
- ``caught_by``: which of hera-build's levels refuse it (``rules``, ``kubernetes``, ``crd``; see
  :data:`hera_build.templates.lint.Source`): the per-case record of what the CRD schema catches;
- ``argo``: ``refuses`` or ``accepts`` — what ``argo lint --offline`` says; ``argo_says``: a phrase of its message;
- ``why``: required when Argo's CLI disagrees with ``verdict``, saying which check sees what Argo's does not
  (or the reverse).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CASES_DIR", "LintCase", "lint_cases"]

CASES_DIR = Path(__file__).resolve().parent.parent / "lint_cases"


@dataclass(frozen=True)
class LintCase:
    name: str
    header: dict[str, Any]
    objects: list[dict[str, Any]]

    @property
    def invalid(self) -> bool:
        return bool(self.header["verdict"] == "invalid")


@functools.cache
def lint_cases() -> tuple[LintCase, ...]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        first, *objects = yaml.safe_load_all(path.read_text(encoding="utf-8"))
        cases.append(LintCase(path.stem, first["case"], objects))
    return tuple(cases)
