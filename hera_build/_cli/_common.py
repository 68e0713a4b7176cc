"""Flags and printing shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_project_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project", type=Path, default=Path("."), metavar="DIR", help="project directory (default: current)"
    )
    parser.add_argument(
        "--version",
        dest="project_version",
        metavar="V",
        help="use this PEP 440 version instead of the project's (e.g. 2.0.0rc1)",
    )


def add_lock_arg(parser: argparse.ArgumentParser, what: str = "pin dependencies") -> None:
    parser.add_argument(
        "--lock", type=Path, metavar="FILE", help=f"{what} to the versions in uv.lock, poetry.lock or pylock.toml"
    )


def add_platform_arg(parser: argparse.ArgumentParser) -> None:
    """``--platform`` (repeatable), for every command that builds an image."""
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        dest="platforms",
        metavar="OS/ARCH",
        help="build for this platform, e.g. linux/arm64 (repeatable; more than one: one image each under an OCI "
        "image index, oci backend; default: platforms in [tool.hera-build], else linux/amd64)",
    )


def add_crd_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crd",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also validate against this Argo CRD file, e.g. from `kubectl get crd ... -o yaml` (repeatable)",
    )


def add_argo_args(parser: argparse.ArgumentParser) -> None:
    """``--argo``: also run Argo's own validator on what is about to be written (see docs/guides/lint.md)."""
    parser.add_argument(
        "--argo",
        action="store_true",
        help="also run Argo's own validator (argo lint --offline) on the objects and the providers' pinned templates",
    )
    parser.add_argument(
        "--argo-path",
        type=Path,
        metavar="PATH",
        help="the argo CLI for --argo (default: $HERA_BUILD_ARGO, then argo on PATH; scripts/build-argo.sh builds it)",
    )


def add_uppercase_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-uppercase",
        action="store_true",
        help="do not warn about upper-case template/step/task names (Argo accepts them; Argo v3.4 failed on them "
        "in pod names)",
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays machine-readable."""
    print(message, file=sys.stderr)
