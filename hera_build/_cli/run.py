"""``hera-build run``: run a whole workflow locally in the built images, with Argo's semantics."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from hera_build._cli._common import info, print_json
from hera_build.errors import RunError

_EPILOG = """\
examples:
  hera-build run train-pipeline                          run the project's template as emitted for this version
  hera-build run train-pipeline -p rows=10 --json        with an argument; print the run as an Argo Workflow
  hera-build run train-pipeline --build                  build and push the project image first if it is missing
  hera-build run --file dist/argo train-pipeline-v0-3-0  run emitted YAML (a file or a folder)
  hera-build run hello --image python:3.10=127.0.0.1:5000/base:py3   replace an image this machine lacks

Logs and artifacts are kept under .hera-build/runs/<run>/. Exit 0 when the workflow Succeeded, 1 otherwise.
"""

_LOG_LINES = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a workflow locally in its images, as Argo would",
        description="Run one of the project's Workflows, WorkflowTemplates or CronWorkflows on the local Docker "
        "engine with Argo's semantics (steps, DAGs, parameters, artifacts, retries, exit handlers), in the images "
        "exactly as emitted for this version; templateRefs into provider packages run in the provider's image at "
        "the version your requirements pin. A feature a local run cannot honour is refused before anything starts.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="the object's name in the code or its versioned name")
    parser.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="KEY=VALUE", help="a workflow argument (repeatable)"
    )
    parser.add_argument("--entrypoint", metavar="TEMPLATE", help="start at this template instead")
    parser.add_argument("--file", type=Path, metavar="PATH", help="run emitted YAML (a file or a folder of files)")
    parser.add_argument("--project", type=Path, default=Path("."), metavar="DIR", help="project directory")
    parser.add_argument(
        "--digest", metavar="sha256:…", help="run the project image pinned to this digest, as `templates --digest`"
    )
    parser.add_argument("--build", action="store_true", help="build and push the project image first if missing")
    parser.add_argument("--network", choices=("none", "host"), default="none", help="container network (default: none)")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="run image TO wherever a template says FROM (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the run as an Argo Workflow object on stdout")
    parser.set_defaults(run=run)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise RunError(f"{flag} {value!r} is not KEY=VALUE", f"write {flag} name=value")
        pairs[key] = rest
    return pairs


class _LiveTree:
    """The node tree on stderr: redrawn in place on a terminal, one line per finished pod otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.lines = 0
        self.last = 0.0
        self.reported: set[str] = set()
        self.lock = threading.Lock()
        self.tree: Any = None

    def tick(self, stop: threading.Event) -> None:
        """On a terminal, redraw every second so that running nodes' durations move."""
        while self.tty and not stop.wait(1.0):
            if self.tree is not None:
                self.update(self.tree)

    def update(self, tree: Any, *, final: bool = False) -> None:
        from hera_build.run.nodes import NodeType, Phase
        from hera_build.run.tree import SYMBOLS, duration, render

        with self.lock:
            self.tree = tree
            if self.tty:
                now = time.monotonic()
                if not final and now - self.last < 0.1:
                    return
                self.last = now
                lines = render(tree)
                erase = f"\x1b[{self.lines}F\x1b[J" if self.lines else ""
                self.stream.write(erase + "\n".join(lines) + "\n")
                self.stream.flush()
                self.lines = len(lines)
                return
            for node in tree:
                if node.type == NodeType.POD and node.phase in Phase.FULFILLED and node.id not in self.reported:
                    self.reported.add(node.id)
                    message = f"  {node.message}" if node.message and node.phase != Phase.SUCCEEDED else ""
                    self.stream.write(f"{SYMBOLS[node.phase]} {node.name} ({duration(node.duration)}){message}\n")
            if final:
                self.stream.write("\n".join(render(tree)) + "\n")
            self.stream.flush()


def _report_failures(result: Any) -> None:
    for node in result.failed_nodes()[:3]:
        info(f"failed: {node['displayName']} ({node['phase']}: {node.get('message', '')})")
        lines = result.log(node["id"]).rstrip().splitlines()[-_LOG_LINES:]
        for line in lines:
            info(f"  | {line}")
        info(f"  log: {result.run_dir / 'logs' / (node['id'] + '.log')}")


def run(args: argparse.Namespace) -> int:
    from hera_build.run.entry import RunOptions, run_workflow

    live = _LiveTree(sys.stderr)
    options = RunOptions(
        name=args.name,
        project_dir=args.project,
        file=args.file,
        parameters=_pairs(args.parameter, "-p"),
        entrypoint=args.entrypoint,
        digest=args.digest,
        build=args.build,
        network=args.network,
        images=_pairs(args.image, "--image"),
        progress=info,
        on_change=live.update,
    )
    stop = threading.Event()
    threading.Thread(target=live.tick, args=(stop,), daemon=True).start()
    try:
        result = run_workflow(options)
    finally:
        stop.set()
    live.update(result.nodes, final=True)
    if args.json:
        print_json(result.workflow)
    info(f"{result.workflow['metadata']['name']}: {result.phase} (logs: {result.run_dir})")
    if not result.succeeded:
        message = result.workflow["status"].get("message")
        if message:
            info(f"message: {message}")
        _report_failures(result)
        return 1
    return 0
