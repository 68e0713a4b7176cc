"""The output folder survives kills and concurrent writers: what a GitOps pipeline applies never loses a file.

Writers run as separate processes (``tests/support/output_writer.py``), killed with ``os._exit`` before each
file-system step of a write in turn, or slowed so that two of them overlap.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hera_build.core.atomic import write_text_atomic
from hera_build.errors import OutputError
from hera_build.templates.output import KUSTOMIZATION, write_output
from tests.support.output_writer import KILLED, files_of

ROOT = Path(__file__).resolve().parents[2]


def writer(out: Path, version: str, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.output_writer", str(out), version, *options],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> int:
    _, err = process.communicate(timeout=60)
    assert process.returncode in (0, KILLED), err
    return process.returncode


def contents(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): p.read_text()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != KUSTOMIZATION
    }


def assert_whole(out: Path, *versions: str) -> None:
    """Every file of ``versions`` with its content, and a kustomization listing exactly the top-level files."""
    found = contents(out)
    for version in versions:
        for name, text in files_of(version).items():
            assert found.get(name) == text, (version, name, sorted(found))
    top = sorted(p.name for p in out.iterdir() if p.is_file() and p.name != KUSTOMIZATION)
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == top


def test_a_kill_at_any_step_leaves_a_folder_the_next_run_restores(tmp_path: Path) -> None:
    """Killed before each step of writing 2.0.0 into a folder holding 1.0.0: the folder (or its moved-aside copy)
    is whole, and the next run (3.0.0) restores it, adds its files and removes every leftover."""
    completed = False
    for kill_at in range(1, 40):
        parent = tmp_path / str(kill_at)
        out = parent / "argo"
        write_output(files_of("1.0.0"), out)
        code = finish(writer(out, "2.0.0", "--kill-at", str(kill_at)))
        if code == 0:
            completed = True
            break
        aside = [p for p in parent.iterdir() if p.name.startswith(".argo.old-")]
        assert out.is_dir() or aside, f"killed at step {kill_at}: neither the folder nor its copy is left"
        write_output(files_of("3.0.0"), out)
        assert_whole(out, "1.0.0", "3.0.0")
        if (out / "workflowtemplate-wt-v2.0.0.yaml").exists():  # the kill came after the swap: 2.0.0 is whole
            assert_whole(out, "2.0.0")
        assert sorted(p.name for p in parent.iterdir()) == [".argo.lock", "argo"], f"leftovers at step {kill_at}"
    assert completed, "the writer never got to the end: the test kills it too early"


def test_leftovers_of_older_runs_are_removed_and_a_lost_folder_is_restored(tmp_path: Path) -> None:
    """What a killed run of an older hera-build left: the folder moved aside, a staging folder."""
    out = tmp_path / "argo"
    write_output(files_of("1.0.0"), out)
    os.rename(out, tmp_path / ".argo.old-4242")
    (tmp_path / ".argo.k3j_x9q2").mkdir()
    (tmp_path / ".argo.k3j_x9q2" / "half.yaml").write_text("half")
    write_output(files_of("2.0.0"), out)
    assert_whole(out, "1.0.0", "2.0.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".argo.lock", "argo"]


def test_two_writers_of_different_versions_at_once_keep_both(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    first = writer(out, "0.3.0", "--slow", "1")
    time.sleep(0.3)
    second = writer(out, "0.3.1", "--slow", "0.2")
    assert (finish(first), finish(second)) == (0, 0)
    assert_whole(out, "0.3.0", "0.3.1")


def test_two_writers_of_the_same_version_at_once_both_succeed(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    first = writer(out, "0.3.0", "--slow", "1")
    time.sleep(0.3)
    second = writer(out, "0.3.0", "--slow", "0.2")
    assert (finish(first), finish(second)) == (0, 0)
    assert_whole(out, "0.3.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".argo.lock", "argo"]


def test_a_writer_that_cannot_get_the_lock_in_time_fails_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    with open(tmp_path / ".argo.lock", "w") as held:  # another process's lock, as flock sees it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(
            OutputError, match=r"another hera-build run is writing .*argo .*gave up after 0.2 s"
        ) as info:
            write_output(files_of("1.0.0"), out, lock_timeout=0.2)
    assert "\n" not in str(info.value) and info.value.fix
    assert not out.exists()


def test_temporary_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    manifest = tmp_path / "release-manifest.json"
    abandoned, live = tmp_path / ".release-manifest.json.abc123.tmp", tmp_path / ".release-manifest.json.def456.tmp"
    for path in (abandoned, live):
        path.write_text("{")
        os.utime(path, (time.time() - 60, time.time() - 60))
    with open(live) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a writer still at work
        write_text_atomic(manifest, "{}\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, manifest.name]
