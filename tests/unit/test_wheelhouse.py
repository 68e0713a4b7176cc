"""The wheelhouse: which wheels a runner image gets (the exact closure, for the image's Python), where they come
from (index, local source), and that the result is cached and keyed by its inputs. pip and the build backend are
faked here; tests/integration/test_docker_image.py uses the real ones."""

from __future__ import annotations

import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from hera_build.core.process import CommandResult
from hera_build.core.project import Project, load_project
from hera_build.errors import BuildError
from hera_build.image.target import PythonTarget
from hera_build.image.wheelhouse import (
    Installed,
    PipFetcher,
    WheelCache,
    prepare_wheelhouse,
    resolve_closure,
    wheel_metadata_requires,
)

MARKERS_311 = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.1",
    "platform_system": "Linux",
    "platform_version": "#1",
    "python_full_version": "3.11.2",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
}


def target(
    version: str = "3.11.2", platforms: tuple[str, ...] = ("manylinux_2_36_x86_64", "linux_x86_64")
) -> PythonTarget:
    major_minor = ".".join(version.split(".")[:2])
    nodot = major_minor.replace(".", "")
    markers = MARKERS_311 | {"python_version": major_minor, "python_full_version": version}
    return PythonTarget("/usr/bin/python3", version, f"cp{nodot}", f"cp{nodot}", platforms, markers)


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    tag: str = "py3-none-any",
    payload: str = "",
    requires_python: str | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    path = directory / f"{stem}-{version}-{tag}.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    if requires_python is not None:
        metadata += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}-{version}.dist-info/METADATA", metadata)
        archive.writestr(f"{stem}/__init__.py", payload)
    return path


class Env:
    """A fake emitting environment: name → Installed."""

    def __init__(self, *dists: Installed) -> None:
        self.dists = {d.name: d for d in dists}

    def __call__(self, name: str) -> Installed | None:
        return self.dists.get(name)


HERA = Installed(
    "hera", "7.1.0", ("pydantic>=2,<3", 'pyyaml>=6; extra == "yaml"', 'typing-extensions; python_version < "3.13"')
)
PYDANTIC = Installed("pydantic", "2.5.0", ("annotated-types>=0.4", 'tzdata; sys_platform == "win32"'))
BASE_ENV = [
    HERA,
    PYDANTIC,
    Installed("annotated-types", "0.6.0"),
    Installed("typing-extensions", "4.9.0"),
    Installed("pyyaml", "6.0.1"),
]


def reqs(*texts: str) -> list[Requirement]:
    return [Requirement(t) for t in texts]


# ------------------------------------------------------------------------------------------------ the closure


def test_closure_pins_installed_versions_recursively_and_skips_the_project_itself() -> None:
    env = Env(*BASE_ENV, Installed("demo", "1.0", ("hera",)))
    pins = resolve_closure(reqs("hera>=5", "demo"), target(), root="demo", lookup=env)
    assert {n: p.version for n, p in pins.items()} == {
        "hera": "7.1.0",
        "pydantic": "2.5.0",
        "annotated-types": "0.6.0",
        "typing-extensions": "4.9.0",
    }
    assert pins["pydantic"].required_by == ("hera",)


def test_markers_are_evaluated_for_the_target_python_not_the_host() -> None:
    env = Env(*BASE_ENV)
    on_311 = resolve_closure(reqs("hera"), target("3.11.2"), root="demo", lookup=env)
    on_313 = resolve_closure(reqs("hera"), target("3.13.1"), root="demo", lookup=env)
    assert "typing-extensions" in on_311
    assert "typing-extensions" not in on_313, "python_version < '3.13' is false for a 3.13 image"
    assert "tzdata" not in on_311, "sys_platform == 'win32' never applies to a Linux image"


def test_extras_pull_in_their_requirements_even_when_the_distribution_was_seen_before() -> None:
    env = Env(*BASE_ENV, Installed("other", "1.0", ("hera[yaml]",)))
    without = resolve_closure(reqs("hera"), target(), root="demo", lookup=env)
    with_extra = resolve_closure(reqs("hera", "other"), target(), root="demo", lookup=env)
    assert "pyyaml" not in without
    assert with_extra["pyyaml"].version == "6.0.1"


