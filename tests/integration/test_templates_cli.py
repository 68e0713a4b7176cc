"""`hera-build templates` and `lint` as users run them: a fresh process, the examples installed, real CRDs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argo_corpus import crd_paths

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "ml-pipeline"
PROVIDER = ROOT / "examples" / "data-utils"
HERA_BUILD = [sys.executable, "-m", "hera_build"]


def run(*args: str, cwd: Path = CONSUMER, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HERA_BUILD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def crd_args() -> list[str]:
    return [arg for path in crd_paths() for arg in ("--crd", str(path))]


def load_out(out: Path) -> dict[str, dict[str, Any]]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml")) if p.name != "kustomization.yaml"]
    return {d["metadata"]["name"]: d for d in docs}


def test_consumer_example_is_fully_pinned_and_valid_against_argo_crds(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    result = run("templates", "--out", str(out), *crd_args())
    assert result.returncode == 0, result.stderr
    objects = load_out(out)
    assert set(objects) == {"train-pipeline-v0-3-0", "nightly-train-v0-3-0"}
    pipeline = objects["train-pipeline-v0-3-0"]
    scripts = [t["script"] for t in pipeline["spec"]["templates"] if "script" in t]
    assert scripts and {s["image"] for s in scripts} == {"127.0.0.1:5000/acme/ml-pipeline:0.3.0"}
    main = next(t for t in pipeline["spec"]["templates"] if t["name"] == "main")
    validate = next(task for task in main["dag"]["tasks"] if task["name"] == "validate")
    assert validate["templateRef"]["name"] == "validate-dataset-v1-4-0", "pinned to the installed data-utils"
    cron = objects["nightly-train-v0-3-0"]
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "train-pipeline-v0-3-0"
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in out.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_json_summary_says_what_each_ref_was_pinned_to_and_why(tmp_path: Path) -> None:
    result = run("templates", "--out", str(tmp_path / "argo"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    refs = {r["ref"]: r for obj in summary["objects"] for r in obj["refs"]}
    assert refs["validate-dataset"] == {
        "ref": "validate-dataset",
        "pinned": "validate-dataset-v1-4-0",
        "reason": "provider",
        "distribution": "data-utils",
        "version": "1.4.0",
        "specifier": "<2,>=1",
        "cluster_scope": False,
    }
    assert refs["train-pipeline"]["reason"] == "local"


def test_another_version_changes_every_name_and_image_consistently() -> None:
    result = run("templates", "--version", "2.0.0rc1", "--stdout")
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert {d["metadata"]["name"] for d in docs} == {"train-pipeline-v2-0-0rc1", "nightly-train-v2-0-0rc1"}
    images = {t["script"]["image"] for d in docs for t in d["spec"].get("templates", []) if "script" in t}
    assert images == {"127.0.0.1:5000/acme/ml-pipeline:2.0.0rc1"}
    assert "0.3.0" not in result.stdout.replace("1.4.0", "")
    assert all(d["metadata"]["annotations"]["hera-build.dev/version"] == "2.0.0rc1" for d in docs)


def test_digest_pins_every_runner_image() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    result = run("templates", "--digest", digest, "--stdout")
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    images = {t["script"]["image"] for d in docs for t in d["spec"].get("templates", []) if "script" in t}
    assert images == {f"127.0.0.1:5000/acme/ml-pipeline:0.3.0@{digest}"}


def installed_copy_of_provider(site: Path, version: str) -> None:
    """Install data-utils at ``version`` into ``site`` the way an installer lays it out."""
    shutil.copytree(PROVIDER / "src" / "data_utils", site / "data_utils")
    info = site / f"data_utils-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: data-utils\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[hera_build.templates]\ndata-utils = data_utils.workflows\n")


def test_provider_outside_the_specifier_fails_with_one_line_naming_both(tmp_path: Path) -> None:
    installed_copy_of_provider(tmp_path, "2.0.0")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run("templates", "--out", str(tmp_path / "argo"), env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "data-utils 2.0.0, outside the requirement 'data-utils<2,>=1'" in lines[0]
    assert "validate-dataset" in lines[0] and "train-pipeline" in lines[0]
    assert not (tmp_path / "argo").exists(), "nothing is written on failure"


def test_lock_file_versions_win(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "data-utils"\nversion = "1.9.1"\n')
    result = run("templates", "--lock", str(lock), "--stdout")
    assert result.returncode == 0, result.stderr
    assert "validate-dataset-v1-9-1" in result.stdout and "validate-dataset-v1-4-0" not in result.stdout


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("image =", "imgae ="), "unknown key 'imgae' in [tool.hera-build]"),
        (('version = "0.3.0"', 'version = "zero"'), "invalid version 'zero'"),
        (("[project]", "[project"), "is not valid TOML"),
    ],
)
def test_bad_pyproject_is_one_clear_line_and_exit_1(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    project = tmp_path / "ml-pipeline"
    shutil.copytree(CONSUMER, project, ignore=shutil.ignore_patterns("dist", "*.egg-info"))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(*edit, 1))
    result = run("templates", "--out", str(tmp_path / "argo"), cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("templates", "--format", "xml").returncode == 2
    assert run("no-such-command").returncode == 2


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "templates", "--version", "not-a-version", "--stdout")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_every_command_has_help() -> None:
    from hera_build._cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        result = run(name, "--help")
        assert result.returncode == 0 and "usage: hera-build" in result.stdout, name


def test_lint_accepts_the_project_against_the_crds() -> None:
    result = run("lint", *crd_args())
    assert result.returncode == 0, result.stderr
    assert "ok: 2 objects pass" in result.stderr


def test_custom_name_format_must_be_published_to_consumers(tmp_path: Path) -> None:
    project = tmp_path / "ml-pipeline"
    shutil.copytree(CONSUMER, project, ignore=shutil.ignore_patterns("dist", "*.egg-info"))
    pyproject = project / "pyproject.toml"
    custom = '[tool.hera-build]\nname-format = "{name}-{slug}"'
    pyproject.write_text(pyproject.read_text().replace("[tool.hera-build]", custom))
    result = run("templates", "--stdout", cwd=project)
    assert result.returncode == 1
    assert "__hera_build_name_format__ = '{name}-{slug}'" in result.stderr


def test_a_generated_project_of_hundreds_of_templates_is_valid_against_the_crds(tmp_path: Path) -> None:
    from tests.support.genproject import generate

    root = tmp_path / "gen"
    generate(root, 300)
    env = {**os.environ, "PYTHONPATH": str(root)}  # the generated project, importable by name
    out = tmp_path / "argo"
    result = run("templates", "--out", str(out), "--json", *crd_args(), cwd=root, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert len(summary["objects"]) == 300
    assert len(list(out.glob("workflowtemplate-*.yaml"))) == 300
    refs = [r for obj in summary["objects"] for r in obj["refs"]]
    assert refs and all(r["pinned"].endswith("-v1-0-0") and r["reason"] == "local" for r in refs)
