"""``when`` (govaluate, bare words are strings) and ``depends`` (task results) as Argo evaluates them."""

from __future__ import annotations

import pytest

from hera_build.errors import RunError
from hera_build.run.expressions import depends_operands, evaluate_depends, evaluate_when


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("heads == heads", True),
        ("heads == tails", False),
        ("Failed != Succeeded", True),
        ("'a b' == 'a b'", True),
        ("2 > 10", False),
        ("10 >= 10.0", True),
        ("5 == 5", True),
        ("5 == '5'", False),
        ("tails =~ tai", True),
        ("heads !~ ^h", False),
        ("!(a == b)", True),
        ("( heads == heads && tails == tails ) || false", True),
        ("true && false || true", True),
        ("true && (false || false)", False),
        ("", True),
    ],
)
def test_when(expression: str, expected: bool) -> None:
    assert evaluate_when(expression) is expected


@pytest.mark.parametrize("expression", ["heads ==", "a == b )", "heads", "(a == b"])
def test_when_rejects_what_argo_rejects(expression: str) -> None:
    with pytest.raises(RunError):
        evaluate_when(expression)


RESULTS = {
    "A": {"Succeeded": True},
    "B": {"Failed": True},
    "C": {"Skipped": True},
    "D": {"Errored": True},
    "loop": {"Succeeded": False, "Failed": True, "AnySucceeded": True, "AllFailed": False},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("A", True),
        ("C", True),
        ("B", False),
        ("B.Failed", True),
        ("A && B", False),
        ("A && (B.Failed || B.Errored)", True),
        ("!B.Succeeded && D.Errored", True),
        ("loop.AnySucceeded", True),
        ("loop.AllFailed || A.Skipped", False),
    ],
)
def test_depends(expression: str, expected: bool) -> None:
    assert evaluate_depends(expression, RESULTS, {}) is expected


def test_continue_on_widens_a_bare_dependency() -> None:
    assert evaluate_depends("B", RESULTS, {"B": {"failed": True}}) is True
    assert evaluate_depends("D", RESULTS, {"D": {"error": True}}) is True
    assert evaluate_depends("D", RESULTS, {"D": {"failed": True}}) is False


def test_depends_operands_are_the_task_names() -> None:
    assert depends_operands("(task-2.Succeeded || task-2.Skipped) && !task-3.Failed") == ["task-2", "task-3"]


def test_an_unknown_result_is_refused() -> None:
    with pytest.raises(RunError, match="unknown task result 'Finished'"):
        depends_operands("A.Finished")
