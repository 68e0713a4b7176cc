"""A code-only change patches the previous wheel; anything the patch could get wrong builds for real."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from hera_build.image.cache import BuildCache
from hera_build.image.quickwheel import IncrementalWheelBuilder

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "proj"
version = "1.0"
"""


class FakeBackend:
    """Builds like hatchling does for ``src/`` layouts: ``src/<pkg>/**`` copied verbatim, plus a dist-info."""

    def __init__(self) -> None:
        self.calls = 0

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        self.calls += 1
        members = {
            path.relative_to(source / "src").as_posix(): path.read_bytes()
            for path in sorted((source / "src").rglob("*.py"))
        }
        readme = source / "README.md"
        info = f"proj-{version or '1.0'}.dist-info"
        members[f"{info}/METADATA"] = b"Name: proj\n" + (readme.read_bytes() if readme.exists() else b"")
        members[f"{info}/WHEEL"] = b"Tag: py3-none-any\n"
        rows = [[p, "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(), len(d)]
                for p, d in members.items()]  # fmt: skip
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([*rows, [f"{info}/RECORD", "", ""]])
        members[f"{info}/RECORD"] = buffer.getvalue().encode()
        out_dir.mkdir(parents=True, exist_ok=True)
        wheel = out_dir / f"proj-{version or '1.0'}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for name, data in members.items():
                info_entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info_entry.external_attr = 0o644 << 16
                archive.writestr(info_entry, data, compress_type=zipfile.ZIP_DEFLATED)
        return wheel


def _contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src/proj/sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "README.md").write_text("readme\n")
    (root / "src/proj/__init__.py").write_text("")
    (root / "src/proj/sub/__init__.py").write_text("")
    (root / "src/proj/steps.py").write_text("def f():\n    return 1\n")
    return root


def _builder(tmp_path: Path) -> tuple[IncrementalWheelBuilder, FakeBackend]:
    backend = FakeBackend()
    return IncrementalWheelBuilder(backend, BuildCache(tmp_path / "cache")), backend


def test_a_code_change_patches_the_previous_wheel_to_what_the_backend_builds(tmp_path: Path, project: Path) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=0)
    (project / "src/proj/steps.py").write_text("def f():\n    return 2\n")

    patched = builder.build(project, tmp_path / "out2", epoch=0)

    assert (backend.calls, builder.patched) == (1, 1)
    assert _contents(patched) == _contents(FakeBackend().build(project, tmp_path / "real", epoch=0))


def test_patches_chain_and_same_content_members_are_told_apart_by_path(tmp_path: Path, project: Path) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=0)
    (project / "src/proj/sub/__init__.py").write_text("X = 1\n")  # the old content (empty) is in two members
    builder.build(project, tmp_path / "out2", epoch=0)
    (project / "src/proj/steps.py").write_text("def f():\n    return 3\n")

    patched = builder.build(project, tmp_path / "out3", epoch=0)

    assert (backend.calls, builder.patched) == (1, 2)
    assert _contents(patched) == _contents(FakeBackend().build(project, tmp_path / "real", epoch=0))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: (root / "src/proj/new.py").write_text("x = 1\n"), id="file added"),
        pytest.param(lambda root: (root / "src/proj/steps.py").unlink(), id="file removed"),
        pytest.param(lambda root: (root / "README.md").write_text("other\n"), id="not a .py file"),
        pytest.param(
            lambda root: (root / "pyproject.toml").write_text(
                PYPROJECT.replace('version = "1.0"', 'dynamic = ["version"]')
            ),
            id="dynamic metadata",
        ),
        pytest.param(
            lambda root: (root / "pyproject.toml").write_text(
                PYPROJECT.replace("hatchling.build", "setuptools.build_meta")
            ),
            id="other backend",
        ),
        pytest.param(
            lambda root: (root / "pyproject.toml").write_text(PYPROJECT + "[tool.hatch.build.hooks.custom]\n"),
            id="build hook",
        ),
    ],
)
def test_anything_else_builds_for_real(tmp_path: Path, project: Path, change: object) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=0)
    (project / "src/proj/steps.py").write_text("def f():\n    return 2\n")
    change(project)  # type: ignore[operator]

    builder.build(project, tmp_path / "out2", epoch=0)

    assert (backend.calls, builder.patched) == (2, 0)


def test_other_epoch_or_version_builds_for_real(tmp_path: Path, project: Path) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=0)
    (project / "src/proj/steps.py").write_text("def f():\n    return 2\n")

    builder.build(project, tmp_path / "out2", epoch=1)
    builder.build(project, tmp_path / "out3", epoch=1, version="2.0")

    assert (backend.calls, builder.patched) == (3, 0)


def test_a_file_named_in_pyproject_builds_for_real(tmp_path: Path, project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT + '[tool.other]\nversion-file = "src/proj/steps.py"\n')
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=0)
    (project / "src/proj/steps.py").write_text("def f():\n    return 2\n")

    builder.build(project, tmp_path / "out2", epoch=0)

    assert (backend.calls, builder.patched) == (2, 0)


def test_every_backend_and_plan_get_the_quick_path_by_default(tmp_path: Path) -> None:
    """One wheel-build path: prepare_wheelhouse (used by plan and all three backends) patches when it can."""
    from hera_build.image.wheelhouse import WheelCache, default_wheel_builder

    builder = default_wheel_builder(WheelCache(tmp_path / "wheels"))
    assert isinstance(builder, IncrementalWheelBuilder)
