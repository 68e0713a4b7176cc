"""An optional local engine: the OCI backend never needs one, but loads the image into one when asked.

Loading goes through the docker SDK's ``images.load`` with the archive :mod:`~hera_build.image.backends.oci.layout`
writes (never the ``docker`` CLI). An engine that does not answer within a few seconds counts as absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hera_build.errors import EngineError

__all__ = ["connect_engine", "load_archive"]

_PING_TIMEOUT = 5
_LOAD_TIMEOUT = 600


def connect_engine(timeout: int = _PING_TIMEOUT) -> Any | None:
    """A docker SDK client when an engine answers at ``DOCKER_HOST`` (or the default socket), else ``None``."""
    try:
        import docker
        import docker.errors
        import requests
    except ImportError:
        return None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None
    return client


def load_archive(client: Any, archive: Path, expected_id: str) -> str:
    """``docker load`` the archive through the SDK; returns the image id, checked against the config digest."""
    import docker.errors
    import requests

    try:
        client.api.timeout = _LOAD_TIMEOUT
        with archive.open("rb") as stream:
            images = client.images.load(stream)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise EngineError(f"the engine refused to load {archive.name}: {exc}", "check `docker info`") from None
    ids = {image.id for image in images}
    if expected_id not in ids:
        raise EngineError(
            f"the engine loaded {sorted(ids) or 'nothing'}, not {expected_id}",
            "check that the engine supports OCI archives (Docker 20.10 or later)",
        )
    return expected_id