def test_a_requirement_that_is_not_installed_names_itself_and_suggests_a_lock_file() -> None:
    with pytest.raises(BuildError, match=r"pydantic<3,>=2 \(required by hera\) is not installed") as info:
        resolve_closure(reqs("hera"), target(), root="demo", lookup=Env(HERA))
    assert "--lock" in (info.value.fix or "")


def test_an_installed_version_outside_the_specifier_is_an_error() -> None:
    env = Env(*BASE_ENV)
    with pytest.raises(BuildError, match=r"pydantic 2.5.0 \(installed\) does not satisfy pydantic>=3 required by demo"):
        resolve_closure(reqs("pydantic>=3"), target(), root="demo", lookup=env)


def test_lock_versions_win_and_other_versions_read_requirements_from_the_wheel() -> None:
    env = Env(*BASE_ENV)
    asked: list[tuple[str, str]] = []

    def requires_of(name: str, version: str) -> Sequence[str]:
        asked.append((name, version))
        return {"pydantic": ["annotated-types>=0.4", "pydantic-core==2.14.1"], "pydantic-core": []}[name]

    locked = {
        "hera": "7.1.0",
        "pydantic": "2.6.0",
        "annotated-types": "0.6.0",
        "typing-extensions": "4.9.0",
        "pydantic-core": "2.14.1",
    }
    pins = resolve_closure(reqs("hera"), target(), root="demo", versions=locked, lookup=env, requires_of=requires_of)
    assert pins["pydantic"].version == "2.6.0"
    assert pins["pydantic-core"].version == "2.14.1"
    assert asked == [("pydantic", "2.6.0"), ("pydantic-core", "2.14.1")], (
        "installed metadata is used where the installed version is the locked one (hera, annotated-types)"
    )


def test_a_distribution_missing_from_the_lock_file_is_an_error() -> None:
    with pytest.raises(BuildError, match=r"pydantic<3,>=2 \(required by hera\) is not in the lock file"):
        resolve_closure(reqs("hera"), target(), root="demo", versions={"hera": "7.1.0"}, lookup=Env(*BASE_ENV))


def test_wheel_metadata_requires_reads_requires_dist(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "pkg", "1.0", ["a>=1", 'b; extra == "x"'])
    assert wheel_metadata_requires(wheel) == ("a>=1", 'b; extra == "x"')


# ------------------------------------------------------------------------------------------------ the wheelhouse


class FakeFetcher:
    """An index: (name, version) → requirements; writes wheels for what it is asked."""

    def __init__(
        self,
        index: Mapping[tuple[str, str], Sequence[str]],
        tags: Mapping[str, str] | None = None,
        requires_python: Mapping[str, str] | None = None,
    ) -> None:
        self.index = index
        self.tags = tags or {}
        self.requires_python = requires_python or {}
        self.calls: list[dict[str, str]] = []

    def fetch(self, pins: Mapping[str, str], target: PythonTarget, dest: Path) -> list[Path]:
        self.calls.append(dict(pins))
        out = []
        for name, version in pins.items():
            if (name, version) not in self.index:
                raise BuildError(
                    f"no wheel of {name} {version} for {target.image_platform} ({target.platform}, Python", None
                )
            tag = self.tags.get(name, "py3-none-any")
            out.append(
                make_wheel(dest, name, version, self.index[name, version], tag, "", self.requires_python.get(name))
            )
        return out


class FakeBuilder:
    """A build backend: reads name and version from pyproject.toml, embeds the epoch (as real builds do)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, int, str | None]] = []

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        self.calls.append((source, epoch, version))
        project = load_project(source)
        content = "".join(f"{p.name}={p.read_text()}" for p in sorted(source.glob("*.py")))
        return make_wheel(out_dir, project.name, version or project.version.exact, payload=f"{epoch}:{content}")


INDEX = {
    ("hera", "7.1.0"): HERA.requires,
    ("pydantic", "2.5.0"): PYDANTIC.requires,
    ("annotated-types", "0.6.0"): (),
    ("typing-extensions", "4.9.0"): (),
}


@pytest.fixture
def demo(tmp_path: Path) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "demo"
            version = "1.0"
            dependencies = ["hera>=5", "local-lib"]
            """
        )
    )
    (root / "code.py").write_text("x = 1\n")
    lib = tmp_path / "local-lib"
    lib.mkdir()
    (lib / "pyproject.toml").write_text('[project]\nname = "local-lib"\nversion = "0.1"\n')
    return load_project(root)


