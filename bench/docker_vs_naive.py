"""hera-build's Docker backend against a naive Dockerfile, side by side in one run on the same base image, as
users run them.

naive:      FROM base; COPY . .; RUN python3 -m venv /opt/venv && pip install --no-index --find-links wheels /app
            then `docker build` + `docker push` (two docker CLI processes)
hera-build: `hera-build image --backend docker --push --force` (a fresh process: generated multi-stage
            Dockerfile, see docs/guides/docker.md), timed with --no-check (build and push, comparable to the naive
            build, which checks nothing) and with the image check (which runs containers)

Both build offline with the same engine from the same wheels (the naive build gets hera-build's dependency wheels
plus the build backend's, since ``pip install /app`` builds the project inside the container), and push to their
own repositories on the local registry. Measured:

1. cold build + push: a fresh copy of the base image (same layers, new id) so that no step is cached for either;
2. warm rebuild + push after a one-line change in the project's code, several rounds (median and min);
3. image size.

Targets (issue 3): warm rebuild at least 5x faster than naive, image no larger than naive.

    .venv/bin/python bench/docker_vs_naive.py [--rounds 5] [--base-image IMAGE] [--wait-idle 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Series,
    copy_example,
    image_size,
    load_average,
    naive_build_push,
    naive_context,
    one_line_change,
    remove_images,
    run,
    say,
    table,
    timed_hera_build,
    wait_for_quiet,
)


def fresh_base(base: str, work: Path, tag: str) -> str:
    """The base image under a new id (an extra label, no new layer): nothing is cached for it yet."""
    context = work / "fresh-base"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nLABEL hera-build.bench.run={uuid.uuid4().hex}\n")
    run(
        ["docker", "build", "-q", "--network", "none", "-t", tag, str(context)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    return tag


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument(
        "--base-image", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--rounds", type=int, default=5, help="warm rebuilds per contender (median and min)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S", help="wait up to S s for load < 3")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    repo = f"{args.registry}/hera-build-bench/{run_id}"
    with tempfile.TemporaryDirectory(prefix="hera-build-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "HERA_BUILD_CACHE_DIR": str(work / "cache")}
        env.pop("SOURCE_DATE_EPOCH", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as in a user's environment, hera-build's bytecode is cached
        try:
            load = wait_for_quiet(3.0, args.wait_idle)
            base = fresh_base(args.base_image, work, f"hera-build-bench/{run_id}-base:fresh")
            docker = {"backend": "docker", "base-image": base}
            projects = {
                "docker": copy_example(work / "docker", f"{repo}/docker", **docker),
                "docker-check": copy_example(work / "docker-check", f"{repo}/docker-check", **docker),
            }
            flags = {"docker": ["--push", "--force", "--no-check"], "docker-check": ["--push", "--force"]}
            series = {
                "docker": Series("hera-build, docker, --no-check", "build + push"),
                "docker-check": Series("hera-build, docker, with the check", "build + check (containers) + push"),
                "naive": Series("naive Dockerfile (docker CLI)", "docker build + docker push; checks nothing"),
            }
            print(f"base image {args.base_image} (fresh id for this run); load average {load:.1f}", file=sys.stderr)
            say("cold builds")
            results = {}
            for name, flag in flags.items():
                series[name].first, results[name] = timed_hera_build(projects[name], flag, env)
            naive = naive_context(projects["docker"], work / "naive", base, work / "cache")
            series["naive"].first, _ = naive_build_push(naive, f"{repo}/naive:latest")
            for attempt in range(args.rounds):  # interleaved, so drift affects every contender alike
                say(f"round {attempt + 1} of {args.rounds}: one-line change, warm rebuild + push")
                one_line_change([*projects.values(), naive], f"m{run_id}r{attempt}")
                for name, flag in flags.items():
                    seconds, results[name] = timed_hera_build(projects[name], flag, env, series[name])
                    series[name].runs.append(seconds)
                series["naive"].runs.append(naive_build_push(naive, f"{repo}/naive:latest")[0])
            sizes = {"hera-build": image_size(str(results["docker"]["image"])), "naive": image_size(f"{repo}/naive")}
            end_load = load_average()
        finally:
            remove_images(f"{repo}/")
            remove_images(f"hera-build-bench/{run_id}-base")

    print(f"\nml-pipeline, same base image, seconds (load average {load:.1f} at start, {end_load:.1f} at end; "
          "2 cores); cpu: median CPU time of the hera-build process")  # fmt: skip
    print(table([series[name] for name in ("docker", "docker-check", "naive")], args.rounds))
    warm_ratio = series["naive"].median / series["docker"].median
    cold_ratio = (series["naive"].first or 0) / (series["docker"].first or 1)
    size_ratio = sizes["hera-build"] / sizes["naive"]
    print(f"\nimage size: hera-build {sizes['hera-build'] / 1e6:.1f} MB, naive {sizes['naive'] / 1e6:.1f} MB")
    print(f"warm rebuild + push: docker --no-check is {warm_ratio:.1f}x faster than naive "
          f"(target >= 5x: {'met' if warm_ratio >= 5 else 'NOT met'})")  # fmt: skip
    print(f"cold build + push:   docker --no-check takes {1 / cold_ratio:.2f}x the naive time (it also resolves, "
          "fetches and builds the wheels the naive context is given ready-made)")  # fmt: skip
    print(
        f"image size: hera-build / naive = {size_ratio:.2f} (target <= 1.00: {'met' if size_ratio <= 1 else 'NOT met'})"
    )
    return 0 if warm_ratio >= 5 and size_ratio <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
