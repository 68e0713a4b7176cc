"""The buildpacks backend with fakes for pack, the engine, the prober, the wheelhouse and the registry.

What is checked is what the backend hands to pack (arguments, project.toml, the ``.hera-build/`` contract, labels)
and what it makes of pack's answers and failures. tests/integration/test_buildpacks.py runs the real pack.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from docker.errors import APIError, ImageNotFound

import buildpacks as bp
from hera_build.core.gitinfo import GitInfo
from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef
from hera_build.errors import BuildError, ConfigError, EngineError, ImmutableTagError, PublishError
from hera_build.image.backends import BuildRequest, BuildResult, BuiltImage, get_builder, runner_command_for
from hera_build.image.backends.buildpacks import (
    CONTEXT_DIR,
    BuilderInfo,
    BuildpacksBuilder,
    BuildpacksSettings,
    buildpack_group,
    creation_time,
    pack_error,
)
from hera_build.image.engine import DockerEngine
from hera_build.image.inputs import INPUT_DIGEST_LABEL as LABEL_INPUT_DIGEST
from hera_build.image.inputs import identity_labels
from hera_build.image.registry import RemoteImage
from hera_build.image.target import PythonFacts, PythonTarget, target_from_facts
from hera_build.image.wheelhouse import Wheelhouse
from hera_build.publish.pipeline import ShipOptions, ship

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "ml-pipeline"
BUILDER = "hera-build-test-builder:bookworm"
RUN_IMAGE = "hera-build-test-stack-run:bookworm"
IMAGE_ID = "sha256:" + "1" * 64
BUILDER_ID = "sha256:" + "b" * 64
DIGEST = "sha256:" + "d" * 64
CONFIG_DIGEST = "sha256:" + "c" * 64
VERSION = bp.buildpack_version()
GIT = GitInfo(commit="0123456789abcdef" * 2 + "01234567", commit_time=1700000000, dirty=False, remote_url=None)
TARGET = target_from_facts(PythonFacts(executable="/usr/bin/python3", version="3.11.2", libc=("glibc", "2.36")))


def builder_labels(*buildpacks: tuple[str, str]) -> dict[str, str]:
    """The builder's ``io.buildpacks.builder.metadata``, shaped as pack 0.40 writes it."""
    metadata = {
        "description": "test",
        "buildpacks": [{"id": i, "version": v} for i, v in buildpacks],
        "stack": {"runImage": {"image": "", "mirrors": None}},
        "lifecycle": {"version": "0.21.17"},
        "images": [{"image": RUN_IMAGE, "mirrors": [f"127.0.0.1:5000/{RUN_IMAGE}"]}],
    }
    return {"io.buildpacks.builder.metadata": json.dumps(metadata)}


# ---------------------------------------------------------------------------------------------------- fakes


@dataclass
class FakeImage:
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Config": {"Labels": dict(self.labels)}, "RootFS": {"Layers": list(self.layers)}}


@dataclass
class FakeImages:
    images: dict[str, FakeImage]
    pulls: list[str] = field(default_factory=list)
    pullable: dict[str, FakeImage] = field(default_factory=dict)

    def get(self, name: str) -> FakeImage:
        if name not in self.images:
            raise ImageNotFound(f"No such image: {name}")
        return self.images[name]

    def pull(self, name: str, tag: str | None = None) -> FakeImage:
        full = f"{name}:{tag}" if tag else name
        self.pulls.append(full)
        if full not in self.pullable:
            raise APIError(f"pull access denied for {full}")
        self.images[full] = self.pullable[full]
        return self.pullable[full]


def fake_engine(images: FakeImages) -> DockerEngine:
    return DockerEngine(type("Client", (), {"images": images})())


@dataclass
class FakeProber:
    targets: dict[str, PythonTarget]
    probed: list[str] = field(default_factory=list)

    def probe(self, image: str) -> PythonTarget:
        self.probed.append(image)
        if image not in self.targets:
            raise BuildError(f"base image {image} has no working Python 3 (python3: not found)", None)
        return self.targets[image]


