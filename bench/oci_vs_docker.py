"""Warm rebuild-and-push after a one-line change: the oci backend against the Docker backend and a naive Dockerfile.

One run, the same example (a copy of examples/ml-pipeline), the same debootstrap base image, the same local
registry. Each contender first builds and pushes once (cold, which also warms its caches), then one line of the
project's code changes and each rebuilds and pushes again (warm): that second time is what a developer or a CI
job on a warm runner waits for. Then the oci backend builds twice more, each time on empty caches (wheels
downloaded again), and the two image digests are compared.

The naive Dockerfile is what a Hera user writes first: ``COPY . /src`` then ``pip install /src`` (offline from
a wheels folder in the project, as containers here have no network). Targets (issue 7): warm oci >= 10x faster
than naive, >= 3x faster than the Docker backend, identical digests across two clean builds.

    .venv/bin/python bench/oci_vs_docker.py [--registry 127.0.0.1:5000] [--keep]

Needs the Docker engine, the registry and the base image (scripts/start-docker.sh, start-registry.sh,
base-image.sh --push).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hera_build.backends import BuildRequest, BuildResult
from hera_build.backends.docker import DockerBuilder, DockerEngine
from hera_build.backends.oci import OciBuilder, OciOptions
from hera_build.errors import PublishError
from hera_build.process import run_command
from hera_build.project import Project, load_project
from hera_build.references import ImageRef, parse_image_ref

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
    cold: float = 0.0
    warm: float = 0.0
    digest: str | None = None
    note: str = ""


def _say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr)


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def _change_one_line(project_dir: Path, marker: str) -> None:
    steps = project_dir / "src/ml_pipeline/steps.py"
    text = steps.read_text()
    steps.write_text(text.replace('f"{data_uri}/model-', f'f"{{data_uri}}/{marker}-', 1))


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
    from hera_build.backends.oci.base import load_base  # noqa: F401 - the oci probe is what avoids running the base
    from hera_build.probe import ContainerProber
    from hera_build.wheelhouse import prepare_wheelhouse

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


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument(
        "--engine-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--remote-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE"))
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

        print(f"cold builds (caches filled; base {args.engine_base} / {remote_base})", file=sys.stderr)
        oci.cold, (result, _) = _timed(lambda: _oci(project, images["oci"], remote_base, work / "cache"))
        docker.cold, _ = _timed(lambda: _docker(project, images["docker"], args.engine_base))
        context = _naive_context(project_dir, work, args.engine_base)
        naive.cold, _ = _timed(lambda: _naive(engine, context, images["naive"]))

        print("one-line change, warm rebuild-and-push", file=sys.stderr)
        _change_one_line(project_dir, "v2")
        _change_one_line(context, "v2")
        project = load_project(project_dir)
        oci.warm, (result, builder) = _timed(lambda: _oci(project, images["oci"], remote_base, work / "cache"))
        oci.digest = result.digest
        report = builder.last_report
        if report is not None and report.push is not None:
            uploaded = ", ".join(f"{b.role} {b.size} B" for b in report.push.uploaded)
            oci.note = f"uploaded: {uploaded}; dependency layer cached: {report.dependency_layer_cached}"
        docker.warm, docker_result = _timed(lambda: _docker(project, images["docker"], args.engine_base))
        docker.digest = docker_result.digest
        naive.warm, naive.digest = _timed(lambda: _naive(engine, context, images["naive"]))

        print("reproducibility: two oci builds on empty caches", file=sys.stderr)
        digests = []
        for attempt in ("clean-1", "clean-2"):
            os.environ["HERA_BUILD_CACHE_DIR"] = str(work / attempt)
            clean, _ = _oci(
                load_project(project_dir), images["oci"].with_tag(f"{tag}-{attempt}"), remote_base, work / attempt
            )
            digests.append(clean.digest)

        print()
        print(f"{'':18} {'cold build+push':>16} {'warm rebuild+push':>18}")
        for m in (oci, docker, naive):
            print(f"{m.name:18} {m.cold:15.2f}s {m.warm:17.2f}s")
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
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
