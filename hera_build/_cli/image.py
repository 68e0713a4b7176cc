"""``hera-build image``: build, check and push the runner image, tagged with the package version."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hera_build._cli._checks import print_check
from hera_build._cli._common import add_lock_arg, add_platform_arg, add_project_args, info, print_json
from hera_build.image.backends import BACKENDS, DEFAULT_BACKEND, BuildResult
from hera_build.publish.image import ImageOptions

_EPILOG = """\
examples:
  hera-build image                                 build {image}:{version tag} and check it
  hera-build image --backend docker --push --json  build with a Docker engine, push, print image id and digest
  hera-build image --tag latest --push             also tag and push :latest (only on request)
  hera-build image --version 2.0.0rc1              build another version (the wheel gets it too)
  hera-build image --dry-run                       print the plan and the generated Dockerfile
  hera-build image --lock uv.lock                  install the locked dependency versions
  hera-build image --check REPO:TAG                only check an existing image against this project
  hera-build image --base-image python:3.11-slim   another base image (it must be in the engine: no pulls)
  hera-build image --platform linux/amd64 --platform linux/arm64 --push
                                                   one image per platform under one index (oci backend)

then pin the templates to what was pushed:
  hera-build templates --digest sha256:<digest from --push>
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "image",
        help="build (and push) the runner image of the package version",
        description="Build the project's runner image: its wheel and the exact dependency closure that the "
        "templates are emitted with, resolved on the host for the base image's Python and installed offline. "
        "Tagged {image}:{version tag}; checked after the build (the image runs the project's runner templates).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_args(parser)
    parser.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        help=f"image builder (default: backend in [tool.hera-build], else {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="base image with Python (default: base-image in [tool.hera-build], else python:<host major.minor>-slim)",
    )
    add_platform_arg(parser)
    parser.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="also tag the image TAG, e.g. latest (repeatable)"
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="push to the registry and report the digest; an SPDX SBOM of the image's Python distributions is "
        "published beside it (one per platform)",
    )
    parser.add_argument(
        "--force", action="store_true", help="push even if the registry has this version's tag with other content"
    )
    add_lock_arg(parser, "install dependencies")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="also write the image to PATH: oci backend: a directory gets an OCI image layout, a .tar file one "
        "archive that is both an OCI layout and a `docker load` archive; docker backend: a `docker load` archive",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the Dockerfile; build nothing")
    parser.add_argument("--no-check", action="store_true", help="skip the image check after the build")
    parser.add_argument(
        "--check",
        metavar="IMAGE",
        dest="check_image",
        help="only check IMAGE (in the local engine) against this project; a multi-platform index in a registry "
        "is checked on every platform this machine runs, and the others are named",
    )
    add_check_args(parser)
    parser.set_defaults(run=run)


def add_check_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the whole build log")


def _print_plan(plan: Any, args: argparse.Namespace, backend: str) -> None:
    target = getattr(plan, "target", None)
    if args.json:
        print_json(
            {
                "backend": backend,
                "image": str(plan.image),
                "tags": list(plan.tags),
                "base_image": plan.base_image,
                "python": target.to_json() if target else None,
                "push": args.push,
                "dockerfile": getattr(plan, "dockerfile", None),
                "notes": list(getattr(plan, "notes", ())),
            }
        )
        return
    lines = [f"backend:    {backend}", f"image:      {plan.image}", f"tags:       {', '.join(plan.tags)}"]
    lines.append(f"base image: {plan.base_image}")
    if target is not None:
        lines.append(f"python:     {target.version} at {target.python} ({target.platform})")
    lines.append(f"push:       {'yes' if args.push else 'no'}")
    lines += [f"note:       {note}" for note in getattr(plan, "notes", ())]
    print("\n".join(lines))
    if getattr(plan, "dockerfile", None):
        print("\n# Dockerfile\n" + plan.dockerfile, end="")


def _result_json(result: BuildResult) -> dict[str, Any]:
    pushed = result.pushed or result.skipped
    pinned = str(result.image.with_digest(result.digest)) if result.digest and pushed else None
    return {
        "backend": result.backend,
        "image": str(result.image),
        "tags": list(result.tags),
        "image_id": result.image_id,
        "digest": result.digest,
        "pinned": pinned,
        "pushed": result.pushed,
        "base_image": result.base_image,
        "input_digest": result.input_digest,
        "backend_version": result.backend_version,
        "layers": list(result.layers),
        "reused": result.skipped,
        "checked": result.checked,
        "check": result.check,
        "uploaded_bytes": result.uploaded_bytes,
        "sbom": result.sbom,
        "sbom_tag": result.sbom_tag,
        "platforms": {platform: digest for platform, digest in result.platforms},
        "sboms": {platform: {"sbom": sbom, "sbom_tag": tag} for platform, sbom, tag in result.sboms},
    }


def _log_commands() -> None:
    """--verbose: also show every command hera-build runs (pip, build backends, git)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hera_build.core.process")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _options(args: argparse.Namespace) -> ImageOptions:
    return ImageOptions(
        project_dir=args.project,
        version=args.project_version,
        backend=args.backend,
        base_image=args.base_image,
        platforms=tuple(args.platforms),
        push=args.push,
        force=args.force,
        check=not args.no_check,
        extra_tags=tuple(args.tag),
        lock=args.lock,
        output=args.output,
        sbom=True,
        check_only=args.check_image,
        dry_run=args.dry_run,
        verbose=args.verbose,
        describe_check=not args.json,
        progress=info,  # human progress always goes to stderr; --json output goes to stdout
    )


def run(args: argparse.Namespace) -> int:
    from hera_build.publish.image import build_image

    if args.verbose:
        _log_commands()
    result = build_image(_options(args))
    if args.check_image:
        print_check(args.check_image, bool(result.checked), result.check or {}, json_output=args.json)
    elif args.dry_run:
        _print_plan(result.plan, args, result.backend)
    elif args.json:
        print_json(_result_json(result))
    else:
        _print_result(result)
    return 0


def _print_result(result: BuildResult) -> None:
    info(f"image: {', '.join(result.tags)}")
    if result.image_id:
        info(f"id:     {result.image_id}")
    if result.digest:
        info(f"digest: {result.digest}" + (" (image index)" if result.platforms else ""))
    for platform, digest in result.platforms:
        info(f"        {platform}: {digest}")
    if result.pushed or result.skipped:
        info(f"next:   hera-build templates --digest {result.digest}")
