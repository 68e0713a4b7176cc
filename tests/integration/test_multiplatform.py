"""Multi-platform images for real: ``hera-build image --platform linux/amd64 --platform linux/arm64 --push`` on a
copy of examples/ml-pipeline, built on the amd64 + arm64 debootstrap base index in the local registry
(``scripts/base-image.sh --push --multi-platform``), then inspected in the registry: one index, two manifests of
the right architecture, and native code of the right machine in each (pydantic-core's ``.so`` files are ELF for
AArch64 in the arm64 image, x86-64 in the amd64 one). ``release`` reuses the index, checks it again and pins its
digest in the templates, and a second clean build (other caches, another repository) gives the same index.

The image check runs both platforms where qemu-user-static is registered with binfmt_misc
(``scripts/install-system.sh``), and says which went unchecked otherwise: the test asserts whichever is true here.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import requests
import tomlkit

from hera_build.core.references import parse_image_ref
from hera_build.image.emulation import unrunnable_reason
from hera_build.image.registry import open_registry
from tests.integration.conftest import require_component

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ml-pipeline"
TIMEOUT = 1500
E_MACHINE = {"amd64": 62, "arm64": 183}
"""ELF ``e_machine``: EM_X86_64 and EM_AARCH64."""
PLATFORMS = ["--platform", "linux/amd64", "--platform", "linux/arm64"]


@pytest.fixture(scope="module")
def multi_base(registry: str) -> str:
    """The amd64 + arm64 base index in the local registry."""
    name = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_MULTI", f"{registry}/hera-build-base:bookworm-python3-multi")
    ref = parse_image_ref(name)
    found = open_registry(ref.registry).manifest(ref.path, ref.tag or "latest")
    if found is None or "manifests" not in json.loads(found.data):
        require_component(f"multi-platform base {name} is not in the registry; run scripts/base-image.sh --push "
                          "--multi-platform")  # fmt: skip
    return name


def _project(tmp_path: Path, name: str, base: str, repository: str) -> Path:
    root = tmp_path / name
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    pyproject = tomlkit.parse((root / "pyproject.toml").read_text())
    pyproject["tool"]["hera-build"]["image"] = repository  # type: ignore[index]
    pyproject["tool"]["hera-build"]["base-image"] = base  # type: ignore[index]
    (root / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    return root


def _hera_build(root: Path, cache: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["HERA_BUILD_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "hera_build", *args, "--json"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    data: dict[str, Any] = json.loads(result.stdout)
    data["stderr"] = result.stderr
    return data


def _get(registry: str, repository: str, what: str, reference: str, accept: str = "*/*") -> bytes:
    answer = requests.get(f"http://{registry}/v2/{repository}/{what}/{reference}", headers={"Accept": accept},
                          timeout=120)  # fmt: skip
    answer.raise_for_status()
    return answer.content


def _elf_machines(layer: bytes) -> dict[str, int]:
    """``e_machine`` of every ``.so`` file in a gzip layer."""
    machines = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        for member in tar.getmembers():
            if member.isfile() and ".so" in Path(member.name).name:
                head = tar.extractfile(member).read(20)  # type: ignore[union-attr]
                if head[:4] == b"\x7fELF":
                    machines[member.name] = int.from_bytes(head[18:20], "little")
    return machines


def test_one_index_with_an_image_per_platform_and_templates_pinned_to_it(
    tmp_path: Path, registry: str, multi_base: str, unique_repository: Any
) -> None:
    repository = unique_repository("ml-pipeline")
    root = _project(tmp_path, "ml-pipeline", multi_base, repository)

    built = _hera_build(root, tmp_path / "cache-1", "image", *PLATFORMS, "--push")

    path = parse_image_ref(repository).path
    index_digest = built["digest"]
    index = json.loads(_get(registry, path, "manifests", "0.3.0", "application/vnd.oci.image.index.v1+json"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json" and built["pinned"].endswith(index_digest)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    assert built["platforms"] == {f"linux/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
    base_layers = 1  # the debootstrap base is one layer per platform
    for entry in index["manifests"]:
        arch = entry["platform"]["architecture"]
        manifest = json.loads(_get(registry, path, "manifests", entry["digest"], entry["mediaType"]))
        config = json.loads(_get(registry, path, "blobs", manifest["config"]["digest"]))
        assert config["architecture"] == arch and config.get("variant") == entry["platform"].get("variant")
        machines: dict[str, int] = {}
        for layer in manifest["layers"][base_layers:]:
            machines |= _elf_machines(_get(registry, path, "blobs", layer["digest"]))
        assert any("pydantic_core/_pydantic_core" in name for name in machines), f"{arch}: no pydantic-core .so"
        assert set(machines.values()) == {E_MACHINE[arch]}, f"{arch} image holds foreign code: {machines}"

    # The check: every platform this machine runs, and a plain word on the others.
    unrunnable = unrunnable_reason("linux/arm64")
    assert set(built["check"]["platforms"]) == ({"linux/amd64"} if unrunnable else {"linux/amd64", "linux/arm64"})
    assert built["checked"] is (unrunnable is None)
    if unrunnable:
        assert f"the image check did not run for linux/arm64: {unrunnable}" in built["stderr"]

    # A release of the same source reuses the index (checked again, each platform pulled by the index digest)
    # and pins its digest in every template.
    out = root / "released"
    released = _hera_build(root, tmp_path / "cache-1", "release", *PLATFORMS, "--push", "--out", str(out))
    assert released["decision"] == "skip" and released["manifest"]["image"]["digest"] == index_digest
    assert released["manifest"]["image"]["checked"] is (unrunnable is None)
    assert released["manifest"]["image"]["sbom"]["artifact"] == built["sbom"], "the first platform's SBOM"
    templates = list(out.rglob("*.yaml"))
    images = {line.split("image:", 1)[1].strip() for f in templates for line in f.read_text().splitlines()
              if line.strip().startswith("image:")}  # fmt: skip
    assert images == {f"{repository}:0.3.0@{index_digest}"}

    # Another machine's clean build (other caches, another repository) makes the same index.
    again_repository = unique_repository("ml-pipeline-again")
    again_root = _project(tmp_path, "again", multi_base, again_repository)
    again = _hera_build(again_root, tmp_path / "cache-2", "image", *PLATFORMS, "--push", "--no-check")
    assert again["digest"] == index_digest and again["platforms"] == built["platforms"]
