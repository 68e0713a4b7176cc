"""Speed work on ``hera-build templates`` changes no byte it writes: every file of the benchmark's 500-template
project and of the examples is the one recorded before (``tests/unit/golden/templates_output.json``, see
``tests/support/golden_templates.py``), built afresh or reused from the cache, written into a fresh folder or
over the previous run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.golden_templates import CASES, GOLDEN, run_case
from tests.unit.test_templates_cache import REUSED

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
def test_templates_writes_the_recorded_bytes_fresh_reused_and_uncached(case: str, tmp_path: Path) -> None:
    """Into a fresh folder with an empty cache; again over that folder, from the cache; into another folder
    without the cache."""
    fresh, err = run_case(case, tmp_path, tmp_path / "out")
    assert not _differences(fresh, RECORDED[case]), _differences(fresh, RECORDED[case])[:10]
    assert REUSED not in err

    again, err = run_case(case, tmp_path, tmp_path / "out")
    assert not _differences(again, RECORDED[case]), _differences(again, RECORDED[case])[:10]
    assert REUSED in err

    uncached, err = run_case(case, tmp_path, tmp_path / "uncached", "--no-cache")
    assert not _differences(uncached, RECORDED[case]), _differences(uncached, RECORDED[case])[:10]
    assert REUSED not in err
