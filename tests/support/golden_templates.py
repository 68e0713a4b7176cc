"""What ``hera-build templates`` writes, file by file, recorded once so a change for speed can prove it changed no
byte: the generated 500-template project (the benchmark's) and the two examples, in fresh processes as users run
it. ``tests/unit/golden/templates_output.json`` holds the SHA-256 of every file; regenerate it only for a change
that is *meant* to change the output (review the diff of the files first):

    python -m tests.support.golden_templates --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.genproject import generate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "unit" / "golden" / "templates_output.json"
DIGEST = "sha256:" + "ab" * 32
GENERATED = "genproject"
"""The benchmark's package name (its files, and so their bytes, carry it)."""
CASES: dict[str, tuple[str, list[str]]] = {
    "generated-500": (GENERATED, []),
    "generated-500-json": (GENERATED, ["--format", "json", "--digest", DIGEST]),
    "ml-pipeline": ("examples/ml-pipeline", ["--digest", DIGEST]),
    "data-utils": ("examples/data-utils", []),
}
"""Case → (project: the generated one, or a folder under the repository; extra arguments)."""


def hera_build_templates(project: Path, out: Path, args: list[str], env: dict[str, str]) -> str:
    """One ``hera-build templates`` run in a fresh process; its stderr, or an error with it when it fails."""
    command = [str(Path(sys.executable).parent / "hera-build"), "templates", "--out", str(out), "--force", *args]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {done.stderr}")
    return done.stderr


def digests(out: Path) -> dict[str, str]:
    """``{path relative to out: sha256 hex}`` of every file under ``out``."""
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def generated_project(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The benchmark's project under ``tmp`` and the environment that makes it importable by name."""
    root = tmp / "generated"
    if not root.exists():
        generate(root, 500, package=GENERATED)
    return root, {**os.environ, "PYTHONPATH": str(root)}


def run_case(case: str, tmp: Path, out: Path, *extra: str) -> tuple[dict[str, str], str]:
    """Run one case of :data:`CASES` into ``out`` (with ``tmp/cache`` as hera-build's cache); return the digests
    of what it wrote, and its stderr."""
    where, args = CASES[case]
    if where == GENERATED:
        project, env = generated_project(tmp)
    else:
        project, env = ROOT / where, dict(os.environ)
    env["HERA_BUILD_CACHE_DIR"] = str(tmp / "cache")
    err = hera_build_templates(project, out, [*args, *extra], env)
    return digests(out), err


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {GOLDEN.relative_to(ROOT)}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        record = {case: run_case(case, Path(tmp), Path(tmp) / "out" / case, "--no-cache")[0] for case in CASES}
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
