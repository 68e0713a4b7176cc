"""OciBuilder end to end on fakes: a base image on disk, a fake wheelhouse, a fake registry, no engine."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from hera_build import __version__
from hera_build.core.project import Project, load_project
from hera_build.core.references import parse_image_ref
from hera_build.errors import ImmutableTagError
from hera_build.image.backends import BuildRequest, BuildResult
from hera_build.image.backends.oci import OciBuilder, OciOptions
from hera_build.image.backends.oci.dependencies import build_dependency_layers
from hera_build.image.backends.oci.inputs import FORMAT_VERSION
from hera_build.image.backends.oci.layering import LARGE_BYTES, bucket_of
from hera_build.image.backends.oci.venv import VenvLayout
from hera_build.image.cache import BuildCache
from hera_build.image.engine import DockerEngine
from hera_build.image.registry import RegistryApi
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import Wheelhouse
from hera_build.publish.pipeline import ShipOptions, ship
from tests.support.oci_images import FakeDockerClient, FakeRegistry, fake_registry, make_wheel, write_base_layout

PYPROJECT = """\
[project]
name = "proj"
version = "1.2.0"
description = "a test project"
dependencies = ["dep-lib"]

[project.urls]
Source = "https://git.example/acme/proj"
"""


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    yield from fake_registry()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/pyproject.toml").write_text(PYPROJECT)
    return load_project(tmp_path / "proj")


@pytest.fixture
def base(tmp_path: Path) -> str:
    write_base_layout(tmp_path / "base")
    return f"oci:{tmp_path / 'base'}"


EXTRA = {
    "six": ("1.16.0", {"six.py": "VERSION = 1\n"}),
    "big-lib": ("2.0", {"big_lib/data.txt": "x" * LARGE_BYTES}),
    "other-lib": ("0.1", {"other_lib/__init__.py": "X = 1\n"}),
}
"""Dependencies a test can add by name: six and other-lib are small (other buckets than dep-lib's), big-lib large."""


def _wheelhouse(
    code: str, calls: list[PythonTarget] | None = None, extra: tuple[str, ...] = ()
) -> Callable[..., Wheelhouse]:
    def prepare(project: Project, target: PythonTarget, dest: Path, **_: Any) -> Wheelhouse:
        if calls is not None:
            calls.append(target)
        dep = make_wheel(dest / "deps", "dep-lib", "1.0", {"dep_lib/__init__.py": "def main():\n    return 0\n" * 50},
                         console_scripts={"dep-tool": "dep_lib:main"})  # fmt: skip
        deps = [dep] + [make_wheel(dest / "deps", name, *EXTRA[name]) for name in extra]
        app = make_wheel(dest / "app", project.name, project.version.exact, {"proj/__init__.py": code})
        pins = {"dep-lib": "1.0"} | {name: EXTRA[name][0] for name in extra}
        return Wheelhouse(app, tuple(deps), pins, "unused", "unused", target)

    return prepare


def _builder(
    tmp_path: Path, code: str = "VALUE = 1\n", *, cache: str = "cache", extra: tuple[str, ...] = (), **kwargs: Any
) -> OciBuilder:
    options = OciOptions(cache_dir=tmp_path / cache)
    prepare = _wheelhouse(code, kwargs.pop("calls", None), extra)
    return OciBuilder(options, wheelhouse=prepare, engine=lambda: None, **kwargs)


def _request(project: Project, base: str, **kwargs: Any) -> BuildRequest:
    image = kwargs.pop("image", parse_image_ref("registry.example/acme/proj:1.2.0"))
    return BuildRequest(project=project, image=image, base_image=base, source_date_epoch=1_700_000_000, **kwargs)


def _ship(builder: OciBuilder, project: Project, base: str, **kwargs: Any) -> BuildResult:
    """Build (→ push) as ``hera-build image`` does: the one build → check → publish pipeline, no engine."""
    push, force = kwargs.pop("push", False), kwargs.pop("force", False)
    shipped = ship(builder, _request(project, base, **kwargs), ShipOptions(push=push, force=force), RegistryApi(),
                   engine=lambda: None)  # fmt: skip
    global _LAST_PUBLISHED
    _LAST_PUBLISHED = shipped.published
    return shipped.result


_LAST_PUBLISHED: Any = None


def _config(out: Path, digest: str) -> dict[str, Any]:
    manifest = json.loads((out / "blobs/sha256" / digest.split(":")[1]).read_text())
    return dict(json.loads((out / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_text()))


def test_clean_builds_are_bit_for_bit_identical(tmp_path: Path, project: Project, base: str) -> None:
    first = _ship(_builder(tmp_path, cache="cache-1"), project, base, output=tmp_path / "out1")
    second = _ship(_builder(tmp_path, cache="cache-2"), project, base, output=tmp_path / "out2")

    assert first.digest == second.digest
    assert first.layers == second.layers and len(first.layers) == 4, "base, venv, dep-lib's bucket, application"
    assert first.image_id == second.image_id
    assert first.input_digest == second.input_digest


def test_code_change_rebuilds_only_the_application_layer(tmp_path: Path, project: Project, base: str) -> None:
    builder = _builder(tmp_path)
    before = _ship(builder, project, base, output=tmp_path / "out")
    assert builder.last_report is not None and not any(d.cached for d in builder.last_report.dependency_layers)

    changed = _builder(tmp_path, "VALUE = 2\n")
    after = _ship(changed, project, base, output=tmp_path / "out")

    assert changed.last_report is not None and changed.last_report.dependency_layers_cached
    assert after.layers[:-1] == before.layers[:-1], "base and dependency layers are unchanged"
    assert after.layers[-1] != before.layers[-1]
    assert after.digest != before.digest and after.input_digest != before.input_digest


def test_config_env_user_labels_and_history(tmp_path: Path, project: Project, base: str) -> None:
    result = _ship(_builder(tmp_path), project, base, output=tmp_path / "out")
    config = _config(tmp_path / "out", str(result.digest))

    container = config["config"]
    env = dict(item.split("=", 1) for item in container["Env"])
    assert env["PATH"].startswith("/opt/venv/bin:/usr/local/sbin:")
    assert env["VIRTUAL_ENV"] == "/opt/venv" and env["LANG"] == "C.UTF-8"
    assert container["User"] == "65532:65532" and container["WorkingDir"] == "/app"
    index_digest = "sha256:" + hashlib.sha256((tmp_path / "base/index.json").read_bytes()).hexdigest()
    assert container["Labels"] == {
        "org.opencontainers.image.title": "proj",
        "org.opencontainers.image.version": "1.2.0",
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.source": "https://git.example/acme/proj",
        "org.opencontainers.image.description": "a test project",
        "org.opencontainers.image.base.name": base,
        "org.opencontainers.image.base.digest": index_digest,
        "dev.hera-build.backend-version": f"hera-build {__version__} (oci)",
        "dev.hera-build.input-digest": result.input_digest,
        "dev.hera-build.inputs-schema": "2",
    }
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert [entry["created_by"] for entry in config["history"][1:]] == [
        "hera-build: virtual environment at /opt/venv for /usr/bin/python3.11",
        "hera-build: dep-lib==1.0 installed into /opt/venv",
        "hera-build: proj-1.2.0-py3-none-any.whl installed",
    ]
    assert len(config["rootfs"]["diff_ids"]) == 4


def _members(out: Path, digest: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(out / "blobs/sha256" / digest.split(":")[1]) as tar:
        return {member.name: member for member in tar.getmembers()}


def test_layers_hold_the_venv_the_dependencies_the_app_and_the_workdir(
    tmp_path: Path, project: Project, base: str
) -> None:
    result = _ship(_builder(tmp_path), project, base, output=tmp_path / "out")
    blobs = tmp_path / "out/blobs/sha256"

    venv, deps = _members(tmp_path / "out", result.layers[1]), _members(tmp_path / "out", result.layers[2])
    with tarfile.open(blobs / result.layers[3].split(":")[1]) as tar:
        app = set(tar.getnames())
        shebang = tar.extractfile("opt/venv/lib/python3.11/site-packages/proj/__init__.py").read()  # type: ignore[union-attr]
    assert venv["opt/venv/bin/python"].linkname == "/usr/bin/python3.11" and "opt/venv/pyvenv.cfg" in venv
    assert not any("dep" in name for name in venv), "the skeleton is the same for every project"
    assert "opt/venv/bin/dep-tool" in deps and "opt/venv/pyvenv.cfg" not in deps
    assert {member.mtime for member in deps.values()} == {315532800}, "fixed times, not the project's epoch"
    assert "opt/venv/lib/python3.11/site-packages/proj-1.2.0.dist-info/RECORD" in app
    assert not any("dep_lib" in name for name in app)
    assert "app" in app
    assert shebang == b"VALUE = 1\n"


def test_wheelhouse_gets_the_probed_target(tmp_path: Path, project: Project, base: str) -> None:
    calls: list[PythonTarget] = []
    _ship(_builder(tmp_path, calls=calls), project, base, output=tmp_path / "out")

    assert [(t.python, t.version, t.platforms[0]) for t in calls] == [
        ("/usr/bin/python3.11", "3.11.2", "manylinux_2_36_x86_64")
    ]


def test_push_after_a_code_change_uploads_only_the_app_layer_and_config(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    first = _ship(_builder(tmp_path), project, base, image=image, push=True)
    assert first.pushed and registry.manifests[("acme/proj", "1.2.0")][0]
    registry.clear_log()

    builder = _builder(tmp_path, "VALUE = 2\n")
    second = _ship(builder, project, base, image=image, push=True, force=True)

    assert _LAST_PUBLISHED is not None and len(_LAST_PUBLISHED.pushes) == 1
    assert [b.role for b in _LAST_PUBLISHED.pushes[0].uploaded] == ["application", "config"]
    assert len(registry.requests("PUT", "manifests")) == 1
    assert second.digest != first.digest and second.pushed
    assert registry.manifests[("acme/proj", "1.2.0")][0] == registry.manifests[("acme/proj", str(second.digest))][0]


def test_released_version_is_reused_or_refused(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    first = _ship(_builder(tmp_path), project, base, image=image, push=True)
    registry.clear_log()

    again = _ship(_builder(tmp_path), project, base, image=image, push=True)
    assert again.skipped and again.digest == first.digest
    assert not registry.requests("PUT") and not registry.requests("POST")

    with pytest.raises(ImmutableTagError, match="already released with other content"):
        _ship(_builder(tmp_path, "VALUE = 2\n"), project, base, image=image, push=True)
    assert registry.manifests[("acme/proj", "1.2.0")][0] == registry.manifests[("acme/proj", str(first.digest))][0]


def test_loads_into_a_local_engine_when_there_is_one(tmp_path: Path, project: Project, base: str) -> None:
    engine = FakeDockerClient()
    builder = OciBuilder(
        OciOptions(cache_dir=tmp_path / "cache"), wheelhouse=_wheelhouse("V = 1\n"), engine=lambda: DockerEngine(engine)
    )

    result = _ship(builder, project, base, extra_tags=("latest",))

    assert engine.loaded[0]["RepoTags"] == ["registry.example/acme/proj:1.2.0", "registry.example/acme/proj:latest"]
    assert builder.last_report is not None and builder.last_report.loaded
    assert result.tags == ("registry.example/acme/proj:1.2.0", "registry.example/acme/proj:latest")


def test_an_image_nobody_checks_or_runs_locally_is_not_loaded(tmp_path: Path, project: Project, base: str) -> None:
    engine = FakeDockerClient()
    builder = OciBuilder(
        OciOptions(cache_dir=tmp_path / "cache"), wheelhouse=_wheelhouse("V = 1\n"), engine=lambda: DockerEngine(engine)
    )

    _ship(builder, project, base, output=tmp_path / "out", load=False)

    assert engine.loaded == [] and builder.last_report is not None and not builder.last_report.loaded


def test_a_code_change_costs_only_the_round_trips_it_needs(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    """Each request is a round trip: the tag lookup (manifest, config), a HEAD for each layer the registry may
    have, an upload (POST, PUT) for each new small blob with no HEAD before it, the manifest PUT — and no read-back
    of what the PUT just confirmed."""
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    _ship(_builder(tmp_path), project, base, image=image, push=True)
    registry.clear_log()

    _ship(_builder(tmp_path, "VALUE = 2\n"), project, base, image=image, push=True, force=True)

    calls = [(method, path.rsplit("/", 2)[-2]) for method, path, _ in registry.log]
    assert calls.count(("GET", "manifests")) == 1, "the tag is looked up once, before the build, not read back"
    pushed = _LAST_PUBLISHED.pushes[0].blobs
    layers_pushed_before = {b.digest for b in pushed if b.role not in ("application", "config")}
    asked = {path.rsplit("/", 1)[1] for method, path, _ in registry.log if method == "HEAD"}
    assert asked == layers_pushed_before, "a HEAD for the base and dependency layers, none for the new small blobs"
    assert calls.count(("PUT", "manifests")) == 1
    assert len(registry.requests("PUT", "uploads")) == 2


def test_the_image_is_labelled_with_the_input_digest_of_the_shared_definition(
    tmp_path: Path, project: Project, base: str
) -> None:
    builder = _builder(tmp_path)
    result = _ship(builder, project, base, output=tmp_path / "out")
    labels = _config(tmp_path / "out", str(result.digest))["config"]["Labels"]
    assert result.input_digest == labels["dev.hera-build.input-digest"] == result.inputs.digest  # type: ignore[union-attr]
    assert result.inputs is not None and result.inputs.backend == "oci"
    assert dict(result.inputs.backend_identity)["layer-format"] == str(FORMAT_VERSION)
    other = _ship(_builder(tmp_path, "VALUE = 2\n", cache="other"), project, base, output=tmp_path / "out2")
    assert other.input_digest != result.input_digest, "the project wheel is an input"


def test_extra_tags_may_name_other_repositories(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    result = _ship(
        _builder(tmp_path),
        project,
        base,
        image=image,
        push=True,
        extra_tags=("latest", f"{registry.host}/mirror/proj:stable"),
    )

    assert result.tags == (
        f"{registry.host}/acme/proj:1.2.0",
        f"{registry.host}/acme/proj:latest",
        f"{registry.host}/mirror/proj:stable",
    )
    for key in (("acme/proj", "1.2.0"), ("acme/proj", "latest"), ("mirror/proj", "stable")):
        assert registry.manifests[key][0] == registry.manifests[("acme/proj", str(result.digest))][0]


def _push(tmp_path: Path, project: Project, base: str, registry: FakeRegistry, **kwargs: Any) -> tuple[Any, OciBuilder]:
    builder = _builder(tmp_path, extra=kwargs.pop("extra", ()))
    image = parse_image_ref(f"{registry.host}/acme/{project.name}:1.2.0")
    return _ship(builder, project, base, image=image, push=True, force=True, **kwargs), builder


def test_adding_a_small_dependency_builds_and_uploads_only_its_bucket_layer(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    assert bucket_of("six") != bucket_of("dep-lib")
    before, _ = _push(tmp_path, project, base, registry)
    registry.clear_log()

    after, builder = _push(tmp_path, project, base, registry, extra=("six",))

    report, push = builder.last_report, _LAST_PUBLISHED.pushes[0]
    assert report is not None
    assert [(d.name, d.cached) for d in report.dependency_layers] == [
        ("venv", True), (f"bucket-{bucket_of('six'):02d}", False), (f"bucket-{bucket_of('dep-lib'):02d}", True)
    ], "buckets in bucket order"  # fmt: skip
    assert [b.role for b in push.uploaded] == ["dependencies", "config"]
    assert push.uploaded[0].size < 2000
    assert set(before.layers) < set(after.layers) and len(after.layers) == len(before.layers) + 1


def test_a_large_dependency_gets_a_layer_of_its_own(tmp_path: Path, project: Project, base: str) -> None:
    builder = _builder(tmp_path, extra=("big-lib", "other-lib"))
    result = _ship(builder, project, base, output=tmp_path / "out")

    assert builder.last_report is not None
    layers = {d.name: d.layer.digest for d in builder.last_report.dependency_layers}
    assert list(layers) == ["venv", "dist-big-lib", f"bucket-{bucket_of('dep-lib'):02d}", "bucket-15"]
    names = set(_members(tmp_path / "out", layers["dist-big-lib"]))
    assert "opt/venv/lib/python3.11/site-packages/big_lib/data.txt" in names
    assert not any("dep_lib" in name or "other_lib" in name for name in names)
    assert result.layers[1:-1] == tuple(layers.values())


def test_another_project_reuses_the_dependency_layers_and_mounts_their_blobs(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    _push(tmp_path, project, base, registry, extra=("six",))
    (tmp_path / "other").mkdir()
    (tmp_path / "other/pyproject.toml").write_text(PYPROJECT.replace('name = "proj"', 'name = "other"'))
    registry.clear_log()

    _, builder = _push(tmp_path, load_project(tmp_path / "other"), base, registry, extra=("six",))

    assert builder.last_report is not None and builder.last_report.dependency_layers_cached
    push = _LAST_PUBLISHED.pushes[0]
    assert {b.action for b in push.blobs if b.role == "dependencies"} == {"mounted"}


def test_layers_built_in_parallel_are_those_built_one_at_a_time(tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path / "w", name, *EXTRA[name]) for name in EXTRA]
    venv = VenvLayout(PurePosixPath("/opt/venv"), PurePosixPath("/usr/bin/python3.11"), "3.11.2")
    digests = []
    for workers in (1, 4):
        cache = BuildCache(tmp_path / f"cache-{workers}")
        built = build_dependency_layers(
            wheels, venv, cache, tmp_path / f"work-{workers}", base_layers=1, progress=lambda _: None, workers=workers
        )
        digests.append([(item.name, item.layer.digest, item.layer.diff_id) for item in built])
    assert digests[0] == digests[1] and len(digests[0]) == 4


def test_a_layer_just_built_is_found_next_time_without_hashing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer hashed what it wrote, so the layer's integrity stamp is recorded with it; the next build's cache
    lookup (the add-one-dependency rebuild's first) reads the stamp instead of hashing every layer again."""
    from hera_build.core import integrity

    wheels = [make_wheel(tmp_path / "w", name, *EXTRA[name]) for name in EXTRA]
    venv = VenvLayout(PurePosixPath("/opt/venv"), PurePosixPath("/usr/bin/python3.11"), "3.11.2")
    cache = BuildCache(tmp_path / "cache")
    first = build_dependency_layers(wheels, venv, cache, tmp_path / "work", base_layers=1, progress=lambda _: None)
    hashed: list[Path] = []
    real = integrity.file_sha256
    monkeypatch.setattr(integrity, "file_sha256", lambda path: hashed.append(path) or real(path))

    again = build_dependency_layers(wheels, venv, cache, tmp_path / "work", base_layers=1, progress=lambda _: None)

    assert all(item.cached for item in again) and [i.layer.digest for i in again] == [i.layer.digest for i in first]
    assert not [path for path in hashed if cache.blobs in path.parents], "cached layer blobs were hashed again"


@pytest.mark.parametrize("referrers", [True, False], ids=["referrers-api", "tag-fallback"])
def test_a_push_publishes_the_sbom_beside_the_image(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, referrers: bool
) -> None:
    registry.referrers = referrers
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    request = _request(project, base, image=image)
    shipped = ship(_builder(tmp_path, extra=("six",)), request, ShipOptions(push=True, sbom=True), RegistryApi(),
                   engine=lambda: None)  # fmt: skip

    result, digest = shipped.result, str(shipped.result.digest)
    assert result.sbom is not None and result.sbom.startswith(f"{registry.host}/acme/proj@sha256:")
    artifact = json.loads(registry.manifests[("acme/proj", result.sbom.rsplit("@", 1)[1])][0])
    assert artifact["artifactType"] == "application/spdx+json" and artifact["subject"]["digest"] == digest
    document = json.loads(registry.blobs[artifact["layers"][0]["digest"]])
    versions = {p["name"]: p.get("versionInfo") for p in document["packages"]}
    assert versions | {"proj": "1.2.0", "dep-lib": "1.0", "six": "1.16.0"} == versions
    fallback = f"sha256-{digest.split(':')[1]}.sbom"
    assert result.sbom_tag == (None if referrers else fallback)
    assert (("acme/proj", fallback) in registry.manifests) is not referrers


def _archive_blobs_match_their_names(archive: Path) -> list[str]:
    """Names of blobs in an ``--output`` archive whose bytes do not hash to their name."""
    bad = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("blobs/sha256/"):
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if hashlib.sha256(data).hexdigest() != member.name.rsplit("/", 1)[1]:
                    bad.append(member.name)
    return bad


def test_a_cached_layer_overwritten_with_same_size_bytes_is_rebuilt(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    """Fault injected: the cached dependency layer's bytes change on disk, size and mtime kept."""
    first = _ship(_builder(tmp_path), project, base, output=tmp_path / "first.tar")
    dependency_layer = tmp_path / "cache/blobs/sha256" / str(first.layers[1]).split(":")[1]
    stat = dependency_layer.stat()
    data = dependency_layer.read_bytes()
    dependency_layer.write_bytes(bytes(b ^ 0xFF for b in data[:64]) + data[64:])
    os.utime(dependency_layer, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    progress: list[str] = []

    again = _ship(_builder(tmp_path), project, base, output=tmp_path / "again.tar", progress=progress.append)

    assert again.digest == first.digest
    assert _archive_blobs_match_their_names(tmp_path / "again.tar") == []
    repaired = [line for line in progress if "changed on disk" in line]
    assert len(repaired) == 1 and str(first.layers[1])[:19] in repaired[0]
    image = parse_image_ref(f"{registry.host}/acme/new-repo:1.2.0")
    pushed = _ship(_builder(tmp_path), project, base, image=image, push=True)
    assert pushed.pushed and pushed.digest == first.digest, "a new repository accepts every blob (no DIGEST_INVALID)"
