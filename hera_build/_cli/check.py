"""``hera-build check IMAGE``: would this image run the project's templates? (Same as ``image --check``.)"""

from __future__ import annotations

import argparse
from typing import Any

from hera_build._cli._checks import print_check
from hera_build._cli._common import add_project_args, info
from hera_build.image.backends import BACKENDS

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
    parser.add_argument(
        "image",
        metavar="IMAGE",
        help="image reference or id in the local engine; a multi-platform index in a registry is checked on every "
        "platform this machine runs, and the others are named",
    )
    add_project_args(parser)
    parser.add_argument(
        "--backend", choices=tuple(BACKENDS), help="backend the image was built with (buildpacks: via the CNB launcher)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hera_build.publish.image import ImageOptions, build_image

    options = ImageOptions(
        project_dir=args.project,
        version=args.project_version,
        backend=args.backend,
        check_only=args.image,
        describe_check=not args.json,
        progress=info,
    )
    result = build_image(options)
    print_check(args.image, bool(result.checked), result.check or {}, json_output=args.json)
    return 0
