"""Discovery and pinning work the same on the newest Hera 5.x as on the Hera 7.x that the dev env has.

The Hera 5 environment is a real virtualenv with hera-build installed into it, so the objects are imported and
built by Hera 5 itself. It is made with pip from the package index (``$HERA_BUILD_TEST_CACHE``, default
``~/.cache/hera-build-tests``, keeps it between runs, keyed by hera-build's declared dependencies); an index that
cannot be reached is a missing component (a loud skip, a failure in CI).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from tests.support.components import require_component

ROOT = Path(__file__).resolve().parents[2]
HERA5 = "5.27.0"
CACHE = Path(os.environ.get("HERA_BUILD_TEST_CACHE", Path.home() / ".cache" / "hera-build-tests"))
SCRIPT = """
import json, sys
from hera_build.templates.discover import discover
from hera_build.templates.emit import EmitSettings, local_names, pin_objects, ref_sites
from hera_build.core.references import parse_image_ref
from hera_build.templates.resolve import resolve_refs
from hera_build.core.versions import ProjectVersion
import hera
objs = discover(["compat_flows.workflows"])
s = EmitSettings("compat", ProjectVersion.parse("1.0.0"), "{name}-v{slug}", parse_image_ref("reg.example/compat:1.0.0"))
names = local_names(objs, s)
pinned = pin_objects(objs, resolve_refs(ref_sites(objs), local=names), names, s)
print(json.dumps({"hera": hera.__version__, "objects": {o.name: o.manifest for o in pinned}}))
"""

pytestmark = pytest.mark.slow


def _dependencies_key() -> str:
    """hera-build's declared dependencies: a cached environment made for other ones is not reused."""
    declared = [str(req) for req in tomlkit.parse((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]  # type: ignore[union-attr]
    return hashlib.sha256("\n".join(sorted(declared)).encode()).hexdigest()[:12]


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *args], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        require_component(f"pip could not install hera {HERA5} and hera-build's dependencies: {result.stderr[-500:]}")


def hera5_python() -> Path:
    """A virtualenv with hera 5 and hera-build's declared dependencies (from the package index, cached by the
    dependency set; a marker file says it was completed), and this checkout of hera-build installed into it."""
    venv = CACHE / f"hera-{HERA5}-{_dependencies_key()}"
    python = venv / "bin" / "python"
    complete = venv / "hera-build-test-complete"
    if not complete.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        _pip(python, f"hera=={HERA5}", "-e", str(ROOT))
        complete.write_text("")
    _pip(python, "--no-deps", "-e", str(ROOT))
    return python


def emit_with(python: Path | str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "packages")}
    result = subprocess.run(
        [str(python), "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_hera5_and_hera7_emit_the_same_pinned_templates() -> None:
    old, new = emit_with(hera5_python()), emit_with(sys.executable)
    assert old["hera"] == HERA5 and new["hera"].startswith("7.")
    assert (
        set(old["objects"])
        == set(new["objects"])
        == {"compat-add-v1-0-0", "compat-helper-v1-0-0", "compat-cron-v1-0-0"}
    )
    assert old["objects"]["compat-add-v1-0-0"] == new["objects"]["compat-add-v1-0-0"]
    assert old["objects"]["compat-helper-v1-0-0"] == new["objects"]["compat-helper-v1-0-0"]
    add = old["objects"]["compat-add-v1-0-0"]
    images = {t["name"]: (t.get("script") or t.get("container") or {}).get("image") for t in add["spec"]["templates"]}
    assert images["add"] == "reg.example/compat:1.0.0"
    assert images["gpu"] == "nvidia/cuda:12.4.0-base-ubuntu22.04"
    # Hera 7 writes Argo v4's `schedules`, Hera 5 the older `schedule`: the rest of the CronWorkflow agrees.
    old_cron, new_cron = old["objects"]["compat-cron-v1-0-0"], new["objects"]["compat-cron-v1-0-0"]
    assert old_cron["spec"].pop("schedule") == "0 2 * * *" and new_cron["spec"].pop("schedules") == ["0 2 * * *"]
    assert old_cron == new_cron
