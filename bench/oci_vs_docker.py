"""Warm rebuild-and-push after a one-line change: the oci backend against the Docker backend and a naive Dockerfile.

One run, the same example (a copy of examples/ml-pipeline), the same debootstrap base image, the same local
registry. Each contender first builds and pushes once (which fills its caches), then one line of the
project's code changes and each rebuilds and pushes again (warm): that second time is what a developer or a CI
job on a warm runner waits for. Then the oci backend builds twice more, each time on empty caches (wheels
downloaded again), and the two image digests are compared.

The naive Dockerfile is what a Hera user writes first: ``COPY . /src`` then ``pip install /src`` (offline from
a wheels folder in the project, as containers here have no network). Targets (issue 7): warm oci >= 10x faster
than naive, >= 3x faster than the Docker backend, identical digests across two clean builds. The warm rebuild is
repeated (each time with another one-line change) and the median is compared.

    .venv/bin/python bench/oci_vs_docker.py [--registry 127.0.0.1:5000] [--repeat 3] [--keep]

Needs the Docker engine, the registry and the base image (scripts/start-docker.sh, start-registry.sh,
base-image.sh --push).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hera_build.core.process import run_command
from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.errors import PublishError
from hera_build.image.backends import BuildRequest, BuildResult
from hera_build.image.backends.docker import DockerBuilder, DockerEngine
from hera_build.image.backends.oci import OciBuilder, OciOptions

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ml-pipeline"
NAIVE_DOCKERFILE = """\
FROM {base}
RUN ["python3", "-m", "venv", "/venv"]
COPY . /src
RUN ["/venv/bin/pip", "install", "--no-index", "--find-links", "/src/wheels", "--disable-pip-version-check", "/src"]
ENV PATH=/venv/bin:$PATH
USER 65532:65532
"""


@dataclass
class Measurement:
    name: str
    first: float = 0.0
    warm: float = 0.0
    runs: list[float] = field(default_factory=list)
    note: str = ""


def _say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr)


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def _change_one_line(project_dir: Path, marker: str, old: str = "model") -> None:
    """Change the model URI's prefix in steps.py: one line, a real code change (``old`` → ``marker``)."""
    steps = project_dir / "src/ml_pipeline/steps.py"
    text = steps.read_text()
    changed = text.replace(f'f"{{data_uri}}/{old}-', f'f"{{data_uri}}/{marker}-', 1)
    assert changed != text, f"no line to change in {steps}"
    steps.write_text(changed)


# ---------------------------------------------------------------------------------------------- contenders


def _oci(project: Project, image: ImageRef, base: str, cache: Path) -> tuple[BuildResult, OciBuilder]:
    builder = OciBuilder(OciOptions(cache_dir=cache / "oci", load=False))
    request = BuildRequest(project=project, image=image, base_image=base, push=True, force=True, progress=_say)
    return builder.build(request), builder


def _docker(project: Project, image: ImageRef, base: str) -> BuildResult:
    request = BuildRequest(project=project, image=image, base_image=base, push=True, force=True, progress=_say)
    return DockerBuilder().build(request)


