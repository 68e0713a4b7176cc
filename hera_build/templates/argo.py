"""Argo's own validator as a second opinion: ``argo lint --offline`` on what hera-build is about to write.

:mod:`hera_build.templates.lint` re-implements Argo's rules, and re-implementations drift. Argo ships its
validator in its CLI; with ``--offline`` it needs no server and resolves ``templateRef`` and
``workflowTemplateRef`` among the files it is given. So the objects are written to a temporary folder together
with the provider packages' templates under the names they were pinned to: a ref to a template (or an input)
that the pinned provider version lacks is then Argo's error too.

``argo`` is found as ``--argo-path``, then ``$HERA_BUILD_ARGO``, then ``argo`` on ``PATH``; the repository's
``scripts/build-argo.sh --cli-only`` builds it from Argo's Go module.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from pathlib import Path
from typing import Any

from hera_build.core.process import CommandResult, last_lines, run_command
from hera_build.errors import BuildError, ConfigError
from hera_build.templates.lint import Finding, Severity, object_label
from hera_build.templates.output import render

ARGO_ENV = "HERA_BUILD_ARGO"
PROVIDERS_DIR = "providers"
"""The sub-folder holding the providers' pinned templates; Argo's findings there are about their package."""
_TIMEOUT = 300.0
_HOW_TO_GET = (
    "build it with scripts/build-argo.sh --cli-only from the hera-build repository (about 10 minutes), then pass "
    f"--argo-path PATH or set {ARGO_ENV}"
)
# `-o simple` prints `FILE: in "NAME" (KIND): MESSAGE` per object with an error (Argo's formatter_simple.go).
_SIMPLE_LINE = re.compile(r'^(?P<file>.+?): in "(?P<name>[^"]*)" \((?P<kind>\w+)\): (?P<message>.*)$')
# Most of Argo's messages start with the path of the offending field (`templates.main.steps[0].x ...`).
# Before linting, the offline client parses every file; one it cannot parse stops the run with this line.
_PARSE_FAILURE = re.compile(r"failed to parse YAML from file (?P<file>\S+): (?P<message>.*)$")
_NOT_FOUND = re.compile(r"couldn't find (?:cluster )?workflow template \"(?P<name>[^\"]+)\"")
_ARGO_PATH = re.compile(r"^(?P<path>(?:spec\.)?templates\.\S+|spec\.\S+)\s+(?P<rest>.+)$")

Runner = Callable[..., CommandResult]


def find_argo(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The ``argo`` CLI to run: ``explicit``, else ``$HERA_BUILD_ARGO``, else ``argo`` on PATH."""
    environ = os.environ if environ is None else environ
    configured = explicit or (Path(environ[ARGO_ENV]) if environ.get(ARGO_ENV) else None)
    if configured is not None:
        where = "--argo-path" if explicit else ARGO_ENV
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise ConfigError(f"{where} {configured} is not an executable file", _HOW_TO_GET)
        return configured
    found = shutil.which("argo", path=environ.get("PATH"))
    if found is None:
        raise ConfigError("--argo needs Argo's CLI (argo), which is not on PATH", _HOW_TO_GET)
    return Path(found)


def argo_lint(
    objects: Sequence[Mapping[str, Any]],
    argo: Path,
    *,
    providers: Sequence[Mapping[str, Any]] = (),
    external_names: AbstractSet[str] = frozenset(),
    run: Runner = run_command,
) -> list[Finding]:
    """Argo's findings on ``objects``, linted together with ``providers`` (the pinned templates they refer to).

    Findings on the providers' templates are warnings: they were released by another package. So is a ref
    to one of ``external_names`` that Argo cannot find: no package provides it, so Argo never sees it. A
    failure that is not a lint result (a crash, unreadable output) raises :class:`~hera_build.errors.BuildError`.
    """
    with tempfile.TemporaryDirectory(prefix="hera-build-argo-") as tmp:
        root = Path(tmp)
        names = _write(root, objects)
        names.update(_write(root / PROVIDERS_DIR, providers, prefix=f"{PROVIDERS_DIR}/"))
        result = run(
            [argo, "lint", "--offline", "--output", "simple", "--no-color", str(root)],
            cwd=root,
            timeout=_TIMEOUT,
            check=False,
            what="argo lint",
            missing_fix=_HOW_TO_GET,
        )
        findings = [_external(f, external_names) for f in parse_simple(result.stdout, root, names)]
        findings.extend(_parse_failures(result.stderr, root, names))
        if result.returncode != 0 and not findings:
            detail = " | ".join(last_lines(result.stderr or result.stdout, 3)) or f"exit status {result.returncode}"
            raise BuildError(
                f"argo lint failed without reporting a finding: {detail}",
                "run the same argo binary by hand on the emitted files (hera-build templates --out DIR) to see why",
            )
        return findings


def _parse_failures(stderr: str, root: Path, names: Mapping[str, str]) -> list[Finding]:
    findings = []
    for line in stderr.splitlines():
        match = _PARSE_FAILURE.search(line)
        if match is not None:
            relative = os.path.relpath(match["file"], root)
            label = names.get(relative, relative)
            findings.append(Finding(label, "", f"cannot be read: {match['message']}", source="argo"))
    return findings


def _external(finding: Finding, external_names: AbstractSet[str]) -> Finding:
    missing = _NOT_FOUND.search(finding.message)
    if missing is None or missing["name"] not in external_names:
        return finding
    message = f"{finding.message} (declared external: no package provides it, so Argo cannot check it)"
    return replace(finding, message=message, severity="warning")


def file_name(obj: Mapping[str, Any]) -> str:
    """``<kind>-<name or generateName>.yaml``: Argo needs only a distinct file per object."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "unnamed").rstrip("-.") or "unnamed"
    return f"{str(obj.get('kind', 'object')).lower()}-{name}.yaml"


def _write(folder: Path, objects: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, str]:
    """Write each object to its own file, as ``templates`` names them; return ``file → Kind/name``."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for position, obj in enumerate(objects):
        name = file_name(obj)
        if f"{prefix}{name}" in written:  # two objects sharing a file name: keep both, Argo sees both
            name = f"{position}-{name}"
        (folder / name).write_text(render(obj), encoding="utf-8")
        written[f"{prefix}{name}"] = object_label(obj)
    return written


def parse_simple(output: str, root: Path, names: Mapping[str, str] | None = None) -> list[Finding]:
    """Findings from ``argo lint -o simple``; objects are named ``Kind/name`` as hera-build's linter names them."""
    findings = []
    for line in output.splitlines():
        match = _SIMPLE_LINE.match(line.strip())
        if match is None:
            continue
        file = match["file"]
        relative = os.path.relpath(file, root) if os.path.isabs(file) else file
        label = (names or {}).get(relative) or f"{match['kind']}/{match['name']}"
        path, message = "", match["message"].removeprefix("cannot validate Workflow: ")
        located = _ARGO_PATH.match(message)
        if located is not None:
            path, message = located["path"], located["rest"]
        severity: Severity = "error"
        if relative.startswith(f"{PROVIDERS_DIR}/"):
            severity, message = "warning", f"{message} (in a provider's pinned template)"
        findings.append(Finding(label, path, message, severity, source="argo"))
    return findings
