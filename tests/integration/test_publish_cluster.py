"""``hera-build publish`` against the real API server and Argo of ``scripts/cluster.sh up``, and the consumer example
run for real.

One module-scoped release of each example (a copy of examples/data-utils and examples/ml-pipeline, each pushing to
its own registry repository, as users run ``release --push``), then each test in a namespace of its own that it
creates and deletes:

- publish ml-pipeline with ``--with`` data-utils' release: the provider's pinned template goes first; publishing
  again changes nothing; Hera's own system-test shape (``w.create(wait=True)`` through ``WorkflowsService`` pointed
  at ``argo server``) runs ``train-pipeline`` to Succeeded, with data-utils' template in data-utils' image and the
  train step's result flowing into evaluate;
- a changed object under the same version is refused by the guard (one line naming the object and the field),
  ``--dry-run`` shows the diff, ``--force`` overwrites;
- ``--prune`` deletes an old version nothing references and keeps the ones a WorkflowTemplate or a Workflow
  references.

No ``from __future__ import annotations``: Hera reads annotations at run time.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from tests.support.components import require_component

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.registry,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),  # the test kubeconfig skips TLS
]

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000")
WORKFLOW_TIMEOUT = 240
TRAIN = "train-pipeline-v0-3-0"
VALIDATE = "validate-dataset-v1-4-0"


@pytest.fixture(scope="module")
def kubeconfig() -> Path:
    value = os.environ.get("HERA_BUILD_TEST_KUBECONFIG")
    if not value or not Path(value).is_file():
        require_component("$HERA_BUILD_TEST_KUBECONFIG is not set or missing; run scripts/cluster.sh up")
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        require_component("the kubernetes client is not installed: pip install -e '.[test]'")
    return Path(value)


@pytest.fixture(scope="module")
def core(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]
    try:
        api.list_namespace(limit=1, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure here means the component is not there
        require_component(
            f"the API server in {kubeconfig} does not answer ({type(exc).__name__}); scripts/cluster.sh up"
        )
    return api


@pytest.fixture(scope="module")
def objects(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]


@contextmanager
def _namespace(core: Any) -> Iterator[str]:
    name = f"hb-publish-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        deadline = time.monotonic() + 60
        while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            assert time.monotonic() < deadline, f"no default service account in {name}"
            time.sleep(0.5)
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace per test: tests never see each other's objects."""
    with _namespace(core) as name:
        yield name


