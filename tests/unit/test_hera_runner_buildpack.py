"""The hera-runner buildpack's scripts, run by ``/bin/sh`` on this machine the way the lifecycle runs them.

No pack, no engine: ``bin/detect`` and ``bin/build`` get the buildpack API 0.10 environment (``CNB_LAYERS_DIR``,
``CNB_BUILD_PLAN_PATH``, …) and an app dir with a tiny wheelhouse (a stand-in ``hera`` whose runner prints its
arguments, and a project that uses it). tests/integration/test_buildpacks.py runs the same scripts under pack.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import buildpacks as bp

pytestmark = pytest.mark.slow

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> Path:
    """A minimal, valid pure-Python wheel; the same arguments give the same bytes."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {req}\n" for req in requires
    )
    entries = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = directory / f"{dist}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:  # fixed times: the same files give the same bytes
        for path, text in [*entries.items(), (f"{info}/RECORD", "\n".join(record) + "\n")]:
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return wheel


RUNNER = "import sys\nprint('runner', ' '.join(sys.argv[1:]))\nimport demo_app.steps\nprint(demo_app.steps.VALUE)\n"


def make_app(root: Path, *, hera_version: str = "7.1.0", python_version: str = PY) -> Path:
    app = root / "app"
    context = app / ".hera-build"
    files = {"hera/__init__.py": "", "hera/workflows/__init__.py": "", "hera/workflows/runner.py": RUNNER}
    make_wheel(context / "deps", "hera", hera_version, files)
    make_wheel(
        context / "app", "demo-app", "1.0", {"demo_app/__init__.py": "", "demo_app/steps.py": "VALUE = 42\n"}, ("hera",)
    )
    (context / "format").write_text("1\n")
    (context / "requirements.txt").write_text(f"hera=={hera_version}\n")
    (context / "app.txt").write_text("demo-app==1.0\n")
    (context / "python-version").write_text(f"{python_version}\n")
    (context / "labels.toml").write_text('[[labels]]\nkey = "org.opencontainers.image.version"\nvalue = "1.0"\n')
    return app


def run_script(script: str, app: Path, layers: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    buildpack = bp.copy_buildpack(tmp / "bp")
    layers.mkdir(parents=True, exist_ok=True)
    (tmp / "platform").mkdir(exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp),
        "CNB_LAYERS_DIR": str(layers),
        "CNB_PLATFORM_DIR": str(tmp / "platform"),
        "CNB_BUILD_PLAN_PATH": str(tmp / "plan.toml"),
        "CNB_BP_PLAN_PATH": str(tmp / "bp-plan.toml"),
        "CNB_BUILDPACK_DIR": str(buildpack),
    }
    return subprocess.run(
        ["/bin/sh", str(buildpack / "bin" / script)], cwd=app, env=env, capture_output=True, text=True, timeout=600
    )


def test_detect_passes_only_for_a_hera_build_context(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = run_script("detect", empty, tmp_path / "layers", tmp_path)
    assert failed.returncode == 100, failed.stdout + failed.stderr
    app = make_app(tmp_path)
    passed = run_script("detect", app, tmp_path / "layers", tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    plan = tomllib.loads((tmp_path / "plan.toml").read_text())
    assert plan == {"or": [{"requires": [{"name": "cpython", "metadata": {"build": True, "launch": True}}]}]}


def test_build_installs_the_wheelhouse_into_launch_layers_and_sets_the_runner_process(tmp_path: Path) -> None:
    app, layers = make_app(tmp_path), tmp_path / "layers"
    result = run_script("build", app, layers, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    deps, app_layer, pip = (tomllib.loads((layers / f"{n}.toml").read_text()) for n in ("deps", "app", "pip"))
    assert deps["types"] == {"launch": True, "build": False, "cache": True}
    assert deps["metadata"]["digest"].startswith("sha256:")
    assert app_layer["types"] == {"launch": True, "build": False, "cache": False}
    assert pip["types"] == {"launch": False, "build": False, "cache": True}, "pip is a build tool, not in the image"
    assert not (layers / "deps" / "bin" / "pip").exists()
    launch = tomllib.loads((layers / "launch.toml").read_text())
    assert launch["processes"] == [
        {"type": "runner", "command": ["python", "-m", "hera.workflows.runner"], "args": [], "default": True}
    ]
    assert launch["labels"] == [{"key": "org.opencontainers.image.version", "value": "1.0"}]
    assert not (app / ".hera-build").exists(), "no wheel may reach the image's app dir"
    # The venv's python (what the launcher puts on PATH) runs the runner and finds the project through the .pth.
    python = layers / "deps" / "bin" / "python"
    ran = subprocess.run(
        [str(python), "-m", "hera.workflows.runner", "-e", "demo_app.steps:x", "/args.json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.splitlines() == ["runner -e demo_app.steps:x /args.json", "42"]
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('demo-app'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "1.0"
    pycs = list((layers / "app" / "site-packages").rglob("*.pyc"))
    assert pycs and all(p.read_bytes()[4:8] == b"\x03\x00\x00\x00" for p in pycs), "hash-based .pyc (reproducible)"


def test_unchanged_dependencies_reuse_the_deps_layer_and_changed_ones_rebuild_it(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    first = run_script("build", make_app(tmp_path / "one"), layers, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    marker = layers / "deps" / "marker"
    marker.write_text("kept")
    second = run_script("build", make_app(tmp_path / "two"), layers, tmp_path)
    assert second.returncode == 0 and "reusing the deps layer" in second.stdout, second.stdout + second.stderr
    assert marker.exists()
    third = run_script("build", make_app(tmp_path / "three", hera_version="7.2.0"), layers, tmp_path)
    assert third.returncode == 0 and "installing dependencies" in third.stdout, third.stdout + third.stderr
    assert not marker.exists()


def test_a_wheelhouse_for_another_python_is_refused_with_both_versions(tmp_path: Path) -> None:
    result = run_script("build", make_app(tmp_path, python_version="2.7"), tmp_path / "layers", tmp_path)
    assert result.returncode == 1
    assert "prepared for Python 2.7, but the build image's" in result.stderr and f"is Python {PY}" in result.stderr


def test_a_missing_wheel_fails_with_pip_s_reason(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / ".hera-build" / "requirements.txt").write_text("hera==7.1.0\nnot-there==1.0\n")
    result = run_script("build", app, tmp_path / "layers", tmp_path)
    assert result.returncode == 1
    assert "not-there" in result.stdout + result.stderr
    assert "pip could not install .hera-build/requirements.txt" in result.stderr


def test_a_newer_context_format_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / ".hera-build" / "format").write_text("2\n")
    result = run_script("build", app, tmp_path / "layers", tmp_path)
    assert result.returncode == 1 and "format '2'" in result.stderr
