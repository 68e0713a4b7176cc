"""Shared fixtures for tests that need real components: a Docker engine, the local registry, the base image.

A missing component skips the test *loudly* (the reason names the component and the script that provides it);
with ``CI=true`` it fails instead, because CI (``.ci/run``) installs and starts every component and a silent skip
there would hide a broken setup. Components are found through the environment that ``scripts/dev-up.sh
--env-only`` prints (``HERA_BUILD_TEST_*``), with the scripts' defaults.

Add fixtures for other components here in the same style: session-scoped, one ``require_component`` call per
missing piece.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import IN_CI, require_component

__all__ = ["IN_CI", "require_component"]

DEFAULT_BASE_IMAGE = "hera-build-base:bookworm-python3"
DEFAULT_REGISTRY = "127.0.0.1:5000"


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """A connected :class:`hera_build.image.backends.docker.DockerEngine` (engine 20.10, API 1.41, in CI)."""
    from hera_build.errors import EngineError
    from hera_build.image.engine import DockerEngine

    try:
        return DockerEngine.from_env(timeout=600)
    except EngineError as exc:
        require_component(f"{exc.message}; start one with scripts/start-docker.sh")


@pytest.fixture(scope="session")
def base_image(docker_engine: Any) -> str:
    """The base image in the engine (``$HERA_BUILD_TEST_BASE_IMAGE``), made offline by scripts/base-image.sh."""
    from hera_build.errors import HeraBuildError

    name = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    try:
        docker_engine.image(name)
    except HeraBuildError:
        require_component(f"base image {name} is not in the Docker engine; make it with scripts/base-image.sh")
    return name


@pytest.fixture(scope="session")
def registry() -> str:
    """``host:port`` of the local registry (``$HERA_BUILD_TEST_REGISTRY``), answering the v2 API."""
    import requests

    address = os.environ.get("HERA_BUILD_TEST_REGISTRY", DEFAULT_REGISTRY)
    try:
        answer = requests.get(f"http://{address}/v2/", timeout=5)
    except requests.RequestException as exc:
        require_component(
            f"no registry answers on http://{address}/v2/ ({type(exc).__name__}); run scripts/start-registry.sh"
        )
    if answer.status_code not in (200, 401):
        require_component(
            f"http://{address}/v2/ answered {answer.status_code}, not a registry; run scripts/start-registry.sh"
        )
    return address


@pytest.fixture
def unique_repository(registry: str) -> Iterator[Any]:
    """``unique_repository("ml-pipeline")`` → a repository nobody else pushes to (released tags are immutable)."""
    run = uuid.uuid4().hex[:12]
    yield lambda name: f"{registry}/hera-build-test/{run}/{name}"


@pytest.fixture(scope="session")
def hera_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel/probe cache for the session (``HERA_BUILD_CACHE_DIR``), so tests never depend on a user's cache."""
    return tmp_path_factory.mktemp("hera-build-cache")
