"""Argo Workflows for real: the ``argo`` CLI built from its Go module, and a single-node Kubernetes running Argo's
workflow-controller and argo server as host processes (``scripts/build-argo.sh``, ``scripts/build-kube.sh``,
``scripts/cluster.sh up``).

These tests prove the infrastructure itself and do not import hera_build: ``argo lint --offline`` accepts a valid
WorkflowTemplate and rejects a broken one, a steps Workflow submitted with kubectl passes one step's result to the
next, and Hera's own system-test shape (``Workflow.create(wait=True)`` through ``WorkflowsService``) succeeds.
Workflow pods run the base image from the local registry. A missing component skips loudly, and fails under
``CI=true``.

No ``from __future__ import annotations`` here: Hera reads the script function's annotations at run time.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.components import require_component

DEFAULT_BASE_IMAGE_REMOTE = "127.0.0.1:5000/hera-build-base:bookworm-python3"
WORKFLOW_TIMEOUT = 240
"""Seconds a test workflow may take from submission to a final phase (pods start in a few seconds here)."""


def _image() -> str:
    return os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", DEFAULT_BASE_IMAGE_REMOTE)


def _env_path(name: str, how: str) -> str:
    value = os.environ.get(name)
    if not value:
        require_component(f"${name} is not set ({how})")
    if not Path(value).exists():
        require_component(f"${name}={value} does not exist ({how})")
    return value


@pytest.fixture(scope="session")
def argo_cli() -> str:
    return _env_path("HERA_BUILD_TEST_ARGO", "build it with scripts/build-argo.sh --cli-only")


@pytest.fixture(scope="session")
def kubectl() -> list[str]:
    """``kubectl --kubeconfig …`` for the test cluster."""
    kubeconfig = _env_path("HERA_BUILD_TEST_KUBECONFIG", "start the cluster with scripts/cluster.sh up")
    binary = os.environ.get("HERA_BUILD_TEST_KUBECTL") or shutil.which("kubectl")
    if not binary:
        require_component("no kubectl: set $HERA_BUILD_TEST_KUBECTL (scripts/build-kube.sh --print-env)")
    command = [binary, "--kubeconfig", kubeconfig]
    probe = subprocess.run([*command, "get", "--raw", "/readyz"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        require_component(
            f"the API server in {kubeconfig} is not ready ({probe.stderr.strip()[:200]}); run scripts/cluster.sh up"
        )
    return command


@pytest.fixture(scope="session")
def namespace() -> str:
    return os.environ.get("HERA_BUILD_TEST_ARGO_NAMESPACE", "argo")


@pytest.fixture(scope="session")
def argo_server() -> str:
    url = os.environ.get("HERA_BUILD_TEST_ARGO_SERVER")
    if not url:
        require_component("$HERA_BUILD_TEST_ARGO_SERVER is not set; run scripts/cluster.sh up and its --print-env")
    try:
        answer = requests.get(f"{url}/api/v1/version", timeout=10)
        answer.raise_for_status()
    except requests.RequestException as exc:
        require_component(f"no argo server answers on {url} ({type(exc).__name__}); run scripts/cluster.sh up")
    return url


def _workflow_template(name: str, entrypoint: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": entrypoint,
            "templates": [
                {"name": "main", "steps": [[{"name": "say", "template": "echo"}]]},
                {"name": "echo", "container": {"image": _image(), "command": ["echo", "hi"]}},
            ],
        },
    }


@pytest.mark.argo
@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [("main", 0), ("no-such-template", 1)],
    ids=["valid", "missing-entrypoint"],
)
def test_argo_lint_offline(argo_cli: str, tmp_path: Path, entrypoint: str, expected: int) -> None:
    path = tmp_path / "wt.yaml"
    path.write_text(yaml.safe_dump(_workflow_template("lint-me", entrypoint)))
    done = subprocess.run(
        [argo_cli, "lint", "--offline", "--no-color", "-o", "simple", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == expected, done.stdout + done.stderr
    if expected:
        assert "no-such-template" in done.stdout + done.stderr


def _final_phase(get: Callable[[], dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Poll ``get()`` (a Workflow as a dict) until its phase is final; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        workflow = get()
        if workflow.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error"):
            return workflow
        if time.monotonic() > deadline:
            pytest.fail(f"workflow not finished after {timeout}s: {json.dumps(workflow.get('status'))[:2000]}")
        time.sleep(1)


@pytest.mark.cluster
@pytest.mark.argo
@pytest.mark.slow
def test_steps_workflow_passes_a_result(kubectl: list[str], namespace: str) -> None:
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "hera-build-steps-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "produce", "template": "produce"}],
                        [
                            {
                                "name": "consume",
                                "template": "consume",
                                "arguments": {
                                    "parameters": [{"name": "value", "value": "{{steps.produce.outputs.result}}"}]
                                },
                            }
                        ],
                    ],
                },
                {"name": "produce", "script": {"image": _image(), "command": ["python3"], "source": "print(6 * 7)"}},
                # Argo records outputs.result only where something refers to it: the consumer reports through an
                # output parameter instead.
                {
                    "name": "consume",
                    "inputs": {"parameters": [{"name": "value"}]},
                    "outputs": {"parameters": [{"name": "seen", "valueFrom": {"path": "/tmp/seen"}}]},
                    "script": {
                        "image": _image(),
                        "command": ["python3"],
                        "source": "open('/tmp/seen', 'w').write('got-' + '{{inputs.parameters.value}}')",
                    },
                },
            ],
        },
    }
    created = subprocess.run(
        [*kubectl, "-n", namespace, "create", "-o", "json", "-f", "-"],
        input=json.dumps(workflow),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    name = json.loads(created.stdout)["metadata"]["name"]

    def get() -> dict[str, Any]:
        done = subprocess.run(
            [*kubectl, "-n", namespace, "get", "workflow", name, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    try:
        final = _final_phase(get, WORKFLOW_TIMEOUT)
        nodes = final["status"]["nodes"].values()
        assert final["status"]["phase"] == "Succeeded", json.dumps(final["status"])[:2000]
        pods = {n["displayName"]: n for n in nodes if n["type"] == "Pod"}
        assert pods["produce"]["outputs"]["result"] == "42"
        assert pods["consume"]["inputs"]["parameters"] == [{"name": "value", "value": "42"}]
        assert pods["consume"]["outputs"]["parameters"][0]["value"] == "got-42"
    finally:
        subprocess.run(
            [*kubectl, "-n", namespace, "delete", "workflow", name, "--wait=false"], capture_output=True, timeout=60
        )


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Bound a blocking call (``create(wait=True)`` has no timeout of its own) with SIGALRM."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no final phase within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.cluster
@pytest.mark.argo
@pytest.mark.slow
def test_hera_system_test_shape(argo_server: str, namespace: str) -> None:
    from hera.workflows import Parameter, Steps, Workflow, WorkflowsService, script

    @script(image=_image(), outputs=Parameter(name="message-out", value_from={"path": "/tmp/message-out"}))
    def echo_to_param(message: str) -> None:
        with open("/tmp/message-out", "w") as f:
            f.write(message)

    with Workflow(
        generate_name="hera-build-hello-",
        entrypoint="steps",
        namespace=namespace,
        workflows_service=WorkflowsService(host=argo_server, namespace=namespace),
    ) as w:
        with Steps(name="steps"):
            echo_to_param(arguments={"message": "Hello world!"})

    with _time_limit(WORKFLOW_TIMEOUT):
        model = w.create(wait=True, poll_interval=1)
    try:
        assert model.status is not None and model.status.phase == "Succeeded", model.status
        assert model.status.nodes is not None
        node = next(n for n in model.status.nodes.values() if n.display_name == "echo-to-param")
        assert node.outputs is not None and node.outputs.parameters is not None
        message_out = next(p for p in node.outputs.parameters if p.name == "message-out")
        assert message_out.value == "Hello world!"
    finally:
        assert model.metadata.name is not None
        w.workflows_service.delete_workflow(model.metadata.name, namespace=namespace)  # type: ignore[union-attr]
