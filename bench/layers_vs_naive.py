"""What a release costs on a realistic ML project: the oci backend, the docker backend and a naive Dockerfile.

The project is the consumer example (examples/ml-pipeline) plus ``pandas==2.2.3`` and ``scikit-learn==1.5.2``
(issue 12). Every contender runs as a fresh process, as CI runs it: ``hera-build image --push --force
--no-check`` for the two backends, ``docker build`` + ``docker push`` for the naive Dockerfile (``COPY . /src`` then
``pip install --no-index --find-links``). Side by side, in one run:

1. cold build+push: empty hera-build caches; the naive build starts from a run-unique first instruction, so no
   layer of it is cached (the docker backend's engine cache is the engine's: its cold time may be warm-ish when
   the same dependency set was built before on this machine; the table says so);
2. adding one small dependency, ``six`` (as in the issue; python-dateutil 4 no longer needs it, so it is new to
   the image — the bench checks that it was not in the closure before);
3. the warm one-line code change;
4. image sizes (compressed, as stored in the registry) and bytes uploaded per step (the sizes of blobs in the new
   manifest that the previous one did not have, read from the registry; the oci backend's own report as well);
5. reproducibility: two clean oci builds give identical digests, and the add-one-dependency build changes only
   the layer that holds the new distribution.

Set-up (not timed) makes a virtual environment under the work folder with hera-build, the two example packages,
pandas, scikit-learn and appdirs, and downloads every wheel once into ``wheels/``; the timed runs read wheels
from there (``PIP_NO_INDEX``/``PIP_FIND_LINKS`` for hera-build, ``--no-index --find-links`` for the naive build),
so nothing is downloaded while the clock runs.

    .venv/bin/python bench/layers_vs_naive.py [--registry 127.0.0.1:5000] [--work DIR] [--keep]

Targets (oci): add-one-dependency <= 3 s wall and <= 1 MB uploaded; cold <= 0.5x naive; identical digests.
Needs the Docker engine, the registry and the base image (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ml-pipeline"
EXTRA = ["pandas==2.2.3", "scikit-learn==1.5.2"]
ADDED = "six"
NAIVE_DOCKERFILE = """\
FROM {base}
ARG RUN={run}
RUN ["python3", "-m", "venv", "/venv"]
COPY . /src
RUN ["/venv/bin/pip", "install", "--no-index", "--find-links", "/src/wheels", "--disable-pip-version-check", "/src"]
ENV PATH=/venv/bin:$PATH
USER 65532:65532
"""
_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_PUSHED_RE = re.compile(r"pushed \S+: (\d+) blob\(s\) uploaded \((\d+) bytes\)")


@dataclass
class Step:
    seconds: float
    digest: str
    layers: dict[str, int]
    uploaded: int
    """Bytes of blobs in this manifest that the previous one of the contender did not have."""
    note: str = ""


@dataclass
class Contender:
    name: str
    project: Path
    repository: str
    steps: dict[str, Step] = field(default_factory=dict)


def _say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a process, fail loudly, return (seconds, stderr+stdout)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr + proc.stdout


def _manifest(registry: str, repository: str, tag: str) -> tuple[str, dict[str, int]]:
    """(digest, {blob digest: size}) of a pushed image, config included, from the registry's API."""
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": _ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as response:
        digest = response.headers["Docker-Content-Digest"]
        manifest = json.loads(response.read())
    blobs = {layer["digest"]: int(layer["size"]) for layer in manifest["layers"]}
    blobs[manifest["config"]["digest"]] = int(manifest["config"]["size"])
    return digest, blobs


# ---------------------------------------------------------------------------------------------- set-up


def _setup_venv(work: Path) -> Path:
    venv = work / "venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "hera-build").exists():
        _say(f"set-up: virtual environment {venv} (hera-build, examples, {', '.join(EXTRA)}, {ADDED})")
        _run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, "-e", str(ROOT), "-e", str(ROOT / "examples" / "data-utils"), *EXTRA, ADDED, "hatchling"])
    return python


def _project_copy(work: Path, name: str, registry: str, run: str) -> Path:
    """The example with the ML dependencies, pushing to its own repository of this run."""
    target = work / f"project-{name}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('"data-utils>=1,<2"]', '"data-utils>=1,<2", ' + ", ".join(f'"{x}"' for x in EXTRA) + "]")
    text = re.sub(r'^image = ".*"$', f'image = "{registry}/hera-build-bench/{run}/{name}"', text, flags=re.M)
    pyproject.write_text(text)
    return target


