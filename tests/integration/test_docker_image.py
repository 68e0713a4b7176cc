"""``hera-build image --backend docker`` for real: Docker engine 20.10, the local registry, the debootstrap base.

The examples are copied into a temporary directory, each pointed at its own repository on the local registry
(released tags are immutable, so runs must not share them), and hera-build runs as users run it: in a subprocess,
with the copy's ``src`` first on ``PYTHONPATH`` so that the copy is the ``ml_pipeline`` that discovery and the
check's reference run import. The tests of one module share the images they build, in order: build and check,
push and pin, change one line, refuse the changed content under the released tag.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml

from hera_build.image.registry.client import RegistryClient

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 900
TRAIN_OUTPUT = "s3://acme/datasets/iris/model-lr0.1-e3"


@dataclass
class Example:
    root: Path
    repository: str
    base_image: str
    cache: Path

    def run(
        self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        environ["PYTHONPATH"] = os.pathsep.join([str(self.root / "src"), environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        environ["HERA_BUILD_CACHE_DIR"] = str(self.cache)
        environ |= env or {}
        command = [sys.executable, "-m", "hera_build", *args]
        result = subprocess.run(command, cwd=self.root, env=environ, capture_output=True, text=True, timeout=TIMEOUT)
        if expect is not None:
            assert result.returncode == expect, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        return result

    def image(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        return self.run("image", "--backend", "docker", "--base-image", self.base_image, *args, expect=expect)

    def image_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.image("--json", *args).stdout)
        return data


def copy_example(name: str, dest: Path, repository: str, base_image: str, cache: Path) -> Example:
    root = dest / name
    shutil.copytree(
        ROOT / "examples" / name, root, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info")
    )
    pyproject = tomlkit.parse((root / "pyproject.toml").read_text())
    pyproject["tool"]["hera-build"]["image"] = repository  # type: ignore[index]
    (root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    return Example(root, repository, base_image, cache)


@pytest.fixture(scope="module")
def repositories(registry: str, docker_engine: Any) -> Iterator[str]:
    """A repository prefix of this module's own; the local tags under it are removed afterwards."""
    prefix = f"{registry}/hera-build-test/docker-{uuid.uuid4().hex[:12]}"
    yield prefix
    for image in docker_engine.client.images.list():
        for tag in image.tags:
            if tag.startswith(prefix + "/"):
                docker_engine.client.images.remove(tag, noprune=False)


@pytest.fixture(scope="module")
def consumer(
    tmp_path_factory: pytest.TempPathFactory, repositories: str, base_image: str, hera_build_cache: Path
) -> Example:
    return copy_example(
        "ml-pipeline", tmp_path_factory.mktemp("consumer"), f"{repositories}/ml-pipeline", base_image, hera_build_cache
    )


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, repositories: str, base_image: str, hera_build_cache: Path
) -> Example:
    return copy_example(
        "data-utils", tmp_path_factory.mktemp("provider"), f"{repositories}/data-utils", base_image, hera_build_cache
    )


def in_image(engine: Any, image: str, script: str) -> str:
    outcome = engine.run(image, entrypoint=["/bin/sh"], command=["-c", script], timeout=120)
    assert outcome.exit_code == 0, outcome.stderr
    return str(outcome.stdout)


@pytest.fixture(scope="module")
def provider_built(provider: Example) -> dict[str, Any]:
    """The provider built and checked once."""
    return provider.image_json()


def test_provider_image_builds_and_passes_the_check(
    provider_built: dict[str, Any], docker_engine: Any, base_image: str
) -> None:
    result = provider_built
    check = result["check"]
    assert check["distribution"] == "data-utils" and check["version"] == "1.4.0"
    assert check["hera"] == _hera_version()
    assert check["entrypoints"] == ["data_utils.steps:dataset_stats", "data_utils.steps:validate_dataset"]
    assert check["run"] is None and "no runner template has a value for every input" in check["notes"][0]
    labels = docker_engine.image(result["image_id"]).labels
    assert labels["org.opencontainers.image.version"] == "1.4.0"
    assert labels["org.opencontainers.image.title"] == "data-utils"
    assert labels["org.opencontainers.image.base.name"] == base_image


