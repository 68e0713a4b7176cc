"""Multi-platform images for real: ``hera-build image --platform linux/amd64 --platform linux/arm64 --push`` on a
copy of examples/ml-pipeline, built on the amd64 + arm64 debootstrap base index in the local registry
(``scripts/base-image.sh --push --multi-platform``), then inspected in the registry: one index, two manifests of
the right architecture, and native code of the right machine in each (pydantic-core's ``.so`` files are ELF for
AArch64 in the arm64 image, x86-64 in the amd64 one). ``release`` reuses the index, checks it again and pins its
digest in the templates, and a second clean build (other caches, another repository) gives the same index.
The release manifest records each platform's manifest and SBOM; read back from the registry, each SBOM is valid
SPDX 2.3 listing exactly the distributions that platform's image installs (with that platform's wheels).

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
from packaging.utils import canonicalize_name
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

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
INSTALLED = (
    "import importlib.metadata as m, json;"
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions()})))"
)
"""Run by the image's ``python``: every distribution it can import."""


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


def _dist_infos(layer: bytes) -> set[tuple[str, str]]:
    """``(name, version)`` of every ``*.dist-info`` directory a gzip layer adds."""
    found = set()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        for member in tar.getmembers():
            parent = Path(member.name).parent.name
            if Path(member.name).name == "METADATA" and parent.endswith(".dist-info"):
                name, version = parent.removesuffix(".dist-info").rsplit("-", 1)
                found.add((str(canonicalize_name(name)), version))
    return found


def _installed(docker_engine: Any, pinned: str, platform: str, layers: list[bytes]) -> set[tuple[str, str]]:
    """What ``platform``'s image of the index ``pinned`` installs: asked of its own Python where this machine runs
    the platform (arm64 under qemu), else the ``.dist-info`` directories its layers add."""
    if unrunnable_reason(platform) is not None:
        return set().union(*(_dist_infos(layer) for layer in layers))
    pulled = docker_engine.pull(pinned, platform=platform)
    assert pulled is not None, f"the engine cannot pull {pinned} for {platform}"
    outcome = docker_engine.run(str(pulled.id), entrypoint=["python"], command=["-c", INSTALLED], timeout=300)
    assert outcome.exit_code == 0, outcome.stderr
    return {(str(canonicalize_name(name)), version) for name, version in json.loads(outcome.stdout)}


def _check_platform_sboms(
    tmp_path: Path, registry: str, path: str, image: dict[str, Any], index: dict[str, Any], docker_engine: Any,
    base: str,
) -> None:  # fmt: skip
    """``image.platforms`` of the release manifest, read back from the registry: each platform's manifest and a
    valid SPDX SBOM that lists what that platform's image installs, with that platform's wheels' hashes, and names
    as its base that platform's manifest of the base index (the index kept as an external reference)."""
    from hera_build.image.registry import open_registry as registry_client

    base_ref = parse_image_ref(base)
    base_index = open_registry(base_ref.registry).manifest(base_ref.path, base_ref.tag or "latest")
    assert base_index is not None
    base_manifests = {f"linux/{m['platform']['architecture']}": m["digest"]
                      for m in json.loads(base_index.data)["manifests"]}  # fmt: skip

    records = image["platforms"]
    assert [(r["platform"], r["digest"]) for r in records] == [
        (f"linux/{m['platform']['architecture']}", m["digest"]) for m in index["manifests"]
    ]
    assert image["sbom"] == records[0]["sbom"], "image.sbom stays the first platform's"
    client = registry_client(registry)
    checksums: dict[str, dict[str, str]] = {}
    for record in records:
        sbom, platform = record["sbom"], record["platform"]
        where = sbom["tag"] if sbom["found_by"] == "tag" else sbom["artifact"].rsplit("@", 1)[1]
        artifact = client.get_manifest(path, where)
        assert f"{image['repository']}@{artifact.digest}" == sbom["artifact"]
        document = artifact.document(f"the {platform} SBOM artifact")
        assert document["subject"]["digest"] == record["digest"] and document["layers"][0]["digest"] == sbom["digest"]
        file = tmp_path / f"sbom-{platform.replace('/', '-')}.spdx.json"
        file.write_bytes(client.get_blob(path, sbom["digest"]))
        problems = validate_full_spdx_document(parse_file(str(file)), "SPDX-2.3")
        assert [problem.validation_message for problem in problems] == [], platform
        spdx = json.loads(file.read_text())
        contained = {r["relatedSpdxElement"] for r in spdx["relationships"] if r["relationshipType"] == "CONTAINS"}
        packages = [p for p in spdx["packages"] if p["SPDXID"] in contained]
        in_sbom = {(str(canonicalize_name(p["name"])), p["versionInfo"]) for p in packages}
        manifest = json.loads(_get(registry, path, "manifests", record["digest"], index["manifests"][0]["mediaType"]))
        layers = [_get(registry, path, "blobs", layer["digest"]) for layer in manifest["layers"][1:]]
        in_image = _installed(docker_engine, f"{image['repository']}@{image['digest']}", platform, layers)
        assert ("pydantic-core" in dict(in_image)) and in_sbom == in_image, (platform, in_sbom ^ in_image)
        base_package = next(p for p in spdx["packages"] if p["SPDXID"] == "SPDXRef-BaseImage")
        assert base_package["versionInfo"] == base_manifests[platform], platform
        assert [r["referenceLocator"] for r in base_package["externalRefs"]] == [base_index.digest], platform
        checksums[platform] = {str(canonicalize_name(p["name"])): p["checksums"][0]["checksumValue"] for p in packages}
    amd64, arm64 = checksums["linux/amd64"], checksums["linux/arm64"]
    assert amd64["pydantic-core"] != arm64["pydantic-core"], "each SBOM names its own platform's native wheel"


