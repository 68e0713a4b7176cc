"""``hera-build lint`` on a project as users run it: findings on stdout with --json, upper case only warned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.genproject import generate

UPPER = """
from hera.workflows import DAG, Container, WorkflowTemplate

with WorkflowTemplate(name="shouting", entrypoint="main") as shouting:
    echo = Container(name="Echo", image="alpine:3", command=["echo", "{{inputs.parameters.missing}}"])
    with DAG(name="main"):
        echo(name="TEST-ONE")
"""


def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "proj"
    [module] = generate(root, 1)
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + UPPER)
    return root, {**os.environ, "PYTHONPATH": str(root)}


def hera_build(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hera_build", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_lint_json_on_a_project_prints_its_findings_on_stdout(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    result = hera_build(root, env, "lint", "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    assert [f["message"] for f in errors] == [
        "{{inputs.parameters.missing}} cannot resolve: no input parameter 'missing'"
    ]
    assert {f["path"].rsplit(".", 1)[-1] for f in findings if f["severity"] == "warning"} == {"name"}


def test_upper_case_names_are_warnings_that_allow_uppercase_hides(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    module = next(root.glob("genproject/templates_*.py"))
    module.write_text(module.read_text().replace("{{inputs.parameters.missing}}", "hello"))
    warned = hera_build(root, env, "lint")
    assert warned.returncode == 0, warned.stderr
    assert "task name 'TEST-ONE' has upper-case letters: Argo accepts them" in warned.stderr
    quiet = hera_build(root, env, "lint", "--allow-uppercase")
    assert quiet.returncode == 0 and "upper-case" not in quiet.stderr
    emitted = hera_build(root, env, "templates", "--out", str(tmp_path / "out"))
    assert emitted.returncode == 0, emitted.stderr
    assert "template name 'Echo' has upper-case letters" in emitted.stderr
    quiet = hera_build(root, env, "templates", "--allow-uppercase", "--out", str(tmp_path / "out"))
    assert quiet.returncode == 0 and "upper-case" not in quiet.stderr


def test_argo_missing_is_one_line_saying_how_to_get_it(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    result = hera_build(root, {**env, "PATH": str(tmp_path), "HERA_BUILD_ARGO": ""}, "lint", "--argo")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --argo needs Argo's CLI (argo), which is not on PATH (fix: build it with scripts/build-argo.sh "
        "--cli-only from the hera-build repository (about 10 minutes), then pass --argo-path PATH or set "
        "HERA_BUILD_ARGO)"
    ]
