"""Speed work on ``hera-build templates`` changes no byte it writes: every file of the benchmark's 500-template
project and of the examples is the one recorded before (``tests/unit/golden/templates_output.json``, see
``tests/support/golden_templates.py``), written into a fresh folder and again over the previous run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.golden_templates import CASES, GOLDEN, run_case

RECORDED: dict[str, dict[str, str]] = json.loads(GOLDEN.read_text())


def _differences(got: dict[str, str], want: dict[str, str]) -> list[str]:
    changed = sorted(path for path in got.keys() & want.keys() if got[path] != want[path])
    return (
        [f"missing: {p}" for p in sorted(want.keys() - got.keys())]
        + [f"unexpected: {p}" for p in sorted(got.keys() - want.keys())]
        + [f"changed: {p}" for p in changed]
    )


def test_every_case_is_recorded() -> None:
    assert set(RECORDED) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_templates_writes_the_recorded_bytes_fresh_and_over_its_previous_output(case: str, tmp_path: Path) -> None:
    out = tmp_path / "out"

    fresh = run_case(case, tmp_path, out)
    assert not _differences(fresh, RECORDED[case]), _differences(fresh, RECORDED[case])[:10]
    again = run_case(case, tmp_path, out)  # over the folder the first run wrote: the files of a re-run
    assert not _differences(again, RECORDED[case]), _differences(again, RECORDED[case])[:10]
