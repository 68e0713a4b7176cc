"""Running ``argo lint --offline`` and reading its findings back (a fake runner: no argo needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.process import CommandResult
from hera_build.errors import BuildError, ConfigError
from hera_build.templates.argo import ARGO_ENV, argo_lint, find_argo, parse_simple

WT = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "train-v1"}, "spec": {}}
PROVIDER = {**WT, "metadata": {"name": "validate-v1-4-0"}}


class FakeArgo:
    """Answers like argo lint: the files it was given, and the output it is told to print."""

    def __init__(self, stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode
        self.argv: list[str] = []
        self.files: list[str] = []

    def __call__(self, args: list[Any], **kwargs: Any) -> CommandResult:
        self.argv = [str(a) for a in args]
        root = Path(self.argv[-1])
        self.files = sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml"))
        out = self.stdout.replace("ROOT", str(root))
        return CommandResult(tuple(self.argv), self.returncode, out, self.stderr.replace("ROOT", str(root)))


def test_runs_argo_offline_on_the_objects_and_the_providers_templates() -> None:
    fake = FakeArgo("no linting errors found!\n")
    assert argo_lint([WT], Path("/bin/argo"), providers=[PROVIDER], run=fake) == []
    assert fake.argv[:6] == ["/bin/argo", "lint", "--offline", "--output", "simple", "--no-color"]
    assert fake.files == ["providers/workflowtemplate-validate-v1-4-0.yaml", "workflowtemplate-train-v1.yaml"]


def test_reads_findings_back_as_object_path_and_message() -> None:
    line = (
        'ROOT/workflowtemplate-train-v1.yaml: in "train-v1" (WorkflowTemplate): '
        "templates.main.tasks.B dependency 'C' not defined\n"
    )
    findings = argo_lint([WT], Path("/bin/argo"), run=FakeArgo(line, returncode=1))
    assert [(f.object_name, f.path, f.message, f.severity, f.source) for f in findings] == [
        ("WorkflowTemplate/train-v1", "templates.main.tasks.B", "dependency 'C' not defined", "error", "argo")
    ]


def test_findings_in_providers_templates_are_warnings_and_external_refs_too() -> None:
    out = (
        'ROOT/providers/workflowtemplate-validate-v1-4-0.yaml: in "validate-v1-4-0" (WorkflowTemplate): bad\n'
        'ROOT/workflowtemplate-train-v1.yaml: in "train-v1" (WorkflowTemplate): templates.main.tasks.x '
        'couldn\'t find workflow template "legacy-etl" in namespace ""\n'
    )
    findings = argo_lint(
        [WT], Path("/a"), providers=[PROVIDER], external_names={"legacy-etl"}, run=FakeArgo(out, returncode=1)
    )
    assert [f.severity for f in findings] == ["warning", "warning"]
    assert "provider's pinned template" in findings[0].message and "declared external" in findings[1].message


def test_a_file_argo_cannot_read_is_a_finding_on_that_object() -> None:
    err = "Error: failed to parse YAML from file ROOT/workflowtemplate-train-v1.yaml: json: cannot unmarshal bool\n"
    findings = argo_lint([WT], Path("/a"), run=FakeArgo(stderr=err, returncode=1))
    assert [(f.object_name, f.message) for f in findings] == [
        ("WorkflowTemplate/train-v1", "cannot be read: json: cannot unmarshal bool")
    ]


def test_a_failure_without_findings_is_one_line_naming_argo() -> None:
    with pytest.raises(BuildError, match="argo lint failed without reporting a finding: panic: boom"):
        argo_lint([WT], Path("/a"), run=FakeArgo(stderr="panic: boom\n", returncode=2))


def test_parse_simple_ignores_the_summary_and_prefixes() -> None:
    out = (
        'x.yaml: in "w-" (Workflow): cannot validate Workflow: spec.entrypoint is required\nno linting errors found!\n'
    )
    [finding] = parse_simple(out, Path("/r"))
    assert (finding.object_name, finding.path, finding.message) == ("Workflow/w-", "spec.entrypoint", "is required")


def test_finds_argo_from_the_flag_then_the_environment_then_path(tmp_path: Path) -> None:
    tool = tmp_path / "argo"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    other = tmp_path / "bin"
    other.mkdir()
    (other / "argo").write_text("#!/bin/sh\n")
    (other / "argo").chmod(0o755)
    assert find_argo(tool, {ARGO_ENV: "/nope"}) == tool
    assert find_argo(None, {ARGO_ENV: str(tool), "PATH": str(other)}) == tool
    assert find_argo(None, {"PATH": str(other)}) == other / "argo"


def test_a_missing_argo_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        find_argo(None, {"PATH": str(tmp_path)})
    assert raised.value.message == "--argo needs Argo's CLI (argo), which is not on PATH"
    assert raised.value.fix is not None and "scripts/build-argo.sh --cli-only" in raised.value.fix
    with pytest.raises(ConfigError, match=f"{ARGO_ENV} {os.devnull} is not an executable file"):
        find_argo(None, {ARGO_ENV: os.devnull})
