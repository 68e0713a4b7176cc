"""``hera-build check IMAGE``: would this image run the project's templates? (Same as ``image --check``.)"""

from __future__ import annotations

import argparse
from typing import Any

from hera_build._cli._checks import run_check
from hera_build._cli._common import add_project_args, info, print_json
from hera_build.core.project import load_project
from hera_build.image.backends import BACKENDS, backend_for

_EPILOG = """\
examples:
  hera-build check 127.0.0.1:5000/acme/ml-pipeline:0.3.0
  hera-build check --json sha256:<image id>
  hera-build check --backend buildpacks IMAGE     start Python through the CNB launcher
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check that an image runs the project's runner templates",
        description="Run IMAGE (in the local Docker engine, with no network) and verify that it holds the project at "
        "this version and the emitting environment's hera, that every runner entrypoint of the project's templates "
        "imports, and that one runner template runs end to end as Argo runs it, with the same output as here.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", metavar="IMAGE", help="image reference or id in the local engine")
    add_project_args(parser)
    parser.add_argument(
        "--backend", choices=tuple(BACKENDS), help="backend the image was built with (buildpacks: via the CNB launcher)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.project, version=args.project_version)
    backend = backend_for(project, args.backend)
    summary = run_check(project, args.image, backend, json_output=args.json)
    if args.json:
        print_json(summary)
    else:
        info(f"{args.image}: check passed")
    return 0
