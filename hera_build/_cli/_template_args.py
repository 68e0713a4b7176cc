"""The flags ``templates`` and ``docs`` share, and the template options they make."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hera_build._cli._common import add_crd_arg, add_lock_arg

if TYPE_CHECKING:
    from hera_build.templates.build import TemplateOptions


def add_template_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--digest", metavar="SHA256", help="pin runner images to image:tag@DIGEST")
    add_lock_arg(parser, "pin provider refs")
    add_crd_arg(parser)
    parser.add_argument(
        "--backend",
        choices=("docker", "buildpacks", "oci"),
        help="the backend the image is built with (buildpacks images need the CNB launcher in commands)",
    )


def _backend(args: argparse.Namespace) -> str | None:
    """``--backend``, else ``backend`` in [tool.hera-build] (a release manifest brings its own): buildpacks
    images need the CNB launcher in the runner scripts' ``command``."""
    if getattr(args, "backend", None) or getattr(args, "manifest", None) is not None:
        return getattr(args, "backend", None)
    from hera_build.core.project import load_project

    # The version does not matter here; passing one skips computing a dynamic version twice.
    return load_project(args.project, version=args.project_version or "0").config.backend


def options_from(args: argparse.Namespace) -> TemplateOptions:
    from hera_build.templates.build import TemplateOptions

    if getattr(args, "argo", False):  # a missing argo is one line before any work
        from hera_build.templates.argo import find_argo

        find_argo(getattr(args, "argo_path", None))

    runner_command = None
    if _backend(args) == "buildpacks":
        from hera_build.image.backends import runner_command_for

        runner_command = runner_command_for("buildpacks")
    return TemplateOptions(
        project_dir=args.project,
        version=args.project_version,
        digest=args.digest,
        lock=args.lock,
        runner_command=runner_command,
        crd_files=tuple(args.crd),
        allow_uppercase=getattr(args, "allow_uppercase", False),
        argo=getattr(args, "argo", False),
        argo_path=getattr(args, "argo_path", None),
    )