def demo_env(project: Project) -> Env:
    return Env(*BASE_ENV, Installed("local-lib", "0.1", (), source=project.root.parent / "local-lib"))


def prepare(
    project: Project, dest: Path, cache: WheelCache, fetcher: FakeFetcher, builder: FakeBuilder, **kwargs: object
):  # type: ignore[no-untyped-def]
    return prepare_wheelhouse(
        project, target(), dest, cache=cache, fetcher=fetcher, builder=builder, lookup=demo_env(project), **kwargs
    )  # type: ignore[arg-type]


def test_wheelhouse_holds_the_project_wheel_and_the_exact_closure(demo: Project, tmp_path: Path) -> None:
    fetcher, builder = FakeFetcher(INDEX), FakeBuilder()
    house = prepare(demo, tmp_path / "out", WheelCache(tmp_path / "cache"), fetcher, builder)
    assert house.project_wheel == tmp_path / "out" / "app" / "demo-1.0-py3-none-any.whl"
    assert sorted(p.name for p in house.dependency_wheels) == [
        "annotated_types-0.6.0-py3-none-any.whl",
        "hera-7.1.0-py3-none-any.whl",
        "local_lib-0.1-py3-none-any.whl",
        "pydantic-2.5.0-py3-none-any.whl",
        "typing_extensions-4.9.0-py3-none-any.whl",
    ]
    assert all(p.parent == tmp_path / "out" / "deps" for p in house.dependency_wheels)
    assert house.pins["local-lib"] == "0.1"
    assert "local-lib" not in fetcher.calls[0], "a local (editable) install is built from its source, not downloaded"
    assert sorted(c[0] for c in builder.calls) == [demo.root, demo.root.parent / "local-lib"]
    assert house.sources == {"local-lib": str(demo.root.parent / "local-lib")}
    assert house.requirements_text().splitlines()[0] == "annotated-types==0.6.0"


def test_everything_is_cached_by_its_inputs(demo: Project, tmp_path: Path) -> None:
    cache = WheelCache(tmp_path / "cache")
    first = prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    fetcher, builder = FakeFetcher(INDEX), FakeBuilder()
    second = prepare(demo, tmp_path / "b", cache, fetcher, builder)
    assert fetcher.calls == [] and builder.calls == [], "nothing changed: nothing is downloaded or built"
    assert second.dependency_digest == first.dependency_digest
    assert second.project_digest == first.project_digest


def test_a_code_change_rebuilds_only_the_project_wheel(demo: Project, tmp_path: Path) -> None:
    cache = WheelCache(tmp_path / "cache")
    first = prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    (demo.root / "code.py").write_text("x = 2\n")
    builder = FakeBuilder()
    second = prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), builder)
    assert [c[0] for c in builder.calls] == [demo.root]
    assert second.dependency_digest == first.dependency_digest, "the dependency layer's key must not move"
    assert second.project_digest != first.project_digest


def test_a_dependency_change_changes_the_dependency_digest(demo: Project, tmp_path: Path) -> None:
    cache = WheelCache(tmp_path / "cache")
    first = prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    (demo.root.parent / "local-lib" / "new.py").write_text("y = 1\n")
    builder = FakeBuilder()
    second = prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), builder)
    assert demo.root.parent / "local-lib" in [c[0] for c in builder.calls], "the local dependency's source changed"
    assert second.dependency_digest != first.dependency_digest


