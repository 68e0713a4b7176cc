"""``hera-build image``: build, check and push the runner image, tagged with the package version."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hera_build._cli._common import add_lock_arg, add_project_args, info, print_json
from hera_build.core.epoch import source_date_epoch
from hera_build.core.project import Project, load_project
from hera_build.core.references import ImageRef, parse_image_ref, parse_tag
from hera_build.errors import ConfigError, EngineError
from hera_build.image.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    BuildRequest,
    BuildResult,
    backend_for,
    get_builder,
    resolve_base_image,
    runner_command_for,
)
from hera_build.templates.output import check_writable

__all__ = ["register", "run", "add_check_args", "run_check", "check_summary"]

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
        folder = backend == "oci" and output.suffix != ".tar"
        check_writable(output, what="--output", folder=folder)


def _request(args: argparse.Namespace, project: Project) -> BuildRequest:
    return BuildRequest(
        project=project,
        image=_image(project),
        base_image=_base_image(args, project),
        extra_tags=_extra_tags(args.tag),
        push=args.push,
        force=args.force,
        lock=args.lock,
        source_date_epoch=source_date_epoch(),
        verbose=args.verbose,
        output=args.output,
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


def _generic_plan(request: BuildRequest) -> _GenericPlan:
    extra = (
        str(request.image.with_tag(tag)) if ":" not in tag and "/" not in tag else tag for tag in request.extra_tags
    )
    return _GenericPlan(request.image, (str(request.image), *extra), request.base_image, request.push)


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
                "push": plan.push,
                "dockerfile": getattr(plan, "dockerfile", None),
                "notes": list(getattr(plan, "notes", ())),
            }
        )
        return
    lines = [f"backend:    {backend}", f"image:      {plan.image}", f"tags:       {', '.join(plan.tags)}"]
    lines.append(f"base image: {plan.base_image}")
    if target is not None:
        lines.append(f"python:     {target.version} at {target.python} ({target.platform})")
    lines.append(f"push:       {'yes' if plan.push else 'no'}")
    lines += [f"note:       {note}" for note in getattr(plan, "notes", ())]
    print("\n".join(lines))
    if getattr(plan, "dockerfile", None):
        print("\n# Dockerfile\n" + plan.dockerfile, end="")


def check_after_build(
    project: Project, result: BuildResult, backend: str, *, json_output: bool
) -> dict[str, Any] | None:
    """The image check after a build; without an engine, non-docker backends say clearly that it did not run."""
    image = result.image_id or str(result.image)
    try:
        check = run_check(project, image, backend, json_output=json_output)
    except EngineError as exc:
        if backend == "docker":
            raise
        info(
            f"warning: image check not run ({exc.message}): not verified in the image are the installed "
            f"{project.name} version, the hera version, the runner entrypoints' imports and the end-to-end runner "
            f"run; run `hera-build image --check {result.image}` where a Docker engine is"
        )
        return None
    return check


def check_summary(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = result.to_json()
    return data


def run_check(project: Project, image: str, backend: str, *, json_output: bool) -> dict[str, Any]:
    """Check ``image`` in the local Docker engine; prints the human summary unless ``json_output``."""
    from hera_build.image.backends.docker import DockerEngine
    from hera_build.image.check import CheckOptions, check_image

    python = runner_command_for(backend) or ("python",)
    if not json_output:
        info(f"checking {image} (no network)")
    # The end-to-end run uses the command that `templates` emits for this backend (buildpacks: the CNB launcher).
    options = CheckOptions(python_command=python, runner_command=runner_command_for(backend))
    result = check_image(image, project, runner=DockerEngine.from_env(), options=options)
    if not json_output:
        info(f"  {result.distribution} {result.version}, hera {result.hera_version}, Python {result.python_version}")
        info(f"  {len(result.entrypoints)} runner entrypoint(s) import: {', '.join(result.entrypoints) or '-'}")
        if result.run is not None:
            case = result.run.case
            info(f"  ran {case.object_name}/{case.template} ({case.entrypoint}) -> {result.run.output.strip()[-120:]}")
        for note in result.notes:
            info(f"  note: {note}")
    return check_summary(result)


def _result_json(result: BuildResult, check: dict[str, Any] | None) -> dict[str, Any]:
    pinned = str(result.image.with_digest(result.digest)) if result.digest else None
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
        "check": check,
    }


def _log_commands() -> None:
    """--verbose: also show every command hera-build runs (pip, build backends, git)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hera_build.core.process")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def run(args: argparse.Namespace) -> int:
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
        _print_plan(plan(request) if plan else _generic_plan(request), args, backend)
        return 0
    result = builder.build(request)
    check = None if args.no_check else check_after_build(project, result, backend, json_output=args.json)
    if args.json:
        print_json(_result_json(result, check))
        return 0
    info(f"image: {', '.join(result.tags)}")
    if result.image_id:
        info(f"id:     {result.image_id}")
    if result.digest:
        info(f"digest: {result.digest}")
        info(f"next:   hera-build templates --digest {result.digest}")
    return 0
