"""The input digest: one definition of "the same image", for every backend and for plan, image and release."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from hera_build.core.project import load_project
from hera_build.errors import BuildError
from hera_build.image.inputs import INPUTS_SCHEMA, BuildInputs, DependencyPin, compute_inputs, wheel_content_digest
from hera_build.image.target import PythonFacts, target_from_facts
from hera_build.image.wheelhouse import Wheelhouse

HERA = DependencyPin("hera", "7.1.0", "sha256:" + "a" * 64)
PYDANTIC = DependencyPin("pydantic", "2.9.0", "sha256:" + "b" * 64)
INPUTS = BuildInputs(
    project="ml-pipeline",
    version="0.3.0",
    wheel="sha256:" + "1" * 64,
    dependencies=(HERA, PYDANTIC),
    target="cp311-cp311-manylinux_2_36_x86_64",
    base_image="python:3.11-slim",
    base_digest="sha256:" + "2" * 64,
    backend="buildpacks",
    backend_identity=(("builder-id", "sha256:" + "3" * 64), ("hera-runner", "hera-build/hera-runner@0.1.0")),
    source_date_epoch=None,
)


def test_equal_inputs_give_equal_digests_whatever_the_dependency_order() -> None:
    reordered = dataclasses.replace(INPUTS, dependencies=tuple(reversed(INPUTS.dependencies)))
    assert reordered.digest == INPUTS.digest
    assert INPUTS.digest.startswith("sha256:") and len(INPUTS.digest) == 71


def test_the_digest_is_the_documented_hash_of_the_inputs_and_nothing_else() -> None:
    """Images in registries carry this digest as a label and later runs compare with it, so it must depend on the
    inputs alone (no interpreter path, host, time or hash seed) and keep its format: a change of format must come
    with a new INPUTS_SCHEMA."""
    document = {
        "schema": INPUTS_SCHEMA,
        "project": "ml-pipeline",
        "version": "0.3.0",
        "wheel": "sha256:" + "1" * 64,
        "dependencies": [f"hera==7.1.0 (sha256:{'a' * 64})", f"pydantic==2.9.0 (sha256:{'b' * 64})"],
        "target": "cp311-cp311-manylinux_2_36_x86_64",
        "base_image": "python:3.11-slim",
        "base_digest": "sha256:" + "2" * 64,
        "backend": "buildpacks",
        "backend_identity": {"builder-id": "sha256:" + "3" * 64, "hera-runner": "hera-build/hera-runner@0.1.0"},
        "source_date_epoch": None,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert INPUTS.digest == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"version": "0.3.1"},
        {"wheel": "sha256:" + "3" * 64},
        {"dependencies": (DependencyPin("hera", "7.1.1", HERA.content), PYDANTIC)},
        {"dependencies": (HERA,)},
        {"dependencies": (DependencyPin("hera", "7.1.0", "sha256:" + "9" * 64), PYDANTIC)},
        {"target": "cp312-cp312-manylinux_2_36_x86_64"},
        {"base_image": "python:3.12-slim"},
        {"base_digest": None},
        {"base_digest": "sha256:" + "4" * 64},
        {"backend": "docker"},
        {"backend_identity": (("builder-id", "sha256:" + "5" * 64), INPUTS.backend_identity[1])},
        {"backend_identity": (INPUTS.backend_identity[0], ("hera-runner", "hera-build/hera-runner@0.2.0"))},
        {"source_date_epoch": 1700000000},
    ],
)
def test_every_input_changes_the_digest(change: dict[str, object]) -> None:
    assert dataclasses.replace(INPUTS, **change).digest != INPUTS.digest  # type: ignore[arg-type]


def _wheel(path: Path, files: dict[str, bytes], date: tuple[int, int, int, int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
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


def test_a_corrupt_wheel_is_one_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BuildError, match="cannot read wheel"):
        wheel_content_digest(broken)


TARGET = target_from_facts(
    PythonFacts("/usr/bin/python3", "3.11.2", markers={"python_version": "3.11", "sys_platform": "linux"})
)


def test_compute_inputs_hashes_what_the_wheelhouse_installs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "ml-pipeline"\nversion = "0.3.0"\n')
    project = load_project(tmp_path)
    date = (1980, 1, 1, 0, 0, 0)
    app = _wheel(tmp_path / "w/ml_pipeline-0.3.0-py3-none-any.whl", {"ml_pipeline/__init__.py": b"A = 1\n"}, date)
    dep = _wheel(tmp_path / "w/six-1.16.0-py2.py3-none-any.whl", {"six.py": b"# six\n"}, date)
    wheelhouse = Wheelhouse(app, (dep,), {"six": "1.16.0"}, "", "", TARGET)

    inputs = compute_inputs(project, wheelhouse, base_image="base:1", base_digest=None, backend="oci",
                            identity={"layer-format": "1"})  # fmt: skip

    assert inputs.wheel == wheel_content_digest(app)
    assert inputs.dependencies == (DependencyPin("six", "1.16.0", wheel_content_digest(dep)),)
    assert (inputs.target, inputs.backend_identity) == (TARGET.key, (("layer-format", "1"),))
    _wheel(tmp_path / "w/six-1.16.0-py2.py3-none-any.whl", {"six.py": b"# patched six\n"}, date)
    changed = compute_inputs(project, wheelhouse, base_image="base:1", base_digest=None, backend="oci",
                             identity={"layer-format": "1"})  # fmt: skip
    assert changed.digest != inputs.digest, "a dependency's content is an input, not only its version"
