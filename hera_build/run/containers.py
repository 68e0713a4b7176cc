"""What the run engine asks of a container engine, as one small protocol, and the tar helpers both sides share.

A pod node is one container: files placed before it starts (the script source, input artifacts), run to exit or
timeout, its stdout and combined log, and files fetched after it exits (output parameters and artifacts), as tar
streams exactly as ``docker cp`` gives them. The Docker engine (:mod:`hera_build.run.docker_engine`) and the
test fake both implement :class:`ContainerEngine`; the semantics of Argo live in the executor, never here.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ContainerSpec:
    """One container as Argo's emissary would run it."""

    name: str
    image: str
    command: tuple[str, ...] | None
    """``None``: the image's entrypoint (and then ``args`` ``None`` means the image's CMD too)."""
    args: tuple[str, ...] | None
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    """Absolute path → content, placed before the container starts (script source, raw artifacts)."""
    archives: tuple[bytes, ...] = ()
    """Tar streams with paths relative to ``/``, extracted before the container starts (artifacts)."""
    volumes: tuple[str, ...] = ()
    """Mount paths of ``emptyDir`` volumes: each an empty volume that lives as long as the container."""
    collect: tuple[str, ...] = ()
    """Absolute paths fetched after the container exits (output parameters and artifacts)."""
    timeout: float | None = None
    network: str = "none"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerResult:
    exit_code: int | None
    """``None`` when the container never ran (see ``error``)."""
    stdout: str = ""
    log: str = ""
    """stdout and stderr as they interleaved."""
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None
    """Why the container could not run at all (image missing, engine error): Argo calls that an *Error*."""
    collected: Mapping[str, bytes | None] = field(default_factory=dict)
    """Path → tar stream of that path, ``None`` when it does not exist."""


class ContainerEngine(Protocol):
    def missing_images(self, images: Iterable[str]) -> list[str]:
        """The images among ``images`` that cannot be run (neither present nor pullable)."""
        ...

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ContainerResult:
        """Run ``spec`` to completion; kill it when ``cancel`` is set or the timeout passes. Leaves nothing behind."""
        ...

    def cleanup(self) -> None:
        """Kill and remove every container this engine started that is still there: after each run, and on Ctrl-C."""
        ...


def _relative(path: str) -> str:
    return posixpath.normpath(path).lstrip("/")


def tar_file(path: str, data: bytes, mode: int = 0o644) -> bytes:
    """A tar stream holding one file at absolute ``path`` (stored relative to ``/``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(_relative(path))
        info.size = len(data)
        info.mode = mode
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_placed(stream: bytes, path: str, mode: int | None = None) -> bytes:
    """Re-root a ``docker cp``-style stream (its top entry is the copied file or folder) at absolute ``path``."""
    target = _relative(path)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(stream)) as source, tarfile.open(fileobj=out, mode="w") as archive:
        members = source.getmembers()
        top = members[0].name.split("/")[0] if members else ""
        for member in members:
            rest = member.name[len(top) :].lstrip("/")
            member.name = posixpath.join(target, rest) if rest else target
            if mode is not None and member.isfile():
                member.mode = mode
            archive.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out.getvalue()


def file_from_tar(stream: bytes) -> bytes | None:
    """The content of the single file in a ``docker cp`` stream; ``None`` when it holds a folder."""
    with tarfile.open(fileobj=io.BytesIO(stream)) as archive:
        members = archive.getmembers()
        if len(members) != 1 or not members[0].isfile():
            return None
        handle = archive.extractfile(members[0])
        return handle.read() if handle is not None else b""
