"""``hera-build release``: build (or reuse) and push the image, emit digest-pinned templates, write the manifest."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera_build._cli._common import add_crd_arg, add_lock_arg, add_project_args, info, print_json
from hera_build.release.manifest import DEFAULT_MANIFEST
from hera_build.templates.output import DEFAULT_OUT

if TYPE_CHECKING:  # the release machinery (registry client, requests) loads only when a command runs
    from hera_build.core.project import Project
    from hera_build.image.backends import BuildResult
    from hera_build.release.pipeline import ReleaseOptions

__all__ = ["register", "add_release_args", "options_from", "run"]

_EPILOG = """\
examples:
  hera-build release --push                       build, push, write dist/argo/ and dist/release-manifest.json
  hera-build plan                                 the same decisions, without side effects
  hera-build release --push --out deploy/argo     write into a GitOps folder (old versions stay)
  hera-build templates --manifest dist/release-manifest.json --out deploy/argo   emit in a later CI step

Re-running is safe: when the registry already has this version built from the same inputs, nothing is built
and its digest is reused; when it has other content, the release is refused (bump the version, or --force).
An uncommitted git tree is released as <version>+dirty.<hash> unless --allow-dirty.
"""


def add_release_args(parser: argparse.ArgumentParser) -> None:
    """The flags ``release`` and ``plan`` share: a plan takes exactly the release's flags."""
    add_project_args(parser)
    parser.add_argument(
        "--backend",
        choices=("docker", "buildpacks", "oci"),
        help="image backend (default: [tool.hera-build] backend, else oci)",
    )
    parser.add_argument("--base-image", metavar="IMAGE", help="base image (default: [tool.hera-build] base-image)")
    parser.add_argument("--push", action="store_true", help="push the image (what a release pipeline does)")
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
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def options_from(args: argparse.Namespace) -> ReleaseOptions:
    from hera_build.release.pipeline import ReleaseOptions

    return ReleaseOptions(
        project_dir=args.project,
        version=args.project_version,
        backend=args.backend,
        base_image=args.base_image,
        push=args.push,
        out=args.out,
        manifest=args.manifest,
        force=args.force,
        allow_dirty=args.allow_dirty,
        lock=args.lock,
        crd_files=tuple(args.crd),
        verbose=getattr(args, "verbose", False),
        progress=info,
        check=None if getattr(args, "no_check", True) else _checker(args),
    )


def _checker(args: argparse.Namespace) -> Callable[[Project, BuildResult], None]:
    """The same image check as ``hera-build image`` runs after a build."""
    from hera_build._cli.image import check_after_build

    def check(project: Project, result: BuildResult) -> None:
        check_after_build(project, result, result.backend, json_output=args.json)

    return check


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "release",
        help="build and push the image, emit digest-pinned templates, write a release manifest",
        description="One safe, re-runnable step from a commit to a pushed runner image, WorkflowTemplates pinned "
        "to image:tag@digest, and a release manifest recording what was released.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_release_args(parser)
    parser.add_argument("--no-check", action="store_true", help="skip the image check of a freshly built image")
    parser.add_argument("--verbose", action="store_true", help="show the backend's full build log")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hera_build.release.pipeline import release

    done = release(options_from(args))
    manifest = done.manifest
    if args.json:
        print_json(
            {
                "decision": done.plan.decision,
                "manifest_file": str(args.manifest),
                "new": list(done.written.new),
                "unchanged": list(done.written.unchanged),
                "replaced": list(done.written.replaced),
                "manifest": manifest.model_dump(mode="json"),
            }
        )
        return 0
    verb = "built" if done.built else "reused"
    pushed = " and pushed" if done.built and args.push else ""
    info(f"{verb}{pushed} {manifest.image.reference}")
    written = done.written
    info(
        f"wrote {len(written.new)} new, {len(written.unchanged)} unchanged, {len(written.replaced)} replaced "
        f"templates in {written.directory}"
    )
    info(f"release manifest: {args.manifest}")
    return 0
