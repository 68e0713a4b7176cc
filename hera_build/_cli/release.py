"""``hera-build release``: build (or reuse) and push the image, emit digest-pinned templates, write the manifest."""

from __future__ import annotations

import argparse
from typing import Any

from hera_build._cli._common import info, print_json
from hera_build._cli._publish_args import add_cluster_args, publish_options, report, result_json
from hera_build._cli._release_args import add_release_args, options_from

_EPILOG = """\
examples:
  hera-build release --push                       build, push, write dist/argo/ and dist/release-manifest.json
  hera-build plan                                 the same decisions, without side effects
  hera-build release --push --out deploy/argo     write into a GitOps folder (old versions stay)
  hera-build templates --manifest dist/release-manifest.json --out deploy/argo   emit in a later CI step
  hera-build release --push --publish --with ../data-utils   then apply to the cluster (as hera-build publish)

Re-running is safe: when the registry already has this version built from the same inputs, nothing is built
and its digest is reused; when it has other content, the release is refused (bump the version, or --force).
An uncommitted git tree is released as <version>+dirty.<hash> unless --allow-dirty.
"""


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
    parser.add_argument("--verbose", action="store_true", help="show the backend's full build log")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="then apply the objects to a cluster, as hera-build publish does (with its flags below)",
    )
    add_cluster_args(parser, dry_run=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hera_build.release.pipeline import release

    done = release(options_from(args))
    manifest = done.manifest
    published = None
    if args.publish:
        from hera_build.cluster.publish import publish

        published = publish(publish_options(args, args.manifest))
    if args.json:
        print_json(
            {
                "decision": done.plan.decision,
                "manifest_file": str(args.manifest),
                "new": list(done.written.new),
                "unchanged": list(done.written.unchanged),
                "replaced": list(done.written.replaced),
                "manifest": manifest.model_dump(mode="json"),
                "published": None if published is None else result_json(published),
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
    if published is not None:
        report(published)
    return 0
