"""Probing a base image's Python: the facts → wheel tags derivation, and the on-disk cache by image id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from hera_build.errors import BuildError
from hera_build.image.target import (
    PROBE_SCRIPT,
    ContainerProber,
    ProbeCache,
    PythonFacts,
    RunOutcome,
    host_facts,
    platform_tags,
    target_from_facts,
)


def test_the_host_probe_gives_exactly_the_tags_pip_would_accept_on_the_host() -> None:
    target = target_from_facts(host_facts())
    assert set(target.supported_tags()) == set(sys_tags())


def test_glibc_tags_run_from_the_libc_version_down_with_legacy_aliases() -> None:
    tags = platform_tags("x86_64", ("glibc", "2.36"))
    assert tags[0] == "manylinux_2_36_x86_64"
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"} <= set(tags)
    assert tags[-1] == "linux_x86_64"
    assert "manylinux_2_37_x86_64" not in tags, "a wheel for a newer glibc would not load"


def test_aarch64_has_no_tags_older_than_manylinux2014() -> None:
    tags = platform_tags("aarch64", ("glibc", "2.31"))
    assert "manylinux2014_aarch64" in tags
    assert "manylinux_2_16_aarch64" not in tags and "manylinux1_aarch64" not in tags


def test_musl_gets_musllinux_tags_and_no_manylinux() -> None:
    tags = platform_tags("x86_64", ("musl", "1.2"))
    assert tags == ("musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64", "linux_x86_64")


def test_target_from_facts_derives_interpreter_abi_and_pip_arguments() -> None:
    facts = PythonFacts(
        "/usr/local/bin/python3", "3.12.1", machine="aarch64", libc=("glibc", "2.36"), free_threaded=False
    )
    target = target_from_facts(facts)
    assert (target.interpreter, target.abi, target.major_minor) == ("cp312", "cp312", "3.12")
    args = target.pip_args()
    assert args[:6] == ["--implementation", "cp", "--python-version", "3.12", "--abi", "cp312"]
    assert "manylinux_2_36_aarch64" in args
    assert target.platform == "cp312-manylinux_2_36_aarch64"


def test_free_threaded_python_gets_its_own_abi() -> None:
    assert target_from_facts(PythonFacts("/p", "3.13.0", free_threaded=True)).abi == "cp313t"


def test_targets_round_trip_through_json() -> None:
    target = target_from_facts(host_facts())
    assert type(target).from_json(json.loads(json.dumps(target.to_json()))) == target


class FakeRunner:
    def __init__(self, outcomes: Mapping[str, RunOutcome], image_id: str = "sha256:" + "a" * 64) -> None:
        self.outcomes = outcomes
        self.id = image_id
        self.runs: list[list[str]] = []

    def image_id(self, image: str) -> str:
        return self.id

    def run(
        self, image: str, *, entrypoint: list[str], command: list[str], files=None, env=None, timeout=120.0
    ) -> RunOutcome:  # type: ignore[no-untyped-def]
        self.runs.append(entrypoint + command)
        return self.outcomes[entrypoint[0]]


def facts_json() -> str:
    return json.dumps(
        {
            "executable": "/usr/bin/python3",
            "version": "3.11.2",
            "implementation": "cpython",
            "machine": "x86_64",
            "libc": ["glibc", "2.36"],
            "markers": {"python_version": "3.11"},
        }
    )


def test_container_prober_runs_the_probe_script_without_network_and_caches_by_image_id(tmp_path: Path) -> None:
    runner = FakeRunner({"python3": RunOutcome(0, facts_json(), "")})
    prober = ContainerProber(runner, ProbeCache(tmp_path))
    first = prober.probe("base:1")
    second = ContainerProber(runner, ProbeCache(tmp_path)).probe("base:1")
    assert first == second and first.python == "/usr/bin/python3"
    assert runner.runs == [["python3", "-c", PROBE_SCRIPT]], "the second probe came from the cache"


def test_prober_falls_back_to_python_and_explains_when_there_is_none(tmp_path: Path) -> None:
    runner = FakeRunner(
        {
            "python3": RunOutcome(127, "", "exec: python3: not found"),
            "python": RunOutcome(127, "", "exec: python: not found"),
        }
    )
    with pytest.raises(
        BuildError, match=r"base image base:1 has no working Python 3 \(python3: exec: python3: not found; python: "
    ):
        ContainerProber(runner, ProbeCache(tmp_path)).probe("base:1")


def test_the_probe_script_runs_on_this_python() -> None:
    facts = host_facts()
    assert facts.libc[0] in ("glibc", "musl")
    assert facts.markers["python_version"] == ".".join(facts.version.split(".")[:2])
