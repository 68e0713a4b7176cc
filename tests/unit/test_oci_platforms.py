"""Multi-platform images (oci backend): one image per platform, from wheels chosen for each, under one OCI index.

On fakes: a two-platform base image layout made in the test, a fake wheelhouse that records the target it was
asked for, the in-process registry. No engine, no emulator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from hera_build.core.project import Project, load_project
from hera_build.core.references import parse_image_ref
from hera_build.errors import BuildError, ConfigError, EngineError, ImmutableTagError
from hera_build.image.backends import BuildRequest, BuiltImage, PlatformImage, Prepared, resolve_platforms
from hera_build.image.backends.oci import OciBuilder, OciOptions
from hera_build.image.check import CheckResult
from hera_build.image.engine import DockerEngine
from hera_build.image.registry import RegistryApi
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import Installed, WheelCache, Wheelhouse, prepare_wheelhouse
from hera_build.publish.pipeline import ShipOptions, Shipped, build_checked, check_existing, ship
from tests.support.backends import CountingBackend
from tests.support.oci_images import FakeDockerClient, FakeRegistry, fake_registry, make_wheel, write_base_layout

PYPROJECT = """\
[project]
name = "proj"
version = "1.2.0"
dependencies = ["dep-lib"]
"""
BOTH = ("linux/amd64", "linux/arm64")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


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
    write_base_layout(tmp_path / "base", platforms=("amd64", "arm64/v8"))
    return f"oci:{tmp_path / 'base'}"


def _wheelhouse(calls: list[PythonTarget], native: str = "1") -> Callable[..., Wheelhouse]:
    """A wheelhouse with a native dependency whose files differ per architecture, as a real binary wheel's do."""

    def prepare(project: Project, target: PythonTarget, dest: Path, **_: Any) -> Wheelhouse:
        calls.append(target)
        arch = target.platforms[-1].removeprefix("linux_")
        dep = make_wheel(dest / "deps", "dep-lib", "1.0", {"dep_lib/_native.txt": f"{arch} build {native}\n"})
        app = make_wheel(dest / "app", project.name, project.version.exact, {"proj/__init__.py": "VALUE = 1\n"})
        return Wheelhouse(app, (dep,), {"dep-lib": "1.0"}, "unused", "unused", target)

    return prepare


def _builder(tmp_path: Path, calls: list[PythonTarget] | None = None, *, cache: str = "cache", **kw: Any) -> OciBuilder:
    prepare = _wheelhouse(calls if calls is not None else [], **kw)
    return OciBuilder(OciOptions(cache_dir=tmp_path / cache), wheelhouse=prepare, engine=lambda: None)


def _request(project: Project, base: str, registry: FakeRegistry, **kwargs: Any) -> BuildRequest:
    image = parse_image_ref(f"{registry.host}/acme/proj:1.2.0")
    return BuildRequest(project=project, image=image, base_image=base, source_date_epoch=1_700_000_000, **kwargs)


def _ship(builder: OciBuilder, request: BuildRequest, **options: Any) -> Shipped:
    return ship(builder, request, ShipOptions(**options), RegistryApi(), engine=lambda: None)


def _manifest(registry: FakeRegistry, reference: str) -> dict[str, Any]:
    return dict(json.loads(registry.manifests[("acme/proj", reference)][0]))


def _config(registry: FakeRegistry, manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(registry.blobs[manifest["config"]["digest"]]))


