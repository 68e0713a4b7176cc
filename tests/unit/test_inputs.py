"""The input digest: stable for equal inputs, different for any input that changes the image."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from hera_build.errors import BuildError
from hera_build.image.inputs import (
    INPUTS_SCHEMA,
    BuildInputs,
    DependencyPin,
    dependency_closure,
    wheel_content_digest,
    with_local_content,
)
from hera_build.image.target import PythonFacts, target_from_facts
from hera_build.image.wheelhouse import Installed

INPUTS = BuildInputs(
    project="ml-pipeline",
    version="0.3.0",
    wheel="sha256:" + "1" * 64,
    dependencies=(DependencyPin("hera", "7.1.0"), DependencyPin("pydantic", "2.9.0")),
    base_image="python:3.11-slim",
    base_digest="sha256:" + "2" * 64,
    backend="oci",
    hera_build_version="0.1.0",
    source_date_epoch=None,
)


def test_equal_inputs_give_equal_digests_whatever_the_dependency_order() -> None:
    reordered = dataclasses.replace(INPUTS, dependencies=tuple(reversed(INPUTS.dependencies)))
    assert reordered.digest == INPUTS.digest
    assert INPUTS.digest.startswith("sha256:") and len(INPUTS.digest) == 71


def test_the_digest_is_the_documented_hash_of_the_inputs_and_nothing_else() -> None:
    """Images in registries carry this digest as a label and later runs compare with it, so it must depend on the
    inputs alone (no interpreter path, host, time or hash seed) and keep its format: a change of format must come
    with a new INPUTS_SCHEMA. The document below is the one BuildInputs.digest's docstring describes."""
    document = {
        "schema": INPUTS_SCHEMA,
        "project": "ml-pipeline",
        "version": "0.3.0",
        "wheel": "sha256:" + "1" * 64,
        "dependencies": ["hera==7.1.0", "pydantic==2.9.0"],
        "base_image": "python:3.11-slim",
        "base_digest": "sha256:" + "2" * 64,
        "backend": "oci",
        "hera_build_version": "0.1.0",
        "source_date_epoch": None,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert INPUTS.digest == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"version": "0.3.1"},
        {"wheel": "sha256:" + "3" * 64},
        {"dependencies": (DependencyPin("hera", "7.1.1"), DependencyPin("pydantic", "2.9.0"))},
        {"dependencies": (DependencyPin("hera", "7.1.0"),)},
        {"dependencies": (DependencyPin("hera", "7.1.0", "sha256:" + "9" * 64), DependencyPin("pydantic", "2.9.0"))},
        {"base_image": "python:3.12-slim"},
        {"base_digest": None},
        {"backend": "docker"},
        {"hera_build_version": "0.2.0"},
        {"source_date_epoch": 1700000000},
    ],
)
def test_every_input_changes_the_digest(change: dict[str, object]) -> None:
    assert dataclasses.replace(INPUTS, **change).digest != INPUTS.digest  # type: ignore[arg-type]


def _wheel(path: Path, files: dict[str, bytes], date: tuple[int, int, int, int, int, int]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=date), data)
    return path


def test_wheel_digest_ignores_zip_timestamps_and_order_but_not_content(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": b"x = 1\n", "pkg-1.0.dist-info/METADATA": b"Name: pkg\n"}
    first = _wheel(tmp_path / "a.whl", files, (1980, 1, 1, 0, 0, 0))
    later = _wheel(tmp_path / "b.whl", dict(reversed(list(files.items()))), (2024, 5, 6, 7, 8, 10))
    changed = _wheel(tmp_path / "c.whl", files | {"pkg/__init__.py": b"x = 2\n"}, (1980, 1, 1, 0, 0, 0))
    assert wheel_content_digest(first) == wheel_content_digest(later)
    assert wheel_content_digest(first) != wheel_content_digest(changed)


TARGET = target_from_facts(
    PythonFacts("/usr/bin/python3", "3.11.2", markers={"python_version": "3.11", "sys_platform": "linux"})
)


def test_closure_follows_markers_and_extras_and_prefers_locked_versions() -> None:
    installed = {
        "app-dep": Installed("app-dep", "1.0", ("shared", 'extra-dep; extra == "fast"', "never; python_version < '3'")),
        "extra-dep": Installed("extra-dep", "2.0"),
        "never": Installed("never", "3.0"),
        "shared": Installed("shared", "4.1"),
        "lib": Installed("lib", "5.0", ("shared>=1",)),
    }
    pins = dependency_closure(
        [Requirement("app-dep[fast]"), Requirement("lib"), Requirement("the-project")],
        root="the-project",
        lookup=installed.get,
        target=TARGET,
    )
    assert [str(pin) for pin in pins] == ["app-dep==1.0", "extra-dep==2.0", "lib==5.0", "shared==4.1"]
    locked = {"App-Dep": "1.0", "extra-dep": "2.0", "lib": "5.0", "shared": "4.1"}
    assert (
        dependency_closure(
            [Requirement("app-dep[fast]"), Requirement("lib")],
            root="p",
            versions=locked,
            lookup=installed.get,
            target=TARGET,
        )
        == pins
    )


def test_closure_refuses_requirements_it_cannot_version() -> None:
    with pytest.raises(BuildError, match="'missing' .*is not installed|missing .*not installed"):
        dependency_closure([Requirement("missing")], root="p", lookup=lambda name: None, target=TARGET)


def test_local_sources_add_their_wheel_content(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "local-1.0-py3-none-any.whl", {"local/__init__.py": b""}, (1980, 1, 1, 0, 0, 0))
    sources = {"tree": tmp_path, "wheel": wheel}
    pins = with_local_content(
        [DependencyPin("tree", "1.0"), DependencyPin("wheel", "1.0"), DependencyPin("index", "1.0")],
        wheel_digest=lambda root: f"built:{root.name}",
        local_source=lambda name, version: sources.get(name),
    )
    assert {pin.name: pin.content for pin in pins} == {
        "index": None,
        "tree": f"built:{tmp_path.name}",
        "wheel": wheel_content_digest(wheel),
    }
