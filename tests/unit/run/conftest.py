from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_build.run import RunSettings, run_manifest
from hera_build.run.executor import RunResult
from hera_build.run.spec import TemplateLibrary
from tests.support.fake_engine import FakeEngine

Run = Callable[..., RunResult]


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def run(engine: FakeEngine, tmp_path: Path) -> Run:
    """Run a workflow given as YAML (or a dict) on the fake engine."""

    def run_(manifest: str | dict[str, Any], *, library: list[str] = (), **options: Any) -> RunResult:  # type: ignore[assignment]
        data = yaml.safe_load(manifest) if isinstance(manifest, str) else manifest
        templates = TemplateLibrary(yaml.safe_load(text) for text in library)
        return run_manifest(
            data,
            engine=engine,
            library=templates,
            options=RunSettings(runs_dir=tmp_path / "runs", name=options.pop("name", "wf"), **options),
        )

    return run_