def test_the_project_wheel_is_built_while_the_dependencies_download(demo: Project, tmp_path: Path) -> None:
    """Neither process waits for the other: a download that lasts until the project's build has started ends."""
    import threading

    building = threading.Event()

    class WaitsForTheProjectBuild(FakeFetcher):
        def fetch(self, pins: Mapping[str, str], target: PythonTarget, dest: Path) -> list[Path]:
            assert building.wait(timeout=30), "the project wheel was not being built during the download"
            return super().fetch(pins, target, dest)

    class SaysWhenBuilding(FakeBuilder):
        def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
            if source == demo.root:
                building.set()
            return super().build(source, out_dir, epoch=epoch, version=version)

    house = prepare(demo, tmp_path / "out", WheelCache(tmp_path / "cache"), WaitsForTheProjectBuild(INDEX),
                    SaysWhenBuilding())  # fmt: skip
    serial = prepare(demo, tmp_path / "serial", WheelCache(tmp_path / "cache-2"), FakeFetcher(INDEX), FakeBuilder())
    assert house.project_digest == serial.project_digest and house.dependency_digest == serial.dependency_digest


def test_source_date_epoch_reaches_the_project_build_and_dependencies_use_a_fixed_one(
    demo: Project, tmp_path: Path
) -> None:
    builder = FakeBuilder()
    prepare(
        demo, tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(INDEX), builder, source_date_epoch=1700000000
    )
    epochs = {source.name: epoch for source, epoch, _ in builder.calls}
    assert epochs == {"local-lib": 315532800, "demo": 1700000000}


def test_version_override_is_built_into_the_project_wheel(demo: Project, tmp_path: Path) -> None:
    builder = FakeBuilder()
    house = prepare(
        demo.with_version("2.0rc1"), tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(INDEX), builder
    )
    assert house.project_wheel.name == "demo-2.0rc1-py3-none-any.whl"
    assert {source.name: version for source, _, version in builder.calls}["demo"] == "2.0rc1"


def test_a_dynamic_version_is_decided_once_and_given_to_the_build_backend(demo: Project, tmp_path: Path) -> None:
    from dataclasses import replace

    from hera_build.core.versions import ProjectVersion

    dynamic = replace(
        demo, version=ProjectVersion.parse("1.4.2.dev0+g834f41dd4.d20261202"), version_source="build backend metadata"
    )
    builder = FakeBuilder()
    house = prepare(dynamic, tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(INDEX), builder)
    told = {source.name: version for source, _, version in builder.calls}["demo"]
    assert told == "1.4.2.dev0+g834f41dd4.d20261202", "the backend is told the decided version"
    assert house.project_wheel.name == "demo-1.4.2.dev0+g834f41dd4.d20261202-py3-none-any.whl"


class IgnoresVersion(FakeBuilder):
    """A backend whose dynamic version does not follow the pretend-version variables (and dates with the epoch)."""

    def build(self, source: Path, out_dir: Path, *, epoch: int, version: str | None = None) -> Path:
        return super().build(source, out_dir, epoch=epoch, version="1.4.2.dev0+g834f41dd4.d19800101")


def test_a_backend_that_ignores_the_decided_version_gets_a_fix_that_fits(demo: Project, tmp_path: Path) -> None:
    from dataclasses import replace

    from hera_build.core.versions import ProjectVersion

    dynamic = replace(
        demo, version=ProjectVersion.parse("1.4.2.dev0+g834f41dd4.d20261202"), version_source="build backend metadata"
    )
    with pytest.raises(BuildError, match=r"has version 1.4.2.dev0\+g834f41dd4.d19800101, not .*d20261202") as info:
        prepare(dynamic, tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(INDEX), IgnoresVersion())
    assert "--version" not in info.value.message and "passing --version" not in (info.value.fix or "")
    assert "SETUPTOOLS_SCM_PRETEND_VERSION" in (info.value.fix or "")
    with pytest.raises(BuildError) as info:
        prepare(demo.with_version("2.0"), tmp_path / "b", WheelCache(tmp_path / "cache"), FakeFetcher(INDEX),
                IgnoresVersion())  # fmt: skip
    assert "ignored --version" in (info.value.fix or "")