def _add_dependency(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    changed = text.replace(f'"{EXTRA[-1]}"]', f'"{EXTRA[-1]}", "{ADDED}"]')
    assert changed != text
    pyproject.write_text(changed)


def _change_one_line(project: Path, marker: str) -> None:
    steps = project / "src/ml_pipeline/steps.py"
    text = steps.read_text()
    changed = text.replace('f"{data_uri}/model-', f'f"{{data_uri}}/{marker}-', 1)
    assert changed != text, f"no line to change in {steps}"
    steps.write_text(changed)


def _wheels(work: Path, python: Path, project: Path, env: dict[str, str]) -> Path:
    """Every wheel the project needs, downloaded once: a set-up oci build fills a cache, its wheels are copied."""
    wheels = work / "wheels"
    if wheels.is_dir() and any(wheels.iterdir()):
        return wheels
    _say("set-up: downloading the wheels (one oci build into a throwaway cache)")
    cache = work / "setup-cache"
    _add_dependency(project)  # so that appdirs is downloaded too
    try:
        _run([str(python.parent / "hera-build"), "image", "--output", str(work / "setup.tar"), "--no-check"],
             cwd=project, env=env | {"HERA_BUILD_CACHE_DIR": str(cache)})  # fmt: skip
    finally:
        (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text().replace(f', "{ADDED}"', ""))
    wheels.mkdir()
    for wheel in (cache / "index").rglob("*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)
    for wheel in (cache / "built").rglob("data_utils-*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)
        break
    pip_version = _run([str(python), "-m", "pip", "--version"])[1].split()[1]  # the docker backend installs it
    _run([str(python), "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
          "--dest", str(wheels), "hatchling", f"pip=={pip_version}"])  # fmt: skip
    (work / "setup.tar").unlink(missing_ok=True)
    return wheels


# ---------------------------------------------------------------------------------------------- contenders


def _hera_build(contender: Contender, backend: str, python: Path, env: dict[str, str]) -> tuple[float, str]:
    argv = [str(python.parent / "hera-build"), "image", "--backend", backend, "--push", "--force", "--no-check"]
    return _run(argv, cwd=contender.project, env=env)


def _naive(contender: Contender, base: str, run: str, wheels: Path) -> tuple[float, str]:
    context = contender.project
    shutil.rmtree(context / "wheels", ignore_errors=True)
    shutil.copytree(wheels, context / "wheels")
    (context / "Dockerfile").write_text(NAIVE_DOCKERFILE.format(base=base, run=run))
    tag = f"{contender.repository}:0.3.0"
    env = os.environ | {"DOCKER_BUILDKIT": "0"}
    build, out = _run(["docker", "build", "--network", "none", "--pull=false", "-t", tag, str(context)], env=env)
    push, out2 = _run(["docker", "push", tag])
    return build + push, out + out2


def _step(contender: Contender, name: str, registry: str, seconds: float, output: str) -> Step:
    digest, blobs = _manifest(registry, contender.repository.split("/", 1)[1], "0.3.0")
    previous = set().union(*(step.layers for step in contender.steps.values()))
    uploaded = sum(size for blob, size in blobs.items() if blob not in previous)
    note = ""
    match = _PUSHED_RE.search(output)
    if match:
        note = f"oci report: {match.group(1)} blob(s), {int(match.group(2))} bytes uploaded"
    step = Step(seconds, digest, blobs, uploaded, note)
    contender.steps[name] = step
    _say(f"{contender.name} {name}: {seconds:.2f}s, {uploaded / 1e6:.2f} MB new {note}")
    return step


def _remove_local(repository: str) -> None:
    proc = subprocess.run(["docker", "images", "-q", repository], capture_output=True, text=True, check=False)
    for image_id in sorted(set(proc.stdout.split())):
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("HERA_BUILD_TEST_REGISTRY", "127.0.0.1:5000"))
    parser.add_argument(
        "--engine-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE", "hera-build-base:bookworm-python3")
    )
    parser.add_argument("--remote-base", default=os.environ.get("HERA_BUILD_TEST_BASE_IMAGE_REMOTE"))
    parser.add_argument("--work", type=Path, help="work folder (kept; the venv and wheels are reused next time)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    args = parser.parse_args()
    remote_base = args.remote_base or f"{args.registry}/{args.engine_base}"
    run = uuid.uuid4().hex[:8]
    work = args.work or Path(tempfile.mkdtemp(prefix="hera-build-bench-layers-"))
    work.mkdir(parents=True, exist_ok=True)
    repository = f"{args.registry}/hera-build-bench/{run}"
    contenders = {
        name: Contender(name, _project_copy(work, name, args.registry, run), f"{repository}/{name}")
        for name in ("oci", "docker", "naive")
    }
    try:
        python = _setup_venv(work)
        base_env = os.environ | {"SOURCE_DATE_EPOCH": "1700000000", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env = {
            "oci": dict(base_env),
            "docker": dict(base_env),
        }
        for name, bases in (("oci", remote_base), ("docker", args.engine_base)):
            text = (contenders[name].project / "pyproject.toml").read_text()
            text = re.sub(r'^base-image = ".*"$', f'base-image = "{bases}"', text, flags=re.M)
            (contenders[name].project / "pyproject.toml").write_text(text)
        wheels = _wheels(work, python, contenders["oci"].project, env["oci"])
        offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
        for name in ("oci", "docker"):
            env[name] = env[name] | offline | {"HERA_BUILD_CACHE_DIR": str(work / f"cache-{name}-{run}")}

        def build(name: str) -> tuple[float, str]:
            contender = contenders[name]
            if name == "naive":
                return _naive(contender, args.engine_base, run, wheels)
            return _hera_build(contender, name, python, env[name])

        print(f"cold build+push (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", file=sys.stderr)
        for name in contenders:
            _step(contenders[name], "cold", args.registry, *build(name))
        print(f"adding one small dependency ({ADDED})", file=sys.stderr)
        for name in contenders:
            _add_dependency(contenders[name].project)
            _step(contenders[name], "add", args.registry, *build(name))
        print("one-line code change", file=sys.stderr)
        for name in contenders:
            _change_one_line(contenders[name].project, f"model-{run}")
            _step(contenders[name], "code", args.registry, *build(name))

        print("reproducibility: two oci builds on empty caches", file=sys.stderr)
        digests = []
        for attempt in ("clean-1", "clean-2"):
            clean_env = env["oci"] | {"HERA_BUILD_CACHE_DIR": str(work / f"{attempt}-{run}")}
            _hera_build(contenders["oci"], "oci", python, clean_env)
            digests.append(_manifest(args.registry, contenders["oci"].repository.split("/", 1)[1], "0.3.0")[0])
            shutil.rmtree(work / f"{attempt}-{run}", ignore_errors=True)

        oci = contenders["oci"]
        before, after = oci.steps["cold"].layers, oci.steps["add"].layers
        changed_layers = len(set(after) - set(before))
        print()
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
        print(f"{'':18} {'cold build+push':>16} {'add ' + ADDED.split('=')[0]:>14} {'MB new':>8} "
              f"{'1-line change':>14} {'MB new':>8} {'image MB':>9}")  # fmt: skip
        for contender in contenders.values():
            s = contender.steps
            size = sum(s["code"].layers.values()) / 1e6
            print(f"{contender.name:18} {s['cold'].seconds:15.2f}s {s['add'].seconds:13.2f}s "
                  f"{s['add'].uploaded / 1e6:8.2f} {s['code'].seconds:13.2f}s {s['code'].uploaded / 1e6:8.2f} "
                  f"{size:9.1f}")  # fmt: skip
        print()
        for step in ("add", "code"):
            if oci.steps[step].note:
                print(f"oci {step}: {oci.steps[step].note}")
        naive = contenders["naive"]
        cold_ratio = oci.steps["cold"].seconds / naive.steps["cold"].seconds
        add = oci.steps["add"]
        add_bytes = int(_PUSHED_RE.search(add.note).group(2)) if _PUSHED_RE.search(add.note) else add.uploaded  # type: ignore[union-attr]
        checks = {
            f"cold oci / naive = {cold_ratio:.2f} (target <= 0.5)": cold_ratio <= 0.5,
            f"add {ADDED}: {add.seconds:.2f}s (target <= 3 s)": add.seconds <= 3.0,
            f"add {ADDED}: {add_bytes / 1e6:.3f} MB uploaded (target <= 1 MB)": add_bytes <= 1_000_000,
            f"add {ADDED}: {changed_layers} new blob(s) besides the old ones (layer + config)": changed_layers <= 3,
            f"two clean oci builds: {digests[0][:19]} / {digests[1][:19]}": digests[0] == digests[1],
        }
        for text, ok in checks.items():
            print(f"{'met    ' if ok else 'NOT met'}  {text}")
        return 0 if all(checks.values()) else 1
    finally:
        for name in ("docker", "naive"):
            _remove_local(contenders[name].repository)
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
