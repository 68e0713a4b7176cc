"""Argo's own validator as the oracle: ``argo lint --offline`` and hera-build's linter agree, case by case.

Every object Argo accepts, hera-build accepts (warnings allowed); every object Argo refuses, hera-build refuses.
Where they differ by design, the case says which check sees what the other does not (``tests/lint_cases``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hera_build.templates.argo import argo_lint
from hera_build.templates.build import TemplateOptions, build_templates
from hera_build.templates.crd import CrdSchemas
from hera_build.templates.lint import lint
from tests.argo_corpus import crd_paths, example_objects
from tests.support.components import require_component
from tests.support.lint_cases import LintCase, lint_cases

pytestmark = pytest.mark.argo

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "ml-pipeline"
PROVIDER = ROOT / "examples" / "data-utils"
NEWER_THAN_THE_CLI = {
    # The examples and CRDs are v4.1.x; the CLI is v4.0.5 (the only v4 the Go proxy serves), whose strict
    # decoding does not know the fields v4.1 added. The v4.1 CRDs (and so hera-build) accept them.
    "pod-resources.yaml": "spec.podResources",
    "pod-resources-template-override.yaml": "spec.podResources",
    "resource-claims.yaml": "spec.resourceClaims",
    "resource-claims-template-override.yaml": "spec.resourceClaims",
    "workflow-level-executor-plugin.yaml": "spec.executorPlugins",
}
API_SERVER_ONLY = [
    # Argo's fun-with-gifs.yaml, as written, is refused by the API server: a label value may not end in '-'.
    ("metadata.labels.generateName", "label value 'fun-with-gifs-' is invalid"),
]


@pytest.fixture(scope="module")
def argo() -> Path:
    """``$HERA_BUILD_TEST_ARGO`` (what ``scripts/build-argo.sh --print-env`` exports)."""
    value = os.environ.get("HERA_BUILD_TEST_ARGO", "")
    if not value or not os.access(value, os.X_OK):
        require_component(f"Argo's CLI: HERA_BUILD_TEST_ARGO={value!r}; build it with scripts/build-argo.sh --cli-only")
    return Path(value)


@pytest.mark.parametrize("case", lint_cases(), ids=lambda case: case.name)
def test_argo_gives_each_case_the_recorded_verdict(case: LintCase, argo: Path) -> None:
    errors = [f for f in argo_lint(case.objects, argo) if f.severity == "error"]
    assert bool(errors) == (case.header["argo"] == "refuses"), [str(f) for f in errors]
    if errors:
        assert any(case.header["argo_says"] in f.message for f in errors), [str(f) for f in errors]
        assert {f.source for f in errors} == {"argo"}


def test_agreement_on_argos_examples(argo: Path) -> None:
    """Argo accepts all of its examples; so does hera-build, but for the one the API server would refuse."""
    corpus = example_objects()
    theirs = [f for f in argo_lint([o.manifest for o in corpus], argo) if f.severity == "error"]
    where = {f"{o.manifest['kind']}/{o.manifest.get('metadata', {}).get('name', '<unnamed>')}": o.where for o in corpus}
    generated = {f"{o.manifest['kind']}/{o.manifest['metadata'].get('generateName', '')}*": o.where for o in corpus}
    refused = {generated.get(f.object_name, where.get(f.object_name)): f.message for f in theirs}
    assert set(refused) == set(NEWER_THAN_THE_CLI), refused
    for example, field in NEWER_THAN_THE_CLI.items():
        assert f'unknown field "{field}"' in refused[example]
    ours = lint([o.manifest for o in corpus], strict_names=False, crd=CrdSchemas.from_files(crd_paths()))
    errors = [(f.path, f.message) for f in ours if f.severity == "error"]
    assert [(path, message.split(":")[0]) for path, message in errors] == API_SERVER_ONLY
    assert {f.source for f in ours if f.severity == "error"} == {"kubernetes"}


def test_agreement_on_a_generated_project_of_hundreds_of_templates(tmp_path: Path, argo: Path) -> None:
    from tests.support.genproject import generate

    root = tmp_path / "gen"
    generate(root, 250)
    result = subprocess.run(
        [sys.executable, "-m", "hera_build", "lint", "--argo", "--argo-path", str(argo), "--json"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"objects": 250, "findings": []}


def hera_build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hera_build", *args], cwd=CONSUMER, env=env, capture_output=True, text=True, timeout=300
    )


def test_consumer_passes_only_with_the_providers_pinned_templates(argo: Path) -> None:
    result = hera_build("lint", "--argo", "--argo-path", str(argo), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == []

    emitted = build_templates(TemplateOptions(project_dir=CONSUMER))
    assert emitted.provider_manifests, "the consumer refers into data-utils"
    alone = argo_lint([obj.manifest for obj in emitted.objects], argo)
    assert {f.message for f in alone if f.severity == "error"} == {
        'couldn\'t find workflow template "validate-dataset-v1-4-0" in namespace ""'
    }


def provider_release_requiring(site: Path, version: str, parameter: str) -> None:
    """data-utils at ``version`` whose validate-dataset template requires one more input, ``parameter``."""
    shutil.copytree(PROVIDER / "src" / "data_utils", site / "data_utils")
    steps = site / "data_utils" / "steps.py"
    text = steps.read_text()
    text = text.replace(
        "def validate_dataset(dataset: Dataset,", f"def validate_dataset(dataset: Dataset, {parameter}: str,"
    )
    steps.write_text(text)
    info = site / f"data_utils-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: data-utils\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[hera_build.templates]\ndata-utils = data_utils.workflows\n")


def test_both_linters_refuse_a_pin_to_a_provider_version_requiring_an_input_the_consumer_lacks(
    tmp_path: Path, argo: Path
) -> None:
    provider_release_requiring(tmp_path, "1.9.0", "schema_uri")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = hera_build("lint", "--argo", "--argo-path", str(argo), "--json", env=env)
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    by_source = {f["source"]: f["message"] for f in findings if f["severity"] == "error"}
    assert set(by_source) == {"rules", "argo"}, findings
    assert "validate-dataset-v1-9-0" in by_source["rules"] and "'schema_uri'" in by_source["rules"]
    assert re.search(r"inputs\.parameters\.schema_uri was not supplied", by_source["argo"])


def test_release_style_templates_run_argo_over_what_is_written(tmp_path: Path, argo: Path) -> None:
    result = hera_build("templates", "--argo", "--argo-path", str(argo), "--out", str(tmp_path / "argo"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "argo").is_dir()


def test_strings_that_go_reads_as_bools_or_numbers_reach_argo_as_strings(argo: Path) -> None:
    """Argo parses the YAML hera-build writes with Go's YAML 1.1 reader: written plain, ``y`` is a bool there and
    ``08`` a number, and a string field refuses both. hera-build quotes them."""
    texts = ["y", "n", "Y", "N", "yes", "off", "08", "0o17", "0X1F", "1e3", "1_000", "~", ""]
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "ambiguous-strings"},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": f"p{i}", "value": text} for i, text in enumerate(texts)]},
            "templates": [{"name": "main", "container": {"image": "busybox", "args": texts}}],
        },
    }
    errors = [str(f) for f in argo_lint([template], argo) if f.severity == "error"]
    assert errors == []
