"""The pack wrapper (``buildpacks``): arguments, versions, report.toml, and pack's failures as typed errors.

pack itself is replaced by a fake runner that records the argument list and answers with output captured from
pack 0.40.3 / lifecycle 0.21.17 on this project's test builder; tests/integration/test_buildpacks.py runs the
real one.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomllib

import buildpacks as bp
from buildpacks.failures import classify_failure, status_code

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ID = "95c6e8e9146cac2eeb160536115bee4ed3d5b90f46ab63b183921cf8d718e466"
DIGEST = "sha256:2c14323a678bad77835b9a00520d001c77e4412662f928824053e32f5106dd11"


# ---------------------------------------------------------------------------------------------------- a fake pack


@dataclass
class FakePack:
    """A :class:`buildpacks.Runner` that plays pack: canned output, optional report.toml, every call recorded."""

    returncode: int = 0
    output: str = ""
    report: str | None = None
    calls: list[list[str]] = field(default_factory=list)
    envs: list[Mapping[str, str] | None] = field(default_factory=list)

    def __call__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> bp.ProcessResult:
        self.calls.append(list(args))
        self.envs.append(env)
        if self.report is not None and "--report-output-dir" in args:
            directory = Path(args[list(args).index("--report-output-dir") + 1])
            (directory / "report.toml").write_text(self.report)
        for line in self.output.splitlines():
            if on_line:
                on_line(line)
        return bp.ProcessResult(tuple(args), self.returncode, self.output)


def version_runner(text: str) -> FakePack:
    return FakePack(output=text + "\n")


# ---------------------------------------------------------------------------------------------------- version


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.40.3", (0, 40, 3)), ("0.40.3+git-1234abc.build-56", (0, 40, 3)), ("v0.41.0\n", (0, 41, 0))],
)
def test_pack_versions_are_read_from_the_first_line(text: str, expected: tuple[int, int, int]) -> None:
    version = bp.parse_pack_version(text)
    assert version.release == expected
    assert str(version) == text.strip()


@pytest.mark.parametrize("text", ["", "pack version unknown", "0.40"])
def test_unreadable_versions_are_errors(text: str) -> None:
    with pytest.raises(bp.PackVersionError, match="cannot read pack's version"):
        bp.parse_pack_version(text)


def test_preflight_accepts_the_first_pack_that_speaks_docker_api_1_41() -> None:
    assert bp.PackClient("pack", runner=version_runner("0.40.2")).preflight() == bp.PackVersion(0, 40, 2)


@pytest.mark.parametrize("old", ["0.40.1", "0.40.0", "0.39.1", "0.0.0"])
def test_preflight_refuses_packs_that_refuse_debians_engine_or_lack_our_flags(old: str) -> None:
    with pytest.raises(bp.PackVersionError, match=r"too old.*>= 0\.40\.2.*API 1\.41") as error:
        bp.PackClient("pack", runner=version_runner(old)).preflight()
    assert error.value.fix == "install pack 0.40.2 or newer"


def test_a_missing_pack_is_named_with_how_to_get_one() -> None:
    client = bp.PackClient("/nonexistent/bin/pack")
    with pytest.raises(bp.PackNotFoundError, match="/nonexistent/bin/pack") as error:
        client.version()
    assert error.value.fix and "0.40.2" in error.value.fix


def test_version_is_asked_once_per_client() -> None:
    runner = version_runner("0.40.3")
    client = bp.PackClient("pack", runner=runner)
    client.version()
    client.preflight()
    assert runner.calls == [["pack", "--version"]]


# ---------------------------------------------------------------------------------------------------- arguments


def test_build_options_become_one_argument_list(tmp_path: Path) -> None:
    options = bp.BuildOptions(
        image="127.0.0.1:5000/acme/app:1.0",
        path=tmp_path / "app dir",
        builder="acme/builder:1",
        pull_policy=bp.PullPolicy.NEVER,
        creation_time=1700000000,
        publish=True,
        env={"SOURCE_DATE_EPOCH": "1700000000", "SPACED": "a b"},
        report_output_dir=tmp_path / "report",
        trust_builder=True,
        trust_extra_buildpacks=True,
        buildpacks=("paketo-buildpacks/cpython", "/opt/bp"),
        network="host",
        tags=("127.0.0.1:5000/acme/app:latest",),
        insecure_registries=("127.0.0.1:5000",),
        default_process="runner",
    )
    args = options.to_args()
    assert args[:2] == ["build", "127.0.0.1:5000/acme/app:1.0"]
    pairs = {(args[i], args[i + 1]) for i in range(len(args) - 1) if args[i].startswith("--")}
    assert {
        ("--path", str(tmp_path / "app dir")),
        ("--builder", "acme/builder:1"),
        ("--pull-policy", "never"),
        ("--creation-time", "1700000000"),
        ("--env", "SOURCE_DATE_EPOCH=1700000000"),
        ("--env", "SPACED=a b"),
        ("--report-output-dir", str(tmp_path / "report")),
        ("--buildpack", "paketo-buildpacks/cpython"),
        ("--buildpack", "/opt/bp"),
        ("--network", "host"),
        ("--tag", "127.0.0.1:5000/acme/app:latest"),
        ("--insecure-registry", "127.0.0.1:5000"),
        ("--default-process", "runner"),
    } <= pairs
    for flag in ("--publish", "--trust-builder", "--trust-extra-buildpacks", "--no-color"):
        assert flag in args
    assert "--clear-cache" not in args and "--verbose" not in args


def test_defaults_are_non_interactive_and_leave_pack_s_reproducible_time(tmp_path: Path) -> None:
    args = bp.BuildOptions(image="app:1", path=tmp_path, builder="b").to_args()
    assert args == [
        "build",
        "app:1",
        "--path",
        str(tmp_path),
        "--builder",
        "b",
        "--pull-policy",
        "if-not-present",
        "--no-color",
    ]


def test_creation_time_now_is_passed_through(tmp_path: Path) -> None:
    args = bp.BuildOptions(image="app:1", path=tmp_path, builder="b", creation_time="now").to_args()
    assert args[args.index("--creation-time") + 1] == "now"


@pytest.mark.parametrize("bad", [{"creation_time": -1}, {"env": {"A=B": "c"}}, {"env": {"": "c"}}])
def test_invalid_build_options_are_refused(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        bp.BuildOptions(image="app:1", path=tmp_path, builder="b", **bad)  # type: ignore[arg-type]


def test_builder_create_arguments(tmp_path: Path) -> None:
    options = bp.BuilderCreateOptions(
        name="acme/builder:1",
        config=tmp_path / "builder.toml",
        pull_policy=bp.PullPolicy.NEVER,
        targets=("linux/amd64",),
    )
    assert options.to_args() == [
        "builder", "create", "acme/builder:1", "--config", str(tmp_path / "builder.toml"),
        "--pull-policy", "never", "--target", "linux/amd64", "--no-color",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------- build + report


def test_build_reads_the_image_id_from_report_toml(tmp_path: Path) -> None:
    runner = FakePack(output="===> EXPORTING\n", report=f'[image]\ntags = ["app:1"]\nimage-id = "{IMAGE_ID}"\n')
    client = bp.PackClient("/opt/pack", runner=runner, env={"PACK_HOME": "/tmp/ph"})
    report = client.build(bp.BuildOptions(image="app:1", path=tmp_path, builder="b"))
    assert report == bp.BuildReport(tags=("app:1",), image_id=f"sha256:{IMAGE_ID}", digest=None)
    (call,) = runner.calls
    assert call[:3] == ["/opt/pack", "build", "app:1"]
    assert "--report-output-dir" in call, "a report is always asked for, in a temporary folder if need be"
    assert not Path(call[call.index("--report-output-dir") + 1]).exists(), "the temporary report folder is removed"
    assert runner.envs == [{"PACK_HOME": "/tmp/ph"}]


def test_a_published_build_reports_the_digest(tmp_path: Path) -> None:
    report_dir = tmp_path / "nested" / "report"
    runner = FakePack(report=f'[image]\ntags = ["r/app:1"]\ndigest = "{DIGEST}"\nmanifest-size = 1718\n')
    client = bp.PackClient(runner=runner)
    report = client.build(
        bp.BuildOptions(image="r/app:1", path=tmp_path, builder="b", publish=True, report_output_dir=report_dir)
    )
    assert (report.digest, report.image_id, report.manifest_size) == (DIGEST, None, 1718)
    assert (report_dir / "report.toml").is_file(), "the asked-for report folder is created and kept"


def test_a_report_from_an_earlier_build_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "report.toml").write_text(f'[image]\ntags = ["old:1"]\nimage-id = "{IMAGE_ID}"\n')
    client = bp.PackClient(runner=FakePack(report=None))
    with pytest.raises(bp.ReportError, match="wrote no"):
        client.build(bp.BuildOptions(image="app:1", path=tmp_path, builder="b", report_output_dir=tmp_path))


def test_build_streams_pack_s_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    runner = FakePack(output="===> DETECTING\n===> BUILDING\n", report=f'[image]\nimage-id = "{IMAGE_ID}"\n')
    bp.PackClient(runner=runner).build(bp.BuildOptions(image="a:1", path=tmp_path, builder="b"), on_line=lines.append)
    assert lines == ["===> DETECTING", "===> BUILDING"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[build]\n", "no [image] table"),
        ('[image]\ntags = ["a"]\n', "neither an image id nor a digest"),
        ('[image]\ndigest = "md5:abc"\n', "not a sha256 digest"),
        ('[image]\ntags = "a"\nimage-id = "' + IMAGE_ID + '"\n', "tags is not a list"),
    ],
)
def test_broken_reports_are_errors(text: str, message: str) -> None:
    with pytest.raises(bp.ReportError, match=re.escape(message)):
        bp.parse_report(text)


def test_report_keeps_every_tag_and_prefixed_digests() -> None:
    report = bp.parse_report(
        f'[image]\ntags = ["a:1", "a:latest"]\nimage-id = "sha256:{IMAGE_ID}"\ndigest = "{DIGEST}"\n'
    )
    assert report.tags == ("a:1", "a:latest")
    assert report.image_id == f"sha256:{IMAGE_ID}" and report.digest == DIGEST


# ---------------------------------------------------------------------------------------------------- failures

WARNING = (
    "Warning: Detected pack is running in a container; if using a shared docker host, failing to pull build inputs "
    "from a remote registry is insecure."
)
UNTRUSTED = (
    f"{WARNING}\n"
    "ERROR: failed to build: fetching lifecycle image: image 'docker.io/buildpacksio/lifecycle:0.21.17' does not "
    "exist on the daemon: not found\n"
)
DETECT = """===> DETECTING
======== Output: hera-build/hera-runner@0.1.0 ========
[hera-runner] no .hera-build/requirements.txt in the app dir: not a hera-build build context
======== Results ========
fail: hera-build/hera-runner@0.1.0
ERROR: No buildpack groups passed detection.
ERROR: Please check that you are running against the correct path.
ERROR: failed to detect: no buildpacks participating
ERROR: failed to build: executing lifecycle: failed with status code: 20
"""
DAEMON = (
    f"{WARNING}\n"
    "ERROR: failed to build: failed to fetch builder image 'index.docker.io/library/hera-build-test-builder:bookworm'"
    ": failed to connect to the docker API at unix:///tmp/nonexist.sock; check if the path is correct and if the "
    "daemon is running: dial unix /tmp/nonexist.sock: connect: no such file or directory\n"
)
BUILDER_MISSING = (
    f"{WARNING}\n"
    "ERROR: failed to build: failed to fetch builder image 'index.docker.io/nosuch/builder:1': image "
    "'index.docker.io/nosuch/builder:1' does not exist on the daemon: not found\n"
)
BUILDER_UNPULLABLE = (
    f"{WARNING}\n"
    "ERROR: failed to build: failed to fetch builder image 'index.docker.io/nosuch/builder:1': Error response from "
    'daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no '
    "such host\n"
)
RUN_IMAGE_MISSING = (
    f"{WARNING}\n"
    "ERROR: failed to build: invalid run-image 'nosuch/run:1': image 'nosuch/run:1' does not exist on the daemon: "
    "not found\n"
)
BUILD_51 = (
    "===> BUILDING\n"
    "[hera-runner] installing dependencies offline into a virtual environment (sha256:768c)\n"
    "Looking in links: /workspace/.hera-build/deps\n"
    "ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0 (from versions: none)\n"
    "ERROR: No matching distribution found for nosuchpkg==1.0\n"
    "[hera-runner] ERROR: pip could not install .hera-build/requirements.txt from the wheelhouse (offline): see "
    "pip's message above\n"
    "ERROR: failed to build: exit status 1\n"
    "ERROR: failed to build: executing lifecycle: failed with status code: 51\n"
)
EXPORT_62 = (
    "===> EXPORTING\n"
    "ERROR: failed to export: saving image: failed to write image to the following tags: [127.0.0.1:5000/acme/app:1: "
    "PUT http://127.0.0.1:5000/v2/acme/app/manifests/1: UNAUTHORIZED: authentication required]\n"
    "ERROR: failed to build: executing lifecycle: failed with status code: 62\n"
)
NO_BUILDER = """Please select a default builder with:

	pack config default-builder <builder-image>