def test_one_image_per_platform_is_pushed_under_one_index(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    calls: list[PythonTarget] = []
    shipped = _ship(_builder(tmp_path, calls), _request(project, base, registry, platforms=BOTH), push=True)

    result = shipped.result
    index = _manifest(registry, "1.2.0")
    assert registry.manifests[("acme/proj", "1.2.0")][1] == OCI_INDEX and index["mediaType"] == OCI_INDEX
    assert result.pushed and result.digest == shipped.published.digest  # type: ignore[union-attr]
    assert [m["platform"] for m in index["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},  # as the base's config says
    ]
    assert result.platforms == tuple((p, m["digest"]) for p, m in zip(BOTH, index["manifests"], strict=True))
    configs = [_config(registry, _manifest(registry, m["digest"])) for m in index["manifests"]]
    assert [(c["architecture"], c.get("variant")) for c in configs] == [("amd64", None), ("arm64", "v8")]
    assert [target.platforms[-1] for target in calls] == ["linux_x86_64", "linux_aarch64"], "wheels per platform"
    assert index["annotations"]["dev.hera-build.input-digest"] == result.input_digest


def test_each_platform_image_is_the_image_a_single_platform_build_makes(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    both = _ship(_builder(tmp_path), _request(project, base, registry, platforms=BOTH), push=True).result
    arm = _builder(tmp_path).build(
        _builder(tmp_path).prepare(_request(project, base, registry, platforms=("linux/arm64",)), tmp_path / "w1"),
        tmp_path / "w1",
    )
    default = _builder(tmp_path)
    amd = default.build(default.prepare(_request(project, base, registry), tmp_path / "w2"), tmp_path / "w2")

    assert dict(both.platforms) == {"linux/amd64": amd.digest, "linux/arm64": arm.digest}
    assert not amd.platforms and not arm.platforms, "one platform makes no index"


def test_two_clean_builds_give_the_same_index(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    request = _request(project, base, registry, platforms=BOTH)
    first = _builder(tmp_path, cache="c1").build(
        _builder(tmp_path, cache="c1").prepare(request, tmp_path / "a"), tmp_path / "a"
    )
    second = _builder(tmp_path, cache="c2").build(
        _builder(tmp_path, cache="c2").prepare(request, tmp_path / "b"), tmp_path / "b"
    )

    assert first.digest == second.digest and first.oci.index == second.oci.index
    assert first.inputs.digest == second.inputs.digest


def test_the_input_digest_covers_every_platform(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    def prepared(platforms: tuple[str, ...], native: str = "1") -> Prepared:
        return _builder(tmp_path, native=native).prepare(
            _request(project, base, registry, platforms=platforms), tmp_path
        )

    both = prepared(BOTH)
    assert [digest for _, digest in both.inputs.platforms] == [
        prepared(("linux/amd64",)).inputs.digest,
        prepared(("linux/arm64",)).inputs.digest,
    ]
    assert both.inputs.digest not in {digest for _, digest in both.inputs.platforms}
    assert prepared(BOTH, native="2").inputs.digest != both.inputs.digest, "another native wheel"
    assert prepared(tuple(reversed(BOTH))).inputs.digest != both.inputs.digest, "another order, another index"
    assert prepared(("linux/amd64",)).inputs.to_json().keys() == prepared(("linux/amd64",)).inputs.to_json().keys()
    assert "platforms" not in prepared(("linux/amd64",)).inputs.to_json(), "single-platform digests are unchanged"


def test_a_released_index_is_reused_or_refused_by_its_annotation(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    request = _request(project, base, registry, platforms=BOTH)
    first = _ship(_builder(tmp_path), request, push=True).result
    registry.clear_log()

    again = _ship(_builder(tmp_path), request, push=True)
    assert again.result.skipped and again.result.digest == first.digest
    assert not registry.requests("PUT") and not registry.requests("POST")

    with pytest.raises(ImmutableTagError, match="already released with other content"):
        _ship(_builder(tmp_path, native="2"), request, push=True)
    with pytest.raises(ImmutableTagError, match="already released with other content"):
        _ship(_builder(tmp_path), _request(project, base, registry, platforms=("linux/amd64",)), push=True)
    moved = _ship(_builder(tmp_path, native="2"), request, push=True, force=True).result
    assert moved.pushed and moved.digest != first.digest


def test_a_reused_index_reports_what_the_build_reported(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    """``image --push --json`` run again: the same platforms and SBOMs, read back from the registry (a re-run
    printed none: ``platforms`` and ``sboms`` empty, ``sbom`` null)."""
    request = _request(project, base, registry, platforms=BOTH)
    first = _ship(_builder(tmp_path), request, push=True, sbom=True).result

    again = _ship(_builder(tmp_path), request, push=True, sbom=True).result

    assert again.skipped and again.digest == first.digest
    assert [p for p, _ in again.platforms] == list(BOTH), "named as requested, not as the index says (arm64/v8)"
    assert (again.platforms, again.sboms, again.sbom, again.sbom_tag) == (
        first.platforms,
        first.sboms,
        first.sbom,
        first.sbom_tag,
    )


def test_a_reused_image_gets_the_tags_asked_for_in_its_repository(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    """``--tag latest`` on a re-run moves ``latest`` as a build would; it used to be reported and not pushed. A
    reference in another repository would need the blobs copied: it is left, and said so."""
    first = _ship(_builder(tmp_path), _request(project, base, registry, platforms=BOTH), push=True).result
    said: list[str] = []
    other = f"{registry.host}/acme/mirror:1"
    request = _request(project, base, registry, platforms=BOTH, extra_tags=("latest", other), progress=said.append)

    again = _ship(_builder(tmp_path), request, push=True).result

    assert again.skipped and again.tags == (f"{registry.host}/acme/proj:1.2.0", f"{registry.host}/acme/proj:latest")
    assert registry.manifests[("acme/proj", "latest")] == registry.manifests[("acme/proj", str(first.digest))]
    assert ("acme/mirror", "1") not in registry.manifests
    assert any(line.startswith(f"warning: --tag {other} was not applied: the image was reused") for line in said)


def test_each_platform_image_gets_its_own_sbom(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    shipped = _ship(_builder(tmp_path), _request(project, base, registry, platforms=BOTH), push=True, sbom=True)

    assert shipped.published is not None and [p for p, _ in shipped.published.sboms] == list(BOTH)
    for (platform, digest), (_, sbom) in zip(shipped.result.platforms, shipped.published.sboms, strict=True):
        artifact = _manifest(registry, sbom.digest)
        assert artifact["subject"]["digest"] == digest, platform
        document = json.loads(registry.blobs[artifact["layers"][0]["digest"]])
        assert {p["name"] for p in document["packages"]} >= {"proj", "dep-lib"}
    assert shipped.result.sbom == shipped.published.sboms[0][1].reference

    from hera_build._cli.image import _result_json

    reported = _result_json(shipped.result)["sboms"]  # `image --json`: where each platform's SBOM is
    assert reported == {p: {"sbom": sbom.reference, "sbom_tag": sbom.tag} for p, sbom in shipped.published.sboms}
    assert list(reported) == list(BOTH)

    from hera_build.image.registry import open_registry
    from hera_build.publish.sbom import find_sbom

    found = find_sbom(open_registry(registry.host), parse_image_ref(f"{registry.host}/acme/proj:1.2.0"),
                      str(shipped.result.digest))  # fmt: skip
    assert found == shipped.published.sbom, "a reused index reads back the SBOM its release recorded"


def test_each_platform_sbom_names_the_base_manifest_that_platform_was_built_on(
    tmp_path: Path, project: Project, registry: FakeRegistry
) -> None:
    """Not the base index (the same for every platform, and no image's real parent): that platform's manifest,
    with the index kept as an external reference."""
    written = write_base_layout(tmp_path / "two", platforms=("amd64", "arm64/v8"))
    index = "sha256:" + hashlib.sha256((tmp_path / "two/index.json").read_bytes()).hexdigest()
    request = _request(project, f"oci:{tmp_path / 'two'}", registry, platforms=BOTH)

    shipped = _ship(_builder(tmp_path), request, push=True, sbom=True)

    assert shipped.published is not None
    named = {}
    for platform, sbom in shipped.published.sboms:
        document = json.loads(registry.blobs[_manifest(registry, sbom.digest)["layers"][0]["digest"]])
        base = next(p for p in document["packages"] if p["SPDXID"] == "SPDXRef-BaseImage")
        assert base["externalRefs"] == [
            {"referenceCategory": "OTHER", "referenceType": "oci-image-index", "referenceLocator": index}
        ], platform
        named[platform] = base["versionInfo"]
    assert named == {"linux/amd64": written["manifests"]["amd64"], "linux/arm64": written["manifests"]["arm64/v8"]}


def test_a_base_without_one_of_the_platforms_is_one_clear_error(
    tmp_path: Path, project: Project, registry: FakeRegistry
) -> None:
    write_base_layout(tmp_path / "amd-only")
    request = _request(project, f"oci:{tmp_path / 'amd-only'}", registry, platforms=BOTH)

    with pytest.raises(BuildError, match=r"has no image for linux/arm64 \(it has: linux/amd64\)") as info:
        _builder(tmp_path).prepare(request, tmp_path)
    assert info.value.fix == (
        "use a base image that has a linux/arm64 image (an image index, for several platforms), or build without "
        "linux/arm64 (--platform, platforms in [tool.hera-build])"
    )


def test_output_writes_the_index_to_an_oci_layout_that_a_build_can_read_back(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    request = _request(project, base, registry, platforms=BOTH, output=tmp_path / "out")
    built = _ship(_builder(tmp_path), request).result

    index_json = json.loads((tmp_path / "out/index.json").read_text())
    assert [(e["mediaType"], e["digest"]) for e in index_json["manifests"]] == [(OCI_INDEX, built.digest)]
    from hera_build.image.backends.oci.base import load_base
    from hera_build.image.backends.oci.model import Platform
    from hera_build.image.cache import BuildCache

    for platform, digest in built.platforms:  # every blob is there: each platform reads back as a base image
        again = load_base(f"oci:{tmp_path / 'out'}", platform=Platform.parse(platform), client_factory=None,  # type: ignore[arg-type]
                          cache=BuildCache(tmp_path / "c"))  # fmt: skip
        assert again.manifest_digest == digest
        assert all(again.blobs.path(layer.descriptor).stat().st_size == layer.descriptor.size for layer in again.layers)


def test_an_archive_holds_one_image_so_several_platforms_are_refused(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    request = _request(project, base, registry, platforms=BOTH, output=tmp_path / "out.tar")
    with pytest.raises(ConfigError, match=r"a `docker load` archive \(--output .*out.tar\) holds one image, and"):
        _builder(tmp_path).prepare(request, tmp_path)
    assert not (tmp_path / "out.tar").exists()


class _PlatformsBuilder:
    """Builds nothing: returns an image whose arm64 member this machine cannot run."""

    name = "fake"

    def build(self, prepared: Prepared, work: Path) -> BuiltImage:
        del work
        return BuiltImage(
            "oci", prepared.request.image, prepared.request.tags, prepared.inputs, "sha256:a", "sha256:a", "v",
            digest="sha256:index",
            platforms=(
                PlatformImage("linux/amd64", "sha256:m1", "sha256:a", "sha256:a"),
                PlatformImage("linux/arm64", "sha256:m2", "sha256:b", None, "no emulator is registered"),
            ),
        )  # fmt: skip


def test_the_check_runs_the_platforms_this_machine_runs_and_names_the_others(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    said: list[str] = []
    request = _request(project, base, registry, platforms=BOTH, progress=said.append)
    prepared = _builder(tmp_path).prepare(request, tmp_path)
    checked: list[str] = []

    _, ok, summary = build_checked(_PlatformsBuilder(), prepared, tmp_path, lambda image: checked.append(image) or {})  # type: ignore[arg-type, func-returnvalue]

    assert checked == ["sha256:a"]
    assert ok is False, "not every platform was checked"
    assert summary == {"platforms": {"linux/amd64": {}}, "unchecked": {"linux/arm64": "no emulator is registered"}}
    assert "warning: the image check did not run for linux/arm64: no emulator is registered" in said


def test_platforms_come_from_the_flag_else_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT + '\n[tool.hera-build]\nplatforms = ["linux/arm64"]\n')
    project = load_project(tmp_path)

    assert resolve_platforms(project) == ("linux/arm64",)
    assert resolve_platforms(project, ["linux/amd64", "linux/arm64"]) == BOTH
    with pytest.raises(ConfigError, match=r"--platform: 'arm64' is not a platform; write os/architecture"):
        resolve_platforms(project, ["arm64"])
    with pytest.raises(ConfigError, match="linux/arm64 is listed twice"):
        resolve_platforms(project, ["linux/arm64", "linux/arm64"])
    with pytest.raises(ConfigError, match="linux/arm64/v8 and linux/arm64 are the same platform"):
        resolve_platforms(project, ["linux/arm64", "linux/arm64/v8"])
    with pytest.raises(ConfigError, match="windows/amd64: hera-build builds Linux images only; write linux/amd64"):
        resolve_platforms(project, ["windows/amd64"])
    assert resolve_platforms(project, ["linux/arm/v6", "linux/arm/v7"]) == ("linux/arm/v6", "linux/arm/v7")


def test_a_bad_platforms_key_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT + '\n[tool.hera-build]\nplatforms = ["linux"]\n')
    with pytest.raises(ConfigError, match="invalid value for 'platforms'") as info:
        load_project(tmp_path)
    assert info.value.fix is not None and 'platforms = ["linux/amd64", "linux/arm64"]' in info.value.fix


@pytest.mark.parametrize("backend", ["docker", "buildpacks"])
def test_the_engine_backends_refuse_more_than_one_platform(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, backend: str
) -> None:
    from hera_build.image.backends import get_builder

    builder = get_builder(backend)
    with pytest.raises(ConfigError, match=rf"the {backend} backend builds one platform, not 2") as info:
        builder.prepare(_request(project, base, registry, platforms=BOTH), tmp_path)
    assert info.value.fix == "use the oci backend (--backend oci) for multi-platform images"
    with pytest.raises(ConfigError, match=rf"the {backend} backend builds for the engine's platform"):
        builder.prepare(_request(project, base, registry, platforms=("linux/s390x",)), tmp_path)


class _PullingEngine:
    """Pulls by digest and platform, as docker-py does: the image id says which platform was pulled."""

    def __init__(self) -> None:
        self.pulls: list[tuple[str, str | None]] = []

    def pull(self, ref: Any, platform: str | None = None) -> Any:
        self.pulls.append((str(ref), platform))
        return type("Image", (), {"id": f"id-of-{platform}"})()


def test_a_reused_index_is_checked_on_every_platform_this_machine_runs(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    request = _request(project, base, registry, platforms=BOTH, progress=said.append)
    first = _ship(_builder(tmp_path), request, push=True).result
    monkeypatch.setattr(
        "hera_build.publish.pipeline.unrunnable_reason", lambda p: "no emulator is registered" if "arm" in p else None
    )
    engine, checked = _PullingEngine(), []
    options = ShipOptions(push=True, checker=lambda image: checked.append(image) or {"ok": image})  # type: ignore[func-returns-value]

    again = ship(_builder(tmp_path), request, options, RegistryApi(), engine=lambda: engine)  # type: ignore[arg-type, return-value]

    assert again.result.skipped and engine.pulls == [(f"{registry.host}/acme/proj:1.2.0@{first.digest}", "linux/amd64")]
    assert checked == ["id-of-linux/amd64"] and again.result.checked is False
    assert again.result.check == {
        "platforms": {"linux/amd64": {"ok": "id-of-linux/amd64"}},
        "unchecked": {"linux/arm64": "no emulator is registered"},
    }
    assert "warning: the image check did not run for linux/arm64: no emulator is registered" in said


def _no_arm64(platform: str) -> str | None:
    return (
        "linux/arm64 images do not run on this amd64 machine: no emulator is registered" if "arm" in platform else None
    )


def test_only_the_images_this_machine_runs_are_loaded_for_the_check(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hera_build.image.backends.oci.unrunnable_reason", _no_arm64)
    monkeypatch.setattr("hera_build.image.backends.oci.native_architecture", lambda: "amd64")
    client = FakeDockerClient()
    builder = OciBuilder(
        OciOptions(cache_dir=tmp_path / "c"), wheelhouse=_wheelhouse([]), engine=lambda: DockerEngine(client)
    )
    request = _request(project, base, registry, platforms=BOTH)

    built = builder.build(builder.prepare(request, tmp_path), tmp_path)

    assert [entry["RepoTags"] for entry in client.loaded] == [[f"{registry.host}/acme/proj:1.2.0"]], "amd64 only"
    amd, arm = built.platforms
    assert amd.local == amd.image_id == built.local and amd.unchecked is None
    assert arm.local is None and arm.unchecked == _no_arm64("linux/arm64")


def test_an_emulated_platform_image_is_loaded_under_a_tag_each_build_moves_leaving_no_none_images(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arm64 image is loaded (qemu runs it for the check) but must not take the build's tags, which are the
    amd64 image's. Loaded untagged, every cold build left a ``<none>`` image; under its own tag the next build
    replaces it, and the one it replaced is removed unless something still uses it."""
    monkeypatch.setattr("hera_build.image.backends.oci.unrunnable_reason", lambda platform: None)
    monkeypatch.setattr("hera_build.image.backends.oci.native_architecture", lambda: "amd64")
    client = FakeDockerClient()
    request = _request(project, base, registry, platforms=BOTH)
    proj, arm_tag = f"{registry.host}/acme/proj:1.2.0", f"{registry.host}/acme/proj:1.2.0-linux-arm64"

    def build(native: str, cache: str) -> BuiltImage:  # only the arm64 image changes: the amd64 tag stays put
        def prepare(project: Project, target: PythonTarget, dest: Path, **kw: Any) -> Wheelhouse:
            arm = target.platforms[-1] == "linux_aarch64"
            return _wheelhouse([], native if arm else "1")(project, target, dest, **kw)

        builder = OciBuilder(
            OciOptions(cache_dir=tmp_path / cache), wheelhouse=prepare, engine=lambda: DockerEngine(client)
        )
        return builder.build(builder.prepare(request, tmp_path / cache), tmp_path / cache)

    first = build("1", "c1")
    amd, arm = first.platforms
    assert client.tags == {proj: amd.image_id, arm_tag: arm.image_id} and client.untagged == set()
    assert arm.local == arm.image_id and arm.unchecked is None, "the check still runs it, by id"

    second = build("2", "c2")  # other arm64 bytes: the tag moves
    assert second.platforms[1].image_id != arm.image_id
    assert client.tags[arm_tag] == second.platforms[1].image_id
    assert client.untagged == set() and arm.image_id not in client.present

    client.in_use.add(second.platforms[1].image_id)  # a container still runs it: the engine keeps it
    third = build("3", "c3")
    assert client.untagged == {second.platforms[1].image_id} and client.tags[arm_tag] == third.platforms[1].image_id


def test_one_foreign_platform_that_cannot_run_here_is_built_and_said_unchecked(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hera_build.image.backends.oci.unrunnable_reason", _no_arm64)
    client, said, checked = FakeDockerClient(), [], []
    builder = OciBuilder(
        OciOptions(cache_dir=tmp_path / "c"), wheelhouse=_wheelhouse([]), engine=lambda: DockerEngine(client)
    )
    request = _request(project, base, registry, platforms=("linux/arm64",), progress=said.append)

    built, ok, summary = build_checked(builder, builder.prepare(request, tmp_path), tmp_path, checked.append)  # type: ignore[arg-type]

    assert json.loads(built.oci.config)["architecture"] == "arm64" and not built.platforms, "one image, no index"
    assert client.loaded == [] and built.local is None and checked == []
    assert (ok, summary) == (False, None)
    assert f"warning: the image check did not run: {_no_arm64('linux/arm64')}" in said


def test_a_reused_foreign_image_that_cannot_run_here_is_said_unchecked_not_pulled(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    request = _request(project, base, registry, platforms=("linux/arm64",), progress=said.append)
    _ship(_builder(tmp_path), request, push=True)
    monkeypatch.setattr("hera_build.publish.pipeline.unrunnable_reason", _no_arm64)
    engine = _PullingEngine()

    again = ship(_builder(tmp_path), request, ShipOptions(push=True, checker=lambda image: {}), RegistryApi(),
                 engine=lambda: engine)  # type: ignore[arg-type, return-value]  # fmt: skip

    assert again.result.skipped and again.result.checked is False and engine.pulls == []
    assert f"warning: the image check did not run for linux/arm64: {_no_arm64('linux/arm64')}" in said


# ------------------------------------------------------------------------------------- image --check IMAGE


def _index_in_registry(tmp_path: Path, project: Project, base: str, registry: FakeRegistry) -> str:
    _ship(_builder(tmp_path), _request(project, base, registry, platforms=BOTH), push=True)
    return f"{registry.host}/acme/proj:1.2.0"


def test_checking_an_index_checks_every_platform_this_machine_runs_and_names_the_others(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _index_in_registry(tmp_path, project, base, registry)
    monkeypatch.setattr("hera_build.publish.pipeline.unrunnable_reason", _no_arm64)
    engine, checked, said = _PullingEngine(), [], []

    ok, summary = check_existing(lambda ref: checked.append(ref) or {"ok": ref}, image, engine=lambda: engine,  # type: ignore[func-returns-value, arg-type, return-value]
                                 progress=said.append)  # fmt: skip

    assert engine.pulls == [(image, "linux/amd64")] and checked == ["id-of-linux/amd64"]
    assert ok is False, "not every platform was checked"
    assert summary == {
        "platforms": {"linux/amd64": {"ok": "id-of-linux/amd64"}},
        "unchecked": {"linux/arm64/v8": _no_arm64("linux/arm64/v8")},  # the index's own name for it
    }
    assert f"warning: the image check did not run for linux/arm64/v8: {_no_arm64('linux/arm64')}" in said


def test_checking_an_index_this_machine_runs_entirely_checks_each_platform_pulled_by_it(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _index_in_registry(tmp_path, project, base, registry)
    monkeypatch.setattr("hera_build.publish.pipeline.unrunnable_reason", lambda platform: None)  # qemu registered
    engine = _PullingEngine()
    ok, summary = check_existing(lambda ref: {"ok": ref}, image, engine=lambda: engine)  # type: ignore[arg-type, return-value]
    assert ok and engine.pulls == [(image, "linux/amd64"), (image, "linux/arm64/v8")]
    assert summary == {"platforms": {p: {"ok": f"id-of-{p}"} for p in ("linux/amd64", "linux/arm64/v8")},
                       "unchecked": {}}  # fmt: skip


def test_checking_an_index_none_of_whose_platforms_runs_here_is_an_error(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _index_in_registry(tmp_path, project, base, registry)
    monkeypatch.setattr("hera_build.publish.pipeline.unrunnable_reason", _no_arm64)
    with pytest.raises(EngineError) as info:
        check_existing(lambda ref: {}, image, engine=lambda: None)
    assert info.value.message.startswith(
        f"no platform of the index {image} could be checked on this machine (linux/amd64: no Docker engine has the "
        "image; linux/arm64/v8: linux/arm64 images do not run"
    )


def test_checking_one_image_is_the_plain_check_of_that_reference(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    _ship(_builder(tmp_path), _request(project, base, registry), push=True)
    connected: list[str] = []
    for image in (f"{registry.host}/acme/proj:1.2.0", "local-only:1", f"{registry.host}/acme/never-pushed:1"):
        found = check_existing(lambda ref: {"ok": ref}, image, engine=lambda: connected.append("asked"))  # type: ignore[arg-type, func-returns-value]
        assert found == (True, {"ok": image})
    assert connected == [], "no engine is asked for, no platform pulled"


@pytest.mark.parametrize("command", [("image", "--check"), ("check",)], ids=["image --check", "check"])
def test_image_check_of_an_index_says_plainly_which_platforms_went_unchecked(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...],
) -> None:  # fmt: skip
    """``check IMAGE`` is ``image --check IMAGE``: neither passes an index having run one platform's image."""
    from hera_build import _cli as cli

    image = _index_in_registry(tmp_path, project, base, registry)
    monkeypatch.setattr("hera_build.publish.pipeline.unrunnable_reason", _no_arm64)
    monkeypatch.setattr("hera_build.publish.pipeline.connect_engine", _PullingEngine)
    monkeypatch.setattr("hera_build.image.check.check_for_backend", _checked)
    capsys.readouterr()

    assert cli.main([*command, image, "--project", str(project.root)]) == 0
    err = capsys.readouterr().err
    assert f"{image}: check passed on linux/amd64\n" in err
    assert "checking id-of-linux/amd64 (no network)\n  proj 1.2.0, hera 5.20.0, Python 3.11.2\n" in err
    assert f"{image}: NOT checked on linux/arm64/v8: {_no_arm64('linux/arm64')}\n" in err

    assert cli.main([*command, image, "--project", str(project.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "checked": False,
        "platforms": {"linux/amd64": _checked("id-of-linux/amd64", project, "oci").to_json()},
        "unchecked": {"linux/arm64/v8": _no_arm64("linux/arm64")},
    }


def _checked(image: str, project: Project, backend: str) -> CheckResult:
    return CheckResult(image, project.distribution_name, project.version.exact, "5.20.0", "3.11.2", (), None)


def test_a_dry_run_reads_the_base_of_every_platform(
    tmp_path: Path, project: Project, base: str, registry: FakeRegistry
) -> None:
    """A base without an image for one platform fails the build: the plan says so, not only the first's Python."""
    write_base_layout(tmp_path / "amd64-only", platforms=("amd64",))
    request = _request(project, f"oci:{tmp_path / 'amd64-only'}", registry, platforms=BOTH)

    plan = _builder(tmp_path).plan(request)

    assert plan.target is not None and plan.target.image_platform == "linux/amd64"
    assert [note for note in plan.notes if note.startswith("base image not read")] == [
        f"base image not read for linux/arm64: OCI layout {tmp_path / 'amd64-only'} has no image for linux/arm64 "
        "(it has: linux/amd64)"
    ]
    both = _builder(tmp_path).plan(_request(project, base, registry, platforms=BOTH))
    assert not [note for note in both.notes if note.startswith("base image not read")]


# ------------------------------------------------------------------------------------------------ wheels built once


def _local_project(tmp_path: Path, wheels: Path) -> tuple[Project, Callable[..., Wheelhouse]]:
    """A project with a local path dependency (as ml-pipeline has data-utils), and the real wheelhouse over a fake
    index and environment: what gets built from source trees is up to the build backend the builder is given."""
    root = tmp_path / "app"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1.0"\ndependencies = ["hera", "lib"]\n')
    (tmp_path / "lib").mkdir(exist_ok=True)
    (tmp_path / "lib/pyproject.toml").write_text('[project]\nname = "lib"\nversion = "0.1"\n')
    environment = {"hera": Installed("hera", "5.0"), "lib": Installed("lib", "0.1", source=tmp_path / "lib")}

    class Index:
        def fetch(self, pins: Mapping[str, str], target: PythonTarget, dest: Path) -> list[Path]:
            return [make_wheel(dest, name, version, {f"{name}/__init__.py": ""}) for name, version in pins.items()]

    def prepare(project: Project, target: PythonTarget, dest: Path, **kwargs: Any) -> Wheelhouse:
        return prepare_wheelhouse(
            project, target, dest, cache=WheelCache(wheels), fetcher=Index(),
            lookup=environment.get, **kwargs,
        )  # fmt: skip

    return load_project(root), prepare


def _local_build(tmp_path: Path, backend: CountingBackend, platforms: tuple[str, ...], name: str) -> BuiltImage:
    project, prepare = _local_project(tmp_path, tmp_path / f"wheels-{name}")  # each build's wheels afresh
    builder = OciBuilder(
        OciOptions(cache_dir=tmp_path / name), wheelhouse=prepare, engine=lambda: None, build_backend=lambda: backend
    )
    image = parse_image_ref("127.0.0.1:5000/onewheel/app:1.0")
    request = BuildRequest(project, image, f"oci:{tmp_path / 'base'}", source_date_epoch=1_700_000_000,
                           platforms=platforms)  # fmt: skip
    return builder.build(builder.prepare(request, tmp_path / f"work-{name}"), tmp_path / f"work-{name}")


def test_a_pure_python_wheel_is_built_once_for_all_platforms(tmp_path: Path, base: str) -> None:
    backend = CountingBackend()
    both = _local_build(tmp_path, backend, BOTH, "both")

    assert backend.builds == {"app": 1, "lib": 1}, "the project and its local dependency: one build each"
    amd = _local_build(tmp_path, backend, ("linux/amd64",), "amd")
    arm = _local_build(tmp_path, backend, ("linux/arm64",), "arm")
    assert backend.builds == {"app": 3, "lib": 3}
    assert {p.platform: p.digest for p in both.platforms} == {"linux/amd64": amd.digest, "linux/arm64": arm.digest}


def test_a_platform_specific_wheel_is_built_per_platform_and_refused_for_a_foreign_one(
    tmp_path: Path, base: str
) -> None:
    backend = CountingBackend(tag="cp311-cp311-linux_x86_64")  # extension modules, built for this machine

    with pytest.raises(BuildError, match=r"does not fit cp311-manylinux_\S+_aarch64"):
        _local_build(tmp_path, backend, BOTH, "both")
    assert backend.builds["app"] == 2, "each platform builds its own"
