"""``hera-build templates``: emit version-pinned Argo objects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hera_build._cli._common import add_project_args, info, print_json
from hera_build._cli._template_args import add_template_args, options_from
from hera_build.templates.build import TemplatesResult, build_templates
from hera_build.templates.output import check_writable, file_name, render, render_stream, write_output

_EPILOG = """\
examples:
  hera-build templates                          write dist/argo/*.yaml and kustomization.yaml
  hera-build templates --version 2.0.0rc1       names and images for another version
  hera-build templates --digest sha256:<hex>    pin runner images to image:tag@sha256:<hex>
  hera-build templates --stdout | kubectl apply -f -
  hera-build templates --lock uv.lock --json    pin provider refs to locked versions, print a summary
"""


_LISTED = 20
"""Objects listed by name on stderr; beyond that a count, so big projects stay readable."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "templates",
        help="emit version-pinned WorkflowTemplates",
        description="Import the project's Hera modules and emit its objects with names, runner images and "
        "templateRefs pinned to the package version (and to the versions of the packages that provide "
        "referenced templates).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_args(parser)
    add_template_args(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("dist/argo"), metavar="DIR", help="output folder (default: dist/argo)"
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="file format (default: yaml)")
    to_stdout = parser.add_mutually_exclusive_group()
    to_stdout.add_argument("--stdout", action="store_true", help="print all objects to stdout instead of writing files")
    to_stdout.add_argument("--json", action="store_true", help="print a JSON summary of what was emitted and pinned")
    parser.add_argument("--force", action="store_true", help="overwrite files of this version that differ")
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="emit what a release manifest records (version, image digest, backend): build and emit in separate steps",
    )
    parser.set_defaults(run=run)


def summary(result: TemplatesResult, files: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``--json`` summary: each object, its images and each ref with what it was pinned to and why."""
    return {
        "project": result.project.distribution_name,
        "version": result.project.version.exact,
        "image": str(result.image) if result.image else None,
        "objects": [
            {
                "kind": obj.kind,
                "source_name": obj.source_name,
                "name": obj.name,
                "module": obj.module,
                "file": (files or {}).get(obj.name),
                "images": list(obj.images),
                "refs": [
                    {k: v for k, v in vars(pin).items() if v is not None and k != "cluster_scope"}
                    | {"cluster_scope": pin.cluster_scope}
                    for pin in obj.refs
                ],
            }
            for obj in result.objects
        ],
    }


def run(args: argparse.Namespace) -> int:
    if not args.stdout:
        check_writable(args.out, what="--out", folder=True)  # before importing and pinning: fail fast
    if args.manifest is not None:
        from hera_build.release.pipeline import templates_from_manifest

        result = templates_from_manifest(args.manifest, options_from(args))
    else:
        result = build_templates(options_from(args))
    manifests = [obj.manifest for obj in result.objects]
    if args.stdout:
        sys.stdout.write(render_stream(manifests, args.format))
        return 0
    files = {file_name(m, args.format): render(m, args.format) for m in manifests}
    written = write_output(files, args.out, force=args.force)
    by_name = {obj.name: str(written.directory / file_name(obj.manifest, args.format)) for obj in result.objects}
    if args.json:
        print_json(
            summary(result, by_name)
            | {
                "out": str(written.directory),
                "new": list(written.new),
                "unchanged": list(written.unchanged),
                "replaced": list(written.replaced),
            }
        )
    else:
        for obj in result.objects[:_LISTED]:
            info(f"{obj.kind} {obj.source_name} -> {obj.name}")
        if len(result.objects) > _LISTED:
            info(f"... and {len(result.objects) - _LISTED} more (--json lists them all)")
        info(
            f"wrote {len(written.new)} new, {len(written.unchanged)} unchanged, {len(written.replaced)} replaced "
            f"in {written.directory}"
        )
    return 0
