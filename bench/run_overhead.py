"""``hera-build run`` against bare ``docker run``: what running a node as Argo would costs, and how a fan-out scales.

Every measurement times fresh processes, as a user runs them (``hera-build run --file wf.yaml`` pays Python's
start-up and the docker SDK's connection each time; ``docker run`` pays the Go CLI's).

1. overhead per node: a steps workflow of N sequential nodes, each ``sh -c 'echo node'`` in the base image, against
   N sequential ``docker run --rm --network none IMAGE sh -c 'echo node'``. Target (issue 13): at most 1.3x.
2. fan-out: 20 items of a node that sleeps (``sleep S``) under ``parallelism`` P, against a workflow of one such
   node (both through ``hera-build run``, fresh processes). Target: at most 1.5 x one node's time x ceil(20 / P).
   The bare ``docker run`` of that one node is printed for reference.

    .venv/bin/python bench/run_overhead.py [--image IMAGE] [--nodes 10] [--sleep 2] [--parallelism 4 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE", "127.0.0.1:5000/hera-build-base:bookworm-python3")


def sequential(image: str, nodes: int) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench-sequential"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "steps": [[{"name": f"n{i}", "template": "node"}] for i in range(nodes)]},
                {"name": "node", "container": {"image": image, "command": ["sh", "-c"], "args": ["echo node"]}},
            ],
        },
    }


def fan_out(image: str, seconds: float, width: int, parallelism: int | None) -> dict[str, object]:
    spec: dict[str, object] = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "dag": {"tasks": [{"name": "item", "template": "node", "withSequence": {"count": str(width)}}]},
            },
            {"name": "node", "container": {"image": image, "command": ["sh", "-c"], "args": [f"sleep {seconds}"]}},
        ],
    }
    if parallelism:
        spec["parallelism"] = parallelism
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench-fan-out"},
        "spec": spec,
    }


def timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def hera_build_run(workflow: dict[str, object], work: Path) -> float:
    path = work / "workflow.yaml"
    path.write_text(yaml.safe_dump(workflow))
    return timed([sys.executable, "-m", "hera_build", "run", "--file", str(path)], work)


def bare_docker(image: str, nodes: int, work: Path) -> float:
    started = time.perf_counter()
    for _ in range(nodes):
        timed(["docker", "run", "--rm", "--network", "none", image, "sh", "-c", "echo node"], work)
    return time.perf_counter() - started


def bare_fan_out(image: str, seconds: float, width: int, parallelism: int, work: Path) -> float:
    """The same fan-out as ``parallelism`` concurrent ``docker run``s: what the engine itself allows."""
    from concurrent.futures import ThreadPoolExecutor

    command = ["docker", "run", "--rm", "--network", "none", image, "sh", "-c", f"sleep {seconds:g}"]
    started = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(lambda _: timed(command, work), range(width)))
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hera-build-bench-") as tmp:
        work = Path(tmp)
        subprocess.run(["docker", "pull", args.image], capture_output=True, check=False)
        timed(["docker", "run", "--rm", "--network", "none", args.image, "true"], work)  # warm the engine's caches

        runs, bares = [], []
        for _ in range(args.repeat):
            runs.append(hera_build_run(sequential(args.image, args.nodes), work))
            bares.append(bare_docker(args.image, args.nodes, work))
        run, bare = median(runs), median(bares)
        ratio = run / bare
        print(f"overhead per node ({args.nodes} sequential nodes, median of {args.repeat}):")
        print(f"  hera-build run: {run:.2f} s ({run / args.nodes:.3f} s per node)")
        print(f"  docker run:     {bare:.2f} s ({bare / args.nodes:.3f} s per node)")
        print(f"  ratio:          {ratio:.2f}x (target <= 1.3x) {'ok' if ratio <= 1.3 else 'MISSED'}")

        one = median([hera_build_run(fan_out(args.image, args.sleep, 1, None), work) for _ in range(args.repeat)])
        bare_one = median(
            [
                timed(
                    ["docker", "run", "--rm", "--network", "none", args.image, "sh", "-c", f"sleep {args.sleep:g}"],
                    work,
                )
                for _ in range(args.repeat)
            ]
        )
        print(
            f"one node (sleep {args.sleep:g}) through hera-build run: {one:.2f} s (bare docker run: {bare_one:.2f} s)"
        )
        missed = ratio > 1.3
        for parallelism in args.parallelism:
            wall = median(
                [
                    hera_build_run(fan_out(args.image, args.sleep, args.width, parallelism), work)
                    for _ in range(args.repeat)
                ]
            )
            target = 1.5 * one * math.ceil(args.width / parallelism)
            verdict = "ok" if wall <= target else "MISSED"
            missed = missed or wall > target
            bare_wall = bare_fan_out(args.image, args.sleep, args.width, parallelism, work)
            print(
                f"{args.width}-way fan-out, parallelism {parallelism}: {wall:.2f} s "
                f"(target <= 1.5 x {one:.2f} x {math.ceil(args.width / parallelism)} = {target:.2f} s) {verdict}; "
                f"bare docker run, {parallelism} at a time: {bare_wall:.2f} s"
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