def test_a_project_requiring_a_newer_python_than_the_image_is_refused_before_building(
    demo: Project, tmp_path: Path
) -> None:
    text = demo.pyproject.read_text().replace('version = "1.0"', 'version = "1.0"\nrequires-python = ">=3.13"')
    demo.pyproject.write_text(text)
    fetcher, builder = FakeFetcher(INDEX), FakeBuilder()
    with pytest.raises(
        BuildError, match=r"^demo 1.0 requires Python >=3.13, but the base image's Python is 3.11.2 \(fix: "
    ) as info:
        prepare(load_project(demo.root), tmp_path / "a", WheelCache(tmp_path / "cache"), fetcher, builder)
    assert "choose a base image" in (info.value.fix or "") and "relax requires-python" in (info.value.fix or "")
    assert fetcher.calls == [] and builder.calls == [], "nothing is downloaded or built"


def test_a_dependency_wheel_requiring_a_newer_python_names_the_package(demo: Project, tmp_path: Path) -> None:
    fetcher = FakeFetcher(INDEX, requires_python={"pydantic": ">=3.12"})
    builder = FakeBuilder()
    with pytest.raises(
        BuildError,
        match=r"^pydantic 2.5.0 \(a dependency of demo\) requires Python >=3.12, "
        r"but the base image's Python is 3.11.2 \(fix: ",
    ) as info:
        prepare(demo, tmp_path / "a", WheelCache(tmp_path / "cache"), fetcher, builder)
    assert "pin a version of pydantic that supports Python 3.11" in (info.value.fix or "")
    ok = FakeFetcher(INDEX, requires_python={"pydantic": ">=3.8", "hera": ">=3.11.0rc1"})
    prepare(demo, tmp_path / "b", WheelCache(tmp_path / "cache-2"), ok, FakeBuilder())


def test_a_platform_without_a_wheel_names_package_and_platform(demo: Project, tmp_path: Path) -> None:
    index = {k: v for k, v in INDEX.items() if k[0] != "pydantic"}
    with pytest.raises(
        BuildError, match=r"no wheel of pydantic 2.5.0 for linux/amd64 \(cp311-manylinux_2_36_x86_64, Python"
    ):
        prepare(demo, tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(index), FakeBuilder())


def test_wheels_for_another_platform_are_not_accepted(demo: Project, tmp_path: Path) -> None:
    fetcher = FakeFetcher(INDEX, tags={"pydantic": "cp311-cp311-macosx_11_0_arm64"})
    with pytest.raises(
        BuildError, match=r"no wheel of pydantic 2.5.0 for linux/amd64 \(cp311-manylinux_2_36_x86_64\) was downloaded"
    ):
        prepare(demo, tmp_path / "a", WheelCache(tmp_path / "cache"), fetcher, FakeBuilder())


