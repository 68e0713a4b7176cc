"""The flags ``publish`` and ``release --publish`` share, the options they make, and how a result is reported."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera_build._cli._common import info

if TYPE_CHECKING:
    from hera_build.cluster.publish import PublishOptions, PublishResult


def add_cluster_args(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    """Where to publish and what else to publish or remove (``release --publish`` has ``plan`` for a dry run)."""
    parser.add_argument(
        "--with",
        dest="providers",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a provider's release (its folder with dist/release-manifest.json, or the manifest): its templates "
        "this release pins are published first (repeatable)",
    )
    parser.add_argument(
        "--kubeconfig", type=Path, metavar="FILE", help="kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)"
    )
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    parser.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the context's, else default)")
    if dry_run:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show what would be created, and the diff of what differs; change nothing",
        )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete older versions of this package's objects that nothing in the namespace references",
    )


def publish_options(args: argparse.Namespace, manifest: Path) -> PublishOptions:
    from hera_build.cluster.publish import PublishOptions

    return PublishOptions(
        manifest=manifest,
        providers=tuple(args.providers),
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        force=args.force,
        dry_run=getattr(args, "dry_run", False),
        prune=args.prune,
        progress=info,
    )


def result_json(result: PublishResult) -> dict[str, Any]:
    pruned = result.pruned
    return {
        "server": result.server,
        "namespace": result.namespace,
        "dry_run": result.dry_run,
        "objects": [
            {
                "package": o.package,
                "version": o.version,
                "kind": o.kind,
                "name": o.name,
                "action": o.action,
                "field": o.field,
            }
            for o in result.objects
        ],
        "skipped": list(result.skipped),
        "pruned": None
        if pruned is None
        else {
            "deleted": [{"kind": k, "name": n, "version": v} for k, n, v in pruned.deleted],
            "kept": [
                {"kind": k.kind, "name": k.name, "version": k.version, "referenced_by": k.referenced_by}
                for k in pruned.kept
            ],
        },
    }


def report(result: PublishResult) -> None:
    """For humans, on stderr: one line per object, the diffs of a dry run, and what pruning did."""
    would = "would be " if result.dry_run else ""
    verbs = {"create": "created", "unchanged": "unchanged", "replace": "replaced", "refuse": "refused"}
    for o in result.objects:
        detail = f" ({o.field} differs)" if o.field else ""
        prefix = would if o.action != "unchanged" else ""
        info(f"{o.describe()} ({o.package} {o.version}): {prefix}{verbs[o.action]}{detail}")
        if result.dry_run and o.diff and o.action != "create":
            info(o.diff.rstrip("\n"))
    for name in result.skipped:
        info(f"{name}: not published (a Workflow is a run: argo submit it)")
    if result.pruned is not None:
        for kind, name, version in result.pruned.deleted:
            info(f"{kind}/{name} ({version}): {would}pruned")
        for kept in result.pruned.kept:
            info(f"{kept.kind}/{kept.name} ({kept.version}): kept, referenced by {kept.referenced_by}")
    counts = {a: sum(1 for o in result.objects if o.action == a) for a in verbs}
    summary = ", ".join(f"{n} {verbs[a]}" for a, n in counts.items() if n) or "nothing to publish"
    info(f"{'dry run: ' if result.dry_run else ''}{summary} in namespace {result.namespace} ({result.server})")
