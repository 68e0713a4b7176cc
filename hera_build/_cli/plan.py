"""``hera-build plan``: what ``release`` would do with the same flags, without building, pushing or writing."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from hera_build._cli._common import print_json
from hera_build._cli._release_args import add_release_args, options_from

if TYPE_CHECKING:  # the release machinery loads only when the command runs
    from hera_build.release.pipeline import Plan

_EPILOG = """\
examples:
  hera-build plan                  is this version new, already released (skip), or released with other content?
  hera-build plan --json           the same as JSON, with the manifest the release would write

Exit code 1 when the release would be refused (the version is released with other content, or emitted files
of this version would change), so a pull-request check can ask for a version bump.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what release would do, without side effects",
        description="Show the image reference, what the registry has under its tag, whether release would build, "
        "skip or refuse, the templates it would write (new, unchanged, conflicting) and what every templateRef "
        "pins to. Nothing is built, pushed or written.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_release_args(parser)
    parser.set_defaults(run=run)


def _registry_line(the_plan: Plan) -> str:
    remote = the_plan.remote
    if the_plan.registry_state == "unknown":
        return f"unknown ({the_plan.registry_error})"
    if remote is None:
        return "tag not present"
    from hera_build.image.inputs import INPUT_DIGEST_LABEL

    label = remote.labels.get(INPUT_DIGEST_LABEL, "no input-digest label")
    return f"tag present: {remote.digest} (inputs {label})"


def render_plan(the_plan: Plan) -> str:
    """The plan as text for people: one fact per line, the decision first."""
    lines = [
        f"{the_plan.decision.upper()}: {the_plan.reason}",
        f"  package       {the_plan.project.distribution_name} {the_plan.version}"
        + ("  (uncommitted changes)" if the_plan.dirty else ""),
        f"  image         {the_plan.image}",
        f"  registry      {_registry_line(the_plan)}",
        f"  backend       {the_plan.backend} (base {the_plan.inputs.base_image}"
        f"{' @ ' + the_plan.inputs.base_digest if the_plan.inputs.base_digest else ''})",
        f"  input digest  {the_plan.input_digest}",
        f"  templates     {the_plan.options.out}/",
    ]
    if the_plan.manifest.image.platforms:  # an image each, built on the base index's image for that platform
        platforms = ", ".join(one.platform for one in the_plan.manifest.image.platforms)
        lines.insert(5, f"  platforms     {platforms} (an image each, under one OCI image index)")
    for obj in the_plan.objects:
        lines.append(f"    {obj.status:<12}{obj.kind} {obj.source_name} -> {obj.name}")
    refs = [(obj.name, ref) for obj in the_plan.objects for ref in obj.refs]
    if refs:
        lines.append("  templateRefs")
    for name, ref in refs:
        where = {"local": "this package", "external": "external, left as written"}.get(ref["reason"], "")
        if ref["reason"] == "provider":
            where = f"{ref['distribution']} {ref['version']}" + (
                f", requires {ref['specifier']}" if ref["specifier"] else ""
            )
        lines.append(f"    {name}: {ref['ref']} -> {ref['pinned']} ({where})")
    lines.append(f"  manifest      {the_plan.options.manifest_path}")
    return "\n".join(lines) + "\n"


def _would_fail(the_plan: Plan) -> bool:
    conflicting = any(obj.status == "conflicting" for obj in the_plan.objects)
    return the_plan.decision == "refuse" or (conflicting and not the_plan.options.force)


def run(args: argparse.Namespace) -> int:
    from hera_build.release.pipeline import plan

    the_plan = plan(options_from(args))
    if args.json:
        print_json(the_plan.to_json())
    else:
        sys.stdout.write(render_plan(the_plan))
    return 1 if _would_fail(the_plan) else 0