def test_the_image_must_get_hera(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "nohera"\nversion = "1"\ndependencies = ["pydantic"]\n')
    project = load_project(tmp_path)
    with pytest.raises(BuildError, match="hera is not among the dependencies of nohera"):
        prepare_wheelhouse(
            project,
            target(),
            tmp_path / "o",
            cache=WheelCache(tmp_path / "c"),
            fetcher=FakeFetcher(INDEX),
            builder=FakeBuilder(),
            lookup=Env(*BASE_ENV),
        )


def test_a_lock_file_with_another_hera_than_the_emitting_one_is_refused(demo: Project, tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    names = {
        "hera": "7.0.0",
        "pydantic": "2.5.0",
        "annotated-types": "0.6.0",
        "typing-extensions": "4.9.0",
        "local-lib": "0.1",
    }
    lock.write_text("".join(f'[[package]]\nname = "{n}"\nversion = "{v}"\n\n' for n, v in names.items()))
    index = dict(INDEX) | {("hera", "7.0.0"): HERA.requires}
    with pytest.raises(BuildError, match=r"the image would get hera 7.0.0, but templates are emitted with hera 7.1.0"):
        prepare(demo, tmp_path / "a", WheelCache(tmp_path / "cache"), FakeFetcher(index), FakeBuilder(), lock=lock)


# ------------------------------------------------------------------------------------------------ pip


class FakePip:
    """Answers pip command lines like pip would; records them."""

    def __init__(self, answers: Sequence[tuple[str, int, str]]) -> None:
        self.answers = list(answers)
        self.commands: list[list[str]] = []

    def __call__(self, argv: Sequence[str], **kwargs: object) -> CommandResult:
        self.commands.append(list(argv))
        for needle, code, stderr in self.answers:
            if needle in " ".join(argv):
                if code == 0 and "wheel" in argv:
                    make_wheel(Path(argv[argv.index("--wheel-dir") + 1]), "puresdist", "1.0")
                return CommandResult(tuple(argv), code, "", stderr)
        return CommandResult(tuple(argv), 0, "", "")


def test_pip_download_selects_wheels_for_the_target_interpreter(tmp_path: Path) -> None:
    pip = FakePip([])
    PipFetcher(runner=pip).fetch({"pydantic": "2.5.0"}, target(), tmp_path)
    argv = pip.commands[0]
    assert argv[argv.index("download") :][:3] == ["download", "--only-binary=:all:", "--no-deps"]
    for flag, value in [("--implementation", "cp"), ("--python-version", "3.11"), ("--abi", "cp311")]:
        assert argv[argv.index(flag) + 1] == value
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"] == ["manylinux_2_36_x86_64", "linux_x86_64"]
    assert "pydantic==2.5.0" in argv


def test_a_binary_distribution_without_the_platform_wheel_is_not_built_from_source(tmp_path: Path) -> None:
    pip = FakePip([("--platform", 1, "ERROR: No matching distribution found for pydantic-core==2.14.1")])
    with pytest.raises(
        BuildError, match=r"no wheel of pydantic-core 2.14.1 for linux/amd64 \(cp311-manylinux_2_36_x86_64"
    ) as info:
        PipFetcher(runner=pip).fetch({"pydantic-core": "2.14.1"}, target(), tmp_path)
    assert "pydantic-core" in (info.value.fix or "")
    assert not any("wheel" in c for c in pip.commands), "it has wheels for other platforms: no source build"


def test_a_distribution_without_a_wheel_for_one_platform_names_it_and_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hera_build.image.wheelhouse.native_architecture", lambda: "amd64")
    arm64 = target(platforms=("manylinux_2_36_aarch64", "manylinux_2_17_aarch64", "linux_aarch64"))
    pip = FakePip([("--platform", 1, "ERROR: No matching distribution found for x86only==1.0")])
    with pytest.raises(
        BuildError, match=r"^no wheel of x86only 1.0 for linux/arm64 \(cp311-manylinux_2_36_aarch64, "
    ) as info:
        PipFetcher(runner=pip).fetch({"x86only": "1.0"}, arm64, tmp_path)
    assert (info.value.fix or "").endswith(
        ", or build without linux/arm64 (--platform, platforms in [tool.hera-build])"
    )

    amd64 = FakePip([("--platform", 1, "ERROR: No matching distribution found for armonly==1.0")])
    with pytest.raises(BuildError, match=r"^no wheel of armonly 1.0 for linux/amd64") as info:
        PipFetcher(runner=amd64).fetch({"armonly": "1.0"}, target(), tmp_path)
    assert "build without" not in (info.value.fix or ""), "the machine's own platform is not one to drop"


def test_a_pure_sdist_only_distribution_is_built_into_a_wheel(tmp_path: Path) -> None:
    pip = FakePip(
        [
            ("--platform", 1, "ERROR: No matching distribution found for puresdist==1.0"),
            ("download --only-binary=:all: --no-deps --dest", 1, "ERROR: No matching distribution found"),
            ("wheel --no-deps --no-binary puresdist", 0, ""),
        ]
    )
    wheels = PipFetcher(runner=pip).fetch({"puresdist": "1.0"}, target(), tmp_path)
    assert [w.name for w in wheels] == ["puresdist-1.0-py3-none-any.whl"]


def test_an_index_failure_is_one_clear_error(tmp_path: Path) -> None:
    pip = FakePip([("download", 1, "WARNING: Retrying...\nERROR: Could not install: connection refused")])
    with pytest.raises(
        BuildError,
        match=r"pip could not download wheels for linux/amd64 \(cp311-manylinux_2_36_x86_64\): ERROR: Could not",
    ):
        PipFetcher(runner=pip).fetch({"pydantic": "2.5.0"}, target(), tmp_path)


def _corrupt_same_size(path: Path) -> None:
    """Fault injection: other bytes of the same size, the mtime kept (as a disk error or a bad copy leaves it)."""
    import os

    stat = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _zip_ok(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return archive.testzip() is None


def test_a_corrupted_cached_wheel_is_downloaded_or_built_again(demo: Project, tmp_path: Path) -> None:
    cache = WheelCache(tmp_path / "cache")
    first = prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    cached_hera = cache.find_index_wheel(target(), "hera", "7.1.0")
    assert cached_hera is not None
    _corrupt_same_size(cached_hera)
    built = next((cache.root / "built").glob("*/demo-*.whl"))
    _corrupt_same_size(built)
    fetcher, builder, progress = FakeFetcher(INDEX), FakeBuilder(), list[str]()

    second = prepare(demo, tmp_path / "b", cache, fetcher, builder, progress=progress.append)

    assert fetcher.calls == [{"hera": "7.1.0"}], "only the corrupted wheel is downloaded again"
    assert [call[0] for call in builder.calls] == [demo.root]
    assert all(_zip_ok(wheel) for wheel in (*second.dependency_wheels, second.project_wheel))
    assert second.dependency_digest == first.dependency_digest
    said = [line for line in progress if "changed on disk" in line]
    assert sorted(line.split()[2] for line in said) == sorted(["hera-7.1.0-py3-none-any.whl", built.name])


def test_a_warm_wheelhouse_hashes_no_cached_wheel_again(
    demo: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Placing a cached wheel must leave its integrity stamp valid: a hard link (and its removal with the scratch
    folder) moved the cached file's ctime, so every warm build hashed every cached wheel again."""
    import shutil

    from hera_build.core import integrity

    cache = WheelCache(tmp_path / "cache")
    prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    shutil.rmtree(tmp_path / "a")  # as ship() removes its scratch folder
    hashed: list[Path] = []
    real = integrity.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(integrity, "file_sha256", counting)

    prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), FakeBuilder())

    assert not [path for path in hashed if tmp_path / "cache" in path.parents], "cached wheels were hashed again"
    cached = list((tmp_path / "cache").rglob("*.whl"))
    assert cached
    for wheel in cached:
        recorded = wheel.with_name(wheel.name + ".sha256").read_text().split(" ", 1)[1]
        assert recorded == integrity._stat_stamp(wheel), f"{wheel.name}: its stamp no longer matches the file"


def test_each_installed_distribution_is_looked_up_once(demo: Project, tmp_path: Path) -> None:
    """Reading a distribution's metadata is most of the walk's time; the walk asks for each name only once."""
    env = demo_env(demo)
    asked: list[str] = []

    def lookup(name: str) -> Installed | None:
        asked.append(name)
        return env(name)

    prepare_wheelhouse(demo, target(), tmp_path / "out", cache=WheelCache(tmp_path / "cache"),
                       fetcher=FakeFetcher(INDEX), builder=FakeBuilder(), lookup=lookup)  # type: ignore[arg-type]  # fmt: skip

    assert sorted(asked) == sorted(set(asked))


def test_installed_metadata_is_read_from_the_headers_only(tmp_path: Path) -> None:
    """The body of METADATA (the long description) is never parsed: it may even look like headers."""
    from hera_build.image.wheelhouse import metadata_headers

    text = "Metadata-Version: 2.1\nName: x\nVersion: 1.0\nRequires-Dist: a>=1\nRequires-Dist: b\n\nRequires-Dist: c\n"
    meta = metadata_headers(text)
    assert meta["Name"] == "x" and meta["Version"] == "1.0"
    assert meta.get_all("Requires-Dist") == ["a>=1", "b"]
    assert metadata_headers(text.replace("\n", "\r\n")).get_all("Requires-Dist") == ["a>=1", "b"]


def _count_wheel_hashing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every wheel file hashed from now on, by either hashing function."""
    from hera_build.core import integrity
    from hera_build.image import wheelhouse

    hashed: list[Path] = []
    for module, name in ((integrity, "file_sha256"), (wheelhouse, "file_digest")):
        real = getattr(module, name)

        def counting(path: Path, real=real) -> str:  # type: ignore[no-untyped-def]
            if path.suffix == ".whl":
                hashed.append(path)
            return real(path)

        monkeypatch.setattr(module, name, counting)
    return hashed


def test_the_wheelhouse_knows_the_digests_of_the_wheels_it_placed(
    demo: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input digests, layer keys and the SBOM each need every wheel's file digest; a warm build hashes none: a
    copy of a cached wheel has the digest its integrity stamp records (the stamp holding before and after)."""
    from hera_build.core.integrity import file_sha256

    cache = WheelCache(tmp_path / "cache")
    prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    hashed = _count_wheel_hashing(monkeypatch)

    house = prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), FakeBuilder())
    digests = {wheel: house.sha256_of(wheel) for wheel in (house.project_wheel, *house.dependency_wheels)}

    assert hashed == [], "a warm wheelhouse hashed wheels"
    monkeypatch.undo()
    assert digests == {wheel: file_sha256(wheel) for wheel in digests}
    assert house.project_digest == digests[house.project_wheel]


