"""pytest plugin (entry point ``pytest11``): the ``hera_run`` fixture for local system tests of workflows.

Settings (``[tool.pytest.ini_options]`` or ``pytest.ini``)::

    hera_build_images = python:3.10=127.0.0.1:5000/base:py3    # FROM=TO image replacements, one per line
    hera_build_network = none                                 # or host

or override the ``hera_build_images`` fixture in a conftest. The project is the nearest folder with a
``[tool.hera-build]`` table from pytest's root directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hera_build.testing import LocalRunner


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hera_build_images", "FROM=TO image replacements for hera_run", type="linelist", default=[])
    parser.addini("hera_build_network", "container network for hera_run: none or host", default="none")


@pytest.fixture
def hera_build_images(request: pytest.FixtureRequest) -> dict[str, str]:
    """Image replacements for :func:`hera_run` (from the ``hera_build_images`` ini setting)."""
    pairs = {}
    for line in request.config.getini("hera_build_images"):
        source, sep, target = str(line).partition("=")
        if not sep:
            raise pytest.UsageError(f"hera_build_images: {line!r} is not FROM=TO")
        pairs[source.strip()] = target.strip()
    return pairs


@pytest.fixture
def hera_run(request: pytest.FixtureRequest, hera_build_images: dict[str, str]) -> Iterator[LocalRunner]:
    """Call it where a cluster test calls ``w.create(wait=True)``: it returns the same Hera model."""
    from hera_build.run.target import find_project_dir

    runner = LocalRunner(
        project_dir=find_project_dir(request.config.rootpath),
        images=hera_build_images,
        network=str(request.config.getini("hera_build_network")),
    )
    yield runner
    if runner.last is not None and not runner.last.succeeded and hasattr(request.node, "add_report_section"):
        lines = [f"run folder: {runner.last.run_dir}"]
        for node in runner.last.failed_nodes():
            lines.append(f"{node['displayName']}: {node['phase']} ({node.get('message', '')})")
            lines += ["  | " + line for line in runner.last.log(node["id"]).rstrip().splitlines()[-20:]]
        request.node.add_report_section("call", "hera-build run", "\n".join(lines))
