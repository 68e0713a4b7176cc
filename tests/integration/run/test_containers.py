"""What only a real engine can show: files placed and fetched across volumes, images referenced by digest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hera_build.run import RunSettings, run_manifest
from tests.integration.run.conftest import RecordingContainers
from tests.support.runs import node, output

pytestmark = [pytest.mark.docker, pytest.mark.registry]

IMAGE = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3")


def test_outputs_are_read_from_an_empty_dir_volume_after_exit(tmp_path: Path, run_engine: RecordingContainers) -> None:
    workflow = yaml.safe_load(
        f"""
kind: Workflow
metadata: {{name: volumes}}
spec:
  entrypoint: main
  volumes: [{{name: work, emptyDir: {{}}}}]
  templates:
  - name: main
    steps:
    - - {{name: write, template: write}}
    - - name: read
        template: read
        arguments: {{artifacts: [{{name: data, from: "{{{{steps.write.outputs.artifacts.data}}}}"}}]}}
  - name: write
    container:
      image: {IMAGE}
      command: [sh, -c]
      args: ["mkdir -p /work/out && echo from-volume > /work/out/data.txt && printf 42 > /work/count"]
      volumeMounts: [{{name: work, mountPath: /work}}]
    outputs:
      parameters: [{{name: count, valueFrom: {{path: /work/count}}}}]
      artifacts: [{{name: data, path: /work/out}}]
  - name: read
    inputs: {{artifacts: [{{name: data, path: /in/data}}]}}
    container: {{image: {IMAGE}, command: [cat, /in/data/data.txt]}}
"""
    )
    result = run_manifest(workflow, engine=run_engine, options=RunSettings(runs_dir=tmp_path))
    assert result.phase == "Succeeded", result.workflow["status"]
    assert output(result, "write", "count") == "42"
    assert output(result, "read") == "from-volume"
    assert node(result, "read")["outputs"]["exitCode"] == "0"
    assert run_engine.leftovers() == []
