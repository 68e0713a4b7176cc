"""The one way hera-build talks to a Docker engine: connect, look images up, run throwaway containers, load, push.

Every stage that needs an engine (the docker and buildpacks backends, the oci backend's optional load, the image
check, the publish stage's engine push, the base-image digest) goes through :class:`DockerEngine`, so the
connection rules (``DOCKER_HOST``, negotiated API version for Debian's engine 20.10), the error texts and the
container hygiene are decided once.

Containers hera-build starts carry :data:`OWNER_LABEL` with the starting process id. They are removed in a
``finally`` (the CLI turns SIGTERM into an exception for that); a process killed with SIGKILL cannot do that, so
every connection and every new run first removes the containers of owners that are gone
(:meth:`DockerEngine.reap`): no check container outlives the next command that uses the engine.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hera_build.core.progress import no_progress
from hera_build.core.references import ImageRef
from hera_build.errors import BuildError, EngineError, PublishError
from hera_build.image.target import RunOutcome

OWNER_LABEL = "dev.hera-build.owner-pid"
OWNER_HOST_LABEL = "dev.hera-build.owner-host"
"""The machine of the owning process: a process id says nothing about another machine sharing the engine."""
_PING_TIMEOUT = 5
_HOST = socket.gethostname()
_LOAD_TIMEOUT = 600


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class DockerEngine:
    """A connected Docker engine (it is a :class:`hera_build.image.target.ContainerRunner`)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_env(cls, *, timeout: int = 300) -> DockerEngine:
        """Connect as the docker CLI would (``DOCKER_HOST``, TLS variables); one clear error if nothing answers.

        The API version is negotiated (``auto``) unless ``DOCKER_API_VERSION`` pins it, so Debian's engine 20.10
        (API 1.41) works with docker-py's newer default.
        """
        import docker
        import requests
        from docker.errors import DockerException

        version = os.environ.get("DOCKER_API_VERSION") or "auto"
        try:
            client = docker.from_env(version=version, timeout=timeout)
            client.ping()
        except (DockerException, requests.exceptions.RequestException, OSError) as exc:
            text = str(exc)
            if "Permission denied" in text or "PermissionError" in text:
                raise EngineError(
                    f"permission denied on the Docker engine's socket ({engine_address()})",
                    "add your user to the docker group, or run where the socket is accessible",
                ) from None
            raise EngineError(
                f"no Docker engine answers at {engine_address()} (not installed or not running)",
                "install and start Docker (e.g. `sudo systemctl start docker`; in this repository "
                "scripts/start-docker.sh), or set DOCKER_HOST",
            ) from None
        engine = cls(client)
        engine.reap()
        return engine

    # ---------------------------------------------------------------------------------------------- images

    def version(self) -> str:
        try:
            return str(self.client.version().get("Version", "unknown"))
        except Exception:  # noqa: BLE001 - only for reporting
            return "unknown"

    def image(self, name: str) -> Any:
        from docker.errors import ImageNotFound

        try:
            return self.client.images.get(name)
        except ImageNotFound:
            raise BuildError(
                f"image {name} is not in the Docker engine",
                f"pull it (`docker pull {name}`), load it (`docker load`) or build it first",
            ) from None

    def find(self, name: str) -> Any | None:
        """The image, or ``None`` when the engine does not have it."""
        from docker.errors import APIError, ImageNotFound

        try:
            return self.client.images.get(name)
        except (ImageNotFound, APIError):
            return None

    def image_id(self, image: str) -> str:
        return str(self.image(image).id)

    def tag(self, image_id: str, ref: ImageRef) -> None:
        self.client.images.get(image_id).tag(ref.repository, tag=ref.tag or "latest")

    def remove_untagged(self, image_id: str) -> bool:
        """Remove ``image_id`` unless something still uses it: the engine refuses (without ``force``) an image
        another tag names or a container runs, and that refusal is the answer. ``True`` when it was removed."""
        from docker.errors import APIError, ImageNotFound

        try:
            self.client.images.remove(image_id)
        except (ImageNotFound, APIError):
            return False
        return True

    def pull(self, ref: ImageRef | str, platform: str | None = None) -> Any | None:
        """Pull ``ref`` (e.g. a released image, to check it), of ``platform`` when it is an index; ``None`` when
        the registry does not give it."""
        from docker.errors import APIError

        try:
            if platform is None:
                return self.client.images.pull(str(ref))
            return self.client.images.pull(str(ref), platform=platform)
        except APIError:
            return None

    def load(self, archive: Path, expected_id: str) -> str:
        """``docker load`` the archive through the SDK; returns the image id, checked against the config digest."""
        import docker.errors
        import requests

        try:
            self.client.api.timeout = _LOAD_TIMEOUT
            with archive.open("rb") as stream:
                images = self.client.images.load(stream)
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineError(f"the engine refused to load {archive.name}: {exc}", "check `docker info`") from None
        ids = {image.id for image in images}
        if expected_id not in ids:
            raise EngineError(
                f"the engine loaded {sorted(ids) or 'nothing'}, not {expected_id}",
                "check that the engine supports OCI archives (Docker 20.10 or later)",
            )
        return expected_id

    def push(self, ref: ImageRef, *, progress: Callable[[str], None] = no_progress, verbose: bool = False) -> str:
        """Push one tag; the digest comes from the stream's ``aux`` entry, and an ``error`` entry fails the push.

        docker-py's push does not raise when the push fails: the failure is only an entry in the stream.
        """
        from docker.errors import APIError

        digest: str | None = None
        last_status = ""
        try:
            stream = self.client.api.push(ref.repository, tag=ref.tag, stream=True, decode=True)
            for entry in stream:
                if "error" in entry or "errorDetail" in entry:
                    detail = entry.get("errorDetail") or {}
                    message = str(entry.get("error") or detail.get("message") or "unknown error").strip()
                    raise push_error(ref, message)
                aux = entry.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                status = str(entry.get("status", ""))
                if verbose and status and status != last_status:
                    progress(f"  {entry.get('id', '')} {status}".rstrip())
                last_status = status
        except APIError as exc:
            raise push_error(ref, str(exc.explanation or exc)) from None
        if digest is None:
            raise PublishError(f"pushing {ref} reported no digest", "check the registry's logs; push again")
        return digest

    # ---------------------------------------------------------------------------------------------- containers

    def reap(self) -> int:
        """Remove containers that hera-build processes started and could not remove (they were killed)."""
        from docker.errors import APIError

        removed = 0
        try:
            containers = self.client.containers.list(all=True, filters={"label": OWNER_LABEL})
        except APIError:
            return 0
        for container in containers:
            labels = container.labels or {}
            if labels.get(OWNER_HOST_LABEL, _HOST) != _HOST:
                continue  # started from another machine that shares this engine: not ours to judge
            owner = labels.get(OWNER_LABEL, "")
            if owner.isdigit() and _alive(int(owner)):
                continue
            try:
                container.remove(force=True)
                removed += 1
            except APIError:
                pass
        return removed

    def run(
        self,
        image: str,
        *,
        entrypoint: list[str],
        command: list[str],
        files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> RunOutcome:
        """Run a command in a fresh container with no network; put ``files`` in first; always remove it."""
        import requests
        from docker.errors import APIError, ImageNotFound

        self.reap()
        try:
            container = self.client.containers.create(
                image, entrypoint=entrypoint, command=command, environment=dict(env or {}), network_mode="none",
                detach=True, labels={OWNER_LABEL: str(os.getpid()), OWNER_HOST_LABEL: _HOST},
            )  # fmt: skip
        except ImageNotFound:
            raise BuildError(
                f"image {image} is not in the Docker engine",
                f"build it first, or get it with `docker pull {image}` or `docker load -i FILE`",
            ) from None
        except APIError as exc:
            raise EngineError(
                f"the Docker engine cannot run {image}: {exc.explanation or exc}",
                "pass an image reference (registry/repository:tag) or an image id that `docker images` lists",
            ) from None
        try:
            if files:
                container.put_archive("/", _tar_files(files))
            container.start()
            try:
                status = container.wait(timeout=timeout)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                container.kill()
                return RunOutcome(-1, "", f"timed out after {timeout:.0f}s")
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return RunOutcome(int(status.get("StatusCode", -1)), stdout, stderr)
        except APIError as exc:
            raise EngineError(f"the Docker engine could not run {image}: {exc.explanation or exc}", None) from None
        finally:
            try:
                container.remove(force=True)
            except APIError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tar_files(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def push_error(ref: ImageRef, message: str) -> PublishError:
    """A registry's refusal, as one line with the fix that usually applies."""
    from hera_build.image.registry import registry_host

    host = registry_host(ref)
    lowered = message.lower()
    if "unauthorized" in lowered or "authentication required" in lowered or "denied" in lowered:
        return PublishError(
            f"registry {host} refused the push of {ref}: {message}", f"log in with `docker login {host}`"
        )
    if "connection refused" in lowered or "no such host" in lowered or "dial tcp" in lowered or "timeout" in lowered:
        return PublishError(
            f"registry {host} is unreachable while pushing {ref}: {message}",
            "check the image repository's host and port, and that the registry is running",
        )
    return PublishError(f"pushing {ref} failed: {message}", None)


def connect_engine(timeout: int = _PING_TIMEOUT) -> DockerEngine | None:
    """An engine when one answers at ``DOCKER_HOST`` (or the default socket) within ``timeout``, else ``None``."""
    try:
        engine = DockerEngine.from_env(timeout=timeout)
    except (EngineError, ImportError):
        return None
    engine.client.api.timeout = 300  # the short timeout is for the question "is there one?", not for the work
    return engine