def fake_wheelhouse(project: Project, target: PythonTarget, dest: Path, **kwargs: Any) -> Wheelhouse:
    """Two wheels where prepare_wheelhouse puts them (``dest/app``, ``dest/deps``)."""
    (dest / "app").mkdir(parents=True)
    (dest / "deps").mkdir(parents=True)
    app = dest / "app" / "ml_pipeline-0.3.0-py3-none-any.whl"
    dep = dest / "deps" / "hera-7.1.0-py3-none-any.whl"
    pydantic = dest / "deps" / "pydantic-2.14.4-py3-none-any.whl"
    for wheel, member in ((app, "ml_pipeline/__init__.py"), (dep, "hera/__init__.py"), (pydantic, "pydantic.py")):
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(member, "")
    return Wheelhouse(
        project_wheel=app,
        dependency_wheels=(dep, pydantic),
        pins={"hera": "7.1.0", "pydantic": "2.14.4"},
        dependency_digest="sha256:" + "e" * 64,
        project_digest="sha256:" + "f" * 64,
        target=target,
    )


@dataclass
class Seen:
    """What the app dir held while pack ran (it is a temporary folder, gone afterwards)."""

    args: list[str]
    project_toml: dict[str, Any]
    context: dict[str, str]
    labels: dict[str, str]
    runner_dir_ok: bool


@dataclass
class FakePackRunner:
    report: str = f'[image]\ntags = ["x"]\nimage-id = "{IMAGE_ID}"\n'
    version: str = "0.40.3"
    returncode: int = 0
    output: str = "===> DETECTING\n===> BUILDING\n[hera-runner] installing ml-pipeline==0.3.0\nnoise\n"
    seen: list[Seen] = field(default_factory=list)

    def __call__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> bp.ProcessResult:
        args = list(args)
        if args[1:] == ["--version"]:
            return bp.ProcessResult(tuple(args), 0, self.version + "\n")
        app = Path(args[args.index("--path") + 1])
        project_toml = tomllib.loads((app / "project.toml").read_text())
        context = {p.name: p.read_text() for p in (app / CONTEXT_DIR).iterdir() if p.is_file()}
        labels = {e["key"]: e["value"] for e in tomllib.loads(context.get("labels.toml", ""))["labels"]}
        uris = [e["uri"] for e in project_toml["io"]["buildpacks"].get("group", []) if "uri" in e]
        runner_ok = all(
            (Path(u) / "buildpack.toml").is_file() and (Path(u) / "bin" / "build").stat().st_mode & 0o111 for u in uris
        )
        self.seen.append(Seen(args, project_toml, context, labels, runner_ok))
        if self.returncode == 0:
            directory = Path(args[args.index("--report-output-dir") + 1])
            (directory / "report.toml").write_text(self.report)
        for line in self.output.splitlines():
            if on_line:
                on_line(line)
        return bp.ProcessResult(tuple(args), self.returncode, self.output)


@dataclass
class FakeRegistry:
    answers: list[RemoteImage | None] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        self.lookups.append(str(ref))
        return self.answers.pop(0) if self.answers else None


# ---------------------------------------------------------------------------------------------------- set-up


def project(tmp_path: Path, extra: str = "", pull_policy: str = "never") -> Project:
    root = tmp_path / "project"
    root.mkdir(parents=True)
    text = (CONSUMER / "pyproject.toml").read_text()
    text += f'backend = "buildpacks"\nbuilder = "{BUILDER}"\npull-policy = "{pull_policy}"\n{extra}'
    (root / "pyproject.toml").write_text(text)
    return load_project(root)


@dataclass
class Rig:
    builder: BuildpacksBuilder
    pack: FakePackRunner
    images: FakeImages
    prober: FakeProber
    registry: FakeRegistry
    progress: list[str]
    project: Project
    pushes: list[list[str]] = field(default_factory=list)

    def request(self, **kwargs: Any) -> BuildRequest:
        values: dict[str, Any] = {
            "project": self.project,
            "image": ImageRef("127.0.0.1:5000/acme/ml-pipeline", "0.3.0"),
            "base_image": "python:3.11-slim",
            "progress": self.progress.append,
        }
        return BuildRequest(**{**values, **kwargs})

    def build(self, request: BuildRequest) -> BuiltImage:
        """Prepare and build, as the pipeline does; nothing is pushed."""
        with tempfile.TemporaryDirectory() as tmp:
            return self.builder.build(self.builder.prepare(request, Path(tmp)), Path(tmp))

    def ship(self, request: BuildRequest, *, force: bool = False, pushed: str = DIGEST) -> BuildResult:
        """build → publish; the push is recorded in ``self.pushes`` and answered with ``pushed``."""

        def push(built: BuiltImage, progress: Any, verbose: bool) -> tuple[str, tuple[Any, ...]]:
            self.pushes.append([str(ref) for ref in built.tags])
            return pushed, ()

        options = ShipOptions(push=True, force=force)
        return ship(self.builder, request, options, self.registry, engine=lambda: None, pusher=push).result


