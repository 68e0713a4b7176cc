"""The command's bad input gives one line before any engine is touched; the tree is drawn as ``argo get`` draws it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hera_build._cli import main
from hera_build.run.tree import render
from tests.support.fake_engine import FakeEngine
from tests.unit.run.conftest import Run


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_parameter_that_is_not_key_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = error_line(capsys, ["run", "--file", str(tmp_path / "wf.yaml"), "-p", "rows"])
    assert line == "error: -p 'rows' is not KEY=VALUE (fix: write -p name=value)"


def test_a_file_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = error_line(capsys, ["run", "--file", str(tmp_path / "wf.yaml")])
    assert line.startswith(f"error: {tmp_path / 'wf.yaml'} does not exist")


def test_a_name_the_file_does_not_have(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text("kind: Workflow\nmetadata: {name: hello}\nspec: {entrypoint: main}\n")
    line = error_line(capsys, ["run", "--file", str(tmp_path / "wf.yaml"), "goodbye"])
    assert "has no object named 'goodbye' (it has: hello)" in line


def test_the_tree_hides_step_groups_and_nests_loops_and_retries(run: Run, engine: FakeEngine) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: tree}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: first, template: ok}
    - - {name: loop, template: ok, withItems: [a, b]}
      - {name: flaky, template: flaky}
  - {name: ok, container: {image: fake, command: [fake], args: ["print ok"]}}
  - name: flaky
    retryStrategy: {limit: 1}
    container: {image: fake, command: [fake], args: ["fail-until 2 tree"]}
"""
    )
    lines = render(result.nodes)
    print("\n".join(lines))
    rows = [re.match(r"^(?P<indent>[ │├└─]*)(?P<symbol>\S) (?P<name>\S+)", line) for line in lines]
    names = [row["name"] for row in rows if row]
    depth = {row["name"]: len(row["indent"]) for row in rows if row}
    assert names[0] == "wf" and lines[0].startswith(" ✔ wf")
    assert "[0]" not in "".join(lines), "step groups are not shown"
    assert set(names) == {"wf", "first", "loop(0:a)", "loop(1:b)", "flaky", "flaky(0)", "flaky(1)"}
    assert depth["first"] == depth["loop(0:a)"] == depth["flaky"], "steps of every group hang from the steps node"
    assert depth["flaky(0)"] > depth["flaky"], "attempts hang from their retry node"
    assert "Error (exit code 1)" in lines[names.index("flaky(0)")]


def test_engine_references_keep_the_digest_and_drop_the_tag() -> None:
    from hera_build.run.docker_engine import engine_reference

    digest = "sha256:" + "a" * 64
    assert engine_reference(f"127.0.0.1:5000/acme/ml:0.3.0@{digest}") == f"127.0.0.1:5000/acme/ml@{digest}"
    assert engine_reference("127.0.0.1:5000/acme/ml:0.3.0") == "127.0.0.1:5000/acme/ml:0.3.0"
    assert engine_reference(f"localhost:5000/ml@{digest}") == f"localhost:5000/ml@{digest}"
