"""The SBOM a release records, for real: examples/data-utils released with the oci backend to the local registry.

The manifest's ``image.sbom`` names a blob; that blob, fetched from the registry, is a valid SPDX 2.3 document
that lists every distribution installed in the image (asked of the image's own Python, in a container) at the
exact version installed. Releasing again reuses the image and reads the record back: the same manifest bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from packaging.utils import canonicalize_name
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from hera_build.core.references import parse_image_ref
from hera_build.image.registry import open_registry
from tests.integration.conftest import require_component

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data-utils"
TIMEOUT = 900
INSTALLED = (
    "import importlib.metadata as m, json;"
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions()})))"
)
"""Run by the image's ``python`` (the one the runner templates call): every distribution it can import."""


@pytest.fixture(scope="module")
def remote_base() -> str:
    name = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3")
    ref = parse_image_ref(name)
    if open_registry(ref.registry).manifest_digest(ref.path, ref.tag or "latest") is None:
        require_component(f"base image {name} is not in the registry; run scripts/base-image.sh --push")
    return name


def _release(root: Path, base: str, cache: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["HERA_BUILD_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "hera_build", "release", "--push", "--backend", "oci", "--base-image", base,
               "--no-check", "--json"]  # fmt: skip
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"release exited {result.returncode}:\n{result.stderr}"
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_released_sbom_is_valid_spdx_and_lists_what_the_image_installs(
    tmp_path: Path, remote_base: str, unique_repository: Any, docker_engine: Any, hera_build_cache: Path
) -> None:
    root = tmp_path / "data-utils"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info"))
    pyproject = tomlkit.parse((root / "pyproject.toml").read_text())
    pyproject["tool"]["hera-build"]["image"] = unique_repository("data-utils")  # type: ignore[index]
    (root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))

    first = _release(root, remote_base, hera_build_cache)
    manifest_path = root / "dist" / "release-manifest.json"
    manifest_bytes = manifest_path.read_bytes()
    image, sbom = first["manifest"]["image"], first["manifest"]["image"]["sbom"]
    assert first["decision"] == "build" and json.loads(manifest_bytes) == first["manifest"]

    # the record says where the SBOM is, and that is where it is
    ref = parse_image_ref(image["reference"])
    registry = open_registry(ref.registry)
    assert (sbom["media_type"], sbom["format"]) == ("application/spdx+json", "SPDX-2.3")
    where = sbom["tag"] if sbom["found_by"] == "tag" else sbom["artifact"].rsplit("@", 1)[1]
    artifact = registry.get_manifest(ref.path, where)
    assert f"{image['repository']}@{artifact.digest}" == sbom["artifact"]
    document = artifact.document("the SBOM artifact")
    assert document["subject"]["digest"] == image["digest"]
    assert document["layers"][0]["digest"] == sbom["digest"]
    if sbom["found_by"] == "tag":
        assert sbom["tag"] == f"sha256-{image['digest'].split(':')[1]}.sbom"
    else:
        listed = registry.referrers(ref.path, image["digest"]) or []
        assert sbom["artifact"].rsplit("@", 1)[1] in {entry["digest"] for entry in listed}

    # the blob is a valid SPDX 2.3 document
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(registry.get_blob(ref.path, sbom["digest"]))
    problems = validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3")
    assert [problem.validation_message for problem in problems] == []

    # listing every distribution the image's Python has, at the exact version installed
    pinned = f"{image['repository']}@{image['digest']}"
    if docker_engine.pull(pinned) is None:
        pytest.fail(f"the engine cannot pull {pinned}")
    outcome = docker_engine.run(pinned, entrypoint=["python"], command=["-c", INSTALLED], timeout=120)
    assert outcome.exit_code == 0, outcome.stderr
    in_image = {(str(canonicalize_name(name)), version) for name, version in json.loads(outcome.stdout)}
    packages = json.loads(path.read_text())["packages"]
    contained = {r["relatedSpdxElement"] for r in json.loads(path.read_text())["relationships"]
                 if r["relationshipType"] == "CONTAINS"}  # fmt: skip
    in_sbom = {(str(canonicalize_name(p["name"])), p["versionInfo"]) for p in packages if p["SPDXID"] in contained}
    assert ("data-utils", "1.4.0") in in_image and len(in_image) > 5, in_image
    assert in_sbom == in_image

    # a re-release reuses the image and reads the record back: the same manifest, byte for byte
    again = _release(root, remote_base, hera_build_cache)
    assert again["decision"] == "skip"
    assert manifest_path.read_bytes() == manifest_bytes
