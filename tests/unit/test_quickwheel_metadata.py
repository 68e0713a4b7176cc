"""A change to ``[project] dependencies`` patches the previous wheel's METADATA into the very bytes hatchling
builds; anything the patch could get wrong is built for real. The backends here are the real ones (hatchling,
flit_core), run in-process."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hera_build.image.cache import BuildCache
from hera_build.image.quickwheel import IncrementalWheelBuilder, requires_dist_patch
from tests.support.backends import InProcessBackend

HATCHLING = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "proj"
version = "1.0"
description = "a project"
requires-python = ">=3.10"
dependencies = ["hera>=5.20", "Pydantic >= 2", "data_utils>=1,<2"]

[project.optional-dependencies]
ml = ["numpy>=2"]

[tool.hatch.build.targets.wheel]
packages = ["src/proj"]

[tool.hera-build]
image = "127.0.0.1:5000/addsix/proj"
"""
FLIT = """\
[build-system]
requires = ["flit_core"]
build-backend = "flit_core.buildapi"

[project]
name = "proj"
version = "1.0"
description = "a project"
dependencies = ["hera>=5.20", "pydantic>=2"]
"""
EPOCH = 1700000000


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src/proj").mkdir(parents=True)
    (root / "pyproject.toml").write_text(HATCHLING)
    (root / "src/proj/__init__.py").write_text('"""A project."""\n')
    (root / "src/proj/steps.py").write_text("def f():\n    return 1\n")
    return root


def _builder(tmp_path: Path) -> tuple[IncrementalWheelBuilder, InProcessBackend]:
    backend = InProcessBackend()
    return IncrementalWheelBuilder(backend, BuildCache(tmp_path / "cache")), backend


def _edit(root: Path, old: str, new: str) -> None:
    text = (root / "pyproject.toml").read_text()
    assert old in text
    (root / "pyproject.toml").write_text(text.replace(old, new, 1))


def _real(root: Path, out: Path) -> bytes:
    return InProcessBackend().build(root, out, epoch=EPOCH).read_bytes()


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read("proj-1.0.dist-info/METADATA").decode()
    return [line for line in text.split("\n\n")[0].splitlines() if line.startswith("Requires-Dist:")]


DEPENDENCY_CHANGES = {
    "add": ('"data_utils>=1,<2"]', '"data_utils>=1,<2", "six"]'),
    "add with a version": ('"data_utils>=1,<2"]', '"data_utils>=1,<2", "Six>=1.16,<2"]'),
    "upgrade": ('"hera>=5.20"', '"hera>=5.21"'),
    "remove": ('"Pydantic >= 2", ', ""),
    "reorder and duplicate": (
        '["hera>=5.20", "Pydantic >= 2", "data_utils>=1,<2"]',
        '["data_utils>=1,<2", "hera>=5.20", "pydantic>=2", "Pydantic >= 2"]',
    ),
    "reformat the file": ('dependencies = ["hera>=5.20", ', '# a comment\ndependencies = [\n    "hera>=5.20",\n    '),
    "hera-build's own table": ('image = "127.0.0.1:5000/addsix/proj"', 'image = "127.0.0.1:5000/addsix/other"'),
}


