"""The flags ``release`` and ``plan`` share, and the options they make: a plan takes exactly the release's flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hera_build._cli._common import (
    add_argo_args,
    add_crd_arg,
    add_lock_arg,
    add_platform_arg,
    add_project_args,
    info,
)
from hera_build.release.manifest import DEFAULT_MANIFEST
from hera_build.templates.output import DEFAULT_OUT

if TYPE_CHECKING:  # the release machinery (registry client, requests) loads only when a command runs
    from hera_build.core.project import Project
    from hera_build.publish.pipeline import Checker
    from hera_build.release.pipeline import ReleaseOptions


def add_release_args(parser: argparse.ArgumentParser) -> None:
    """The flags ``release`` and ``plan`` share: a plan takes exactly the release's flags."""
    add_project_args(parser)
    parser.add_argument(
        "--backend",
        choices=("docker", "buildpacks", "oci"),
        help="image backend (default: [tool.hera-build] backend, else oci)",
    )
    parser.add_argument("--base-image", metavar="IMAGE", help="base image (default: [tool.hera-build] base-image)")
    add_platform_arg(parser)
    parser.add_argument(
        "--push", action="store_true", help="push the image and its SPDX SBOM (what a release pipeline does)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder for the templates (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        metavar="FILE",
        help=f"release manifest to write (default: {DEFAULT_MANIFEST})",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite a released tag or emitted files that hold other content"
    )
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="release an uncommitted tree under the plain version (no +dirty.<hash>)",
    )
    add_lock_arg(parser, "pin dependencies")
    add_crd_arg(parser)
    add_argo_args(parser)
    parser.add_argument(
        "--no-check", action="store_true", help="do not run the image check (before pushing, or on a reused image)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def options_from(args: argparse.Namespace) -> ReleaseOptions:
    from hera_build.release.pipeline import ReleaseOptions

    if args.argo:  # a missing argo is one line before any work, not after the build
        from hera_build.templates.argo import find_argo

        find_argo(args.argo_path)

    return ReleaseOptions(
        project_dir=args.project,
        version=args.project_version,
        backend=args.backend,
        base_image=args.base_image,
        platforms=tuple(args.platforms),
        push=args.push,
        out=args.out,
        manifest=args.manifest,
        force=args.force,
        allow_dirty=args.allow_dirty,
        lock=args.lock,
        crd_files=tuple(args.crd),
        argo=args.argo,
        argo_path=args.argo_path,
        verbose=getattr(args, "verbose", False),
        progress=info,
        check=None if args.no_check else _checker(args),
        sbom=True,
    )


def _checker(args: argparse.Namespace) -> Callable[[Project, str], Checker]:
    """The same image check as ``hera-build image`` runs after a build."""
    from hera_build._cli._checks import checker_for

    def make(project: Project, backend: str) -> Checker:
        return checker_for(project, backend, json_output=args.json)

    return make
