"""Nothing reaches the registry before the image check passed (issue 15), as a user meets it.

Copies of examples/ml-pipeline, built with the oci backend (the base image comes from the registry, the image is
loaded into the engine for the check) and pushed to repositories of their own; every command is a fresh
``hera-build`` process and the registry is read through its HTTP API:

- a runner module that imports where the templates are emitted but not in the image (it uses a package the
  project does not declare): ``release --push`` fails with the check's error, no tag, no manifest, no templates;
  the rerun builds and checks again and fails the same way;
- ``image --push`` stopped while the check's container runs (a module that is slow to import in the image):
  SIGTERM leaves no container and no tag; after SIGKILL the container is left, and the next command that uses
  the engine removes it;
- no engine for the check: ``release --push`` publishes, says the check did not run and records
  ``checked: false``; with the engine back, the rerun checks the reused image and records ``checked: true``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hera_build.image.engine import OWNER_LABEL
from tests.support.cli_project import CliProject, copy_example

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

REGISTRY = os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000")
REMOTE_BASE = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", f"{REGISTRY}/hera-build-base:bookworm-python3")

UNDECLARED_IMPORT = """\
# Uses a package that is installed where the templates are emitted but is not a dependency of the project.
import tomlkit  # noqa: E402,F401
"""

SLOW_IMPORT = """\
# Loads a model at import: quick where the templates are emitted (ML_PIPELINE_MODEL_CACHE is warm there),
# ten minutes in a fresh container.
import os as _os  # noqa: E402
import time as _time  # noqa: E402

if not _os.environ.get("ML_PIPELINE_MODEL_CACHE"):
    _time.sleep(600)
"""
HOST_ENV = {"ML_PIPELINE_MODEL_CACHE": "warm"}


@pytest.fixture
def project(unique_repository: Any, docker_engine: Any, tmp_path: Path, hera_build_cache: Path) -> Iterator[CliProject]:
    """A copy of the consumer example with the oci backend and a repository of its own (local tags removed after)."""
    repository: str = unique_repository("ml-pipeline")
    yield copy_example(tmp_path, repository, hera_build_cache, backend="oci", base_image=REMOTE_BASE)
    for image in docker_engine.client.images.list():
        if any(tag.startswith(repository + ":") for tag in image.tags):
            # A check container a failing test left behind would hold the image (and outlive the session).
            for container in docker_engine.client.containers.list(all=True, filters={"ancestor": image.id}):
                container.remove(force=True)
            docker_engine.client.images.remove(image.id, force=True)


def check_containers(engine: Any, pid: int) -> list[Any]:
    """Containers (running or not) that the hera-build process ``pid`` started."""
    return list(engine.client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={pid}"}))


# ---------------------------------------------------------------------------------------------------- failed check


def test_a_failed_check_publishes_nothing_and_the_rerun_checks_again(project: CliProject) -> None:
    project.append_to_module("steps", UNDECLARED_IMPORT)
    project.run("templates", "--out", str(project.root / "emitted"))  # the host imports it fine

    first = project.run("release", "--push", expect=1)
    assert "would not run ml-pipeline 0.3.0's templates" in first.stderr
    assert "No module named 'tomlkit'" in first.stderr
    assert project.tags() == [], "no tag: the image never reached the registry"
    assert not project.dist.exists(), "no manifest, no templates"

    second = project.run("release", "--push", expect=1)
    assert "is not in the registry yet" in second.stderr and "reusing" not in second.stderr
    assert "building" in second.stderr, "built and checked again"
    assert second.stderr.splitlines()[-1] == first.stderr.splitlines()[-1], "the same error"
    assert project.tags() == [] and not project.dist.exists()


# ---------------------------------------------------------------------------------------------------- killed check


def start_and_stop_during_the_check(project: CliProject, engine: Any, signum: int) -> tuple[int, str, list[Any]]:
    """Start ``image --push``, send ``signum`` once its check container runs; (exit code, stderr, containers)."""
    project.append_to_module("steps", SLOW_IMPORT)
    process = project.popen("image", "--push", env=HOST_ENV)
    try:
        deadline = time.monotonic() + 300
        while not check_containers(engine, process.pid):
            assert process.poll() is None, (project.root.parent / "stderr.txt").read_text()[-3000:]
            assert time.monotonic() < deadline, "no check container within 300 s"
            time.sleep(0.2)
        time.sleep(1)  # the container is importing the project's modules
        process.send_signal(signum)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, (project.root.parent / "stderr.txt").read_text(), check_containers(engine, process.pid)


def test_sigterm_during_the_check_leaves_no_container_and_no_tag(project: CliProject, docker_engine: Any) -> None:
    code, stderr, left = start_and_stop_during_the_check(project, docker_engine, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    assert stderr.splitlines()[-1] == "error: terminated (SIGTERM); cleaned up"
    assert left == [], "the check's container was removed on the way out"
    assert project.tags() == []


def test_after_sigkill_during_the_check_the_next_command_removes_the_container(
    project: CliProject, docker_engine: Any
) -> None:
    code, _, left = start_and_stop_during_the_check(project, docker_engine, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert len(left) == 1, "a killed process cannot clean up"
    assert project.tags() == [], "killed before publishing: no tag"

    project.run("image", "--no-check", env=HOST_ENV)  # any command that connects to the engine
    leftover = docker_engine.client.containers.list(all=True, filters={"id": left[0].id})
    assert leftover == [], "the next command reaped the killed process's container"
    assert project.tags() == []


# ---------------------------------------------------------------------------------------------------- no engine


def test_without_an_engine_the_release_records_an_unchecked_image_and_the_rerun_checks_it(
    project: CliProject,
) -> None:
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/hera-build-test/docker.sock"}
    first = project.run("release", "--push", env=nowhere)
    assert "warning: the image check did not run" in first.stderr
    manifest = project.manifest()
    assert manifest["image"]["checked"] is False
    assert project.remote_digest("0.3.0") == manifest["image"]["digest"], "published"

    second = project.run("release", "--push")
    assert "reusing it" in second.stderr and "building" not in second.stderr
    assert "checking " in second.stderr and "runner entrypoint(s) import" in second.stderr, "checked before reuse"
    again = project.manifest()
    assert again["image"]["checked"] is True
    assert again["image"]["digest"] == manifest["image"]["digest"]
