"""Conformance of the local runner: every workflow of the corpus (tests/packages/run_corpus) runs on the real Argo
of ``scripts/cluster.sh up`` and through ``hera-build run --json``, and both Argo Workflow objects must agree.

The corpus and data-utils are released once (copies pushing to repositories of this run's, so their images are
this hera-build's builds) and published, data-utils' pinned templates with ``--with``, into a fresh namespace; the
local runs use the same images. Every workflow is
submitted to Argo at once while the same workflows run locally, all in parallel. Then, per workflow: the workflow
phase, and per node (matched by its path of display names from the root, the workflow's name replaced, ids and
pod bookkeeping ignored) its phase, type, ``outputs.result`` and output parameters.

A difference is either a bug in the local runner or a limitation it documents (docs/guides/run.md): the
documented ones are listed in ``KNOWN`` with their reason, so the test fails only on a new difference, and on a
known one that went away (so the list stays true).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml

from tests.support.components import require_component
from tests.support.runs import CORPUS, EXAMPLES

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),  # the test kubeconfig skips TLS
]

DEADLINE = 360
"""Seconds for everything after the release: Argo's runs and the local runs, side by side."""
FINAL = {"Succeeded", "Failed", "Error"}

WORKFLOWS = (
    "artifact-passing",
    "coinflip",
    "continue-on",
    "diamond",
    "exit-handler",
    "fan-out-fan-in",
    "provider-refs",
    "retry-third-time",
    "runner-io",
    "timeout",
)

KNOWN: dict[tuple[str, str, str], str] = {}
"""(workflow, node path or "" for the workflow, field) → why Argo and the local runner differ there."""

UNREFERENCED_RESULT = (
    "Argo captures a pod's stdout as outputs.result only when its steps or DAG template references "
    "{{steps|tasks.NAME.outputs.result}} (the controller's hasOutputResultRef); the local runner always records it, "
    "so tests can read it (run guide: differences from Argo)"
)


def _unreferenced_result(argo: Mapping[str, Any], path: str, field: str, argo_value: Any, local_value: Any) -> bool:
    """A result Argo left out because nothing references it, where the local runner recorded one."""
    if field != "result" or argo_value is not None or not isinstance(local_value, str):
        return False
    name = path.rsplit("/", 1)[-1].split("(", 1)[0]
    stored = (argo.get("status") or {}).get("storedWorkflowTemplateSpec")
    assert stored, "Argo stores the template it ran in status.storedWorkflowTemplateSpec"
    templates = json.dumps(stored)
    return f".{name}.outputs.result" not in templates