@pytest.mark.parametrize("change", DEPENDENCY_CHANGES.values(), ids=DEPENDENCY_CHANGES.keys())
def test_a_dependency_change_patches_metadata_to_the_bytes_hatchling_builds(
    tmp_path: Path, project: Path, change: tuple[str, str]
) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, *change)

    patched = builder.build(project, tmp_path / "out2", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (1, 1), "the backend ran only for the first wheel"
    assert patched.read_bytes() == _real(project, tmp_path / "real")


def test_a_code_and_a_dependency_change_together_are_patched_and_chain(tmp_path: Path, project: Path) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, '"data_utils>=1,<2"]', '"data_utils>=1,<2", "six"]')
    (project / "src/proj/steps.py").write_text("def f():\n    return 2\n")
    builder.build(project, tmp_path / "out2", epoch=EPOCH)
    _edit(project, '"hera>=5.20"', '"hera>=5.21"')

    patched = builder.build(project, tmp_path / "out3", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (1, 2)
    assert patched.read_bytes() == _real(project, tmp_path / "real")
    assert _requires(patched) == [
        "Requires-Dist: data-utils<2,>=1",
        "Requires-Dist: hera>=5.21",
        "Requires-Dist: pydantic>=2",
        "Requires-Dist: six",
        "Requires-Dist: numpy>=2; extra == 'ml'",
    ]


def test_a_marker_or_extra_seen_before_is_patched(tmp_path: Path, project: Path) -> None:
    """Their rendering was checked against the previous METADATA (the same text was among its dependencies)."""
    _edit(project, '"hera>=5.20"', '"hera[cli]>=5.20", "tomli>=2; python_version < \\"3.11\\""')
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, '"Pydantic >= 2", ', "")

    patched = builder.build(project, tmp_path / "out2", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (1, 1)
    assert patched.read_bytes() == _real(project, tmp_path / "real")


Change = Callable[[Path], None]
FALLBACKS: dict[str, Change] = {
    "a new dependency with a marker": lambda root: _edit(
        root, '"data_utils>=1,<2"]', '"data_utils>=1,<2", "six; python_version >= \\"3\\""]'
    ),
    "a new dependency with an extra": lambda root: _edit(root, '"Pydantic >= 2"', '"Pydantic[email] >= 2"'),
    "a direct reference": lambda root: _edit(root, '"Pydantic >= 2"', '"pydantic @ https://example.invalid/p.whl"'),
    "a context field": lambda root: _edit(root, '"Pydantic >= 2"', '"pydantic @ {root:uri}/pydantic"'),
    "another [project] field": lambda root: _edit(root, 'description = "a project"', 'description = "other"'),
    "optional dependencies": lambda root: _edit(root, 'ml = ["numpy>=2"]', 'ml = ["numpy>=2", "six"]'),
    "the hatch table": lambda root: _edit(root, 'packages = ["src/proj"]', 'packages = ["src/proj"]\nexclude = ["x"]'),
    "dynamic dependencies": lambda root: _edit(
        root, '"data_utils>=1,<2"]', '"data_utils>=1,<2"]\ndynamic = ["dependencies"]'
    ),
    "a hatch.toml": lambda root: (root / "hatch.toml").write_text(""),
}


@pytest.mark.parametrize("change", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_anything_the_patch_cannot_vouch_for_is_built_for_real(tmp_path: Path, project: Path, change: Change) -> None:
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, '"hera>=5.20"', '"hera>=5.21"')  # a change the patch could do, alongside one it cannot
    change(project)

    try:
        builder.build(project, tmp_path / "out2", epoch=EPOCH)
    except Exception:  # noqa: BLE001 - hatchling refusing the change (dynamic + static) is a real build too
        pass

    assert (backend.calls, builder.patched) == (2, 0)


def test_no_previous_dependencies_gives_nothing_to_check_the_rendering_against(tmp_path: Path, project: Path) -> None:
    _edit(project, 'dependencies = ["hera>=5.20", "Pydantic >= 2", "data_utils>=1,<2"]', "dependencies = []")
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, "dependencies = []", 'dependencies = ["six"]')

    real = builder.build(project, tmp_path / "out2", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (2, 0)
    assert _requires(real)[0] == "Requires-Dist: six"


def test_a_wheel_that_ships_pyproject_toml_is_built_for_real(tmp_path: Path, project: Path) -> None:
    shipped = 'packages = ["src/proj"]\nforce-include = {"pyproject.toml" = "proj/p.toml"}'
    _edit(project, 'packages = ["src/proj"]', shipped)
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, '"hera>=5.20"', '"hera>=5.21"')

    builder.build(project, tmp_path / "out2", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (2, 0)


def test_state_without_the_previous_pyproject_is_built_for_real(tmp_path: Path, project: Path) -> None:
    """What an older hera-build remembered (files and wheel only) cannot tell what the dependencies were."""
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    key = builder._key(project, EPOCH)
    state = builder.cache.read_record("quickwheel", key)
    assert state is not None
    builder.cache.write_record("quickwheel", key, {k: v for k, v in state.items() if k != "pyproject"})
    _edit(project, '"hera>=5.20"', '"hera>=5.21"')

    builder.build(project, tmp_path / "out2", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (2, 0)


def test_flit_core_dependency_changes_are_built_for_real_and_its_code_changes_still_patched(
    tmp_path: Path, project: Path
) -> None:
    """flit_core normalizes requirements its own way, which the patch does not render."""
    (project / "pyproject.toml").write_text(FLIT)
    (project / "src/proj").rename(project / "proj")
    builder, backend = _builder(tmp_path)
    builder.build(project, tmp_path / "out1", epoch=EPOCH)
    _edit(project, '"pydantic>=2"]', '"pydantic>=2", "six"]')
    builder.build(project, tmp_path / "out2", epoch=EPOCH)
    (project / "proj/steps.py").write_text("def f():\n    return 2\n")

    patched = builder.build(project, tmp_path / "out3", epoch=EPOCH)

    assert (backend.calls, builder.patched) == (2, 1)
    assert patched.read_bytes() == _real(project, tmp_path / "real")


def test_the_run_of_lines_must_be_found_exactly_once_as_a_whole() -> None:
    old = HATCHLING
    new = HATCHLING.replace('"data_utils>=1,<2"]', '"data_utils>=1,<2", "six"]')
    lines = ["Requires-Dist: data-utils<2,>=1", "Requires-Dist: hera>=5.20", "Requires-Dist: pydantic>=2"]
    head = "Metadata-Version: 2.4\nName: proj\nVersion: 1.0\n"
    good = (head + "\n".join(lines) + "\nProvides-Extra: ml\n\nbody\n").encode()
    assert (
        requires_dist_patch(old, new, good)
        == (head + "\n".join([*lines, "Requires-Dist: six"]) + "\nProvides-Extra: ml\n\nbody\n").encode()
    )
    longer = (head + "\n".join([*lines, "Requires-Dist: other"]) + "\n\nbody\n").encode()
    missing = (head + "\n".join(lines[:2]) + "\n\nbody\n").encode()
    twice = (head + "\n".join(lines) + "\nX: y\n" + "\n".join(lines) + "\n").encode()
    assert requires_dist_patch(old, new, longer) is None, "a longer run: the rendering did not match the backend's"
    assert requires_dist_patch(old, new, missing) is None
    assert requires_dist_patch(old, new, twice) is None
