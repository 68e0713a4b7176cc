"""Warm rebuild-and-push after a one-line change, as users run it: the oci backend against the Docker backend and
a naive Dockerfile, side by side in one run.

Every hera-build build is a fresh ``hera-build image --push --force`` process (start-up and imports included)
in its own copy of examples/ml-pipeline, pushing to its own repository on the local registry. The pipeline is
build → check → publish, and the check runs containers, so hera-build is timed twice: ``--no-check`` (build and
push only — comparable to the naive build, which checks nothing) and with the check. The naive contender is a
``COPY . .`` Dockerfile with ``pip install --no-index --find-links wheels /app``, built and pushed with the
docker CLI. Each contender builds once to fill its caches ("first"), then every round changes one line of the
project's code in every copy and each contender rebuilds and pushes; median and minimum are printed. Beside
them, the oci build called in-process (imports already paid), which is what the CLI costs beyond start-up.
Last, two oci builds on empty caches must give the same digest.

Targets (issue 7, issue 15): warm oci (--no-check) >= 10x faster than naive and >= 3x faster than the docker
backend, <= 0.5 s as a process on an idle machine; identical digests across two clean builds.

    .venv/bin/python bench/oci_vs_docker.py [--rounds 5] [--registry 127.0.0.1:5000] [--wait-idle 300]

Needs what scripts/setup.sh sets up: the Docker engine, the registry, the base image (in the engine and in the
registry). Run it on a quiet machine: at a load average above 3 the numbers say more about the neighbours.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    Series,
    copy_example,
    load_average,
    naive_build_push,
    naive_context,
    one_line_change,
    remove_images,
    say,
    table,
    timed_hera_build,
    wait_for_quiet,
)


def in_process(project: Path) -> float:
    """The same build as ``hera-build image --push --force --no-check``, called in this process."""
    from hera_build._cli import main

    started = time.perf_counter()
    previous = Path.cwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            code = main(["image", "--push", "--force", "--no-check"])
    finally:
        os.chdir(previous)
    if code != 0:
        raise SystemExit(f"in-process build in {project} failed")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument(
        "--engine-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--remote-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE"))
    parser.add_argument("--rounds", type=int, default=5, help="warm rebuilds per contender (median and min)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S", help="wait up to S s for load < 3")
    parser.add_argument("--no-clean", action="store_true", help="skip the two clean builds (digest check)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    remote_base = args.remote_base or f"{args.registry}/{args.engine_base}"
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="hera-build-bench-"))
    repo = f"{args.registry}/hera-build-bench/{run}"
    env = {**os.environ, "HERA_BUILD_CACHE_DIR": str(work / "cache")}
    env.pop("SOURCE_DATE_EPOCH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as in a user's environment, hera-build's bytecode is cached
    os.environ["HERA_BUILD_CACHE_DIR"] = env["HERA_BUILD_CACHE_DIR"]  # the in-process build shares the cache
    try:
        oci = {"base-image": remote_base}
        docker = {"backend": "docker", "base-image": args.engine_base}
        projects = {
            "oci": copy_example(work / "oci", f"{repo}/oci", **oci),
            "oci-check": copy_example(work / "oci-check", f"{repo}/oci-check", **oci),
            "docker": copy_example(work / "docker", f"{repo}/docker", **docker),
            "docker-check": copy_example(work / "docker-check", f"{repo}/docker-check", **docker),
            "in-process": copy_example(work / "in-process", f"{repo}/in-process", **oci),
        }
        flags = {
            "oci": ["--push", "--force", "--no-check"],
            "oci-check": ["--push", "--force"],
            "docker": ["--push", "--force", "--no-check"],
            "docker-check": ["--push", "--force"],
        }
        series = {
            "oci": Series("hera-build, oci, --no-check", "build + push"),
            "oci-check": Series("hera-build, oci, with the check", "build + check (containers) + push"),
            "docker": Series("hera-build, docker, --no-check", "build + push"),
            "docker-check": Series("hera-build, docker, with the check", "build + check (containers) + push"),
            "naive": Series("naive Dockerfile (docker CLI)", "docker build + docker push; checks nothing"),
            "in-process": Series("oci --no-check, in-process", "the CLI's work without start-up and imports"),
        }
        load = wait_for_quiet(3.0, args.wait_idle)
        print(f"load average at start: {load:.1f}", file=sys.stderr)
        say("first builds (fill the caches)")
        for name, flag in flags.items():
            series[name].first, _ = timed_hera_build(projects[name], flag, env)
        series["in-process"].first = in_process(projects["in-process"])
        naive = naive_context(projects["oci"], work / "naive", args.engine_base, work / "cache")
        series["naive"].first, _ = naive_build_push(naive, f"{repo}/naive:latest")

        roots = [*projects.values(), naive]
        last: dict[str, object] = {}
        for attempt in range(args.rounds):
            say(f"round {attempt + 1} of {args.rounds}: one-line change, warm rebuild + push")
            one_line_change(roots, f"m{run}r{attempt}")
            for name, flag in flags.items():
                seconds, last[name] = timed_hera_build(projects[name], flag, env, series[name])
                series[name].runs.append(seconds)
            series["in-process"].runs.append(in_process(projects["in-process"]))
            series["naive"].runs.append(naive_build_push(naive, f"{repo}/naive:latest")[0])
        end_load = load_average()

        digests: list[str] = []
        if not args.no_clean:
            say("reproducibility: two oci builds on empty caches")
            for clean in ("clean-1", "clean-2"):
                clean_env = {**env, "HERA_BUILD_CACHE_DIR": str(work / clean)}
                _, result = timed_hera_build(
                    projects["oci"], ["--push", "--force", "--no-check", "--tag", clean], clean_env
                )
                digests.append(str(result["digest"]))

        print(f"\nwarm rebuild + push after a one-line change, seconds (load average {load:.1f} at start, "
              f"{end_load:.1f} at end; 2 cores); cpu: median CPU time of the hera-build process")  # fmt: skip
        ordered = ["oci", "oci-check", "docker", "docker-check", "naive", "in-process"]
        print(table([series[name] for name in ordered], args.rounds))
        oci_json = last.get("oci")
        if isinstance(oci_json, dict):
            print(f"\noci: {oci_json.get('uploaded_bytes')} bytes uploaded per warm push")
        warm = series["oci"].median
        naive_ratio, docker_ratio = series["naive"].median / warm, series["docker"].median / warm
        checks = [
            (f"oci --no-check is {naive_ratio:.1f}x faster than the naive Dockerfile", naive_ratio >= 10, ">= 10x"),
            (f"oci --no-check is {docker_ratio:.1f}x faster than docker --no-check", docker_ratio >= 3, ">= 3x"),
            (f"oci --no-check as a process: median {warm:.2f}s", warm <= 0.5, "<= 0.5 s on an idle machine"),
        ]
        if digests and isinstance(oci_json, dict):
            digests.append(str(oci_json["digest"]))  # the last warm build (patched wheel) of the same code
            same = len(set(digests)) == 1
            shown = " / ".join(d[:19] for d in digests)
            checks.append((f"two clean oci builds and the last warm one: {shown}", same, "identical"))
        for text, met, target in checks:
            print(f"{text} (target {target}: {'met' if met else 'NOT met'})")
        return 0 if all(met for _, met, _ in checks[:2]) and (not digests or checks[-1][1]) else 1
    finally:
        remove_images(f"{repo}/")
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
