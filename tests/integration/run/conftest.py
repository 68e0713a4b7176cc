"""Fixtures for ``hera-build run`` on the real engine: a recording engine and the images the runs need.

Images are built (oci backend, pushed to the local registry) only when the registry lacks them, so a second
session starts at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hera_build.run.containers import ContainerResult, ContainerSpec
from hera_build.run.docker_engine import DockerContainers
from tests.support.components import require_component
from tests.support.runs import CORPUS, EXAMPLES


class RecordingContainers(DockerContainers):
    """The Docker engine, remembering which image each container ran."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.ran: list[ContainerSpec] = []

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ContainerResult:
        self.ran.append(spec)
        return super().run(spec, cancel)

    def leftovers(self) -> list[str]:
        return [c["Id"] for c in self.api.containers(all=True, filters={"label": "hera-build.dev/run"})]


@pytest.fixture(scope="session")
def run_engine(registry: str) -> RecordingContainers:
    from hera_build.errors import EngineError
    from hera_build.image.backends.docker import DockerEngine

    try:
        client = DockerEngine.from_env(timeout=120).client
    except EngineError as exc:
        require_component(f"{exc.message}; start one with scripts/start-docker.sh")
    return RecordingContainers(client)


def ensure_image(project_dir: Path, engine: DockerContainers) -> str:
    """The project's image at its version, built and pushed if the registry does not have it."""
    from hera_build.core.project import load_project
    from hera_build.run.project import build_project_image

    project = load_project(project_dir)
    repository = project.config.image_ref
    assert repository is not None
    image = repository.with_tag(project.version.tag)
    if engine.missing_images([str(image)]):
        build_project_image(project, image, lambda message: None)
    return str(image)


@pytest.fixture(scope="session")
def example_images(run_engine: RecordingContainers) -> dict[str, str]:
    return {name: ensure_image(EXAMPLES / name, run_engine) for name in ("data-utils", "ml-pipeline")}


@pytest.fixture(scope="session")
def corpus(run_engine: RecordingContainers, example_images: dict[str, str]) -> Iterator[Path]:
    """The corpus project, importable by name (as an installed project is) and with its image built."""
    source = str(CORPUS / "src")
    sys.path.insert(0, source)
    try:
        ensure_image(CORPUS, run_engine)
        yield CORPUS
    finally:
        sys.path.remove(source)
        for name in [m for m in sys.modules if m == "run_corpus" or m.startswith("run_corpus.")]:
            del sys.modules[name]
