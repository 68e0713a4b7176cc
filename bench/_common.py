"""What the image benchmarks share: project copies, the one-line change, timed CLI processes, the naive build.

hera-build is timed as users run it: a fresh ``hera-build`` process per build (interpreter start-up and imports
included), in a copy of examples/ml-pipeline whose image goes to its own repository on the local registry. The
naive alternative is what a Hera user writes first — a ``COPY . .`` Dockerfile and ``pip install`` — built and
pushed with the docker CLI. Timings on a busy machine mean little, so the load average is printed beside them.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ml-pipeline"
STEPS = Path("src/ml_pipeline/steps.py")
_MODEL_LINE = re.compile(r'(f"\{data_uri\}/)[A-Za-z0-9]+(-lr)')

NAIVE_DOCKERFILE = """\
FROM {base}
WORKDIR /app
COPY . .
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index --find-links /app/wheels /app
ENV PATH=/opt/venv/bin:$PATH
"""


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def hera_build_cli() -> list[str]:
    """The ``hera-build`` of the environment running the benchmark (``.venv/bin/hera-build`` after setup.sh)."""
    script = Path(sys.executable).parent / "hera-build"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hera_build"]


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(limit: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` seconds) until the 1-minute load is below ``limit``; returns the load."""
    deadline = time.monotonic() + max_wait
    load = load_average()
    while load >= limit and time.monotonic() < deadline:
        say(f"load average {load:.1f} >= {limit}: waiting for a quieter machine")
        time.sleep(min(30.0, max(1.0, deadline - time.monotonic())))
        load = load_average()
    return load


def copy_example(dest: Path, image: str, **settings: str) -> Path:
    """examples/ml-pipeline at ``dest``, its image repository set to ``image`` (and other [tool.hera-build] keys)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    document = tomlkit.parse((dest / "pyproject.toml").read_text())
    table: Any = document["tool"]["hera-build"]
    table["image"] = image
    for key, value in settings.items():
        table[key] = value
    (dest / "pyproject.toml").write_text(tomlkit.dumps(document))
    return dest


def one_line_change(roots: Sequence[Path], marker: str) -> None:
    """Change the model URI's prefix in steps.py to ``marker``: one line, a real code change, new content."""
    for root in roots:
        steps = root / STEPS
        text = steps.read_text()
        changed = _MODEL_LINE.sub(lambda m: f"{m.group(1)}{marker}{m.group(2)}", text, count=1)
        if changed == text:
            raise SystemExit(f"no line to change in {steps}")
        steps.write_text(changed)


def run(command: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run ``command``; its stdout, or the end of its stderr as the benchmark's error."""
    done = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def timed(
    command: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[float, str]:
    started = time.perf_counter()
    out = run(command, cwd=cwd, env=env)
    return time.perf_counter() - started, out


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_hera_build(
    project: Path, args: Sequence[str], env: Mapping[str, str], series: Series | None = None
) -> tuple[float, dict[str, Any]]:
    """One fresh ``hera-build image … --json`` process in ``project``: (seconds, its JSON result); its CPU time
    goes to ``series`` (on a busy machine the wall time is mostly waiting for a core, the CPU time is not).

    The copy's ``src`` goes first on PYTHONPATH: the image check compares the image with the project as the
    emitting environment imports it, and the installed examples/ml-pipeline does not have this run's changes."""
    env = {**env, "PYTHONPATH": str(project / "src")}
    cpu = children_cpu()
    seconds, out = timed([*hera_build_cli(), "image", *args, "--json"], cwd=project, env=env)
    if series is not None:
        series.cpu.append(children_cpu() - cpu)
    return seconds, json.loads(out)


def naive_context(project: Path, dest: Path, base: str, cache: Path) -> Path:
    """The project with a wheels/ folder, as a naive user ships it: the same dependency wheels hera-build
    installs (taken from its cache after a first build) plus the build backend, since ``pip install /app``
    builds the project inside the container."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    wheels = dest / "wheels"
    wheels.mkdir()
    found = [*cache.glob("index/*/*.whl"), *cache.glob("built/*/data_utils-*.whl")]
    if not found:
        raise SystemExit(f"no wheels in {cache}: run a hera-build build first")
    for wheel in found:
        shutil.copyfile(wheel, wheels / wheel.name)
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(wheels), "hatchling"])
    (dest / "Dockerfile").write_text(NAIVE_DOCKERFILE.format(base=base))
    return dest


def naive_build_push(context: Path, image: str) -> tuple[float, str]:
    """``docker build`` (the classic builder, no network: containers here have none) then ``docker push``, as two
    processes; (seconds, pushed digest)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    started = time.perf_counter()
    run(["docker", "build", "-q", "--network", "none", "-t", image, str(context)], env=env)
    out = run(["docker", "push", image])
    seconds = time.perf_counter() - started
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    return seconds, digest.group(1) if digest else "?"


def image_size(image: str) -> int:
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", image]).strip())


def remove_images(prefix: str) -> None:
    """Remove this run's images (every repository under ``prefix``) from the engine; the registry keeps its
    pushed copies."""
    listing = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}} {{.ID}}"], capture_output=True, text=True, check=False
    )
    # by id: a warm rebuild leaves the previous image untagged (<none>), which no name can remove
    mine = sorted({image for repository, image in (line.split() for line in listing.stdout.splitlines())
                   if repository.startswith(prefix)})  # fmt: skip
    if mine:
        subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True, check=False)


@dataclass
class Series:
    """Seconds per round of one contender."""

    name: str
    note: str = ""
    first: float | None = None
    runs: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """CPU seconds of the hera-build process per round (its containers' and the engine's work not included)."""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def row(self) -> str:
        first = f"{self.first:9.2f}s" if self.first is not None else f"{'-':>10}"
        runs = " ".join(f"{value:.2f}" for value in self.runs)
        cpu = f"{statistics.median(self.cpu):8.2f}s" if self.cpu else f"{'-':>9}"
        return f"  {self.name:34} {first} {self.median:9.2f}s {self.best:8.2f}s {cpu}   {runs}   {self.note}"


def table(series: Sequence[Series], rounds: int) -> str:
    head = f"  {'':34} {'first':>10} {'median':>10} {'min':>9} {'cpu':>9}   rounds ({rounds})"
    return "\n".join([head, *(s.row() for s in series)])
