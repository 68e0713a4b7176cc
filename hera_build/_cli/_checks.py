"""The image check as every command runs it: one summary printed for people, a dict for ``--json``.

Shared by ``image``, ``check`` and ``release`` (commands never import each other)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hera_build._cli._common import info, print_json

if TYPE_CHECKING:
    from hera_build.core.project import Project
    from hera_build.publish.pipeline import Checker


def run_check(project: Project, image: str, backend: str, *, json_output: bool) -> dict[str, Any]:
    """Check ``image`` in the local Docker engine; prints the human summary unless ``json_output``."""
    from hera_build.image.check import check_for_backend, describe

    if not json_output:
        info(f"checking {image} (no network)")
    result = check_for_backend(image, project, backend)
    for line in describe(result) if not json_output else ():
        info(line)
    summary: dict[str, Any] = result.to_json()
    return summary


def checker_for(project: Project, backend: str, *, json_output: bool) -> Checker:
    """The publish pipeline's check step for ``project`` built with ``backend``."""

    def check(image: str) -> dict[str, Any]:
        return run_check(project, image, backend, json_output=json_output)

    return check


def print_check(image: str, checked: bool, summary: dict[str, Any], *, json_output: bool) -> None:
    """One image: its check summary, as always. An index: which platforms passed and, plainly, which were not
    checked here and why."""
    index = "unchecked" in summary
    if json_output:
        print_json({"checked": checked, **summary} if index else summary)
    elif not index:
        info(f"{image}: check passed")
    else:
        info(f"{image}: check passed on {', '.join(summary['platforms'])}")
        for platform, reason in summary["unchecked"].items():
            info(f"{image}: NOT checked on {platform}: {reason}")
