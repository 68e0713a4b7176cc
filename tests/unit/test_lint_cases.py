"""hera-build's linter on the agreement corpus (``tests/lint_cases``): each case's verdict and the levels that
catch it. ``tests/integration/test_argo_lint.py`` checks the same cases against Argo's own validator."""

from __future__ import annotations

import pytest

from hera_build.templates.crd import CrdSchemas
from hera_build.templates.lint import lint
from tests.argo_corpus import crd_paths
from tests.support.lint_cases import LintCase, lint_cases

CASES = lint_cases()


def test_the_corpus_has_forty_invalid_variants_and_the_tricky_valid_shapes() -> None:
    assert sum(case.invalid for case in CASES) >= 40
    valid = {case.name for case in CASES if not case.invalid}
    assert {"uppercase-task-names", "templated-template-ref", "depends-expressions", "with-param"} <= valid


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hera_build_lint_gives_each_case_its_verdict(case: LintCase) -> None:
    """Linted as ``hera-build lint FILES --crd …`` lints: the files given are all there is, as for Argo."""
    findings = lint(case.objects, crd=CrdSchemas.from_files(crd_paths()), strict_names=False, require_known_refs=True)
    errors = [f for f in findings if f.severity == "error"]
    assert bool(errors) == case.invalid, [str(f) for f in findings]
    assert sorted({f.source for f in errors}) == case.header["caught_by"]
    if "ours" in case.header:
        assert any(case.header["ours"] in f.message for f in errors), [str(f) for f in errors]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_disagreement_with_argo_says_why(case: LintCase) -> None:
    argo_refuses = case.header["argo"] == "refuses"
    assert (argo_refuses == case.invalid) or case.header.get("why"), case.name
    if not argo_refuses and case.invalid:  # Argo's CLI misses it: only the cluster-side levels catch it
        assert set(case.header["caught_by"]) <= {"crd", "kubernetes"}
