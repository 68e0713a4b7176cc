"""The ``docker`` backend: a generated two-stage Dockerfile built by a Docker engine through the docker SDK.

The wheelhouse (resolved on the host) makes up the build context, so the build needs no network. docker-py drives
the legacy builder, which has no cache or bind mounts for ``RUN``, hence:

1. ``deps`` stage: a virtual environment with the dependency closure, installed offline by a pip that runs from
   its wheel, then ``pip check``. Its instructions depend only on the dependency wheels, so the engine reuses it
   until they change.
2. the runner image: the base image, the virtual environment (``COPY --from=deps``: the dependency layer), the
   project's files (the application layer), environment, a non-root user and OCI labels. The project wheel is
   installed on the host with PyPA ``installer`` into the tree that becomes ``/opt/app`` (found through a
   ``.pth`` file in the venv): placing a pure wheel's files needs no interpreter, and a one-line change then
   costs one small ``COPY`` instead of a container run. No wheel, pip, cache or compiler reaches the image.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hera_build import __version__
from hera_build.core.atomic import unwritable
from hera_build.core.gitinfo import GitInfo, git_info
from hera_build.core.project import Project
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.errors import BuildError, EngineError, ImmutableTagError, PublishError
from hera_build.image.backends import BuildRequest, BuildResult
from hera_build.image.inputs import INPUT_DIGEST_LABEL
from hera_build.image.labels import oci_labels
from hera_build.image.registry.client import RegistryClient, registry_host, repository_path
from hera_build.image.target import ContainerProber, Prober, PythonTarget, RunOutcome
from hera_build.image.wheelhouse import Wheelhouse, fetch_index_wheels, prepare_wheelhouse

__all__ = [
    "APP_DIR",
    "VENV_DIR",
    "RUN_USER",
    "LABEL_DEPENDENCY_DIGEST",
    "LABEL_BACKEND_VERSION",
    "LABEL_INPUT_DIGEST",
    "DockerEngine",
    "DockerfileSpec",
    "DockerPlan",
    "DockerBuilder",
    "image_labels",
    "install_application",
    "render_dockerfile",
]

VENV_DIR = "/opt/venv"
APP_DIR = "/opt/app"
RUN_USER = "65532:65532"
"""Numeric, so it needs no account in the base image (the convention of distroless' ``nonroot``)."""
LABEL_DEPENDENCY_DIGEST = "dev.hera-build.dependency-digest"
LABEL_INPUT_DIGEST = INPUT_DIGEST_LABEL
"""What release pipelines compare before building (:mod:`hera_build.image.inputs`)."""
LABEL_BACKEND_VERSION = "dev.hera-build.backend-version"
"""Read back by the release pipeline; the OCI backend sets the same label."""
_STAGING = "/tmp/hera-build"
_PTH_FILE = "_hera_build_app.pth"
_TAIL_LINES = 15

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------- the engine


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class DockerEngine:
    """A connected Docker engine: image lookups and throwaway containers (it is a ``probe.ContainerRunner``)."""

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
        except (DockerException, requests.exceptions.RequestException) as exc:
            text = str(exc)
            if "Permission denied" in text or "PermissionError" in text:
                raise EngineError(
                    f"permission denied on the Docker engine's socket ({_engine_address()})",
                    "add your user to the docker group, or run where the socket is accessible",
                ) from None
            raise EngineError(
                f"no Docker engine answers at {_engine_address()} (not installed or not running)",
                "install and start Docker (e.g. `sudo systemctl start docker`; in this repository "
                "scripts/start-docker.sh), or set DOCKER_HOST",
            ) from None
        return cls(client)

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

    def image_id(self, image: str) -> str:
        return str(self.image(image).id)

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

        try:
            container = self.client.containers.create(
                image, entrypoint=entrypoint, command=command, environment=dict(env or {}), network_mode="none",
                detach=True,
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


def _tar_files(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class DockerfileSpec:
    """Everything the Dockerfile depends on (and nothing else, so equal specs give equal Dockerfiles)."""

    base_image: str
    python: str
    """The base image's interpreter, which the virtual environment is made from."""
    project: str
    version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    user: str = RUN_USER


def _json_args(*args: str) -> str:
    return json.dumps(list(args))


def _label_value(value: str) -> str:
    return '"' + " ".join(value.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pip(*args: str) -> str:
    common = ("--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--no-warn-script-location")
    return _json_args(f"{VENV_DIR}/bin/python", f"{_STAGING}/tools/pip.whl/pip", *args[:1], *common, *args[1:])


def render_dockerfile(spec: DockerfileSpec) -> str:
    """The Dockerfile for a build context laid out by :class:`DockerBuilder` (``tools/``, ``deps/``, ``app/``)."""
    pth = (
        "import pathlib, sysconfig; "
        f"pathlib.Path(sysconfig.get_paths()['purelib'], '{_PTH_FILE}').write_text('{APP_DIR}\\n')"
    )
    pairs = [f"{_label_value(k)}={_label_value(v)}" for k, v in sorted(spec.labels.items())]
    labels = "LABEL " + " \\\n      ".join(pairs) + "\n" if pairs else ""
    return f"""\
# Generated by hera-build {__version__} for {spec.project} {spec.version}; regenerate it rather than edit it.

# 1. Dependencies: a virtual environment with the exact dependency closure, installed offline from wheels by the
#    base image's Python. Cached by the engine until the dependency wheels change.
FROM {spec.base_image} AS deps
RUN {_json_args(spec.python, "-m", "venv", "--without-pip", VENV_DIR)}
RUN {_json_args(f"{VENV_DIR}/bin/python", "-c", pth)}
COPY tools/ {_STAGING}/tools/
COPY deps/ {_STAGING}/deps/
RUN {_pip("install", "--find-links", f"{_STAGING}/deps", "--requirement", f"{_STAGING}/deps/requirements.txt")}
RUN {_json_args(f"{VENV_DIR}/bin/python", f"{_STAGING}/tools/pip.whl/pip", "check", "--disable-pip-version-check")}

# 2. The runner image: base image + dependency layer + application layer (the project, placed by hera-build
#    from its wheel). No wheels, pip or caches.
FROM {spec.base_image}
COPY --from=deps {VENV_DIR} {VENV_DIR}
COPY app/ {APP_DIR}/
ENV VIRTUAL_ENV={VENV_DIR} PATH={VENV_DIR}/bin:$PATH PYTHONUNBUFFERED=1
USER {spec.user}
{labels}"""


def install_application(wheel: Path, dest: Path) -> None:
    """Place the project wheel's files as ``/opt/app`` will hold them, with PyPA ``installer``.

    ``dest`` becomes ``/opt/app``: packages at its root, scripts in ``bin/`` with ``/opt/venv/bin/python`` as
    their interpreter, ``RECORD`` with paths relative to it. No bytecode is compiled (that would be the host's
    Python's); the files are only placed, so this works for any wheel that fits the target.
    """
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    scheme = {
        "purelib": dest,
        "platlib": dest,
        "scripts": dest / "bin",
        "data": dest / "data",
        "headers": dest / "include",
    }
    destination = SchemeDictionaryDestination(
        {name: str(path) for name, path in scheme.items()},
        interpreter=f"{VENV_DIR}/bin/python",
        script_kind="posix",
        bytecode_optimization_levels=(),
    )
    try:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"hera-build\n"})
    except (InstallerError, ValueError, OSError) as exc:
        raise BuildError(f"cannot install {wheel.name}: {exc}", "check that the project builds a valid wheel") from None
    _readable_by_all(dest)


def _readable_by_all(root: Path) -> None:
    """0755 directories and executables, 0644 other files: the image's user is not the host's (whatever its umask)."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory, name)
            os.chmod(path, 0o755 if path.stat().st_mode & 0o111 else 0o644)


def image_labels(
    project: Project,
    *,
    base_image: str,
    git: GitInfo | None,
    source_date_epoch: int | None,
    wheelhouse: Wheelhouse | None = None,
) -> dict[str, str]:
    """OCI annotations (``org.opencontainers.image.*``) and hera-build's digests, as image labels."""
    labels = oci_labels(project, base_image=base_image, git=git, created=source_date_epoch)
    if wheelhouse is not None:
        labels[LABEL_DEPENDENCY_DIGEST] = wheelhouse.dependency_digest
    return labels


# ---------------------------------------------------------------------------------------------------- build stream


@dataclass
class _StepTracker:
    """Turns the legacy builder's stream into one line per step (``--verbose``: every line)."""

    progress: Progress
    verbose: bool
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))
    step: str | None = None
    announced: bool = True
    image_id: str | None = None

    def feed(self, entry: Mapping[str, Any]) -> None:
        if "error" in entry or "errorDetail" in entry:
            detail = entry.get("errorDetail") or {}
            message = str(entry.get("error") or detail.get("message") or "unknown error").strip()
            self._fail(message)
        aux = entry.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])
        text = entry.get("stream")
        if not isinstance(text, str):
            return
        for line in text.splitlines():
            self._line(line.rstrip())

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        if self.verbose:
            self.progress(line)
        if line.startswith("Step ") and " : " in line:
            self.finish_step()
            number, _, instruction = line[len("Step ") :].partition(" : ")
            self.step, self.announced = f"step {number}: {_shorten(instruction)}", False
            return
        if line.startswith("Successfully built "):
            self.image_id = self.image_id or line.split()[-1]
        self.tail.append(line)
        if not self.announced and self.step is not None:
            cached = line.strip() == "---> Using cache"
            if not self.verbose:
                self.progress(f"{self.step}{'  (cached)' if cached else ''}")
            self.announced = True

    def finish_step(self) -> None:
        if not self.announced and self.step is not None and not self.verbose:
            self.progress(self.step)
        self.announced = True

    def _fail(self, message: str) -> None:
        if not self.verbose:
            for line in self.tail:
                self.progress(f"  | {line}")
        where = self.step or "docker build"
        raise BuildError(
            f"{where} failed: {message}", "see the step's last lines above; --verbose shows the whole build log"
        )


