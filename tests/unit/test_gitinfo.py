"""Git facts for labels and release decisions, read from a real (throwaway) git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hera_build.core.gitinfo import git_info, sanitize_remote_url
from tests.support.components import require_executable

ENV = {**os.environ, "GIT_AUTHOR_DATE": "@1700000000 +0000", "GIT_COMMITTER_DATE": "@1700000000 +0000"}


@pytest.fixture(autouse=True)
def _git_installed() -> None:
    """git is a component: a loud skip without it, a failure in CI."""
    require_executable("git", "apt-get install git")


def git(cwd: Path, *args: str) -> str:
    config = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run(
        ["git", *config, *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "a.py").write_text("x = 1\n")
    (tmp_path / "other.txt").write_text("o\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    git(tmp_path, "remote", "add", "origin", "https://user:token@git.example.test/acme/app.git")
    return tmp_path


def test_commit_time_and_clean_tree(repo: Path) -> None:
    info = git_info(repo / "project")
    assert info is not None
    assert info.commit == git(repo, "rev-parse", "HEAD") and len(info.short) == 12
    assert info.commit_time == 1700000000
    assert info.dirty is False
    assert info.remote_url == "https://git.example.test/acme/app.git", "credentials never reach an image label"


def test_changes_under_the_project_make_it_dirty_and_changes_elsewhere_do_not(repo: Path) -> None:
    (repo / "other.txt").write_text("changed\n")
    assert git_info(repo / "project").dirty is False  # type: ignore[union-attr]
    (repo / "project" / "new.py").write_text("y = 2\n")
    assert git_info(repo / "project").dirty is True  # type: ignore[union-attr]


def test_outside_git_there_is_no_information(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None


def test_a_repository_without_commits_has_no_information(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert git_info(tmp_path) is None


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:tok@host/x.git", "https://host/x.git"),
        ("https://host/x.git", "https://host/x.git"),
        ("git@host:acme/x.git", "git@host:acme/x.git"),
    ],
)
def test_sanitize_remote_url(url: str, clean: str) -> None:
    assert sanitize_remote_url(url) == clean
