"""The Docker backend with a fake engine: the generated Dockerfile and context, the compact progress, push and its
failure modes, immutable tags, and the ``image`` command's flags. tests/integration/test_docker_image.py builds
real images."""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.gitinfo import GitInfo
from hera_build.core.project import Project, load_project
from hera_build.core.references import parse_image_ref
from hera_build.errors import BuildError, ConfigError, EngineError, ImmutableTagError, PublishError
from hera_build.image.backends import BuildRequest, BuiltImage
from hera_build.image.backends.docker import (
    DockerBuilder,
    DockerfileSpec,
    _StepTracker,
    render_dockerfile,
)
from hera_build.image.check import CheckResult
from hera_build.image.engine import DockerEngine
from hera_build.image.inputs import INPUT_DIGEST_LABEL, identity_labels
from hera_build.image.labels import LABEL_DEPENDENCY_DIGEST, image_labels
from hera_build.image.registry import RemoteImage
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import Wheelhouse
from hera_build.publish.pipeline import ShipOptions, Shipped, ship
from hera_build.publish.push import make_pusher

LABEL_INPUT_DIGEST = INPUT_DIGEST_LABEL

BASE = "registry.test/base:py311"
TARGET = PythonTarget("/usr/bin/python3", "3.11.2", "cp311", "cp311", ("manylinux_2_36_x86_64", "linux_x86_64"), {})
GIT = GitInfo(commit="c" * 40, commit_time=1700000000, dirty=False, remote_url="https://git.example.test/acme/app.git")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "ml-pipeline"\nversion = "0.3.0"\ndescription = \'Say "hi"\'\ndependencies = ["hera"]\n'
        '[tool.hera-build]\nimage = "registry.test/acme/ml-pipeline"\n'
    )
    return load_project(tmp_path)


def spec(**overrides: Any) -> DockerfileSpec:
    values: dict[str, Any] = {
        "base_image": BASE,
        "python": "/usr/bin/python3",
        "project": "ml-pipeline",
        "version": "0.3.0",
    }
    return DockerfileSpec(**(values | overrides))


def stages(dockerfile: str) -> list[str]:
    return re.split(r"^FROM ", dockerfile, flags=re.M)[1:]


# ------------------------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_installs_in_a_builder_stage_and_copies_only_the_venv_and_app() -> None:
    deps, final = stages(render_dockerfile(spec()))
    assert deps.startswith(f"{BASE} AS deps") and final.startswith(f"{BASE}\n")
    assert '"--no-index"' in deps and '"--requirement", "/tmp/hera-build/deps/requirements.txt"' in deps
    assert '"-m", "venv", "--without-pip", "/opt/venv"' in deps, "no pip in the image's virtual environment"
    assert '"check"' in deps, "pip check proves the closure complete for the image's Python"
    copies = [line for line in final.splitlines() if line.startswith(("COPY", "ADD", "RUN"))]
    assert copies == ["COPY --from=deps /opt/venv /opt/venv", "COPY app/ /opt/app/"], "no RUN, no wheels, no pip"
    assert "USER 65532:65532" in final
    assert "PATH=/opt/venv/bin:$PATH" in final


