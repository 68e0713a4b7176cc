"""``hera-build templates``: emit version-pinned Argo objects."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera_build._cli._common import add_argo_args, add_project_args, add_uppercase_arg, info, print_json
from hera_build._cli._template_args import add_template_args, options_from

if TYPE_CHECKING:
    from hera_build.templates.build import TemplatesResult

_EPILOG = """\
examples:
  hera-build templates                          write dist/argo/*.yaml and kustomization.yaml
  hera-build templates --version 2.0.0rc1       names and images for another version
  hera-build templates --digest sha256:<hex>    pin runner images to image:tag@sha256:<hex>
  hera-build templates --stdout | kubectl apply -f -
  hera-build templates --lock uv.lock --json    pin provider refs to locked versions, print a summary
  hera-build templates --no-cache               import and build everything again (by default a run whose
                                                modules, files they read and environment are unchanged reuses
                                                the previous run's objects, kept in $HERA_BUILD_CACHE_DIR,
                                                else ~/.cache/hera-build)
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
        "--no-cache",
        action="store_true",
        help="build the objects again even when nothing they are built from changed (see docs/concepts.md)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="emit what a release manifest records (version, image digest, backend): build and emit in separate steps",
    )
    add_uppercase_arg(parser)
    add_argo_args(parser)
    parser.set_defaults(run=run, freeze_at_exit=True)  # see hera_build._cli.main


def summary(result: TemplatesResult, files: list[str] | None = None) -> dict[str, Any]:
    """The ``--json`` summary: each object, its file (``files``, in the objects' order), its images and each ref
    with what it was pinned to and why."""
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
                "file": files[index] if files else None,
                "images": list(obj.images),
                "refs": [
                    {k: v for k, v in vars(pin).items() if v is not None and k != "cluster_scope"}
                    | {"cluster_scope": pin.cluster_scope}
                    for pin in obj.refs
                ],
            }
            for index, obj in enumerate(result.objects)
        ],
    }


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused meanwhile. Importing Hera and building 500 templates allocates millions of
    objects and almost no cycles (72 MB at most with it, 74 MB without), yet full collections over Hera's
    model classes took about 0.1 s of a 1.4 s run; reference counting still frees everything else."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(args: argparse.Namespace) -> int:
    with _no_cycle_collection():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from hera_build.templates.output import (
        KUSTOMIZATION,
        SUBMIT,
        check_writable,
        layout,
        render,
        render_stream,
        write_output,
    )

    if not args.stdout:
        check_writable(args.out, what="--out", folder=True)  # before importing and pinning: fail fast
    if args.manifest is not None:
        from hera_build.release.pipeline import templates_from_manifest

        result = templates_from_manifest(args.manifest, options_from(args))
        texts = [render(obj.manifest, args.format) for obj in result.objects]
    else:
        from hera_build.templates.cache import emit_templates

        emitted = emit_templates(options_from(args), args.format, cache=not args.no_cache)
        result, texts = emitted.result, emitted.texts
        if emitted.cached:
            info("reused the objects of an earlier run: nothing they are built from changed (--no-cache builds anew)")
    for finding in result.findings:  # warnings: errors have raised
        info(str(finding))
    if args.stdout:
        if args.format == "json":  # one list, not one document per object
            sys.stdout.write(render_stream([obj.manifest for obj in result.objects], "json"))
        else:  # what render_stream writes, from the texts at hand
            sys.stdout.write("---\n".join(texts))
        return 0
    paths = layout(result.objects, args.format)  # one file per object, or an error naming both modules
    written = write_output(dict(zip(paths, texts, strict=True)), args.out, force=args.force)
    if args.json:
        print_json(
            summary(result, [str(written.directory / path) for path in paths])
            | {
                "out": str(written.directory),
                "new": list(written.new),
                "unchanged": list(written.unchanged),
                "replaced": list(written.replaced),
                "kustomization": str(written.directory / KUSTOMIZATION),
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
        submitted = [path for path in paths if path.startswith(f"{SUBMIT}/")]
        if submitted:
            folder = written.directory / Path(submitted[0]).parent
            info(
                f"{len(submitted)} Workflows with generateName are in {folder}, outside the kustomization: create "
                f"them with argo submit or kubectl create -f {folder}"
            )
    return 0
