"""hera-build's Docker backend against a naive Dockerfile, side by side in one run on the same base image.

naive:      FROM base; COPY . /app; RUN python3 -m venv /opt/venv && pip install --no-index --find-links wheels /app
hera-build: hera-build image --backend docker --no-check   (generated multi-stage Dockerfile, see docs/guides/docker.md)

Both build offline with the same engine (the legacy builder that docker-py drives) from the same wheels: the naive
build gets hera-build's wheelhouse (plus the build backend's wheels, since ``pip install .`` builds the project
inside the container) in its context, passed with ``--find-links``. Measured:

1. cold build: a fresh copy of the base image (same layers, new id) so that no step is cached for either;
2. warm rebuild after a one-line change in the project's code, repeated (median);
3. image size.

Targets (issue 3): warm rebuild at least 5x faster than naive, image no larger than naive.

    .venv/bin/python bench/docker_vs_naive.py [--base-image IMAGE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import tomlkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hera_build.core.project import load_project  # noqa: E402
from hera_build.image.engine import DockerEngine  # noqa: E402
from hera_build.image.target import ContainerProber, ProbeCache, PythonTarget  # noqa: E402
from hera_build.image.wheelhouse import WheelCache, prepare_wheelhouse  # noqa: E402

NAIVE_DOCKERFILE = """\
FROM {base}
WORKDIR /app
COPY . /app
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index --find-links /app/wheels /app
ENV PATH=/opt/venv/bin:$PATH
"""


def docker_build(engine: DockerEngine, context: Path, tag: str) -> str:
    image_id = ""
    for entry in engine.client.api.build(
        path=str(context), tag=tag, rm=True, forcerm=True, network_mode="none", decode=True
    ):
        if "error" in entry:
            raise SystemExit(f"naive build failed: {entry['error']}")
        if isinstance(entry.get("aux"), dict) and "ID" in entry["aux"]:
            image_id = entry["aux"]["ID"]
    return image_id


def fresh_base(engine: DockerEngine, base: str, work: Path) -> str:
    """The base image under a new id (an extra label, no new layer): nothing is cached for it yet."""
    context = work / "fresh-base"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nLABEL hera-build.bench.run={uuid.uuid4().hex}\n")
    tag = f"hera-build-bench/base:{uuid.uuid4().hex[:12]}"
    docker_build(engine, context, tag)
    return tag


def naive_wheels(project_root: Path, target: PythonTarget, dest: Path, cache: Path) -> None:
    """hera-build's wheelhouse (the same dependency wheels) plus the build backend, for ``pip install .``."""
    project = load_project(project_root)
    house = prepare_wheelhouse(project, target, dest / "house", cache=WheelCache(cache))
    for wheel in house.dependency_wheels:
        shutil.copyfile(wheel, dest / wheel.name)
    shutil.rmtree(dest / "house")
    requires = [
        str(r) for r in tomlkit.parse((project_root / "pyproject.toml").read_text())["build-system"]["requires"]
    ]  # type: ignore[index,union-attr]
    args = [
        "download",
        "--only-binary=:all:",
        *target.pip_args(),
        "--dest",
        str(dest),
        "--progress-bar",
        "off",
        *requires,
    ]
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True, text=True)


def hera_build(project: Path, base: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "hera_build", "image", "--backend", "docker", "--base-image", base, "--no-check"]
    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def naive(engine: DockerEngine, context: Path, tag: str) -> float:
    start = time.perf_counter()
    docker_build(engine, context, tag)
    return time.perf_counter() - start


def one_line_change(*roots: Path) -> None:
    marker = uuid.uuid4().hex
    for root in roots:
        steps = next((root / "src").glob("*/steps.py"))
        steps.write_text(steps.read_text() + f"# one-line change {marker}\n")