def test_a_wheel_whose_stamp_does_not_hold_is_hashed_as_placed(
    demo: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from hera_build.core.integrity import file_sha256

    cache = WheelCache(tmp_path / "cache")
    prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    cached_hera = cache.find_index_wheel(target(), "hera", "7.1.0")
    assert cached_hera is not None
    os.utime(cached_hera, ns=(1, 1))  # same bytes, another stamp: the digest must come from the bytes
    hashed = _count_wheel_hashing(monkeypatch)

    house = prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), FakeBuilder())

    placed = next(wheel for wheel in house.dependency_wheels if wheel.name == cached_hera.name)
    assert hashed and all(path.name == cached_hera.name for path in hashed)
    monkeypatch.undo()
    assert house.sha256_of(placed) == file_sha256(placed)


def test_a_warm_wheelhouse_opens_no_wheel_and_knows_each_wheels_facts(
    demo: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requires-Python, requirements, the SBOM's fields and the installed size come from one read of each wheel,
    kept by the wheel's digest: opening the central directory of scipy or pandas costs more than the rest."""
    from hera_build.image.wheelhouse import read_wheel_facts

    cache = WheelCache(tmp_path / "cache")
    prepare(demo, tmp_path / "a", cache, FakeFetcher(INDEX), FakeBuilder())
    opened: list[str] = []
    real = zipfile.ZipFile

    def counting(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(Path(file).name)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", counting)

    house = prepare(demo, tmp_path / "b", cache, FakeFetcher(INDEX), FakeBuilder())

    assert opened == [], "a warm wheelhouse opened wheels"
    monkeypatch.undo()
    for wheel in (house.project_wheel, *house.dependency_wheels):
        assert house.facts_of(wheel) == read_wheel_facts(wheel)
    assert house.facts_of(house.project_wheel).headers()["Name"] == "demo"


def test_kept_facts_are_those_of_the_bytes_not_of_the_file_name(demo: Project, tmp_path: Path) -> None:
    """Another wheel under the same name (rebuilt, re-downloaded) has another digest, so other facts."""
    cache = WheelCache(tmp_path / "cache")
    first = make_wheel(tmp_path / "one", "x", "1.0", requires=("a",))
    second = make_wheel(tmp_path / "two", "x", "1.0", requires=("b",))
    from hera_build.core.integrity import file_sha256

    assert cache.facts(first, file_sha256(first)).headers().get_all("Requires-Dist") == ["a"]
    assert cache.facts(second, file_sha256(second)).headers().get_all("Requires-Dist") == ["b"]
    assert cache.facts(first, file_sha256(first)).headers().get_all("Requires-Dist") == ["a"]