def _shorten(instruction: str, limit: int = 110) -> str:
    text = " ".join(instruction.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stream_build(engine: DockerEngine, context: Path, tag: str, progress: Progress, verbose: bool) -> str:
    from docker.errors import APIError

    tracker = _StepTracker(progress, verbose)
    try:
        stream = engine.client.api.build(
            path=str(context), dockerfile="Dockerfile", tag=tag, rm=True, forcerm=True, pull=False,
            network_mode="none", decode=True,
        )  # fmt: skip
        for entry in stream:
            tracker.feed(entry)
    except APIError as exc:
        raise BuildError(f"the Docker engine refused the build: {exc.explanation or exc}", None) from None
    tracker.finish_step()
    if tracker.image_id is None:
        raise BuildError("docker build ended without an image", "run with --verbose to see the build log")
    if not tracker.image_id.startswith("sha256:"):
        return str(engine.image(tracker.image_id).id)
    return tracker.image_id


# ---------------------------------------------------------------------------------------------------- push


def _push(engine: DockerEngine, ref: ImageRef, progress: Progress, verbose: bool) -> str:
    """Push one tag; the digest comes from the stream's ``aux`` entry, and an ``error`` entry fails the push.

    docker-py's push does not raise when the push fails: the failure is only an entry in the stream.
    """
    from docker.errors import APIError

    digest: str | None = None
    last_status = ""
    try:
        stream = engine.client.api.push(ref.repository, tag=ref.tag, stream=True, decode=True)
        for entry in stream:
            if "error" in entry or "errorDetail" in entry:
                detail = entry.get("errorDetail") or {}
                message = str(entry.get("error") or detail.get("message") or "unknown error").strip()
                raise _push_error(ref, message)
            aux = entry.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            status = str(entry.get("status", ""))
            if verbose and status and status != last_status:
                progress(f"  {entry.get('id', '')} {status}".rstrip())
            last_status = status
    except APIError as exc:
        raise _push_error(ref, str(exc.explanation or exc)) from None
    if digest is None:
        raise PublishError(f"pushing {ref} reported no digest", "check the registry's logs; push again")
    return digest


def _push_error(ref: ImageRef, message: str) -> PublishError:
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


def _check_tag_is_free(registry: RegistryClient, ref: ImageRef, image_id: str, force: bool) -> str | None:
    """Refuse to move a released version's tag to other content; returns the existing digest, if any."""
    existing = registry.manifest(repository_path(ref), ref.tag or "latest")
    if existing is None:
        return None
    if existing.config_digest == image_id or force:
        return existing.digest
    raise ImmutableTagError(
        f"{ref} already exists in the registry as {existing.digest} with other content (versions are immutable)",
        "bump the version, or pass --force to overwrite the tag",
    )


# ---------------------------------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class DockerPlan:
    """What a build would do: for ``--dry-run`` and for tests."""

    image: ImageRef
    tags: tuple[str, ...]
    base_image: str
    dockerfile: str
    target: PythonTarget | None
    push: bool
    notes: tuple[str, ...] = ()


def _all_tags(request: BuildRequest) -> tuple[ImageRef, ...]:
    refs = [request.image]
    for extra in request.extra_tags:
        ref = parse_image_ref(extra, what="--tag") if ("/" in extra or ":" in extra) else request.image.with_tag(extra)
        if ref.tag is None:
            ref = ref.with_tag("latest")
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def _pip_version() -> str:
    try:
        return importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        raise EngineError(
            "pip is not installed in the environment hera-build runs in", "install pip (python -m ensurepip)"
        ) from None


WheelhouseFn = Callable[..., Wheelhouse]


class DockerBuilder:
    """Builds the runner image with a Docker engine. Collaborators are injectable for tests."""

    name = "docker"

    def __init__(
        self,
        *,
        engine_factory: Callable[[], DockerEngine] = DockerEngine.from_env,
        prober_factory: Callable[[DockerEngine], Prober] = ContainerProber,
        wheelhouse: WheelhouseFn = prepare_wheelhouse,
        tool_wheels: Callable[..., dict[str, Path]] = fetch_index_wheels,
        registry_factory: Callable[[ImageRef], RegistryClient] = RegistryClient.for_image,
        git: Callable[[Path], GitInfo | None] = git_info,
        base_digest: Callable[[str], str | None] | None = None,
    ) -> None:
        self._engine_factory = engine_factory
        self._prober_factory = prober_factory
        self._wheelhouse = wheelhouse
        self._tool_wheels = tool_wheels
        self._registry_factory = registry_factory
        self._git = git
        self._base_digest = base_digest or _resolve_base_digest
        self._engine: DockerEngine | None = None

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    # --- plan ---------------------------------------------------------------------------------------------

    def _target(self, base_image: str) -> PythonTarget:
        self.engine.image(base_image)  # a clear error for a missing base image, before probing
        return self._prober_factory(self.engine).probe(base_image)

    def _spec(
        self, request: BuildRequest, python: str, wheelhouse: Wheelhouse | None, extra: Mapping[str, str] | None = None
    ) -> DockerfileSpec:
        """Labels: OCI annotations, hera-build's digests, then the request's own labels (they win)."""
        labels = image_labels(
            request.project, base_image=request.base_image, git=self._git(request.project.root),
            source_date_epoch=request.source_date_epoch, wheelhouse=wheelhouse,
        )  # fmt: skip
        labels |= {LABEL_BACKEND_VERSION: f"hera-build {__version__} (docker)", **(extra or {}), **request.labels}
        return DockerfileSpec(
            base_image=request.base_image,
            python=python,
            project=request.project.distribution_name,
            version=request.project.version.canonical,
            labels=labels,
        )

    def plan(self, request: BuildRequest) -> DockerPlan:
        """The Dockerfile and tags, without building; probes the base image when an engine answers."""
        notes: list[str] = []
        target: PythonTarget | None = None
        try:
            target = self._target(request.base_image)
        except (EngineError, BuildError) as exc:
            notes.append(f"base image not probed: {exc.message}")
        spec = self._spec(request, target.python if target else "python3", None)
        return DockerPlan(
            image=request.image,
            tags=tuple(str(ref) for ref in _all_tags(request)),
            base_image=request.base_image,
            dockerfile=render_dockerfile(spec),
            target=target,
            push=request.push,
            notes=tuple(notes),
        )

    # --- build --------------------------------------------------------------------------------------------

    def build(self, request: BuildRequest) -> BuildResult:
        progress = request.progress
        started = time.monotonic()
        engine = self.engine
        if request.push:  # an unreachable registry or refused credentials fail now, not after the build
            registry = self._registry_factory(request.image)
            registry.manifest(repository_path(request.image), request.image.tag or "latest")
        self._base_image_id(request.base_image)
        target = self._target(request.base_image)
        progress(f"base image {request.base_image}: Python {target.version} ({target.platform}) at {target.python}")
        refs = _all_tags(request)
        before = {ref: _local_id(engine, ref) for ref in refs} if request.push else {}
        with tempfile.TemporaryDirectory(prefix="hera-build-context-") as tmp:
            context = Path(tmp) / "context"
            wheelhouse = self._wheelhouse(
                request.project, target, Path(tmp) / "wheelhouse", lock=request.lock,
                source_date_epoch=request.source_date_epoch, progress=progress,
            )  # fmt: skip
            self._write_context(context, wheelhouse, target, progress)
            input_digest = request.labels.get(LABEL_INPUT_DIGEST) or self._input_digest(request, wheelhouse)
            spec = self._spec(request, target.python, wheelhouse, {LABEL_INPUT_DIGEST: input_digest})
            (context / "Dockerfile").write_text(render_dockerfile(spec), encoding="utf-8")
            progress(f"building {refs[0]} ({len(wheelhouse.dependency_wheels)} dependency wheels)")
            image_id = _stream_build(engine, context, str(refs[0]), progress, request.verbose)
        image = engine.image(image_id)
        for ref in refs[1:]:
            image.tag(ref.repository, tag=ref.tag)
        progress(f"built {refs[0]} as {image_id[:19]} in {time.monotonic() - started:.1f}s")
        try:
            digest = self._push(request, refs, image_id, progress) if request.push else None
        except ImmutableTagError:
            _retag(engine, before)  # a refused build must not take over the released version's local tags
            raise
        if request.output is not None:
            _save(image, request.output, progress)
        return BuildResult(
            backend=self.name,
            image=request.image,
            tags=tuple(str(ref) for ref in refs),
            image_id=image_id,
            digest=digest,
            pushed=digest is not None,
            input_digest=input_digest,
            base_image=request.base_image,
            backend_version=f"hera-build {__version__} (docker, engine {engine.version()})",
            layers=tuple(str(layer) for layer in image.attrs.get("RootFS", {}).get("Layers", [])),
        )

    def _input_digest(self, request: BuildRequest, wheelhouse: Wheelhouse) -> str:
        """The shared input digest (:mod:`hera_build.image.inputs`); a release passes its own in the labels."""
        from hera_build.image.inputs import wheelhouse_inputs

        return wheelhouse_inputs(
            request.project,
            wheelhouse,
            base_image=request.base_image,
            base_digest=self._base_digest(request.base_image),
            backend=self.name,
            source_date_epoch=request.source_date_epoch,
        ).digest

    def _base_image_id(self, base_image: str) -> str:
        try:
            return str(self.engine.image(base_image).id)
        except BuildError:
            raise BuildError(
                f"base image {base_image} is not in the Docker engine (builds run without network, nothing is pulled)",
                f"get it with `docker pull {base_image}` or `docker load -i FILE`, or choose another with "
                "--base-image / base-image in [tool.hera-build]",
            ) from None

    def _write_context(self, context: Path, wheelhouse: Wheelhouse, target: PythonTarget, progress: Progress) -> None:
        """``tools/pip.whl`` (the installer of the deps stage), ``deps/`` (wheels + requirements), ``app/``."""
        pip = self._tool_wheels({"pip": _pip_version()}, target, progress=progress)["pip"]
        for folder in ("tools", "deps", "app"):
            (context / folder).mkdir(parents=True, exist_ok=True)
        _link(pip, context / "tools" / "pip.whl")
        for wheel in wheelhouse.dependency_wheels:
            _link(wheel, context / "deps" / wheel.name)
        (context / "deps" / "requirements.txt").write_text(wheelhouse.requirements_text(), encoding="utf-8")
        install_application(wheelhouse.project_wheel, context / "app")

    def _push(self, request: BuildRequest, refs: Iterable[ImageRef], image_id: str, progress: Progress) -> str:
        version_ref = request.image
        registry = self._registry_factory(version_ref)
        existing = _check_tag_is_free(registry, version_ref, image_id, request.force)
        if existing is not None and request.force:
            progress(f"overwriting {version_ref} (was {existing}) because of --force")
        digest = ""
        for ref in refs:
            progress(f"pushing {ref}")
            pushed = _push(self.engine, ref, progress, request.verbose)
            if ref == version_ref:
                digest = pushed
        progress(f"pushed {version_ref}@{digest}")
        return digest


def _local_id(engine: DockerEngine, ref: ImageRef) -> str | None:
    from docker.errors import ImageNotFound

    try:
        return str(engine.client.images.get(str(ref)).id)
    except ImageNotFound:
        return None


def _retag(engine: DockerEngine, tags: Mapping[ImageRef, str | None]) -> None:
    """Point each tag back at the image it named before the build (tags that were new keep the new image)."""
    for ref, image_id in tags.items():
        if image_id is not None:
            engine.client.images.get(image_id).tag(ref.repository, tag=ref.tag)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _resolve_base_digest(base_image: str) -> str | None:
    from hera_build.image.inputs import resolve_base_digest
    from hera_build.image.registry.remote import RegistryApi

    return resolve_base_digest(base_image, RegistryApi())


def _save(image: Any, output: Path, progress: Progress) -> None:
    """``docker save`` of the built image to ``output`` (written atomically)."""
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        chunks: Iterator[bytes] = image.save(named=True)
        with tmp.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(tmp, output)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise unwritable(output, exc) from None
        raise
    progress(f"wrote {output} (docker load -i {output})")
