"""What git knows about the project's source: commit, commit time, dirty flag, remote.

Images carry the commit as ``org.opencontainers.image.revision``; release pipelines use the commit time as
``SOURCE_DATE_EPOCH`` and the dirty flag to keep uncommitted builds off release tags. Outside a git work tree
(or without git installed) there is simply no information: builds still work.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hera_build.core.process import run_command
from hera_build.errors import HeraBuildError

_TIMEOUT = 30.0
_CREDENTIALS_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


@dataclass(frozen=True)
class GitInfo:
    commit: str
    """Full hash of ``HEAD``."""
    commit_time: int
    """Committer time of ``HEAD``, seconds since the epoch (a natural ``SOURCE_DATE_EPOCH``)."""
    dirty: bool
    """Uncommitted changes (tracked or untracked, not ignored) under the project directory."""
    remote_url: str | None = None
    """``remote.origin.url`` without any credentials in it."""

    @property
    def short(self) -> str:
        return self.commit[:12]


def sanitize_remote_url(url: str) -> str:
    """Drop ``user:token@`` from a remote URL: it goes into image labels, which anyone can read."""
    return _CREDENTIALS_RE.sub(r"\g<scheme>", url.strip())


def _git(path: Path, *args: str) -> str | None:
    try:
        result = run_command(["git", "-C", str(path), *args], check=False, timeout=_TIMEOUT, what="git")
    except HeraBuildError:  # git not installed, or hung
        return None
    return result.stdout.strip() if result.ok else None


def git_info(path: Path) -> GitInfo | None:
    """Git facts for the work tree holding ``path``; ``None`` outside git (or when git is not installed)."""
    if _git(path, "rev-parse", "--is-inside-work-tree") != "true":
        return None
    commit = _git(path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not commit:  # a repository without commits
        return None
    time_text = _git(path, "log", "-1", "--format=%ct", commit)
    status = _git(path, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    remote = _git(path, "config", "--get", "remote.origin.url")
    return GitInfo(
        commit=commit,
        commit_time=int(time_text) if time_text and time_text.isdigit() else 0,
        dirty=bool(status),
        remote_url=sanitize_remote_url(remote) if remote else None,
    )


def _hash_worktree_file(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if not path.is_file():
        return "deleted"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dirty_fingerprint(path: Path, *, exclude: tuple[Path, ...] = ()) -> str | None:
    """A hash of the uncommitted state under ``path``: ``HEAD`` plus the content of every changed, deleted or
    untracked (not ignored) file, so the same dirty tree always gives the same value. ``None`` when the tree is
    clean or not in git. ``exclude`` names folders and files under ``path`` that do not count (what hera-build
    itself writes, such as the output folder)."""
    head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    top = _git(path, "rev-parse", "--show-toplevel")
    if not head or not top:
        return None
    root = path.resolve()
    spec = [
        ".",
        *(f":(exclude){os.path.relpath(p.resolve(), root)}" for p in exclude if p.resolve().is_relative_to(root)),
    ]
    changed = _git(path, "diff", "--name-only", "-z", "--no-renames", "HEAD", "--", *spec) or ""
    untracked = _git(path, "ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", *spec) or ""
    names = sorted({name for name in (*changed.split("\0"), *untracked.split("\0")) if name})
    if not names:
        return None
    digest = hashlib.sha256(head.encode() + b"\n")
    for name in names:
        digest.update(f"{name}\0{_hash_worktree_file(Path(top) / name)}\n".encode())
    return digest.hexdigest()
