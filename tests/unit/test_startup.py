"""What a command costs before it does anything: a warm ``hera-build image --push`` is mostly Python start-up and
imports, so a command imports only its own module and what its work needs (no other command, no pydantic for
the configuration, no Docker SDK unless an engine is used, no Hera unless templates are emitted)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
from hera_build._cli import build_parser
build_parser(sys.argv[1:]).parse_args(sys.argv[1:])
import hera_build.image.backends.oci, hera_build.publish.pipeline, hera_build.image.registry  # what a build runs
print(json.dumps(sorted(sys.modules)))
"""


def _imported(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_the_image_command_imports_no_other_command_and_no_heavy_library_it_does_not_use() -> None:
    modules = _imported("image", "--push", "--force", "--no-check")

    commands = {m for m in modules if m.startswith("hera_build._cli.") and not m.startswith("hera_build._cli._")}
    assert commands == {"hera_build._cli.image"}
    heavy = {"pydantic", "hera", "yaml", "docker", "jsonschema", "hera_build.templates.build"}
    assert not heavy & modules, f"imported without being used: {sorted(heavy & modules)}"


def test_the_whole_parser_is_built_for_help_and_unknown_commands() -> None:
    from hera_build._cli import COMMANDS, _chosen

    assert _chosen(["--debug", "image", "--push"]) == "image"
    assert _chosen(["--help"]) is None
    assert _chosen(["imgae"]) is None  # argparse then lists every command in its error
    assert all(_chosen([name]) == name for name in COMMANDS)
