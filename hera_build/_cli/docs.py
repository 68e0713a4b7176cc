"""``hera-build docs``: Markdown reference pages for the templates the package ships."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hera_build._cli._common import add_project_args, info, print_json
from hera_build._cli._template_args import add_template_args, options_from
from hera_build.templates.build import build_templates
from hera_build.templates.output import check_writable
from hera_build.templates.refdocs import page_name, reference_pages, write_pages

_EPILOG = """\
examples:
  hera-build docs                               write docs/templates/index.md and one page per template
  hera-build docs --out site/reference          another folder (e.g. inside your mkdocs docs_dir)
  hera-build docs --lock uv.lock                document refs pinned to the locked versions

Each page shows the versioned name, title and description, entrypoint, image, every template's inputs (types,
defaults and descriptions from the runner functions' signatures and pydantic models) and outputs, and the
templateRefs into other packages with the versions they are pinned to: exactly what `hera-build templates` emits.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "docs",
        help="write Markdown reference pages for the package's templates",
        description="Emit the project's objects as `hera-build templates` does and document each one in a "
        "Markdown page, for humans who reference the templates from other workflows.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_args(parser)
    add_template_args(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/templates"),
        metavar="DIR",
        help="output folder (default: docs/templates)",
    )
    parser.add_argument("--json", action="store_true", help="print the pages written as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_writable(args.out, what="--out", folder=True)  # before importing and pinning: fail fast
    result = build_templates(options_from(args))
    written = write_pages(reference_pages(result), args.out)
    if args.json:
        print_json(
            {
                "project": result.project.distribution_name,
                "version": result.project.version.exact,
                "out": str(written.directory),
                "pages": {obj.name: str(written.directory / page_name(obj)) for obj in result.objects},
                "new": list(written.new),
                "unchanged": list(written.unchanged),
                "replaced": list(written.replaced),
                "removed": list(written.removed),
            }
        )
        return 0
    info(
        f"wrote {len(written.new)} new, {len(written.replaced)} updated, {len(written.unchanged)} unchanged, "
        f"{len(written.removed)} removed pages in {written.directory}"
    )
    return 0
