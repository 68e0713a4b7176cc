"""Versions from git (setuptools-scm, hatch-vcs): the version hera-build decides is the one in every name, tag and
wheel, on a clean tag and on a working tree with changes, through ``templates``, ``image`` and ``release``.

On a dirty tree setuptools-scm dates the version (``…d20261202``) with ``SOURCE_DATE_EPOCH``, which wheel builds
pin to 1980 for reproducibility; unless the backend is told the decided version, the wheel says ``…d19800101``.
The projects are git repositories in ``tmp_path``, importable through ``PYTHONPATH`` (as an editable install
would make them); the commands run as processes, with no Docker engine reachable, on the base image's OCI layout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from hera_build.core.versions import ProjectVersion
from tests.support.components import require_component, require_executable

pytestmark = [pytest.mark.registry, pytest.mark.slow]

DEFAULT_BASE_OCI = Path("/var/cache/hera-build-ci/base/hera-build-base_bookworm-python3.oci")
TIMEOUT = 600

SETUPTOOLS_SCM = """\
[build-system]
requires = ["setuptools>=70.1", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "scm-flows"
dynamic = ["version"]
dependencies = ["hera"]

[tool.setuptools_scm]
"""
HATCH_VCS = """\
[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "scm-flows"
dynamic = ["version"]
dependencies = ["hera"]

[tool.hatch.version]
source = "vcs"
"""
FLOWS = """\
from hera.workflows import Steps, WorkflowTemplate, script


@script(constructor="runner")
def hello(name: str = "x") -> str:
    return f"hello {name}"


with WorkflowTemplate(name="scm-hello", entrypoint="main") as template:
    with Steps(name="main"):
        hello()
"""


@pytest.fixture(scope="module")
def base_layout() -> Path:
    layout = Path(os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_OCI", DEFAULT_BASE_OCI))
    if not (layout / "index.json").is_file():
        require_component(f"no OCI layout of the base image at {layout}; run scripts/base-image.sh")
    return layout


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel cache for the module: the build environments of both backends are made once."""
    return tmp_path_factory.mktemp("cache")


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.test", "-c", "user.name=t", *args],
        cwd=root, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _project(root: Path, pyproject: str, image: str) -> Path:
    """A project whose last commit is tagged 1.4.1, with a package ``scm_flows``."""
    require_executable("git", "apt-get install git")
    (root / "scm_flows").mkdir(parents=True)
    (root / "scm_flows/__init__.py").write_text("")
    (root / "scm_flows/flows.py").write_text(FLOWS)
    (root / "pyproject.toml").write_text(
        pyproject + f'\n[tool.hera-build]\nimage = "{image}"\nmodules = ["scm_flows.flows"]\n'
    )
    (root / ".gitignore").write_text("build/\ndist/\n*.egg-info/\n__pycache__/\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "first")
    _git(root, "tag", "1.4.1")
    return root


def hera_build(root: Path, cache: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "HERA_BUILD_CACHE_DIR": str(cache),
        "DOCKER_HOST": f"unix://{root.parent / 'no-engine.sock'}",  # no engine: nothing is loaded anywhere
    }
    env.pop("SOURCE_DATE_EPOCH", None)
    result = subprocess.run(
        [sys.executable, "-m", "hera_build", *args], cwd=root, env=env, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _decided_version(root: Path) -> str:
    from hera_build.core.project import load_project

    return load_project(root).version.exact


def _wheel_versions(archive: Path) -> set[str]:
    """Versions of ``scm_flows`` dist-info directories installed in the image's layers."""
    found = set()
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not (member.isfile() and member.name.startswith("blobs/sha256/")):
                continue
            blob = outer.extractfile(member)
            assert blob is not None
            try:
                with tarfile.open(fileobj=blob, mode="r:*") as layer:
                    for name in layer.getnames():
                        part = next((p for p in name.split("/") if p.startswith("scm_flows-")), None)
                        if part and part.endswith(".dist-info"):
                            found.add(part.removeprefix("scm_flows-").removesuffix(".dist-info"))
            except tarfile.TarError:
                continue  # a JSON blob (manifest, config, index)
    return found


@pytest.mark.parametrize("pyproject", [SETUPTOOLS_SCM, HATCH_VCS], ids=["setuptools-scm", "hatch-vcs"])
@pytest.mark.parametrize("dirty", [False, True], ids=["clean-tag", "dirty-tree"])
def test_the_decided_version_is_in_the_templates_the_image_and_the_release(
    tmp_path: Path, cache: Path, base_layout: Path, registry: str, pyproject: str, dirty: bool
) -> None:
    image = f"{registry}/hera-build-test/scm-flows-{uuid.uuid4().hex[:8]}"  # a new repository: no earlier tags
    root = _project(tmp_path / "scm-flows", pyproject, image)
    if dirty:
        with (root / "scm_flows/flows.py").open("a") as flows:
            flows.write("# an uncommitted change\n")
    version = _decided_version(root)
    assert (version == "1.4.1") is not dirty, version
    slug, tag = ProjectVersion.parse(version).slug, ProjectVersion.parse(version).tag

    emitted = hera_build(root, cache, "templates", "--out", str(tmp_path / "argo"))
    assert f"scm-hello-v{slug}" in emitted

    base = f"oci:{base_layout}"
    out = hera_build(
        root, cache, "image", "--backend", "oci", "--base-image", base, "--output", str(tmp_path / "image.tar"),
        "--no-check",
    )  # fmt: skip
    assert f"{image}:{tag}" in out
    assert _wheel_versions(tmp_path / "image.tar") == {version}, "the wheel carries exactly the decided version"

    released = hera_build(
        root, cache, "release", "--backend", "oci", "--base-image", base, "--out", str(tmp_path / "release"),
        "--push", "--no-check",
    )  # fmt: skip
    manifest = json.loads((root / "dist/release-manifest.json").read_text())
    # release marks a dirty tree's version with a digest of the changes (``….dirty.<hash>``), and builds that
    released_version = ProjectVersion.parse(manifest["version"])
    assert released_version.exact == version if not dirty else released_version.exact.startswith(f"{version}.dirty.")
    assert f"{image}:{released_version.tag}@sha256:" in released
    assert manifest["image"]["digest"] in released
    assert all(f"scm-hello-v{released_version.slug}" in entry["file"] for entry in manifest["objects"])
