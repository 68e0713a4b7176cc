"""Flags and printing shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_project_args", "print_json", "info"]


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


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays machine-readable."""
    print(message, file=sys.stderr)
