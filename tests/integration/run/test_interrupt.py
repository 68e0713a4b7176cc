"""Ctrl-C in the middle of a run: the command stops at once and leaves no container behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.run.conftest import RecordingContainers
from tests.support.runs import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.registry]


def test_ctrl_c_kills_the_runs_containers(tmp_path: Path, run_engine: RecordingContainers, base_image: str) -> None:
    image = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3")
    workflow = {
        "kind": "Workflow",
        "metadata": {"name": "interrupted"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "steps": [[{"name": "sleep", "template": "sleep", "withItems": [1, 2, 3]}]]},
                {"name": "sleep", "container": {"image": image, "command": ["sleep", "300"]}},
            ],
        },
    }
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump(workflow))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "hera_build", "run", "--file", "wf.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(run_engine.leftovers()) < 3:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the three containers never started"
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().endswith("error: interrupted")
    assert run_engine.leftovers() == []