def _hera_build(args: list[str], cwd: Path, env: Mapping[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hera_build", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def kubeconfig() -> Path:
    value = os.environ.get("HERA_BUILD_TEST_KUBECONFIG")
    if not value or not Path(value).is_file():
        require_component("$HERA_BUILD_TEST_KUBECONFIG is not set or missing; run scripts/cluster.sh up")
    return Path(value)


@pytest.fixture(scope="module")
def kube(kubeconfig: Path) -> tuple[Any, Any]:
    """The core and custom-objects APIs of the test cluster."""
    try:
        from kubernetes import client, config
    except ImportError:
        require_component("the kubernetes client is not installed: pip install -e '.[test]'")
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    try:
        core.list_namespace(limit=1, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure here means the component is not there
        require_component(f"the API server in {kubeconfig} does not answer ({type(exc).__name__}); cluster.sh up")
    return core, client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def namespace(kube: tuple[Any, Any]) -> Iterator[str]:
    core, _ = kube
    name = f"hb-conform-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        deadline = time.monotonic() + 60
        while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            assert time.monotonic() < deadline, f"no default service account in {name}"
            time.sleep(0.5)
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@dataclass(frozen=True)
class Release:
    corpus: Path
    """The released copy of the corpus (the local runs run its objects, in its image)."""
    templates: dict[str, str]
    """Workflow name in the code → its versioned WorkflowTemplate name."""
    env: dict[str, str]
    images: dict[str, str]
    """``--image FROM=TO`` for the local runs: data-utils' image as this release pins it on the cluster."""


def _copy(project: Path, tmp: Path, repository: str) -> Path:
    """A copy of the project pushing to ``repository``: this hera-build's build, whatever the registry holds."""
    copy = tmp / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", ".hera-build"))
    pyproject = tomlkit.parse((copy / "pyproject.toml").read_text())
    pyproject["tool"]["hera-build"]["image"] = repository
    (copy / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    return copy


@pytest.fixture(scope="module")
def release(
    tmp_path_factory: pytest.TempPathFactory, registry: str, kubeconfig: Path, namespace: str, kube: tuple[Any, Any]
) -> Iterator[Release]:
    """The corpus and data-utils released into repositories of this run's, published into the namespace (data-utils'
    pinned templates with ``--with``); the ClusterWorkflowTemplate that outlives the namespace is deleted after."""
    tmp = tmp_path_factory.mktemp("conformance")
    run = f"{registry}/hera-build-test/conform-{uuid.uuid4().hex[:12]}"
    provider = _copy(EXAMPLES / "data-utils", tmp, f"{run}/data-utils")
    corpus = _copy(CORPUS, tmp, f"{run}/run-corpus")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env |= {"HERA_BUILD_CACHE_DIR": str(tmp_path_factory.mktemp("cache")), "PYTHONPATH": str(corpus / "src")}
    for project in (provider, corpus):
        done = _hera_build(["release", "--push", "--no-check"], project, env, 600)
        assert done.returncode == 0, done.stderr
    # --force: the ClusterWorkflowTemplate outlives the namespace, and one left by an interrupted run pins that
    # run's image; this run's must replace it.
    done = _hera_build(
        ["publish", "--with", str(provider), "--kubeconfig", str(kubeconfig), "-n", namespace, "--force", "--json"],
        corpus,
        env,
        120,
    )
    assert done.returncode == 0, done.stderr
    cluster_scoped = [o["name"] for o in json.loads(done.stdout)["objects"] if o["kind"] == "ClusterWorkflowTemplate"]
    try:
        templates = {}
        for path in sorted((corpus / "dist" / "argo").glob("workflowtemplate-*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            templates[name.rsplit("-v", 1)[0]] = name
        assert sorted(templates) == sorted(WORKFLOWS), "a corpus workflow was added: list it in WORKFLOWS"
        version = tomlkit.parse((provider / "pyproject.toml").read_text())["project"]["version"]
        installed = str(
            tomlkit.parse((EXAMPLES / "data-utils" / "pyproject.toml").read_text())["tool"]["hera-build"]["image"]
        )
        images = {f"{installed}:{version}": f"{run}/data-utils:{version}"}
        yield Release(corpus, templates, env, images)
    finally:
        _, objects = kube
        for name in cluster_scoped:
            objects.delete_cluster_custom_object("argoproj.io", "v1alpha1", "clusterworkflowtemplates", name)


@pytest.fixture(scope="module")
def runs(release: Release, namespace: str, kube: tuple[Any, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Workflow name → (Argo's Workflow object, the local run's), all submitted and started at once."""
    _, objects = kube
    group = ("argoproj.io", "v1alpha1", namespace, "workflows")
    submitted = {}
    for name in WORKFLOWS:
        body = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": f"{name}-"},
            "spec": {"workflowTemplateRef": {"name": release.templates[name]}},
        }
        submitted[name] = objects.create_namespaced_custom_object(*group, body)["metadata"]["name"]
    started = time.monotonic()
    local = {
        name: subprocess.Popen(
            [sys.executable, "-m", "hera_build", "run", release.templates[name], "--json"]
            + [f"--image={old}={new}" for old, new in release.images.items()],
            cwd=release.corpus,
            env=release.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in WORKFLOWS
    }
    ran = {}
    try:
        for name, process in local.items():
            stdout, stderr = process.communicate(timeout=max(1.0, DEADLINE - (time.monotonic() - started)))
            assert process.returncode in (0, 1) and stdout, (
                f"hera-build run {name} exited {process.returncode}:\n{stderr}"
            )
            ran[name] = json.loads(stdout)
    finally:
        for process in local.values():
            if process.poll() is None:
                process.kill()  # hera-build run removes its containers when interrupted; killed, the next run does
                process.wait()
    on_argo: dict[str, dict[str, Any]] = {}
    while len(on_argo) < len(submitted):
        for name, generated in submitted.items():
            if name not in on_argo:
                workflow = objects.get_namespaced_custom_object(*group[:3], "workflows", generated)
                if (workflow.get("status") or {}).get("phase") in FINAL:
                    on_argo[name] = workflow
        pending = sorted(set(submitted) - set(on_argo))
        assert time.monotonic() - started < DEADLINE or not pending, f"not finished on Argo in {DEADLINE}s: {pending}"
        time.sleep(1)
    kept = release.corpus.parent / "workflows"  # both objects of each run, to read when the comparison fails
    kept.mkdir()
    for name in WORKFLOWS:
        (kept / f"{name}.argo.json").write_text(json.dumps(on_argo[name], indent=1))
        (kept / f"{name}.local.json").write_text(json.dumps(ran[name], indent=1))
    return {name: (on_argo[name], ran[name]) for name in WORKFLOWS}


def shape(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What must agree, by node path ("" for the workflow): ids, times, pod names and messages left out."""
    name = workflow["metadata"]["name"]

    def plain(value: Any) -> Any:
        return None if value is None else str(value).replace(name, "WF")

    status = workflow.get("status") or {}
    nodes: dict[str, Any] = status.get("nodes") or {}

    def path(node_id: str) -> str:
        """Display names from the outermost template node in: unique, and the same whatever the node ids."""
        node = nodes[node_id]
        own = plain(node["displayName"])
        boundary = node.get("boundaryID")
        return f"{path(boundary)}/{own}" if boundary in nodes and boundary != node_id else own

    shaped: dict[str, dict[str, Any]] = {"": {"phase": status.get("phase")}}
    for node_id, node in nodes.items():
        outputs = node.get("outputs") or {}
        shaped[path(node_id)] = {
            "phase": node.get("phase"),
            "type": node.get("type"),
            "result": plain(outputs.get("result")),
            "parameters": {p["name"]: plain(p.get("value")) for p in outputs.get("parameters") or []},
        }
    return shaped


def differences(argo: Mapping[str, Any], local: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(node path, field) → "argo: …, local: …" for every field where the two runs differ, but for results Argo
    does not capture (:data:`UNREFERENCED_RESULT`)."""
    on_argo, ran = shape(argo), shape(local)
    found = {}
    for path in sorted(set(on_argo) | set(ran)):
        if path not in ran or path not in on_argo:
            found[(path, "node")] = (
                f"argo: {'present' if path in on_argo else 'absent'}, local: {'present' if path in ran else 'absent'}"
            )
            continue
        for field, value in on_argo[path].items():
            if ran[path].get(field) != value and not _unreferenced_result(
                argo, path, field, value, ran[path].get(field)
            ):
                found[(path, field)] = f"argo: {value!r}, local: {ran[path].get(field)!r}"
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_local_runner_agrees_with_argo(
    workflow: str, runs: dict[str, tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    argo, local = runs[workflow]
    found = {(workflow, *key): detail for key, detail in differences(argo, local).items()}
    new = {key: detail for key, detail in found.items() if key not in KNOWN}
    gone = [key for key in KNOWN if key[0] == workflow and key not in found]
    # Argo's messages say why a node failed there, e.g. an artifact repository that did not answer
    status = argo.get("status") or {}
    said = {node.get("message") for node in (status.get("nodes") or {}).values()} | {status.get("message")}
    assert not new, "the local runner differs from Argo:\n" + "\n".join(
        [f"{k}: {v}" for k, v in new.items()] + [f"Argo said: {m}" for m in sorted(m for m in said if m)]
    )
    assert not gone, f"documented differences no longer seen (remove them from KNOWN): {gone}"
