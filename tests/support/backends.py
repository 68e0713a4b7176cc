"""A project's real PEP 517 build backend, called in this process: what the wheel of a source tree really is,
without the build environment and the two backend processes :class:`ProjectWheelBuilder` starts (the test
extras install hatchling and flit_core, so no download is needed)."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import threading
import zipfile
from pathlib import Path

from hera_build.core import tomlread


class InProcessBackend:
    """A :class:`hera_build.image.wheelhouse.WheelBuilder` running ``[build-system] build-backend`` in-process,
    with ``SOURCE_DATE_EPOCH`` set as the real builder sets it. Counts its builds."""

    def __init__(self) -> None:
        self.calls = 0

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        assert version is None, "a version override needs the real builder's source copy"
        self.calls += 1
        document = tomlread.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
        backend = importlib.import_module(document["build-system"]["build-backend"])
        out_dir.mkdir(parents=True, exist_ok=True)
        cwd, previous = Path.cwd(), os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
        os.chdir(source)
        try:
            name = backend.build_wheel(str(out_dir))
        finally:
            os.chdir(cwd)
            if previous is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = previous
        return out_dir / name


class CountingBackend:
    """A fake :class:`hera_build.image.wheelhouse.WheelBuilder`: writes a wheel of the source tree's
    ``[project]`` name and version, tagged ``tag`` (``cp311-cp311-linux_x86_64`` for a project with extension
    modules), and counts its builds per source tree."""

    def __init__(self, tag: str = "py3-none-any") -> None:
        self.tag = tag
        self.builds: dict[str, int] = {}
        self._lock = threading.Lock()

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        project = tomlread.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        with self._lock:
            self.builds[project["name"]] = self.builds.get(project["name"], 0) + 1
        stem = f"{project['name'].replace('-', '_')}-{version or project['version']}"
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / f"{stem}-{self.tag}.whl"
        metadata = f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version or project['version']}\n"
        metadata += "".join(f"Requires-Dist: {req}\n" for req in project.get("dependencies", ()))
        members = {
            f"{project['name'].replace('-', '_')}/__init__.py": f"EPOCH = {epoch}\n".encode(),
            f"{stem}.dist-info/METADATA": metadata.encode(),
            f"{stem}.dist-info/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {self.tag}\n".encode(),
        }
        record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
        members[f"{stem}.dist-info/RECORD"] = f"{record}{stem}.dist-info/RECORD,,\n".encode()
        with zipfile.ZipFile(wheel, "w") as archive:
            for path, data in members.items():  # a fixed date, as SOURCE_DATE_EPOCH gives a real backend
                archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
        return wheel


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
