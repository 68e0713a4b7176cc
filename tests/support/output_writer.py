"""A separate process that writes one version into an output folder, optionally killed or slowed on the way.

    python -m tests.support.output_writer OUT VERSION [--kill-at N] [--slow SECONDS]

``--kill-at N`` ends the process with ``os._exit`` (no cleanup, no ``finally``: as ``kill -9`` does) just before
the N-th file-system step of the write (a rename, a link or copy of a kept file, a folder's creation or removal, a
file write, a chmod), so a test can kill it at every step in turn. ``--slow`` sleeps inside the write, with the
folder's lock held, so that two writers overlap. Exit 0 when the write completed, 137 when killed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hera_build.templates import output

KILLED = 137


def files_of(version: str) -> dict[str, str]:
    """What writing ``version`` adds: a template file and a submit file, both naming the version."""
    return {
        f"workflowtemplate-wt-v{version}.yaml": f"version: {version}\n",
        f"submit/{version}/workflow-run.pkg.flows.w.yaml": f"run: {version}\n",
    }


def _instrument(kill_at: int) -> None:
    steps = 0

    def step(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal steps
            steps += 1
            if steps == kill_at:
                os._exit(KILLED)
            return function(*args, **kwargs)

        return wrapper

    os.rename = step(os.rename)
    os.chmod = step(os.chmod)
    os.link = step(os.link)
    shutil.copy2 = step(shutil.copy2)
    Path.mkdir = step(Path.mkdir)  # type: ignore[method-assign]
    shutil.rmtree = step(shutil.rmtree)  # type: ignore[assignment]
    shutil.copytree = step(shutil.copytree)
    tempfile.mkdtemp = step(tempfile.mkdtemp)
    Path.write_text = step(Path.write_text)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("version")
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    if args.slow:
        kustomization = output._kustomization

        def slow(directory: Path) -> str:
            time.sleep(args.slow)
            return kustomization(directory)

        output._kustomization = slow
    if args.kill_at:
        _instrument(args.kill_at)
    output.write_output(files_of(args.version), args.out)


if __name__ == "__main__":
    main()
