"""A container engine with no containers, for testing Argo's semantics in milliseconds.

A "container" runs a tiny language instead of a program: its command and arguments (or, for a script template,
the staged source file named by the last argument) are statements separated by ``;`` or new lines::

    print TEXT        stdout gets TEXT and a new line
    err TEXT          the log (not stdout) gets TEXT
    write PATH TEXT   a file in the container
    cat PATH          stdout gets the file
    sleep SECONDS     honours the timeout and cancellation as a real engine does
    exit CODE
    fail-until N KEY  exit 1 until this is the N-th run with this KEY (a flaky step)

Files placed before start, files fetched after exit (as ``docker cp`` tar streams) and the images it "has" behave
as the Docker engine's do, so the executor cannot tell the difference.
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hera_build.run.containers import ContainerResult, ContainerSpec

__all__ = ["FakeEngine"]


@dataclass
class FakeEngine:
    images: set[str] = field(default_factory=lambda: {"fake"})
    runs: list[ContainerSpec] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    cleaned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def missing_images(self, images: Iterable[str]) -> list[str]:
        return sorted(set(images) - self.images)

    def cleanup(self) -> None:
        with self._lock:
            self.cleaned += len(self.running)
            self.running.clear()

    def run(self, spec: ContainerSpec, cancel: threading.Event) -> ContainerResult:
        with self._lock:
            self.runs.append(spec)
        if spec.image not in self.images:
            return ContainerResult(exit_code=None, error=f"image {spec.image} not found")
        files: dict[str, bytes] = dict(spec.files)
        for archive in spec.archives:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        handle = tar.extractfile(member)
                        files["/" + member.name] = handle.read() if handle else b""
        argv = [*(spec.command or ("fake",)), *(spec.args or ())]
        if argv[:1] != ["fake"]:
            return ContainerResult(exit_code=127, log=f"exec: {argv[0]!r}: not found\n")
        program = " ; ".join(argv[1:])
        if spec.args and spec.args[-1] in files:  # a script template: the source is the program
            program = files[spec.args[-1]].decode()
        with self._lock:
            self.running.add(spec.name)
        try:
            return self._interpret(program, spec, files, cancel)
        finally:
            with self._lock:
                self.running.discard(spec.name)

    def _interpret(
        self, program: str, spec: ContainerSpec, files: dict[str, bytes], cancel: threading.Event
    ) -> ContainerResult:
        stdout: list[str] = []
        log: list[str] = []
        exit_code = 0
        started = time.monotonic()
        statements = [s.strip() for line in program.splitlines() for s in line.split(";") if s.strip()]
        for statement in statements:
            op, _, rest = statement.partition(" ")
            if op == "print":
                stdout.append(rest + "\n")
                log.append(rest + "\n")
            elif op == "err":
                log.append(rest + "\n")
            elif op == "write":
                path, _, text = rest.partition(" ")
                files[path] = text.encode()
            elif op == "cat":
                text = files.get(rest.strip(), b"").decode()
                stdout.append(text)
                log.append(text)
            elif op == "sleep":
                limit = float(rest)
                if spec.timeout is not None and spec.timeout < limit:
                    if cancel.wait(max(0.0, spec.timeout - (time.monotonic() - started))):
                        return ContainerResult(exit_code=137, log="".join(log), cancelled=True)
                    return ContainerResult(exit_code=137, stdout="".join(stdout), log="".join(log), timed_out=True)
                if cancel.wait(limit):
                    return ContainerResult(exit_code=137, log="".join(log), cancelled=True)
            elif op == "exit":
                exit_code = int(rest)
                break
            elif op == "fail-until":
                count, key = shlex.split(rest)
                with self._lock:
                    self.counters[key] = self.counters.get(key, 0) + 1
                    calls = self.counters[key]
                if calls < int(count):
                    log.append(f"attempt {calls} fails\n")
                    exit_code = 1
                    break
            else:
                return ContainerResult(exit_code=127, log=f"unknown statement {statement!r}\n")
        collected = {path: _collect(files, path) for path in spec.collect}
        return ContainerResult(exit_code=exit_code, stdout="".join(stdout), log="".join(log), collected=collected)


def _collect(files: dict[str, bytes], path: str) -> bytes | None:
    """What ``docker cp CONTAINER:path -`` gives: the file or folder under its own base name."""
    base = posixpath.basename(path.rstrip("/"))
    inside = {p: data for p, data in files.items() if p == path or p.startswith(path.rstrip("/") + "/")}
    if not inside:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if path not in inside:
            info = tarfile.TarInfo(base)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for file_path, data in sorted(inside.items()):
            name = base if file_path == path else posixpath.join(base, file_path[len(path.rstrip("/")) + 1 :])
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