def test_the_image_holds_no_wheels_pip_or_build_leftovers_and_runs_as_non_root(
    provider_built: dict[str, Any], docker_engine: Any, base_image: str
) -> None:
    image = provider_built["image_id"]
    listing = "find / -xdev -name '*.whl' 2>/dev/null | sort"
    assert in_image(docker_engine, image, listing) == in_image(docker_engine, base_image, listing), (
        "only the base's own wheels"
    )
    leftovers = in_image(
        docker_engine, image, "ls -d /tmp/hera-build /opt/venv/bin/pip* /root/.cache/pip 2>/dev/null; id -u"
    )
    assert leftovers.split() == ["65532"]


@pytest.fixture(scope="module")
def pushed(consumer: Example) -> dict[str, Any]:
    """The consumer built, checked and pushed once (with :latest); later tests change the copy's code."""
    return consumer.image_json("--push", "--tag", "latest")


def test_consumer_image_builds_checks_pushes_and_templates_pin_the_digest(
    consumer: Example, pushed: dict[str, Any], registry: str
) -> None:
    assert pushed["image"] == f"{consumer.repository}:0.3.0"
    assert pushed["tags"] == [f"{consumer.repository}:0.3.0", f"{consumer.repository}:latest"]
    check = pushed["check"]
    assert check["run"]["entrypoint"] == "ml_pipeline.steps:train"
    assert check["run"]["output"].strip() == TRAIN_OUTPUT, "the runner template ran in the image as Argo runs it"
    digest = pushed["digest"]
    registry_digest = RegistryClient(registry).tag_digest(_ref(f"{consumer.repository}:0.3.0"))
    assert registry_digest == digest, "the digest reported is the one the registry serves"
    templates = consumer.run("templates", "--digest", digest, "--stdout").stdout
    images = {
        template["script"]["image"]
        for document in yaml.safe_load_all(templates)
        if document and document["kind"] == "WorkflowTemplate"
        for template in document["spec"]["templates"]
        if "script" in template
    }
    assert images == {f"{consumer.repository}:0.3.0@{digest}"}


def test_check_command_checks_an_existing_image(consumer: Example, pushed: dict[str, Any]) -> None:
    result = json.loads(consumer.run("check", f"{consumer.repository}:latest", "--json").stdout)
    assert result["run"]["output"].strip() == TRAIN_OUTPUT


def test_a_one_line_change_rebuilds_only_the_application_layer(
    consumer: Example, pushed: dict[str, Any], docker_engine: Any
) -> None:
    before = pushed["layers"]
    steps = consumer.root / "src" / "ml_pipeline" / "steps.py"
    steps.write_text(steps.read_text() + "# a one-line change\n")
    rebuilt = consumer.image("--no-check", "--json")
    after = docker_engine.image(json.loads(rebuilt.stdout)["image_id"]).attrs["RootFS"]["Layers"]
    assert len(after) == len(before) and after[:-1] == before[:-1], "base and dependency layers are reused"
    assert after[-1] != before[-1], "the application layer holds the change"
    assert "COPY --from=deps /opt/venv /opt/venv  (cached)" in rebuilt.stderr


def test_a_released_tag_with_other_content_is_refused_unless_forced(
    consumer: Example, pushed: dict[str, Any], registry: str
) -> None:
    steps = consumer.root / "src" / "ml_pipeline" / "steps.py"
    steps.write_text(steps.read_text() + "# content that was not released\n")
    refused = consumer.image("--push", "--no-check", expect=1)
    error_lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert (
        len(error_lines) == 1
        and "already released with other content" in error_lines[0]
        and "--force" in error_lines[0]
    )
    assert RegistryClient(registry).tag_digest(_ref(f"{consumer.repository}:0.3.0")) == pushed["digest"]
    forced = json.loads(consumer.image("--push", "--no-check", "--force", "--json").stdout)
    assert forced["digest"] != pushed["digest"]
    assert RegistryClient(registry).tag_digest(_ref(f"{consumer.repository}:0.3.0")) == forced["digest"]