def _naive_context(project_dir: Path, work: Path, engine_base: str) -> Path:
    """The project with a wheels/ folder (its dependencies and build backend), as a naive user would ship it."""
    context = work / "naive"
    shutil.copytree(project_dir, context, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    wheels = context / "wheels"
    wheels.mkdir()
    # the dependency closure (including the locally built data-utils wheel) from the shared wheelhouse
    from hera_build.image.backends.oci.base import load_base  # noqa: F401 - the oci probe is what avoids running the base
    from hera_build.image.target import ContainerProber
    from hera_build.image.wheelhouse import prepare_wheelhouse

    target = ContainerProber(DockerEngine.from_env()).probe(engine_base)
    house = prepare_wheelhouse(load_project(project_dir), target, work / "naive-wheelhouse", progress=_say)
    for wheel in house.dependency_wheels:
        shutil.copyfile(wheel, wheels / wheel.name)
    run_command(
        [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:", "--dest",
         str(wheels), "hatchling"],
        what="pip download hatchling",
    )  # fmt: skip
    (context / "Dockerfile").write_text(NAIVE_DOCKERFILE.format(base=engine_base))
    return context


def _naive(engine: DockerEngine, context: Path, image: ImageRef) -> str:
    """docker build (legacy builder through the SDK, no network) and docker push; returns the pushed digest."""
    client = engine.client
    built, _ = client.images.build(path=str(context), tag=str(image), network_mode="none", rm=True, pull=False)
    digest = None
    for entry in client.images.push(image.repository, tag=image.tag, stream=True, decode=True):
        if "error" in entry:
            raise PublishError(f"naive push failed: {entry['error']}", None)
        digest = (entry.get("aux") or {}).get("Digest", digest)
    return str(digest or built.id)


def _remove_local(engine: DockerEngine, repository: str) -> None:
    """Remove this run's images (tagged, and the ones the warm rebuild left untagged) from the engine."""
    for image in engine.client.images.list(name=repository):
        try:
            engine.client.images.remove(image.id, force=True)
        except Exception as exc:  # noqa: BLE001 - cleanup only
            _say(f"could not remove {image.id}: {exc}")


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument(
        "--engine-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--remote-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE"))
    parser.add_argument("--repeat", type=int, default=3, help="warm rebuilds per contender (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    remote_base = args.remote_base or f"{args.registry}/{args.engine_base}"
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="hera-build-bench-"))
    engine = DockerEngine.from_env()
    try:
        project_dir = work / "ml-pipeline"
        shutil.copytree(EXAMPLE, project_dir, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info"))
        os.environ["HERA_BUILD_CACHE_DIR"] = str(work / "cache")
        os.environ.setdefault("SOURCE_DATE_EPOCH", "1700000000")
        project = load_project(project_dir)
        tag = project.version.tag
        images = {
            name: parse_image_ref(f"{args.registry}/hera-build-bench/{run}/{name}:{tag}")
            for name in ("oci", "docker", "naive")
        }
        oci, docker, naive = Measurement("oci backend"), Measurement("docker backend"), Measurement("naive Dockerfile")

        print(f"first builds (fill the caches; base {args.engine_base} / {remote_base})", file=sys.stderr)
        oci.first, _ = _timed(lambda: _oci(project, images["oci"], remote_base, work / "cache"))
        docker.first, _ = _timed(lambda: _docker(project, images["docker"], args.engine_base))
        context = _naive_context(project_dir, work, args.engine_base)
        naive.first, _ = _timed(lambda: _naive(engine, context, images["naive"]))

        print(f"one-line change, warm rebuild-and-push, {args.repeat} times", file=sys.stderr)
        warm: dict[str, list[float]] = {"oci": [], "docker": [], "naive": []}
        for attempt in range(args.repeat):
            marker = f"model-{run}-{attempt}"  # new content every time: no build cache can have seen it
            _change_one_line(project_dir, marker)
            _change_one_line(context, marker)
            project = load_project(project_dir)
            seconds, (_, builder) = _timed(lambda p=project: _oci(p, images["oci"], remote_base, work / "cache"))
            warm["oci"].append(seconds)
            report = builder.last_report
            if report is not None and report.push is not None:
                uploaded = ", ".join(f"{b.role} {b.size} B" for b in report.push.uploaded)
                oci.note = f"uploaded: {uploaded}; dependency layer cached: {report.dependency_layers_cached}"
                stages = ", ".join(f"{stage} {value:.2f}s" for stage, value in report.timings.items())
                _say(f"oci stages: {stages}")
            warm["docker"].append(_timed(lambda p=project: _docker(p, images["docker"], args.engine_base))[0])
            warm["naive"].append(_timed(lambda: _naive(engine, context, images["naive"]))[0])
            _change_one_line(project_dir, "model", marker)
            _change_one_line(context, "model", marker)
        for measurement, key in ((oci, "oci"), (docker, "docker"), (naive, "naive")):
            measurement.warm = statistics.median(warm[key])
            measurement.runs = warm[key]

        print("reproducibility: two oci builds on empty caches", file=sys.stderr)
        digests = []
        for attempt in ("clean-1", "clean-2"):
            os.environ["HERA_BUILD_CACHE_DIR"] = str(work / attempt)
            clean, _ = _oci(
                load_project(project_dir), images["oci"].with_tag(f"{tag}-{attempt}"), remote_base, work / attempt
            )
            digests.append(clean.digest)

        print()
        print(f"{'':18} {'first build+push':>17} {'warm rebuild+push (median)':>27}  runs")
        for m in (oci, docker, naive):
            runs = " ".join(f"{value:.2f}" for value in m.runs)
            print(f"{m.name:18} {m.first:16.2f}s {m.warm:26.2f}s  {runs}")
        print()
        print(f"oci: {oci.note}")
        naive_ratio, docker_ratio = naive.warm / oci.warm, docker.warm / oci.warm
        print(f"warm: oci is {naive_ratio:.1f}x faster than the naive Dockerfile (target >= 10x: "
              f"{'met' if naive_ratio >= 10 else 'NOT met'})")  # fmt: skip
        print(f"warm: oci is {docker_ratio:.1f}x faster than the Docker backend (target >= 3x: "
              f"{'met' if docker_ratio >= 3 else 'NOT met'})")  # fmt: skip
        same = digests[0] == digests[1]
        print(f"two clean oci builds: {digests[0]} / {digests[1]}: {'identical' if same else 'DIFFERENT'}")
        return 0 if (naive_ratio >= 10 and docker_ratio >= 3 and same) else 1
    finally:
        for name in ("docker", "naive"):  # the engine-built images; the registry keeps its pushed copies
            _remove_local(engine, f"{args.registry}/hera-build-bench/{run}/{name}")
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
