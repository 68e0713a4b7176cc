"""A project's real PEP 517 build backend, called in this process: what the wheel of a source tree really is,
without the build environment and the two backend processes :class:`ProjectWheelBuilder` starts (the test
extras install hatchling and flit_core, so no download is needed)."""

from __future__ import annotations

import importlib
import os
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