@dataclass(frozen=True)
class Released:
    root: Path
    manifest: dict[str, Any]
    stdout: str

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hera_build", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _release(example: str, tmp: Path, run: str, cache: Path, *extra: str) -> Released:
    root = tmp / example
    shutil.copytree(
        ROOT / "examples" / example, root, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info")
    )
    pyproject = tomlkit.parse((root / "pyproject.toml").read_text())
    pyproject["tool"]["hera-build"]["image"] = f"{REGISTRY}/hera-build-test/publish-{run}/{example}"
    (root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env |= {"HERA_BUILD_CACHE_DIR": str(cache), "PYTHONPATH": str(root / "src")}
    done = _run(["release", "--push", "--no-check", "--json", *extra], root, env)
    if done.returncode != 0 and "registry" in done.stderr and "answer" in done.stderr:
        require_component(f"the registry {REGISTRY} does not answer: {done.stderr.strip()[:300]}")
    assert done.returncode == 0, done.stderr
    return Released(root, json.loads((root / "dist" / "release-manifest.json").read_text()), done.stdout)


@pytest.fixture(scope="module")
def releases(
    tmp_path_factory: pytest.TempPathFactory, kubeconfig: Path, core: Any
) -> Iterator[tuple[Released, Released]]:
    """data-utils 1.4.0 and ml-pipeline 0.3.0, released with ``release --push`` into repositories of their own; the
    consumer with ``--publish --with`` the provider, into a namespace of the module's."""
    tmp = tmp_path_factory.mktemp("publish")
    run = uuid.uuid4().hex[:12]
    cache = tmp_path_factory.mktemp("hera-build-cache")
    with _namespace(core) as namespace:
        data_utils = _release("data-utils", tmp, run, cache)
        publishing = ["--publish", "--with", str(data_utils.root), "--kubeconfig", str(kubeconfig), "-n", namespace]
        ml_pipeline = _release("ml-pipeline", tmp, run, cache, *publishing)
        published = json.loads(ml_pipeline.stdout)["published"]
        assert [(o["name"], o["action"]) for o in published["objects"]] == [
            (VALIDATE, "create"),
            (TRAIN, "create"),
            ("nightly-train-v0-3-0", "create"),
        ]
        yield data_utils, ml_pipeline


def publish(
    kubeconfig: Path, namespace: str, *args: str, cwd: Path, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    done = _run(
        ["publish", "--kubeconfig", str(kubeconfig), "--namespace", namespace, *args], cwd, dict(os.environ), 120
    )
    assert done.returncode == expect, f"publish {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done


def _actions(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    result = json.loads(done.stdout)
    return {o["name"]: o["action"] for o in result["objects"]}


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """``create(wait=True)`` has no timeout of its own."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no final phase within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def argo_server() -> str:
    import requests

    url = os.environ.get("HERA_BUILD_TEST_ARGO_SERVER")
    if not url:
        require_component("$HERA_BUILD_TEST_ARGO_SERVER is not set; run scripts/cluster.sh up and its --print-env")
    try:
        requests.get(f"{url}/api/v1/version", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        require_component(f"no argo server answers on {url} ({type(exc).__name__}); run scripts/cluster.sh up")
    return url


def test_the_consumer_example_runs_on_argo_with_the_providers_pinned_template(
    releases: tuple[Released, Released], kubeconfig: Path, namespace: str, argo_server: str, core: Any
) -> None:
    data_utils, ml_pipeline = releases
    first = publish(kubeconfig, namespace, "--with", str(data_utils.root), "--json", cwd=ml_pipeline.root)
    assert list(_actions(first).items()) == [
        (VALIDATE, "create"),  # the provider's pinned template first
        (TRAIN, "create"),
        ("nightly-train-v0-3-0", "create"),
    ]
    again = publish(kubeconfig, namespace, "--with", str(data_utils.root), "--json", cwd=ml_pipeline.root)
    assert set(_actions(again).values()) == {"unchanged"}

    from hera.workflows import Workflow, WorkflowsService
    from hera.workflows.models import Workflow as WorkflowModel
    from hera.workflows.models import WorkflowTemplateRef

    w = Workflow(
        generate_name="train-",
        namespace=namespace,
        workflow_template_ref=WorkflowTemplateRef(name=TRAIN),
        workflows_service=WorkflowsService(host=argo_server, namespace=namespace),
    )
    with _time_limit(WORKFLOW_TIMEOUT):
        model = w.create(wait=True, poll_interval=1)
    assert isinstance(model, WorkflowModel)
    assert model.status is not None and model.status.phase == "Succeeded", model.status
    assert model.status.nodes is not None
    nodes = {n.display_name: n for n in model.status.nodes.values()}
    train, evaluate = nodes["train"], nodes["evaluate"]
    assert train.outputs is not None and train.outputs.result == "s3://acme/datasets/iris/model-lr0.1-e3"
    assert evaluate.inputs is not None and evaluate.inputs.parameters is not None
    model_uri = next(p for p in evaluate.inputs.parameters if p.name == "model_uri")
    assert model_uri.value == train.outputs.result
    assert nodes["validate"].phase == "Succeeded"

    images = {}
    for pod in core.list_namespaced_pod(namespace).items:
        node_name = (pod.metadata.annotations or {}).get("workflows.argoproj.io/node-name", "")
        main = next(c for c in pod.spec.containers if c.name == "main")
        images[node_name.rpartition(".")[2]] = main.image
    assert images["validate"] == data_utils.manifest["image"]["reference"]
    assert images["train"] == images["evaluate"] == ml_pipeline.manifest["image"]["reference"]


def _changed_copy(release: Released, tmp_path: Path) -> Path:
    """The same release with one parameter default changed, as a rebuilt tree under the same version would be."""
    copy = tmp_path / "changed"
    shutil.copytree(release.dist, copy / "dist")
    template = copy / "dist" / "argo" / f"workflowtemplate-{TRAIN}.yaml"
    text = template.read_text()
    assert "value: '150'" in text
    template.write_text(text.replace("value: '150'", "value: '151'"))
    return copy


def test_a_changed_object_under_the_same_version_is_refused(
    releases: tuple[Released, Released], kubeconfig: Path, namespace: str, objects: Any, tmp_path: Path
) -> None:
    data_utils, ml_pipeline = releases
    publish(kubeconfig, namespace, "--with", str(data_utils.root), cwd=ml_pipeline.root)
    changed = _changed_copy(ml_pipeline, tmp_path)

    refused = publish(kubeconfig, namespace, cwd=changed, expect=1)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert f"WorkflowTemplate/{TRAIN}" in lines[0] and "spec.arguments.parameters[1].value differs" in lines[0]

    dry = publish(kubeconfig, namespace, "--dry-run", cwd=changed, expect=1)
    assert "-      value: '150'\n+      value: '151'" in dry.stderr

    def rows() -> str:
        live = objects.get_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "workflowtemplates", TRAIN)
        return str(live["spec"]["arguments"]["parameters"][1]["value"])

    assert rows() == "150"  # neither the refusal nor the dry run wrote anything
    forced = publish(kubeconfig, namespace, "--force", "--json", cwd=changed)
    assert _actions(forced)[TRAIN] == "replace"
    assert rows() == "151"


def _as_version(release: Released, version: str, tmp_path: Path) -> Path:
    """ml-pipeline's release as an older version would have written it: names, labels and annotations carry the
    other version (the 0.3.0 objects with every 0.3.0 / v0-3-0 replaced), so no image build is needed."""
    target = tmp_path / f"ml-pipeline-{version}"
    shutil.copytree(release.dist, target / "dist")
    slug = "v" + version.replace(".", "-")
    for path in [target / "dist" / "release-manifest.json", *(target / "dist" / "argo").iterdir()]:
        text = path.read_text().replace("v0-3-0", slug)
        text = re.sub(r"(?<![\d.])0\.3\.0(?![\d.])", version, text)
        new = path.with_name(path.name.replace("v0-3-0", slug))
        path.unlink()
        new.write_text(text)
    return target


def test_prune_removes_an_unreferenced_old_version_and_keeps_referenced_ones(
    releases: tuple[Released, Released], kubeconfig: Path, namespace: str, objects: Any, tmp_path: Path
) -> None:
    data_utils, ml_pipeline = releases
    for version in ("0.1.0", "0.2.0", "0.2.1"):
        publish(kubeconfig, namespace, "--with", str(data_utils.root), cwd=_as_version(ml_pipeline, version, tmp_path))
    group = ("argoproj.io", "v1alpha1", namespace)
    # Another team's template refers to 0.2.0; a (suspended) Workflow refers to 0.2.1.
    objects.create_namespaced_custom_object(
        *group,
        "workflowtemplates",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": "team-b-weekly"},
            "spec": {
                "entrypoint": "main",
                "templates": [
                    {
                        "name": "main",
                        "steps": [
                            [{"name": "train", "templateRef": {"name": "train-pipeline-v0-2-0", "template": "main"}}]
                        ],
                    }
                ],
            },
        },
    )
    objects.create_namespaced_custom_object(
        *group,
        "workflows",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "old-run-"},
            "spec": {"suspend": True, "workflowTemplateRef": {"name": "train-pipeline-v0-2-1"}},
        },
    )

    dry = publish(kubeconfig, namespace, "--prune", "--dry-run", "--json", cwd=ml_pipeline.root)
    done = publish(kubeconfig, namespace, "--prune", "--json", cwd=ml_pipeline.root)
    pruned = json.loads(done.stdout)["pruned"]
    assert json.loads(dry.stdout)["pruned"] == pruned
    assert sorted(d["name"] for d in pruned["deleted"]) == [
        "nightly-train-v0-1-0",
        "nightly-train-v0-2-0",
        "nightly-train-v0-2-1",
        "train-pipeline-v0-1-0",
    ]
    kept = {k["name"]: k["referenced_by"] for k in pruned["kept"]}
    assert kept["train-pipeline-v0-2-0"] == "WorkflowTemplate/team-b-weekly"
    assert kept["train-pipeline-v0-2-1"].startswith("Workflow/old-run-")

    def names(plural: str) -> set[str]:
        return {o["metadata"]["name"] for o in objects.list_namespaced_custom_object(*group, plural)["items"]}

    assert names("workflowtemplates") == {
        "team-b-weekly",
        VALIDATE,  # data-utils' object: never this package's to prune
        "train-pipeline-v0-2-0",
        "train-pipeline-v0-2-1",
        TRAIN,
    }
    assert names("cronworkflows") == {"nightly-train-v0-3-0"}


def test_an_object_the_servers_validation_refuses_is_one_line_and_nothing_is_written(
    releases: tuple[Released, Released], kubeconfig: Path, namespace: str, objects: Any, tmp_path: Path
) -> None:
    data_utils, ml_pipeline = releases
    copy = tmp_path / "invalid"
    shutil.copytree(ml_pipeline.dist, copy / "dist")
    template = copy / "dist" / "argo" / f"workflowtemplate-{TRAIN}.yaml"
    # the template's name (not the DAG task's): the CRD's pattern forbids "_"
    template.write_text(re.sub(r"(?m)^    name: train$", "    name: train_model", template.read_text()))
    refused = publish(kubeconfig, namespace, "--with", str(data_utils.root), cwd=copy, expect=1)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert f'WorkflowTemplate.argoproj.io "{TRAIN}" is invalid' in lines[0] and "train_model" in lines[0]
    listed = objects.list_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "workflowtemplates")
    assert listed["items"] == []  # the provider's template was not written either: every object is checked first