def rig(
    tmp_path: Path,
    *,
    builder_buildpacks: tuple[tuple[str, str], ...] = (("hera-build/hera-runner", VERSION),),
    extra_config: str = "",
    pack: FakePackRunner | None = None,
    registry: FakeRegistry | None = None,
    targets: dict[str, PythonTarget] | None = None,
    git: GitInfo | None = GIT,
    pull_policy: str = "never",
) -> Rig:
    images = FakeImages(
        {
            BUILDER: FakeImage(BUILDER_ID, builder_labels(*builder_buildpacks)),
            IMAGE_ID: FakeImage(IMAGE_ID, layers=("sha256:l1", "sha256:l2")),
        }
    )
    pack = pack or FakePackRunner()
    prober = FakeProber(targets if targets is not None else {BUILDER: TARGET})
    registry = registry or FakeRegistry()
    backend = BuildpacksBuilder(
        pack=bp.PackClient("/opt/pack", runner=pack),
        engine_factory=lambda: fake_engine(images),
        prober_factory=lambda engine: prober,
        wheelhouse=fake_wheelhouse,
        git=lambda root: git,
    )
    return Rig(backend, pack, images, prober, registry, [], project(tmp_path, extra_config, pull_policy))


def option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


# ------------------------------------------------------------------------------------------------ settings and pieces