def size(engine: DockerEngine, image: str) -> int:
    return int(engine.image(image).attrs["Size"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--base-image", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--example", default="ml-pipeline", choices=("ml-pipeline", "data-utils"))
    parser.add_argument("--repeat", type=int, default=3, help="warm rebuilds per side (median)")
    args = parser.parse_args()
    engine = DockerEngine.from_env()
    run = uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="hera-build-bench-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        env = {**os.environ, "HERA_BUILD_CACHE_DIR": str(cache)}
        env.pop("SOURCE_DATE_EPOCH", None)
        ours = work / "hera-build" / args.example
        theirs = work / "naive" / args.example
        for dest in (ours, theirs):
            shutil.copytree(
                ROOT / "examples" / args.example,
                dest,
                ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info"),
            )
        pyproject = tomlkit.parse((ours / "pyproject.toml").read_text())
        pyproject["tool"]["hera-build"]["image"] = f"hera-build-bench/{run}/{args.example}"  # type: ignore[index]
        (ours / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
        env["PYTHONPATH"] = str(ours / "src")

        base = fresh_base(engine, args.base_image, work)
        naive_tag = f"hera-build-bench/{run}/naive-{args.example}:latest"
        ours_tag = f"hera-build-bench/{run}/{args.example}:{load_project(ours).version.tag}"
        try:
            target = ContainerProber(engine, ProbeCache(cache)).probe(base)
            print(f"base image {args.base_image} (fresh id for this run), Python {target.version}, {target.platform}")
            print("preparing wheels (not timed) ...", flush=True)
            naive_wheels(theirs, target, theirs / "wheels", cache)
            (theirs / "Dockerfile").write_text(NAIVE_DOCKERFILE.format(base=base))

            cold: dict[str, float] = {}
            cold["naive"] = naive(engine, theirs, naive_tag)
            cold["hera-build"] = hera_build(ours, base, env)
            warm: dict[str, list[float]] = {"naive": [], "hera-build": []}
            for _ in range(args.repeat):  # interleaved, so drift affects both alike
                one_line_change(ours, theirs)
                warm["naive"].append(naive(engine, theirs, naive_tag))
                warm["hera-build"].append(hera_build(ours, base, env))
            sizes = {"naive": size(engine, naive_tag), "hera-build": size(engine, ours_tag)}
        finally:
            for image in (naive_tag, ours_tag, base):
                try:
                    engine.client.images.remove(image, force=True)
                except Exception:  # noqa: BLE001 - best-effort cleanup of the bench's own images
                    pass
    report(cold, warm, sizes, args)


def report(cold: dict[str, float], warm: dict[str, list[float]], sizes: dict[str, int], args: Any) -> None:
    medians = {name: statistics.median(times) for name, times in warm.items()}
    print(
        f"\n{args.example}, one run, same base image; warm = median of {args.repeat} rebuilds after a one-line change"
    )
    print(f"  {'':12s} {'cold build':>11s} {'warm rebuild':>13s} {'image size':>12s}")
    for name in ("naive", "hera-build"):
        print(f"  {name:12s} {cold[name]:10.1f}s {medians[name]:12.2f}s {sizes[name] / 1e6:10.1f}MB")
    warm_ratio = medians["naive"] / medians["hera-build"]
    cold_ratio = cold["naive"] / cold["hera-build"]
    size_ratio = sizes["hera-build"] / sizes["naive"]
    warm_met = "met" if warm_ratio >= 5 else "NOT met"
    print(f"  warm rebuild: hera-build is {warm_ratio:.1f}x faster (target >= 5x: {warm_met})")
    print(f"  cold build:   hera-build is {cold_ratio:.1f}x faster")
    size_met = "met" if size_ratio <= 1 else "NOT met"
    print(f"  image size:   hera-build / naive = {size_ratio:.2f} (target <= 1.00: {size_met})")
    print("  (hera-build timings are the whole CLI run: wheel build, context, docker build; --no-check)")


if __name__ == "__main__":
    main()
