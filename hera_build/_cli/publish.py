"""``hera-build publish``: apply a release's objects to a cluster, providers' pinned templates first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hera_build._cli._common import print_json
from hera_build._cli._publish_args import add_cluster_args, publish_options, report, result_json
from hera_build.errors import ExitCode, ImmutableObjectError
from hera_build.release.manifest import DEFAULT_MANIFEST

_EPILOG = """\
examples:
  hera-build publish                                  apply dist/release-manifest.json's objects (server-side apply)
  hera-build publish --with ../data-utils -n ml       the provider's pinned templates first, into namespace ml
  hera-build publish --dry-run                        what would be created, and the diff of what differs
  hera-build publish --prune                          also delete old versions nothing references any more
  hera-build release --push --publish                 release, then publish

A released version never changes: an object of this version already on the cluster with the same content is
left alone, with other content it is refused (--force overwrites). A templateRef into another package needs
that package's pinned template on the cluster: publish its release first, or pass it with --with.
Needs the kubernetes client: pip install 'hera-build[cluster]'.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="apply a release's WorkflowTemplates to a cluster (immutable versions, --prune old ones)",
        description="Apply the objects of a release (its manifest and output folder) to a Kubernetes cluster with "
        "server-side apply, its providers' pinned templates first.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        metavar="FILE",
        help=f"the release to publish: its manifest, or the folder holding it (default: {DEFAULT_MANIFEST})",
    )
    add_cluster_args(parser)
    parser.add_argument(
        "--force", action="store_true", help="overwrite objects of this version that hold other content"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hera_build.cluster.publish import publish

    result = publish(publish_options(args, args.manifest))
    if args.json:
        print_json(result_json(result))
    else:
        report(result)
    if result.refused and not args.force:  # only a dry run gets here with refusals: say so, and fail like the real run
        first = result.refused[0]
        raise ImmutableObjectError(
            f"{first.describe()} ({first.package} {first.version}) exists with other content: {first.field} differs",
            "a released version never changes: bump the version, or --force to overwrite",
        )
    return ExitCode.OK