"""


def fail(output: str, code: int = 1, args: Sequence[str] = ("pack", "build", "app:1")) -> bp.PackFailedError:
    return classify_failure(bp.ProcessResult(tuple(args), code, output), builder="acme/builder:1", image="app:1")


def test_an_untrusted_builder_says_how_to_trust_it() -> None:
    error = fail(UNTRUSTED)
    assert isinstance(error, bp.UntrustedBuilderError)
    assert "acme/builder:1 is not trusted" in error.message and "buildpacksio/lifecycle:0.21.17" in error.message
    assert error.fix and "pack config trusted-builders add acme/builder:1" in error.fix
    assert error.status_code is None and error.exit_code == 1


def test_failed_detection_names_the_buildpacks_that_failed() -> None:
    error = fail(DETECT)
    assert isinstance(error, bp.DetectionFailedError)
    assert error.status_code == 20
    assert (
        "no buildpack group passed detection (lifecycle status 20): fail: hera-build/hera-runner@0.1.0" == error.message
    )


def test_a_daemon_that_does_not_answer() -> None:
    error = fail(DAEMON)
    assert isinstance(error, bp.DaemonUnavailableError)
    assert "cannot reach the Docker engine" in error.message and "/tmp/nonexist.sock" in error.message
    assert error.fix and "DOCKER_HOST" in error.fix


def test_a_missing_builder_under_pull_policy_never() -> None:
    error = fail(BUILDER_MISSING)
    assert isinstance(error, bp.ImageNotFoundError)
    assert error.image == "index.docker.io/nosuch/builder:1"
    assert error.message.startswith("builder image index.docker.io/nosuch/builder:1 is not in the Docker engine")
    assert error.fix and "pack builder create" in error.fix


def test_a_builder_that_cannot_be_pulled_keeps_the_registry_s_reason() -> None:
    error = fail(BUILDER_UNPULLABLE)
    assert isinstance(error, bp.ImageNotFoundError)
    assert error.message.startswith("cannot get builder image index.docker.io/nosuch/builder:1")
    assert "no such host" in error.message


def test_a_missing_run_image() -> None:
    error = fail(RUN_IMAGE_MISSING)
    assert isinstance(error, bp.ImageNotFoundError)
    assert error.image == "nosuch/run:1" and error.message.startswith("run image nosuch/run:1 is not in")


def test_a_failing_buildpack_shows_its_own_error_not_pack_s_summary() -> None:
    error = fail(BUILD_51)
    assert isinstance(error, bp.BuildpackBuildError)
    assert error.status_code == 51
    assert error.message == (
        "a buildpack failed during build (lifecycle status 51): pip could not install "
        ".hera-build/requirements.txt from the wheelhouse (offline): see pip's message above"
    )
    assert error.output[-1].endswith("failed with status code: 51"), "the tail of the output is kept for the user"


def test_a_registry_refusing_the_export_says_to_log_in() -> None:
    error = fail(EXPORT_62, args=("pack", "build", "app:1", "--publish"))
    assert isinstance(error, bp.RegistryError)
    assert error.status_code == 62 and error.fix and "docker login" in error.fix


def test_no_builder_is_a_soft_error() -> None:
    error = fail(NO_BUILDER, code=2)
    assert type(error) is bp.PackFailedError and error.exit_code == 2
    assert error.fix and "--builder" in error.fix


def test_unknown_failures_keep_pack_s_last_error() -> None:
    error = fail("something\nERROR: failed to build: the moon is full\n")
    assert type(error) is bp.PackFailedError
    assert error.message == "pack failed: failed to build: the moon is full"


def test_other_lifecycle_codes_are_named() -> None:
    error = fail("ERROR: failed to build: executing lifecycle: failed with status code: 42\n")
    assert isinstance(error, bp.LifecycleError) and "restore phase failed" in error.message
    assert status_code("no status here") is None


def test_client_raises_the_classified_error(tmp_path: Path) -> None:
    client = bp.PackClient(runner=FakePack(returncode=1, output=DETECT))
    with pytest.raises(bp.DetectionFailedError):
        client.build(bp.BuildOptions(image="app:1", path=tmp_path, builder="b"))


def test_trusting_and_creating_builders(tmp_path: Path) -> None:
    runner = FakePack()
    client = bp.PackClient("pack", runner=runner)
    client.trust_builder("acme/builder:1")
    client.create_builder(bp.BuilderCreateOptions(name="acme/builder:1", config=tmp_path / "builder.toml"))
    assert runner.calls[0] == ["pack", "config", "trusted-builders", "add", "acme/builder:1"]
    assert runner.calls[1][:4] == ["pack", "builder", "create", "acme/builder:1"]
    with pytest.raises(bp.ImageNotFoundError):
        bp.PackClient(runner=FakePack(returncode=1, output=RUN_IMAGE_MISSING)).create_builder(
            bp.BuilderCreateOptions(name="x", config=tmp_path / "builder.toml")
        )


# ---------------------------------------------------------------------------------------------------- the runner


def test_run_process_streams_merged_output_and_returns_the_exit_code() -> None:
    lines: list[str] = []
    code = "import sys; print('out'); sys.stdout.flush(); print('err', file=sys.stderr); sys.exit(3)"
    result = bp.run_process([sys.executable, "-c", code], on_line=lines.append, env={"PYTHONUNBUFFERED": "1"})
    assert result.returncode == 3
    assert sorted(lines) == ["err", "out"] and result.lines == lines


def test_run_process_stops_a_program_that_hangs() -> None:
    with pytest.raises(bp.PackTimeoutError, match="did not finish within 1s"):
        bp.run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)


def test_run_process_names_a_missing_program() -> None:
    with pytest.raises(bp.PackNotFoundError, match="no-such-pack-here"):
        bp.run_process(["no-such-pack-here", "--version"])


# ---------------------------------------------------------------------------------------------------- project.toml


def test_project_descriptor_is_schema_0_2_with_group_and_build_env(tmp_path: Path) -> None:
    descriptor = bp.ProjectDescriptor(
        id="ml-pipeline",
        name="ml-pipeline",
        version="0.3.0",
        group=(bp.GroupEntry(id="paketo-buildpacks/cpython"), bp.GroupEntry(uri="/tmp/with space/hera-runner")),
        build_env={"SOURCE_DATE_EPOCH": "1700000000", "QUOTED": 'a "b"'},
        metadata={"generated-by": "test"},
    )
    data = tomllib.loads(descriptor.write(tmp_path).read_text())
    assert data["_"] == {
        "schema-version": "0.2",
        "id": "ml-pipeline",
        "name": "ml-pipeline",
        "version": "0.3.0",
        "metadata": {"generated-by": "test"},
    }
    assert data["io"]["buildpacks"]["group"] == [
        {"id": "paketo-buildpacks/cpython"},
        {"uri": "/tmp/with space/hera-runner"},
    ]
    assert data["io"]["buildpacks"]["build"]["env"] == [
        {"name": "SOURCE_DATE_EPOCH", "value": "1700000000"},
        {"name": "QUOTED", "value": 'a "b"'},
    ]


@pytest.mark.parametrize(
    ("spec", "entry"),
    [
        ("paketo-buildpacks/cpython", bp.GroupEntry(id="paketo-buildpacks/cpython")),
        ("heroku/python@1.2.3", bp.GroupEntry(id="heroku/python", version="1.2.3")),
        (
            "docker://gcr.io/paketo-buildpacks/cpython:1",
            bp.GroupEntry(uri="docker://gcr.io/paketo-buildpacks/cpython:1"),
        ),
        ("urn:cnb:builder:paketo-buildpacks/cpython", bp.GroupEntry(uri="urn:cnb:builder:paketo-buildpacks/cpython")),
        ("./buildpacks/mine", bp.GroupEntry(uri="./buildpacks/mine")),
        ("/opt/bp", bp.GroupEntry(uri="/opt/bp")),
    ],
)
def test_group_entries_by_id_or_uri(spec: str, entry: bp.GroupEntry) -> None:
    assert bp.parse_group_entry(spec) == entry


# ---------------------------------------------------------------------------------------------------- shipped files


def test_the_shipped_buildpack_is_api_0_10_posix_sh_for_linux() -> None:
    descriptor = tomllib.loads((bp.buildpack_dir() / "buildpack.toml").read_text())
    assert descriptor["api"] == "0.10"
    assert descriptor["buildpack"]["id"] == bp.BUILDPACK_ID
    assert descriptor["buildpack"]["version"] == bp.buildpack_version()
    assert descriptor["targets"] == [{"os": "linux"}]
    for script in ("detect", "build"):
        assert (bp.buildpack_dir() / "bin" / script).read_text().startswith("#!/bin/sh\n")


def test_copies_of_the_buildpack_are_executable_even_if_the_install_lost_the_bits(tmp_path: Path) -> None:
    copy = bp.copy_buildpack(tmp_path)
    for script in (copy / "bin").iterdir():
        script.chmod(0o644)
    copy = bp.copy_buildpack(tmp_path)  # again, over the non-executable copy
    for script in (copy / "bin").iterdir():
        assert script.stat().st_mode & stat.S_IXUSR, script


def test_the_builder_definition_finds_the_buildpack_next_to_it(tmp_path: Path) -> None:
    builder = bp.copy_builder(tmp_path)
    config = tomllib.loads((builder / "builder.toml").read_text())
    (entry,) = config["buildpacks"]
    assert (builder / entry["uri"] / "buildpack.toml").is_file()
    assert config["order"] == [{"group": [{"id": bp.BUILDPACK_ID, "version": bp.buildpack_version()}]}]
    assert (builder / "stack.Dockerfile").is_file()


def test_python_m_buildpacks_copy(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "buildpacks", "copy", str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert Path(result.stdout.strip()) == tmp_path / "builder" / "builder.toml"
    assert os.access(tmp_path / "hera-runner" / "bin" / "build", os.X_OK)


def test_the_buildpacks_package_does_not_need_hera_build() -> None:
    code = "import sys, buildpacks; sys.exit(sorted(m for m in sys.modules if m.startswith('hera_build')) != [])"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.slow
def test_the_wheel_ships_the_buildpack_and_builder_with_executable_scripts(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("hera_build-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    for name in (
        "buildpacks/hera-runner/buildpack.toml",
        "buildpacks/builder/builder.toml",
        "buildpacks/builder/stack.Dockerfile",
    ):
        assert name in modes
    for script in ("detect", "build"):
        assert modes[f"buildpacks/hera-runner/bin/{script}"] & 0o111, f"bin/{script} must be executable in the wheel"
