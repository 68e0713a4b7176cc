"""``python -m buildpacks copy DIR``: put the shipped buildpack and builder definition where pack can use them.

The copies have their scripts executable (wheels do not always keep the bit), and ``DIR/builder/builder.toml``
finds the buildpack at ``../hera-runner``, so ``pack builder create NAME --config DIR/builder/builder.toml`` works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from buildpacks.resources import buildpack_version, copy_builder

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m buildpacks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    copy = commands.add_parser("copy", help="copy hera-runner/ and builder/ into DIR")
    copy.add_argument("directory", type=Path, metavar="DIR")
    commands.add_parser("version", help="print the hera-runner buildpack's version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(buildpack_version())
        return 0
    args.directory.mkdir(parents=True, exist_ok=True)
    builder = copy_builder(args.directory)
    print(f"wrote {args.directory / 'hera-runner'} and {builder}", file=sys.stderr)
    print(builder / "builder.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
