"""``hera-build init``: configure an existing Hera project for hera-build."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hera_build._cli._common import info, print_json
from hera_build.image.backends import BACKENDS, DEFAULT_BACKEND
from hera_build.init import InitOptions, InitResult, init_project

_EPILOG = """\
examples:
  hera-build init --image ghcr.io/acme/ml-pipeline     scan the installed package, write pyproject.toml
  hera-build init --dry-run                            print the change as a diff, write nothing
  hera-build init --module ml_pipeline.workflows       configure these modules instead of scanning
  hera-build init --force --backend docker             replace image, modules and backend in existing config

The project must be installed in the environment that runs hera-build (pip install -e .): its modules are
imported by name, as the runner imports them in the image.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="add [tool.hera-build] and the templates entry point to pyproject.toml",
        description="Find the modules of the installed project that define Hera objects and add [tool.hera-build] "
        "(image, modules, backend) and the hera_build.templates entry point to its pyproject.toml, leaving "
        "everything else in the file as it was.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--project", type=Path, default=Path("."), metavar="DIR", help="project directory (default: current)"
    )
    parser.add_argument(
        "--image", metavar="REPOSITORY", help="runner image repository without a tag (default: left for you to set)"
    )
    parser.add_argument(
        "--backend", choices=tuple(BACKENDS), help=f"image backend to configure (default: {DEFAULT_BACKEND})"
    )
    parser.add_argument(
        "--module",
        dest="modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="dotted module that defines Hera objects, instead of scanning the package (repeatable)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing hera-build configuration")
    parser.add_argument("--dry-run", action="store_true", help="print the change as a unified diff; write nothing")
    parser.add_argument("--json", action="store_true", help="print what was found and written as JSON")
    parser.set_defaults(run=run)


def _summary(result: InitResult) -> dict[str, Any]:
    return {
        "pyproject": str(result.pyproject),
        "written": result.written,
        "changed": result.changed,
        "image": result.image,
        "modules": list(result.modules),
        "backend": result.backend,
        "entry_points": result.entry_points,
        "packages": [{"name": p.name, "path": str(p.path), "found_by": p.origin} for p in result.packages],
        "objects": [{"kind": kind, "name": name, "module": module} for kind, name, module in result.objects],
        "warnings": list(result.warnings),
        "diff": result.diff(),
    }


def run(args: argparse.Namespace) -> int:
    result = init_project(
        InitOptions(
            project_dir=args.project,
            image=args.image,
            backend=args.backend,
            modules=tuple(args.modules),
            force=args.force,
            dry_run=args.dry_run,
        )
    )
    for warning in result.warnings:
        info(f"warning: {warning}")
    if args.json:
        print_json(_summary(result))
        return 0
    if args.dry_run:
        sys.stdout.write(result.diff())
        return 0
    for kind, name, module in result.objects:
        info(f"found {kind} {name} in {module}")
    if not result.changed:
        info(f"{result.pyproject} already configured; nothing to change")
        return 0
    info(f"updated {result.pyproject}")
    if result.entry_points:
        info("next: reinstall the project (pip install -e .) so other packages can find its templates")
    info("then: hera-build templates, hera-build docs")
    return 0