def test_the_backend_needs_a_builder(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text((CONSUMER / "pyproject.toml").read_text() + 'backend = "buildpacks"\n')
    request = BuildRequest(project=load_project(root), image=ImageRef("r/x", "1"), base_image="python:3.11-slim")
    with pytest.raises(ConfigError, match="needs a builder") as error:
        BuildpacksSettings.from_request(request)
    assert error.value.fix and "paketo-buildpacks/cpython" in error.value.fix


def test_settings_come_from_the_configuration(tmp_path: Path) -> None:
    r = rig(tmp_path, extra_config='buildpacks = ["paketo-buildpacks/cpython"]\n')
    settings = BuildpacksSettings.from_request(r.request())
    assert settings == BuildpacksSettings(BUILDER, bp.PullPolicy.NEVER, ("paketo-buildpacks/cpython",))


def test_builder_metadata_is_read_from_its_label() -> None:
    info = BuilderInfo.from_labels(BUILDER_ID, builder_labels(("hera-build/hera-runner", "0.1.0"), ("a/b", "2")))
    assert info.has("hera-build/hera-runner", "0.1.0") and not info.has("hera-build/hera-runner", "9.9.9")
    assert info.run_images == (RUN_IMAGE,) and info.lifecycle_version == "0.21.17"
    assert BuilderInfo.from_labels(BUILDER_ID, {"io.buildpacks.builder.metadata": "not json"}).buildpacks == frozenset()


def test_group_uses_the_builder_s_hera_runner_only_at_our_version(tmp_path: Path) -> None:
    settings = BuildpacksSettings(BUILDER, buildpacks=("paketo-buildpacks/cpython",))
    cpython = ("paketo-buildpacks/cpython", "1.2.3")
    ours = BuilderInfo(BUILDER_ID, frozenset({("hera-build/hera-runner", VERSION), cpython}))
    older = BuilderInfo(BUILDER_ID, frozenset({("hera-build/hera-runner", "0.0.1")}))
    group, trust = buildpack_group(settings, ours, tmp_path / "hera-runner")
    assert group == (
        bp.GroupEntry(id="paketo-buildpacks/cpython"),
        bp.GroupEntry(id="hera-build/hera-runner", version=VERSION),
    )
    assert trust is False, "everything is in the builder"
    without_cpython = BuilderInfo(BUILDER_ID, frozenset({("hera-build/hera-runner", VERSION)}))
    assert buildpack_group(settings, without_cpython, tmp_path)[1] is True, "configured extras are trusted too"
    for builder in (older, None):
        group, trust = buildpack_group(settings, builder, tmp_path / "hera-runner")
        assert group[-1] == bp.GroupEntry(uri=str(tmp_path / "hera-runner")) and trust is True


def test_creation_time_is_source_date_epoch_else_the_commit_time(tmp_path: Path) -> None:
    request = rig(tmp_path).request()
    assert creation_time(request, GIT) == 1700000000
    assert creation_time(rig(tmp_path / "b").request(source_date_epoch=1234), GIT) == 1234
    assert creation_time(request, None) is None, "pack's own fixed 1980-01-01 then"


def test_pack_errors_become_hera_build_errors_with_their_fix() -> None:
    cases = [
        (bp.PackNotFoundError("pack is not installed", "install pack"), EngineError),
        (bp.PackVersionError("too old", "upgrade"), EngineError),
        (bp.DaemonUnavailableError("no engine", "start it"), EngineError),
        (bp.RegistryError("refused", "docker login"), PublishError),
        (bp.UntrustedBuilderError("untrusted", "trust it"), BuildError),
        (bp.DetectionFailedError("no group", "check"), BuildError),
    ]
    for error, kind in cases:
        converted = pack_error(error)
        assert type(converted) is kind and (converted.message, converted.fix) == (error.message, error.fix)


def test_templates_for_buildpacks_images_start_python_through_the_launcher() -> None:
    assert runner_command_for("buildpacks") == ("/cnb/lifecycle/launcher", "--", "python")
    assert runner_command_for("docker") is None
    assert isinstance(get_builder("buildpacks"), BuildpacksBuilder)


# ---------------------------------------------------------------------------------------------------- builds


def test_a_daemon_build_hands_pack_the_context_and_reads_the_report(tmp_path: Path) -> None:
    r = rig(tmp_path)
    built = r.build(r.request())
    (seen,) = r.pack.seen
    args = seen.args
    assert args[:3] == ["/opt/pack", "build", "127.0.0.1:5000/acme/ml-pipeline:0.3.0"]
    assert option(args, "--builder") == BUILDER and option(args, "--pull-policy") == "never"
    assert option(args, "--creation-time") == "1700000000", "the commit time"
    assert option(args, "--default-process") == "runner" and "--no-color" in args
    assert "--publish" not in args and "--network" not in args and "--trust-extra-buildpacks" not in args
    io = seen.project_toml["io"]["buildpacks"]
    assert seen.project_toml["_"]["schema-version"] == "0.2" and seen.project_toml["_"]["version"] == "0.3.0"
    assert io["group"] == [{"id": "hera-build/hera-runner", "version": VERSION}]
    assert {e["name"]: e["value"] for e in io["build"]["env"]} == {
        "SOURCE_DATE_EPOCH": "1700000000",
        "BP_CPYTHON_VERSION": "3.11.*",
    }
    assert seen.context["format"] == "1\n" and seen.context["python-version"] == "3.11\n"
    assert seen.context["requirements.txt"] == "hera==7.1.0\npydantic==2.14.4\n"
    assert seen.context["app.txt"] == "ml-pipeline==0.3.0\n"
    assert seen.labels["org.opencontainers.image.version"] == "0.3.0"
    assert seen.labels["org.opencontainers.image.revision"] == GIT.commit
    assert seen.labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert seen.labels["org.opencontainers.image.base.name"] == RUN_IMAGE
    assert seen.labels[LABEL_INPUT_DIGEST] == built.inputs.digest
    assert (built.backend, built.image_id, built.local, built.digest) == ("buildpacks", IMAGE_ID, IMAGE_ID, None)
    assert [str(ref) for ref in built.tags] == ["127.0.0.1:5000/acme/ml-pipeline:0.3.0"]
    assert built.layers == ("sha256:l1", "sha256:l2")
    assert built.inputs.base_image == RUN_IMAGE and built.backend_version == "pack 0.40.3, lifecycle 0.21.17"
    assert "  ===> BUILDING" in r.progress and "  [hera-runner] installing ml-pipeline==0.3.0" in r.progress
    assert not any("noise" in line for line in r.progress), "compact progress unless --verbose"


def test_verbose_shows_every_line_of_pack(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.build(r.request(verbose=True))
    assert "noise" in r.progress


def test_the_input_digest_is_stable_and_follows_the_inputs(tmp_path: Path) -> None:
    first = rig(tmp_path / "a").build(rig(tmp_path / "a2").request()).inputs
    r = rig(tmp_path / "b")
    again = r.build(r.request()).inputs
    assert first.digest == again.digest
    identity = dict(first.backend_identity)
    assert identity["builder-id"] == BUILDER_ID and identity["hera-runner"].startswith(
        f"hera-build/hera-runner@{VERSION} "
    )
    other = rig(tmp_path / "c", extra_config='buildpacks = ["paketo-buildpacks/cpython"]\n')
    assert other.build(other.request()).inputs.digest != first.digest, "the buildpack group is an input"


def test_an_upgraded_builder_changes_the_identity(tmp_path: Path) -> None:
    """An image built before a builder (stack, lifecycle, buildpacks) upgrade must not be reused after it."""
    before = rig(tmp_path / "a")
    digest = before.build(before.request()).inputs.digest
    after = rig(tmp_path / "b")
    after.images.images[BUILDER] = FakeImage("sha256:" + "7" * 64, builder_labels(("hera-build/hera-runner", VERSION)))
    assert after.build(after.request()).inputs.digest != digest
    registry = FakeRegistry([RemoteImage(DIGEST, CONFIG_DIGEST, identity_labels(digest))])
    upgraded = rig(tmp_path / "c", registry=registry)
    upgraded.images.images[BUILDER] = after.images.images[BUILDER]
    with pytest.raises(ImmutableTagError, match="already released with other content"):
        upgraded.ship(upgraded.request())


def test_a_builder_without_our_buildpack_gets_the_shipped_copy_as_a_trusted_extra(tmp_path: Path) -> None:
    r = rig(tmp_path, builder_buildpacks=(), extra_config='buildpacks = ["paketo-buildpacks/cpython"]\n')
    r.build(r.request())
    (seen,) = r.pack.seen
    group = seen.project_toml["io"]["buildpacks"]["group"]
    assert group[0] == {"id": "paketo-buildpacks/cpython"} and set(group[1]) == {"uri"}
    assert seen.runner_dir_ok, "the copy pack gets has buildpack.toml and executable scripts"
    assert "--trust-extra-buildpacks" in seen.args


def test_pack_builds_into_the_engine_and_the_image_is_pushed_after_it(tmp_path: Path) -> None:
    """pack never publishes: the image must be checked before any tag reaches the registry."""
    registry = FakeRegistry([None, RemoteImage(DIGEST, CONFIG_DIGEST, {})])
    r = rig(tmp_path, registry=registry)
    registry.answers[1] = RemoteImage(DIGEST, CONFIG_DIGEST, identity_labels(r.build(r.request()).inputs.digest))
    r.pack.seen.clear()
    result = r.ship(r.request(extra_tags=("latest",)))
    args = r.pack.seen[0].args
    assert "--publish" not in args and "--network" not in args and "--insecure-registry" not in args
    assert option(args, "--tag") == "127.0.0.1:5000/acme/ml-pipeline:latest"
    assert r.pushes == [["127.0.0.1:5000/acme/ml-pipeline:0.3.0", "127.0.0.1:5000/acme/ml-pipeline:latest"]]
    assert (result.digest, result.image_id, result.pushed) == (DIGEST, CONFIG_DIGEST, True)


def test_an_already_released_version_with_the_same_inputs_is_not_built_again(tmp_path: Path) -> None:
    first = rig(tmp_path / "a")
    digest = first.build(first.request()).inputs.digest
    registry = FakeRegistry([RemoteImage(DIGEST, CONFIG_DIGEST, identity_labels(digest))])
    r = rig(tmp_path / "b", registry=registry)
    result = r.ship(r.request())
    assert r.pack.seen == [] and r.pushes == [] and result.skipped
    assert (result.digest, result.image_id) == (DIGEST, CONFIG_DIGEST)


def test_a_released_version_with_other_content_is_refused_unless_forced(tmp_path: Path) -> None:
    theirs = RemoteImage(DIGEST, CONFIG_DIGEST, identity_labels("sha256:" + "0" * 64))
    r = rig(tmp_path / "a", registry=FakeRegistry([theirs]))
    with pytest.raises(ImmutableTagError, match="already released with other content") as error:
        r.ship(r.request())
    assert error.value.fix and "--force" in error.value.fix and r.pack.seen == []
    forced = rig(tmp_path / "b", registry=FakeRegistry([theirs]))
    digest = forced.build(forced.request()).inputs.digest
    forced.registry.answers = [theirs, RemoteImage(DIGEST, CONFIG_DIGEST, identity_labels(digest))]
    assert forced.ship(forced.request(), force=True).pushed
    assert any("--force" in line for line in forced.progress)


def test_a_registry_that_disagrees_with_the_push_is_an_error(tmp_path: Path) -> None:
    registry = FakeRegistry([None, RemoteImage("sha256:" + "9" * 64, CONFIG_DIGEST)])
    r = rig(tmp_path, registry=registry)
    with pytest.raises(PublishError, match="something else pushed"):
        r.ship(r.request())


# -------------------------------------------------------------------------------------------- pre-flight and failures


def test_a_missing_builder_under_pull_policy_never_fails_before_pack_runs(tmp_path: Path) -> None:
    r = rig(tmp_path)
    del r.images.images[BUILDER]
    with pytest.raises(BuildError, match="not in the Docker engine and pull-policy is never") as error:
        r.build(r.request())
    assert error.value.fix and "pack builder create" in error.value.fix
    assert r.pack.seen == [] and r.images.pulls == []


def test_a_missing_builder_is_pulled_when_the_policy_allows(tmp_path: Path) -> None:
    r = rig(tmp_path, pull_policy="if-not-present")
    r.images.pullable[BUILDER] = r.images.images.pop(BUILDER)
    r.build(r.request())
    assert r.images.pulls == [BUILDER] and option(r.pack.seen[0].args, "--pull-policy") == "if-not-present"


def test_an_image_that_is_no_builder_is_refused(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.images.images[BUILDER] = FakeImage(BUILDER_ID, {})
    with pytest.raises(BuildError, match="is not a buildpacks builder"):
        r.build(r.request())


def test_an_old_pack_is_refused_first(tmp_path: Path) -> None:
    r = rig(tmp_path, pack=FakePackRunner(version="0.40.1"))
    with pytest.raises(EngineError, match="pack 0.40.1 is too old"):
        r.build(r.request())


@pytest.mark.parametrize(
    ("output", "kind", "message"),
    [
        (
            "ERROR: failed to build: fetching lifecycle image: image 'docker.io/buildpacksio/lifecycle:0.21.17' does "
            "not exist on the daemon: not found\n",
            BuildError,
            f"builder {BUILDER} is not trusted",
        ),
        (
            "fail: hera-build/hera-runner@0.1.0\n"
            "ERROR: failed to build: executing lifecycle: failed with status code: 20\n",
            BuildError,
            "no buildpack group passed detection",
        ),
        ("ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n", EngineError, "cannot reach"),
    ],
)
def test_pack_failures_are_clear_errors_and_show_pack_s_last_lines(
    tmp_path: Path, output: str, kind: type[Exception], message: str
) -> None:
    r = rig(tmp_path, pack=FakePackRunner(returncode=1, output=output))
    with pytest.raises(kind, match=message):
        r.build(r.request())
    assert any(line.startswith("  | ") for line in r.progress), "the tail of pack's output is shown"


def test_a_builder_without_python_needs_a_python_buildpack(tmp_path: Path) -> None:
    r = rig(tmp_path, targets={})
    with pytest.raises(BuildError, match="has no python3 on PATH") as error:
        r.build(r.request())
    assert error.value.fix and "paketo-buildpacks/cpython" in error.value.fix


def test_with_a_python_buildpack_wheels_are_chosen_for_the_base_image_s_python(tmp_path: Path) -> None:
    r = rig(tmp_path, targets={"python:3.11-slim": TARGET}, extra_config='buildpacks = ["paketo-buildpacks/cpython"]\n')
    r.images.images["python:3.11-slim"] = FakeImage("sha256:" + "5" * 64)
    r.build(r.request())
    assert r.prober.probed == [BUILDER, "python:3.11-slim"]


def test_output_files_are_not_a_buildpacks_thing(tmp_path: Path) -> None:
    r = rig(tmp_path)
    with pytest.raises(ConfigError, match="--output"):
        r.build(r.request(output=tmp_path / "image.tar"))


def test_the_plan_shows_project_toml_and_the_pack_command_without_building(tmp_path: Path) -> None:
    r = rig(tmp_path)
    plan = r.builder.plan(r.request())
    assert r.pack.seen == []
    assert plan.base_image == RUN_IMAGE and plan.target == TARGET
    assert tomllib.loads(plan.project_toml)["io"]["buildpacks"]["group"] == [
        {"id": "hera-build/hera-runner", "version": VERSION}
    ]
    assert plan.pack_args[:2] == ("/opt/pack", "build") and "--publish" not in plan.pack_args
    broken = rig(tmp_path / "b", pack=FakePackRunner(version="0.1.0"))
    notes = broken.builder.plan(broken.request()).notes
    assert any("not checked: pack 0.1.0 is too old" in note for note in notes)


# ---------------------------------------------------------------------------------------------------- templates


def test_templates_take_the_backend_from_the_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hera_build._cli import main

    root = project(tmp_path).root
    assert main(["templates", "--project", str(root), "--stdout"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    scripts = [t["script"] for d in documents for t in d["spec"].get("templates", []) if "script" in t]
    assert scripts and all(s["command"] == ["/cnb/lifecycle/launcher", "--", "python"] for s in scripts)
    shutil.rmtree(root)
