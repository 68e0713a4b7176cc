"""A copy of examples/ml-pipeline driven as a user drives it: fresh ``hera-build`` processes, its own repository.

Integration tests of the publish pipeline (build → check → publish) copy the consumer example into a temporary
folder, point it at a repository nobody else pushes to (released tags are immutable), configure a backend in its
``[tool.hera-build]`` and run the ``hera-build`` console script in a subprocess, with the copy's ``src`` first on
``PYTHONPATH`` (user code is imported by dotted name, so the copy must be the ``ml_pipeline`` found first).
What the registry holds is read through its HTTP API, never through hera-build.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import tomlkit

__all__ = ["EXAMPLE", "CliProject", "copy_example", "hera_build_command", "registry_tags", "commit_variant"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ml-pipeline"
TIMEOUT = 900
_MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def hera_build_command() -> list[str]:
    """The ``hera-build`` console script of this environment (what a user types), else ``python -m hera_build``."""
    script = Path(sys.executable).parent / "hera-build"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hera_build"]


@dataclass
class CliProject:
    root: Path
    repository: str
    """``host:port/path`` of the image repository in ``[tool.hera-build]``."""
    cache: Path
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment of every command (e.g. pack's home for the buildpacks backend)."""

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        environ["PYTHONPATH"] = os.pathsep.join([str(self.root / "src"), environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        environ["HERA_BUILD_CACHE_DIR"] = str(self.cache)
        return environ | self.env | (extra or {})

    def run(
        self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*hera_build_command(), *args],
            cwd=self.root,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if expect is not None:
            assert result.returncode == expect, (
                f"hera-build {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return result

    def json(self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run(*args, "--json", expect=expect, env=env).stdout)
        return data

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a command without waiting (its output goes to files beside the copy)."""
        return subprocess.Popen(
            [*hera_build_command(), *args],
            cwd=self.root,
            env=self.environ(env),
            stdout=(self.root.parent / "stdout.txt").open("w"),
            stderr=(self.root.parent / "stderr.txt").open("w"),
            text=True,
        )

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def manifest_path(self) -> Path:
        return self.dist / "release-manifest.json"

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return data

    def configure(self, **settings: str) -> None:
        """Set keys of ``[tool.hera-build]`` (``base_image`` → ``base-image``)."""
        pyproject = tomlkit.parse((self.root / "pyproject.toml").read_text())
        table: Any = pyproject["tool"]["hera-build"]
        for key, value in settings.items():
            table[key.replace("_", "-")] = value
        (self.root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))

    def append_to_module(self, module: str, code: str) -> None:
        path = self.root / "src" / "ml_pipeline" / f"{module}.py"
        path.write_text(path.read_text() + "\n" + code)

    def tags(self) -> list[str]:
        return registry_tags(self.repository)

    def remote_digest(self, tag: str) -> str | None:
        host, _, name = self.repository.partition("/")
        answer = requests.head(
            f"http://{host}/v2/{name}/manifests/{tag}", headers={"Accept": _MANIFEST_TYPES}, timeout=10
        )
        return answer.headers["Docker-Content-Digest"] if answer.status_code == 200 else None


def copy_example(dest: Path, repository: str, cache: Path, **settings: str) -> CliProject:
    """examples/ml-pipeline in ``dest/ml-pipeline``, its image in ``repository``, ``settings`` in its config."""
    root = dest / "ml-pipeline"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info"))
    project = CliProject(root, repository, cache)
    project.configure(image=repository, **settings)
    return project


def registry_tags(repository: str) -> list[str]:
    """The tags the registry lists for ``host:port/path`` (none when it does not know the repository)."""
    host, _, name = repository.partition("/")
    answer = requests.get(f"http://{host}/v2/{name}/tags/list", timeout=10)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return sorted(answer.json().get("tags") or [])


def commit_variant(engine: Any, image: str, repository: str, tag: str, marker: str) -> str:
    """``docker commit`` of ``image`` plus one file (``/etc/hera-build-variant``): other content, same Python.

    Made once per tag and then kept, so that what is built from it (e.g. a test builder's stack images) stays up
    to date between sessions. Returns ``repository:tag``.
    """
    name = f"{repository}:{tag}"
    try:
        engine.client.images.get(name)
        return name
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound: make it
        pass
    container = engine.client.containers.create(image, network_mode="none")  # never started: its config is kept
    try:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            data = f"{marker}\n".encode()
            info = tarfile.TarInfo("etc/hera-build-variant")
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        container.put_archive("/", buffer.getvalue())
        container.commit(repository=repository, tag=tag)
    finally:
        container.remove(force=True)
    return name