def test_an_unreachable_registry_is_one_clear_error(consumer: Example) -> None:
    pyproject = consumer.root / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace(consumer.repository, "127.0.0.1:1/acme/ml-pipeline"))
    try:
        result = consumer.image("--push", "--no-check", expect=1)
    finally:
        pyproject.write_text(original)
    assert result.stderr.strip().splitlines()[-1].startswith("error: registry 127.0.0.1:1 is unreachable")


def test_a_missing_base_image_says_how_to_get_it(consumer: Example) -> None:
    result = consumer.run("image", "--backend", "docker", "--base-image", "hera-build-test/absent:nope", expect=1)
    assert result.stderr.strip().splitlines() == [
        "error: base image hera-build-test/absent:nope is not in the Docker engine (builds run without network, "
        "nothing is pulled) (fix: get it with `docker pull hera-build-test/absent:nope` or `docker load -i FILE`, "
        "or choose another with --base-image / base-image in [tool.hera-build])"
    ]


def test_a_failing_build_step_shows_its_last_lines(
    consumer: Example, docker_engine: Any, base_image: str, tmp_path: Path
) -> None:
    broken = f"hera-build-test/no-venv:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nRUN rm -rf /usr/lib/python3*/venv\n")
    docker_engine.client.images.build(path=str(tmp_path), tag=broken, network_mode="none", rm=True)
    try:
        result = consumer.run("image", "--backend", "docker", "--base-image", broken, "--no-check", expect=1)
    finally:
        docker_engine.client.images.remove(broken, force=True)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: step 2/") and "venv" in lines[-1] and "returned a non-zero code: 1" in lines[-1]
    assert any(line.startswith("  | ") and "No module named venv" in line for line in lines), "the step's last lines"


def test_no_engine_is_one_clear_error(consumer: Example) -> None:
    result = consumer.run(
        "image", "--backend", "docker", expect=1, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    )
    assert result.stderr.strip().splitlines() == [
        "error: no Docker engine answers at unix:///nonexistent/docker.sock (not installed or not running) (fix: "
        "install and start Docker (e.g. `sudo systemctl start docker`; in this repository scripts/start-docker.sh), "
        "or set DOCKER_HOST)"
    ]


# ---------------------------------------------------------------------------------------------------- the wheelhouse


def test_wheels_built_from_local_source_are_byte_for_byte_reproducible(hera_build_cache: Path, tmp_path: Path) -> None:
    """The dependency layer stays cached only if the editable data-utils builds to the same bytes every time."""
    from hera_build.image.wheelhouse import FIXED_EPOCH, ProjectWheelBuilder, WheelCache

    builder = ProjectWheelBuilder(WheelCache(hera_build_cache))
    first = builder.build(ROOT / "examples" / "data-utils", tmp_path / "a", epoch=FIXED_EPOCH)
    second = builder.build(ROOT / "examples" / "data-utils", tmp_path / "b", epoch=FIXED_EPOCH)
    assert first.name == second.name == "data_utils-1.4.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_no_wheel_for_the_platform_names_the_package_and_the_platform(tmp_path: Path) -> None:
    """A real ``pip download`` against the configured index, for a platform pydantic-core has no wheel for."""
    from hera_build.errors import BuildError
    from hera_build.image.target import PythonTarget
    from hera_build.image.wheelhouse import PipFetcher

    target = PythonTarget("/usr/bin/python3", "3.11.2", "cp311", "cp311", ("linux_riscv32",), {})
    version = _installed("pydantic-core")
    with pytest.raises(
        BuildError, match=rf"no wheel of pydantic-core {version} for linux/riscv32 \(cp311-linux_riscv32"
    ):
        PipFetcher().fetch({"pydantic-core": version}, target, tmp_path)


def _ref(text: str) -> Any:
    from hera_build.core.references import parse_image_ref

    return parse_image_ref(text)


def _installed(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


def _hera_version() -> str:
    return _installed("hera")