def test_the_application_is_placed_with_installer_as_opt_app_will_hold_it(tmp_path: Path) -> None:
    from hera_build.image.backends.docker import install_application

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "X = 1\n")
        archive.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        archive.writestr(
            "demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr("demo-1.0.dist-info/entry_points.txt", "[console_scripts]\ndemo = demo:main\n")
        archive.writestr("demo-1.0.dist-info/RECORD", "")
    app = tmp_path / "app"
    install_application(wheel, app)
    assert (app / "demo" / "__init__.py").read_text() == "X = 1\n"
    assert (app / "demo-1.0.dist-info" / "INSTALLER").read_text() == "hera-build\n"
    script = (app / "bin" / "demo").read_text()
    assert script.startswith("#!/opt/venv/bin/python"), "scripts run with the image's venv, not the host's Python"
    assert (app / "demo" / "__init__.py").stat().st_mode & 0o777 == 0o644
    assert (app / "bin" / "demo").stat().st_mode & 0o777 == 0o755
    assert not list(app.rglob("*.pyc")), "no bytecode of the host's Python"


def test_the_dependency_stage_does_not_depend_on_version_or_labels() -> None:
    """What the engine caches the dependency layer by must not move when only the project does."""
    one = render_dockerfile(spec())
    other = render_dockerfile(spec(version="0.4.0", labels={"org.opencontainers.image.version": "0.4.0"}))
    assert stages(one)[0] == stages(other)[0]
    assert stages(one)[1].splitlines()[:3] == stages(other)[1].splitlines()[:3], "so is the COPY of the venv"


def test_labels_come_last_in_one_instruction_and_are_quoted() -> None:
    text = render_dockerfile(spec(labels={"b": 'say "hi"\nnow', "a": "back\\slash"}))
    label_block = text[text.index("LABEL ") :]
    assert label_block == 'LABEL "a"="back\\\\slash" \\\n      "b"="say \\"hi\\" now"\n'


def test_image_labels_follow_the_oci_annotations(project: Project) -> None:
    labels = image_labels(project, base_image=BASE, git=GIT, source_date_epoch=1700000000)
    assert labels["org.opencontainers.image.version"] == "0.3.0"
    assert labels["org.opencontainers.image.title"] == "ml-pipeline"
    assert labels["org.opencontainers.image.revision"] == "c" * 40
    assert labels["org.opencontainers.image.source"] == "https://git.example.test/acme/app.git"
    assert labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert labels["org.opencontainers.image.base.name"] == BASE
    bare = image_labels(project, base_image=BASE, git=None, source_date_epoch=None)
    assert "org.opencontainers.image.revision" not in bare and "org.opencontainers.image.created" not in bare


# ------------------------------------------------------------------------------------------------ progress


def feed(tracker: _StepTracker, *lines: str) -> None:
    for line in lines:
        tracker.feed({"stream": line + "\n"})


def test_progress_is_one_line_per_step_marking_cached_steps() -> None:
    seen: list[str] = []
    tracker = _StepTracker(seen.append, verbose=False)
    feed(
        tracker,
        "Step 1/3 : FROM base AS deps",
        " ---> 53c054f33b7e",
        "Step 2/3 : COPY deps/ /tmp/x/",
        " ---> Using cache",
        " ---> 1234",
    )
    feed(
        tracker,
        "Step 3/3 : RUN pip install",
        " ---> Running in abc",
        "Collecting x",
        "Successfully installed x",
        " ---> 99",
    )
    tracker.feed({"aux": {"ID": "sha256:" + "9" * 64}})
    tracker.finish_step()
    assert seen == [
        "step 1/3: FROM base AS deps",
        "step 2/3: COPY deps/ /tmp/x/  (cached)",
        "step 3/3: RUN pip install",
    ]
    assert tracker.image_id == "sha256:" + "9" * 64


def test_verbose_progress_shows_the_whole_log() -> None:
    seen: list[str] = []
    tracker = _StepTracker(seen.append, verbose=True)
    feed(tracker, "Step 1/1 : RUN x", "output line")
    assert seen == ["Step 1/1 : RUN x", "output line"]


def test_a_failing_step_shows_its_last_lines_and_names_the_step() -> None:
    seen: list[str] = []
    tracker = _StepTracker(seen.append, verbose=False)
    feed(tracker, "Step 5/9 : RUN pip install", " ---> Running in abc", *[f"line {i}" for i in range(30)])
    with pytest.raises(
        BuildError, match=r"step 5/9: RUN pip install failed: The command .* returned a non-zero code: 1"
    ):
        tracker.feed({"error": "The command '/bin/sh -c x' returned a non-zero code: 1", "errorDetail": {"code": 1}})
    assert seen[-1] == "  | line 29" and "  | line 15" in seen and "  | line 14" not in seen


# ---------------------------------------------------------------------------------------- builds with a fake engine


class FakeImage:
    def __init__(self, image_id: str) -> None:
        self.id = image_id
        self.attrs = {"RootFS": {"Layers": ["sha256:base", "sha256:deps", "sha256:app"]}}
        self.tags: list[tuple[str, str | None]] = []

    def tag(self, repository: str, tag: str | None = None) -> bool:
        self.tags.append((repository, tag))
        return True

    def save(self, named: bool = False) -> Iterator[bytes]:
        yield b"tar-bytes"


class FakeApi:
    def __init__(self, build_stream: list[dict[str, Any]], push_streams: Mapping[str, list[dict[str, Any]]]) -> None:
        self.build_stream = build_stream
        self.push_streams = push_streams
        self.build_kwargs: dict[str, Any] = {}
        self.context_files: dict[str, str] = {}
        self.pushed: list[str] = []

    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.build_kwargs = kwargs
        context = Path(kwargs["path"])
        self.context_files = {
            str(p.relative_to(context)): p.read_text(errors="replace") for p in context.rglob("*") if p.is_file()
        }
        yield from self.build_stream

    def push(self, repository: str, tag: str | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.pushed.append(f"{repository}:{tag}")
        yield from self.push_streams.get(f"{repository}:{tag}", [])


class FakeImages:
    def __init__(self, images: dict[str, FakeImage]) -> None:
        self.images = images

    def get(self, name: str) -> FakeImage:
        from docker.errors import ImageNotFound

        if name not in self.images:
            raise ImageNotFound(name)
        return self.images[name]


class FakeClient:
    def __init__(self, api: FakeApi, images: dict[str, FakeImage]) -> None:
        self.api = api
        self.images = FakeImages(images)

    def version(self) -> dict[str, str]:
        return {"Version": "20.10.24"}


class FakeProber:
    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    def probe(self, image: str) -> PythonTarget:
        return TARGET


class FakeRegistry:
    """What the registry holds under the version tag: ``existing`` until something is pushed, then the push."""

    def __init__(self, api: FakeApi, existing: RemoteImage | None) -> None:
        self.api = api
        self.existing = existing
        self.pushed_labels: dict[str, str] = {}

    def lookup(self, ref: Any) -> RemoteImage | None:
        if f"{ref.repository}:{ref.tag}" in self.api.pushed:
            return RemoteImage(DIGEST, NEW_ID, self.pushed_labels)
        return self.existing


NEW_ID = "sha256:" + "e" * 64
DIGEST = "sha256:" + "d" * 64
OK_BUILD = [
    {"stream": "Step 1/1 : FROM x\n"},
    {"stream": " ---> abc\n"},
    {"aux": {"ID": NEW_ID}},
    {"stream": "Successfully built eeeeeeeeeeee\n"},
]


def push_ok(tag: str) -> list[dict[str, Any]]:
    return [
        {"status": "Pushing", "id": "l1"},
        {"status": f"{tag}: digest: {DIGEST} size: 1"},
        {"aux": {"Tag": tag, "Digest": DIGEST, "Size": 1}},
    ]


def fake_wheelhouse(project: Project, target: PythonTarget, dest: Path, **kwargs: Any) -> Wheelhouse:
    (dest / "app").mkdir(parents=True)
    (dest / "deps").mkdir(parents=True)
    app = dest / "app" / "ml_pipeline-0.3.0-py3-none-any.whl"
    dep = dest / "deps" / "hera-7.1.0-py3-none-any.whl"
    with zipfile.ZipFile(dep, "w") as archive:
        archive.writestr("x", "y")
    write_app_wheel(app)
    return Wheelhouse(app, (dep,), {"hera": "7.1.0"}, "sha256:" + "1" * 64, "sha256:" + "2" * 64, target)


def write_app_wheel(app: Path) -> None:
    with zipfile.ZipFile(app, "w") as archive:
        archive.writestr("ml_pipeline/__init__.py", "")
        archive.writestr(
            "ml_pipeline-0.3.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: ml-pipeline\nVersion: 0.3.0\n"
        )
        archive.writestr(
            "ml_pipeline-0.3.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr("ml_pipeline-0.3.0.dist-info/RECORD", "")


@dataclass
class Rig:
    builder: DockerBuilder
    api: FakeApi
    images: dict[str, FakeImage]
    registry: FakeRegistry

    def build(self, req: BuildRequest) -> BuiltImage:
        """Prepare and build, as the pipeline does; nothing is pushed."""
        with tempfile.TemporaryDirectory() as tmp:
            return self.builder.build(self.builder.prepare(req, Path(tmp)), Path(tmp))

    def ship(self, req: BuildRequest, *, push: bool = True, force: bool = False) -> Shipped:
        """build → publish with the engine push of the fake client, the registry faked around it."""
        engine = self.builder.engine

        def learn(built: BuiltImage, progress: Any, verbose: bool) -> tuple[str, tuple[Any, ...]]:
            self.registry.pushed_labels = identity_labels(built.inputs.digest)
            return make_pusher(lambda: engine)(built, progress, verbose)

        options = ShipOptions(push=push, force=force)
        return ship(self.builder, req, options, self.registry, engine=lambda: None, pusher=learn)


def make_builder(
    tmp_path: Path,
    *,
    build_stream: list[dict[str, Any]] | None = None,
    push_streams: Mapping[str, list[dict[str, Any]]] | None = None,
    existing: RemoteImage | None = None,
    with_base: bool = True,
) -> Rig:
    api = FakeApi(build_stream if build_stream is not None else OK_BUILD, push_streams or {})
    images = {NEW_ID: FakeImage(NEW_ID)}
    if with_base:
        images[BASE] = FakeImage("sha256:" + "b" * 64)
    pip = tmp_path / "pip-23.2.1-py3-none-any.whl"
    pip.write_bytes(b"pip")
    builder = DockerBuilder(
        engine_factory=lambda: DockerEngine(FakeClient(api, images)),
        prober_factory=FakeProber,
        wheelhouse=fake_wheelhouse,
        tool_wheels=lambda pins, target, **kw: {"pip": pip},
        git=lambda path: GIT,
    )
    return Rig(builder, api, images, FakeRegistry(api, existing))


def request(project: Project, **overrides: Any) -> BuildRequest:
    values: dict[str, Any] = {
        "project": project,
        "image": parse_image_ref("registry.test/acme/ml-pipeline:0.3.0"),
        "base_image": BASE,
    }
    return BuildRequest(**(values | overrides))


def test_build_writes_the_context_and_builds_offline(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path)
    built = rig.build(request(project, extra_tags=("latest",)))
    kwargs = rig.api.build_kwargs
    assert (
        kwargs["network_mode"] == "none"
        and kwargs["pull"] is False
        and kwargs["tag"] == "registry.test/acme/ml-pipeline:0.3.0"
    )
    files = rig.api.context_files
    assert {
        "Dockerfile",
        "tools/pip.whl",
        "deps/requirements.txt",
        "deps/hera-7.1.0-py3-none-any.whl",
        "app/ml_pipeline/__init__.py",
        "app/ml_pipeline-0.3.0.dist-info/METADATA",
    } <= set(files)
    assert not [name for name in files if name.startswith("app/") and name.endswith(".whl")]
    assert files["deps/requirements.txt"] == "hera==7.1.0\n"
    assert f'"{LABEL_DEPENDENCY_DIGEST}"="sha256:{"1" * 64}"' in files["Dockerfile"]
    assert f'"{LABEL_INPUT_DIGEST}"="{built.inputs.digest}"' in files["Dockerfile"]
    assert rig.images[NEW_ID].tags == [("registry.test/acme/ml-pipeline", "latest")]
    assert built.image_id == NEW_ID == built.local
    assert [str(ref) for ref in built.tags] == [
        "registry.test/acme/ml-pipeline:0.3.0",
        "registry.test/acme/ml-pipeline:latest",
    ]
    assert built.digest is None and rig.api.pushed == [], "backends never push"
    assert built.layers == ("sha256:base", "sha256:deps", "sha256:app")


def test_the_inputs_name_the_base_image_id_the_dockerfile_and_pip(project: Project, tmp_path: Path) -> None:
    built = make_builder(tmp_path).build(request(project))
    inputs = built.inputs
    assert (inputs.backend, inputs.base_image, inputs.base_digest) == ("docker", BASE, "sha256:" + "b" * 64)
    assert set(dict(inputs.backend_identity)) == {"dockerfile", "pip"}
    assert [(pin.name, pin.version) for pin in inputs.dependencies] == [("hera", "7.1.0")]
    other_epoch = make_builder(tmp_path).build(request(project, source_date_epoch=1)).inputs
    assert other_epoch.digest != inputs.digest, "SOURCE_DATE_EPOCH is an input (it changes the image's bytes)"


def test_a_missing_base_image_says_how_to_get_it(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path, with_base=False)
    with pytest.raises(BuildError, match=rf"base image {BASE} is not in the Docker engine") as info:
        rig.build(request(project))
    assert f"docker pull {BASE}" in (info.value.fix or "")


def test_push_reports_the_digest_from_the_push_stream(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path, push_streams={"registry.test/acme/ml-pipeline:0.3.0": push_ok("0.3.0")})
    result = rig.ship(request(project)).result
    assert result.digest == DIGEST and result.pushed
    assert rig.api.pushed == ["registry.test/acme/ml-pipeline:0.3.0"]


def test_a_push_error_entry_fails_the_push(project: Project, tmp_path: Path) -> None:
    """docker-py does not raise when a push fails: the error is only an entry in the stream."""
    error = [
        {"status": "Preparing", "id": "l1"},
        {
            "errorDetail": {"message": "unauthorized: authentication required"},
            "error": "unauthorized: authentication required",
        },
    ]
    rig = make_builder(tmp_path, push_streams={"registry.test/acme/ml-pipeline:0.3.0": error})
    with pytest.raises(PublishError, match="registry registry.test refused the push") as info:
        rig.ship(request(project))
    assert "docker login registry.test" in (info.value.fix or "")


def test_an_unreachable_registry_during_push_is_one_line(project: Project, tmp_path: Path) -> None:
    error = [{"error": 'Get "https://registry.test/v2/": dial tcp 10.0.0.1:443: connect: connection refused'}]
    rig = make_builder(tmp_path, push_streams={"registry.test/acme/ml-pipeline:0.3.0": error})
    with pytest.raises(PublishError, match="registry registry.test is unreachable while pushing"):
        rig.ship(request(project))


def test_a_push_without_a_digest_is_an_error(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path, push_streams={"registry.test/acme/ml-pipeline:0.3.0": [{"status": "Pushing"}]})
    with pytest.raises(PublishError, match="reported no digest"):
        rig.ship(request(project))


def test_an_existing_tag_with_other_content_is_refused_before_anything_is_built(
    project: Project, tmp_path: Path
) -> None:
    other = RemoteImage("sha256:" + "f" * 64, "sha256:" + "a" * 64, identity_labels("sha256:" + "9" * 64))
    rig = make_builder(
        tmp_path, existing=other, push_streams={"registry.test/acme/ml-pipeline:0.3.0": push_ok("0.3.0")}
    )
    with pytest.raises(ImmutableTagError, match="already released with other content") as info:
        rig.ship(request(project))
    assert "--force" in (info.value.fix or "")
    assert rig.api.pushed == [] and rig.api.build_kwargs == {}, "refused before the build"
    forced = rig.ship(request(project), force=True).result
    assert forced.digest == DIGEST and forced.pushed


def test_an_existing_tag_with_the_same_inputs_is_reused_without_a_build(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path)
    inputs = rig.build(request(project)).inputs
    rig.api.build_kwargs = {}
    rig.registry.existing = RemoteImage(DIGEST, NEW_ID, identity_labels(inputs.digest))
    result = rig.ship(request(project)).result
    assert result.skipped and result.digest == DIGEST and not result.pushed
    assert rig.api.build_kwargs == {} and rig.api.pushed == []


def test_output_writes_a_docker_load_archive(project: Project, tmp_path: Path) -> None:
    make_builder(tmp_path).build(request(project, output=tmp_path / "out" / "image.tar"))
    assert (tmp_path / "out" / "image.tar").read_bytes() == b"tar-bytes"


def test_plan_shows_the_dockerfile_without_building(project: Project, tmp_path: Path) -> None:
    rig = make_builder(tmp_path)
    plan = rig.builder.plan(request(project, extra_tags=("latest",)))
    assert plan.target == TARGET
    assert plan.tags == ("registry.test/acme/ml-pipeline:0.3.0", "registry.test/acme/ml-pipeline:latest")
    assert plan.dockerfile.startswith("# Generated by hera-build") and rig.api.build_kwargs == {}


def test_engine_down_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker
    from docker.errors import DockerException

    def refuse(**kwargs: Any) -> None:
        raise DockerException("Error while fetching server API version: Connection aborted")

    monkeypatch.setattr(docker, "from_env", refuse)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    with pytest.raises(
        EngineError, match=r"no Docker engine answers at unix:///nowhere.sock \(not installed or not running\)"
    ):
        DockerEngine.from_env()


# ------------------------------------------------------------------------------------------------ the command


class FakeCommandBuilder:
    name = "docker"

    def __init__(self) -> None:
        self.requests: list[BuildRequest] = []
        self.pushed: list[str] = []

    def plan(self, req: BuildRequest) -> Any:
        from hera_build.image.backends.docker import DockerPlan

        return DockerPlan(
            req.image, (str(req.image),), req.base_image, "FROM base\n", None, False, ("base image not probed: x",)
        )

    def prepare(self, req: BuildRequest, work: Path) -> Any:
        from tests.support.images import FakeBuilder

        self.requests.append(req)
        return FakeBuilder(code=lambda: "code", name="docker").prepare(req, work)

    def build(self, prepared: Any, work: Path) -> BuiltImage:
        req = prepared.request
        return BuiltImage("docker", req.image, req.tags, prepared.inputs, NEW_ID, NEW_ID, "docker 20.10")


@pytest.fixture
def cli(project: Project, monkeypatch: pytest.MonkeyPatch) -> FakeCommandBuilder:
    fake = FakeCommandBuilder()
    monkeypatch.setattr("hera_build.image.backends.get_builder", lambda name: fake)

    class Registry:
        def __init__(self) -> None:
            self.labels: dict[str, str] = {}

        def lookup(self, ref: Any) -> RemoteImage | None:
            return RemoteImage(DIGEST, NEW_ID, self.labels) if str(ref) in fake.pushed else None

    registry = Registry()

    def push(built: BuiltImage, progress: Any, verbose: bool) -> tuple[str, tuple[Any, ...]]:
        fake.pushed.extend(str(ref) for ref in built.tags)
        registry.labels = identity_labels(built.inputs.digest)
        return DIGEST, ()

    monkeypatch.setattr("hera_build.image.registry.RegistryApi", lambda: registry)
    monkeypatch.setattr("hera_build.publish.push.push_built", push)
    monkeypatch.chdir(project.root)
    return fake


def test_image_dry_run_prints_plan_and_dockerfile(cli: FakeCommandBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    from hera_build._cli import main

    assert main(["image", "--backend", "docker", "--dry-run", "--base-image", BASE]) == 0
    out = capsys.readouterr().out
    assert "image:      registry.test/acme/ml-pipeline:0.3.0" in out and "# Dockerfile\nFROM base" in out
    assert cli.requests == []


def test_image_json_reports_tags_id_and_digest(cli: FakeCommandBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    from hera_build._cli import main

    code = main(
        ["image", "--backend", "docker", "--push", "--json", "--no-check", "--tag", "latest", "--version", "0.3.1rc1"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["image"] == "registry.test/acme/ml-pipeline:0.3.1rc1" and data["image_id"] == NEW_ID
    assert data["digest"] == DIGEST and data["pinned"] == f"registry.test/acme/ml-pipeline:0.3.1rc1@{DIGEST}"
    req = cli.requests[0]
    assert req.extra_tags == ("latest",) and req.project.version.exact == "0.3.1rc1"
    assert cli.pushed == ["registry.test/acme/ml-pipeline:0.3.1rc1", "registry.test/acme/ml-pipeline:latest"]


def test_base_image_defaults_to_the_host_python_slim_image(cli: FakeCommandBuilder) -> None:
    import sys

    from hera_build._cli import main

    main(["image", "--backend", "docker", "--no-check", "--json"])
    assert cli.requests[0].base_image == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def test_image_runs_the_check_after_the_build_unless_told_not_to(
    cli: FakeCommandBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hera_build._cli import main

    checked: list[str] = []

    def check(image: str, project: Project, backend: str) -> CheckResult:
        checked.append(image)
        return CheckResult(image, project.distribution_name, "0.3.0", "5.20.0", "3.11.2", (), None)

    monkeypatch.setattr("hera_build.image.check.check_for_backend", check)
    main(["image", "--backend", "docker"])
    main(["image", "--backend", "docker", "--no-check"])
    assert checked == [NEW_ID]


def test_image_without_a_configured_repository_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hera_build._cli import main

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["image", "--backend", "docker"]) == 1
    assert "error: no image repository configured for x (fix: set image" in capsys.readouterr().err


def test_dry_run_of_a_backend_without_a_plan_prints_the_generic_plan(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hera_build._cli import main

    class NoPlan:
        name = "docker"

        def build(self, req: BuildRequest) -> Any:
            raise AssertionError("a dry run builds nothing")

    monkeypatch.setattr("hera_build.image.backends.get_builder", lambda name: NoPlan())
    monkeypatch.chdir(project.root)
    assert main(["image", "--backend", "docker", "--dry-run", "--tag", "latest", "--base-image", BASE]) == 0
    out = capsys.readouterr().out
    assert "tags:       registry.test/acme/ml-pipeline:0.3.0, registry.test/acme/ml-pipeline:latest" in out
    assert "# Dockerfile" not in out


def test_the_image_command_is_the_library_call_and_only_prints_its_result(
    cli: FakeCommandBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hera-build image`` and :func:`hera_build.api.build_image` are one function: what the CLI prints (the plan
    of a dry run, the check, the push) is in the result a script gets."""
    from hera_build import api
    from hera_build.publish import image

    assert (api.build_image, api.ImageOptions) == (image.build_image, image.ImageOptions)
    dry = api.build_image(api.ImageOptions(backend="docker", dry_run=True, base_image=BASE, extra_tags=("latest",)))
    assert dry.plan is not None and "FROM base" in dry.plan.dockerfile and cli.requests == []
    assert dry.tags == ("registry.test/acme/ml-pipeline:0.3.0", "registry.test/acme/ml-pipeline:latest")

    said: list[str] = []
    monkeypatch.setattr(
        "hera_build.image.check.check_for_backend",
        lambda image, project, backend: CheckResult(image, "ml-pipeline", "0.3.0", "5.20.0", "3.11.2", (), None),
    )
    done = api.build_image(api.ImageOptions(backend="docker", push=True, describe_check=True, progress=said.append))
    assert done.pushed and done.checked is True and done.check is not None and done.check["image"] == NEW_ID
    assert f"checking {NEW_ID} (no network)" in said and "  ml-pipeline 0.3.0, hera 5.20.0, Python 3.11.2" in said
    with pytest.raises(ConfigError, match="invalid --tag 'bad tag!'"):  # before anything is built
        api.build_image(api.ImageOptions(backend="docker", extra_tags=("bad tag!",)))
    assert len(cli.requests) == 1