def test_one_index_with_an_image_per_platform_and_templates_pinned_to_it(
    tmp_path: Path, registry: str, multi_base: str, unique_repository: Any, docker_engine: Any
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
    else:  # arm64 was loaded for the check under a tag of its own, not left as a <none> image
        loaded = docker_engine.find(f"{repository}:0.3.0-linux-arm64")
        arm = json.loads(
            _get(registry, path, "manifests", index["manifests"][1]["digest"], index["manifests"][1]["mediaType"])
        )
        assert loaded is not None and loaded.id == arm["config"]["digest"]

    # Checking the pushed index checks the same platforms, each pulled by the index digest, and names the others.
    names = ["/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))))
             for m in index["manifests"]]  # fmt: skip
    again_checked = _hera_build(root, tmp_path / "cache-1", "image", "--check", f"{repository}@{index_digest}")
    runnable = [name for name in names if unrunnable_reason(name) is None]
    assert list(again_checked["platforms"]) == runnable and again_checked["checked"] is (runnable == names)
    assert set(again_checked["unchecked"]) == set(names) - set(runnable)
    assert all(summary["distribution"] == "ml-pipeline" for summary in again_checked["platforms"].values())

    # A release of the same source reuses the index (checked again, each platform pulled by the index digest)
    # and pins its digest in every template.
    out = root / "released"
    released = _hera_build(root, tmp_path / "cache-1", "release", *PLATFORMS, "--push", "--out", str(out))
    assert released["decision"] == "skip" and released["manifest"]["image"]["digest"] == index_digest
    assert released["manifest"]["image"]["checked"] is (unrunnable is None)
    assert released["manifest"]["image"]["sbom"]["artifact"] == built["sbom"], "the first platform's SBOM"
    _check_platform_sboms(tmp_path, registry, path, released["manifest"]["image"], index, docker_engine, multi_base)
    templates = list(out.rglob("*.yaml"))
    images = {line.split("image:", 1)[1].strip() for f in templates for line in f.read_text().splitlines()
              if line.strip().startswith("image:")}  # fmt: skip
    assert images == {f"{repository}:0.3.0@{index_digest}"}

    # Another machine's clean build (other caches, another repository) makes the same index.
    again_repository = unique_repository("ml-pipeline-again")
    again_root = _project(tmp_path, "again", multi_base, again_repository)
    again = _hera_build(again_root, tmp_path / "cache-2", "image", *PLATFORMS, "--push", "--no-check")
    assert again["digest"] == index_digest and again["platforms"] == built["platforms"]
