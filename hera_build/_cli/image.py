"""``hera-build image``: build, check and push the runner image, tagged with the package version."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera_build._cli._common import add_lock_arg, add_platform_arg, add_project_args, info, print_json
from hera_build.core.epoch import source_date_epoch
from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef, parse_image_ref, parse_tag
from hera_build.errors import ConfigError
from hera_build.image.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    BuildRequest,
    BuildResult,
    backend_for,
    get_builder,
    resolve_base_image,
    resolve_platforms,
)

if TYPE_CHECKING:
    from hera_build.publish.pipeline import Shipped

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
    parser.add_argument("--push", action="store_true", help="push to the registry and report the digest")
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
        help="only check IMAGE (in the local engine) against this project",
    )
    add_check_args(parser)
    parser.set_defaults(run=run)


def add_check_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the whole build log")


def _project(args: argparse.Namespace) -> Project:
    return load_project(args.project, version=args.project_version)


def _backend(args: argparse.Namespace, project: Project) -> str:
    return backend_for(project, args.backend)


def _base_image(args: argparse.Namespace, project: Project) -> str:
    return resolve_base_image(project, args.base_image)


def _image(project: Project) -> ImageRef:
    repository = project.config.image_ref
    if repository is None:
        raise ConfigError(
            f"no image repository configured for {project.name}",
            'set image = "registry/path/name" in [tool.hera-build] of pyproject.toml',
        )
    return repository.with_tag(project.version.tag)


def _extra_tags(tags: list[str]) -> tuple[str, ...]:
    """``--tag`` values, checked before the build: a bare tag (``latest``) or a whole reference."""
    for tag in tags:
        if "/" in tag or ":" in tag:
            parse_image_ref(tag, what="--tag")
        else:
            parse_tag(tag, what="--tag")
    return tuple(tags)


def _check_output(output: Path | None, backend: str) -> None:
    """``--output`` must be writable before the build: a directory (an OCI layout) or a file (an archive).
    (The buildpacks backend writes no file and says so itself.)"""
    if output is not None and backend != "buildpacks":
        from hera_build.templates.output import check_writable

        folder = backend == "oci" and output.suffix != ".tar"
        check_writable(output, what="--output", folder=folder)


def _request(args: argparse.Namespace, project: Project) -> BuildRequest:
    return BuildRequest(
        project=project,
        image=_image(project),
        base_image=_base_image(args, project),
        platforms=resolve_platforms(project, args.platforms),
        extra_tags=_extra_tags(args.tag),
        lock=args.lock,
        source_date_epoch=source_date_epoch(),
        verbose=args.verbose,
        output=args.output,
        load=not (args.no_check and (args.push or args.output)),
        progress=info,  # human progress always goes to stderr; --json output goes to stdout
    )


@dataclass(frozen=True)
class _GenericPlan:
    """What any backend would do, for backends without a ``plan`` of their own."""

    image: ImageRef
    tags: tuple[str, ...]
    base_image: str
    push: bool
    target: None = None
    notes: tuple[str, ...] = ("this backend shows no details of its build",)


def _generic_plan(request: BuildRequest, push: bool) -> _GenericPlan:
    return _GenericPlan(request.image, tuple(str(ref) for ref in request.tags), request.base_image, push)


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


def _result_json(result: BuildResult, shipped: Shipped) -> dict[str, Any]:
    pushed = result.pushed or result.skipped
    pinned = str(result.image.with_digest(result.digest)) if result.digest and pushed else None
    uploaded = shipped.published.uploaded_bytes if shipped.published else None
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
        "uploaded_bytes": uploaded,
        "sbom": result.sbom,
        "sbom_tag": result.sbom_tag,
        "platforms": {platform: digest for platform, digest in result.platforms},
    }


def _log_commands() -> None:
    """--verbose: also show every command hera-build runs (pip, build backends, git)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hera_build.core.process")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def run(args: argparse.Namespace) -> int:
    from hera_build._cli._checks import checker_for, run_check

    if args.verbose:
        _log_commands()
    project = _project(args)
    backend = _backend(args, project)
    if args.check_image:
        summary = run_check(project, args.check_image, backend, json_output=args.json)
        if args.json:
            print_json(summary)
        else:
            info(f"{args.check_image}: check passed")
        return 0
    request = _request(args, project)
    _check_output(args.output, backend)
    builder = get_builder(backend)
    if args.dry_run:
        plan = getattr(builder, "plan", None)
        _print_plan(plan(request) if plan else _generic_plan(request, args.push), args, backend)
        return 0
    from hera_build.image.registry import RegistryApi
    from hera_build.publish.pipeline import ShipOptions, ship

    checker = None if args.no_check else checker_for(project, backend, json_output=args.json)
    options = ShipOptions(push=args.push, force=args.force, checker=checker, sbom=True)
    shipped = ship(builder, request, options, RegistryApi())
    result = shipped.result
    if args.json:
        print_json(_result_json(result, shipped))
        return 0
    info(f"image: {', '.join(result.tags)}")
    if result.image_id:
        info(f"id:     {result.image_id}")
    if result.digest:
        info(f"digest: {result.digest}" + (" (image index)" if result.platforms else ""))
    for platform, digest in result.platforms:
        info(f"        {platform}: {digest}")
    if result.pushed or result.skipped:
        info(f"next:   hera-build templates --digest {result.digest}")
    return 0
