"""Pod nodes as Docker containers, through the docker SDK's low-level API (a handful of calls per node).

Create (with the template's command as entrypoint and its args as command, as Kubernetes maps them), copy the
staged files in, start, wait, read stdout and the combined log, copy the output paths out, remove. Every container
carries the run's label and this process id; :meth:`DockerContainers.cleanup` kills what is still running on
Ctrl-C, and connecting first removes containers whose process is gone (a run killed with SIGKILL).
"""

from __future__ import annotations

import io
import os
import queue
import tarfile
import threading
import time
from collections.abc import Iterable
from typing import Any

from hera_build.image.engine import OWNER_LABEL
from hera_build.run.containers import ContainerResult, ContainerSpec, tar_file

_WAIT_SLICE = 2.0


def engine_reference(image: str) -> str:
    """``repo:tag@sha256:…`` → ``repo@sha256:…``: the digest decides, and the engine and SDK parse it reliably."""
    name, at, digest = image.partition("@")
    if not at:
        return image
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    return f"{name}@{digest}"


def _split(reference: str) -> tuple[str, str | None]:
    if "@" in reference:
        return reference, None
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = reference.rpartition(":")
        return repository, tag
    return reference, "latest"


def _archive(spec: ContainerSpec) -> bytes | None:
    """One tar stream for everything placed before start: staged files and artifact archives."""
    if not spec.files and not spec.archives:
        return None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        streams = [tar_file(path, data) for path, data in spec.files.items()] + list(spec.archives)
        for stream in streams:
            with tarfile.open(fileobj=io.BytesIO(stream)) as source:
                for member in source.getmembers():
                    archive.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out.getvalue()


class DockerContainers:
    """A :class:`~hera_build.run.containers.ContainerEngine` on a Docker engine."""

    def __init__(self, client: Any) -> None:
        self.api = client.api
        self._live: set[str] = set()
        self._lock = threading.Lock()
        self._removals: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._remover, name="hera-build-remove", daemon=True).start()

    def _remover(self) -> None:
        """Removing a container takes a tenth of a second: off the critical path, before the next node starts."""
        while True:
            container = self._removals.get()
            try:
                self._remove(container)
            finally:
                self._removals.task_done()

    @classmethod
    def connect(cls) -> DockerContainers:
        """Connect through the image stage's engine (DOCKER_HOST, API negotiation, error texts), and first remove
        containers whose hera-build process is gone (a run killed with SIGKILL)."""
        from hera_build.image.engine import DockerEngine

        engine = DockerEngine.from_env(timeout=60)
        engine.reap()
        return cls(engine.client)

    def missing_images(self, images: Iterable[str]) -> list[str]:
        return [image for image in images if not self._ensure_image(engine_reference(image))]

    def _ensure_image(self, reference: str) -> bool:
        from docker.errors import APIError, ImageNotFound

        try:
            self.api.inspect_image(reference)
            return True
        except ImageNotFound:
            pass
        except APIError:
            return False
        repository, tag = _split(reference)
        try:
            self.api.pull(repository, tag=tag)
            self.api.inspect_image(reference)
        except (APIError, ImageNotFound):
            return False
        return True

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ContainerResult:
        from docker.errors import APIError

        image = engine_reference(spec.image)
        try:
            container = self.api.create_container(
                image,
                command=list(spec.args) if spec.args is not None else None,
                entrypoint=list(spec.command) if spec.command is not None else None,
                environment=dict(spec.env),
                working_dir=spec.working_dir,
                volumes=list(spec.volumes) or None,
                labels={**spec.labels, OWNER_LABEL: str(os.getpid())},
                name=spec.name,
                host_config=self.api.create_host_config(network_mode=spec.network),
            )["Id"]
        except APIError as exc:
            return ContainerResult(exit_code=None, error=f"cannot create a container of {spec.image}: {_explain(exc)}")
        with self._lock:
            self._live.add(container)
        try:
            return self._run(container, spec, cancel)
        finally:
            self._removals.put(container)

    def _run(self, container: str, spec: ContainerSpec, cancel: threading.Event) -> ContainerResult:
        from docker.errors import APIError

        try:
            archive = _archive(spec)
            if archive is not None:
                self.api.put_archive(container, "/", archive)
            self.api.start(container)
        except APIError as exc:
            return ContainerResult(exit_code=None, error=f"cannot start {spec.image}: {_explain(exc)}")
        exit_code, timed_out, cancelled = self._wait(container, spec.timeout, cancel)
        try:
            stdout = self.api.logs(container, stdout=True, stderr=False).decode(errors="replace")
            log = self.api.logs(container, stdout=True, stderr=True).decode(errors="replace")
            collected = {path: self._copy_out(container, path) for path in spec.collect}
        except APIError as exc:
            return ContainerResult(exit_code=None, error=f"cannot read the container's results: {_explain(exc)}")
        return ContainerResult(
            exit_code=exit_code, stdout=stdout, log=log, timed_out=timed_out, cancelled=cancelled, collected=collected
        )

    def _wait(self, container: str, timeout: float | None, cancel: threading.Event) -> tuple[int, bool, bool]:
        """Wait in slices so that a deadline or a cancel is noticed; a container's exit returns at once."""
        import requests

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if cancel.is_set():
                self._kill(container)
                return self._exit_code(container), False, True
            remaining = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - time.monotonic())
            if remaining <= 0:
                self._kill(container)
                return self._exit_code(container), True, False
            try:
                return int(self.api.wait(container, timeout=remaining)["StatusCode"]), False, False
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue

    def _exit_code(self, container: str) -> int:
        from docker.errors import APIError

        try:
            return int(self.api.wait(container, timeout=30)["StatusCode"])
        except APIError:
            return 137  # removed by cleanup() meanwhile: it was killed

    def _copy_out(self, container: str, path: str) -> bytes | None:
        from docker.errors import NotFound

        try:
            chunks, _ = self.api.get_archive(container, path)
        except NotFound:
            return None
        return b"".join(chunks)

    def _kill(self, container: str) -> None:
        from docker.errors import APIError

        try:
            self.api.kill(container)
        except APIError:
            pass  # already gone or already stopped

    def _remove(self, container: str) -> None:
        from docker.errors import APIError

        try:
            self.api.remove_container(container, force=True, v=True)
        except APIError:
            pass  # already removed
        with self._lock:
            self._live.discard(container)

    def cleanup(self) -> None:
        """Kill and remove what still runs, and wait until every finished container is removed too."""
        with self._lock:
            live = list(self._live)
        for container in live:
            self._kill(container)
            self._remove(container)
        self._removals.join()


def _explain(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip().splitlines()[0] if str(explanation or exc).strip() else type(exc).__name__
