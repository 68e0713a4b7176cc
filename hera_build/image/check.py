"""The image check: does this image run this project's templates, the way Argo will run them?

An image can be built and pushed and still be wrong for the templates that point at it: another version of the
project, another ``hera`` (whose runner contract differs), a module that does not import. The check runs the
image with no network and verifies, in one container, that the project's distribution is installed at exactly
the version, that ``hera`` is the emitting environment's version and that every runner entrypoint
(``module:function``) of the project's emitted templates imports. Then it runs one runner template end to end as
Argo's executor does: the template's ``command`` and ``args`` plus a file holding the JSON list of ``{name,
value}`` inputs, and compares the output with the same run in the emitting environment.

Engines plug in through :class:`hera_build.image.target.ContainerRunner`; buildpacks images start Python through the CNB
launcher, which :class:`CheckOptions` allows.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from hera_build.core.process import run_command
from hera_build.core.project import Project
from hera_build.core.walk import workflow_spec
from hera_build.errors import CheckError
from hera_build.image.target import ContainerRunner, RunOutcome
from hera_build.templates.emit import is_runner_script

ARGS_PATH = "/tmp/hera-build-check/args.json"
"""Where the inputs file goes in the container (Argo puts the script source under /argo/staging)."""
_MARKER = "HERA_BUILD_CHECK "
_PARAMETER_RE = re.compile(r"\{\{\s*workflow\.parameters\.([-A-Za-z0-9_]+)\s*\}\}")

_INSPECT_SCRIPT = r"""
import importlib, importlib.metadata as metadata, json, sys
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
result = {"python": sys.version.split()[0], "distribution": version(sys.argv[1]), "hera": version("hera")}
result["imports"] = {}
for entry in sys.argv[2:]:
    module, _, attribute = entry.partition(":")
    try:
        target = importlib.import_module(module)
        for part in filter(None, attribute.split(".")):
            target = getattr(target, part)
        result["imports"][entry] = None
    except BaseException as exc:
        result["imports"][entry] = "%s: %s" % (type(exc).__name__, exc)
print("HERA_BUILD_CHECK " + json.dumps(result))
"""


@dataclass(frozen=True)
class CheckOptions:
    python_command: tuple[str, ...] = ("python",)
    """How to start the image's Python for the inspection (e.g. through ``/cnb/lifecycle/launcher``)."""
    runner_command: tuple[str, ...] | None = None
    """The command of the end-to-end run; ``None``: the template's own ``command``, exactly as Argo runs it."""
    run_template: bool = True
    timeout: float = 180.0


@dataclass(frozen=True)
class RunnerCase:
    """One runner template with a value for each of its inputs: what Argo would run."""

    object_name: str
    template: str
    entrypoint: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    inputs: tuple[dict[str, str], ...]
    env: dict[str, str] = field(default_factory=dict)

    def args_json(self) -> bytes:
        return json.dumps(list(self.inputs)).encode()


@dataclass(frozen=True)
class RunnerRun:
    case: RunnerCase
    exit_code: int
    output: str
    expected: str | None
    """The same run's output in the emitting environment (``None`` when it could not run there)."""


@dataclass(frozen=True)
class CheckResult:
    image: str
    distribution: str
    version: str
    hera_version: str
    python_version: str
    entrypoints: tuple[str, ...]
    run: RunnerRun | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        run = None
        if self.run is not None:
            run = {
                "template": f"{self.run.case.object_name}/{self.run.case.template}",
                "entrypoint": self.run.case.entrypoint,
                "inputs": list(self.run.case.inputs),
                "exit_code": self.run.exit_code,
                "output": self.run.output,
            }
        return {
            "image": self.image,
            "distribution": self.distribution,
            "version": self.version,
            "hera": self.hera_version,
            "python": self.python_version,
            "entrypoints": list(self.entrypoints),
            "run": run,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------------- templates


def _templates(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = workflow_spec(dict(manifest)) or {}
    return [t for t in spec.get("templates", []) if isinstance(t, dict)]


def _entrypoint(template: Mapping[str, Any]) -> str:
    args = list(template["script"].get("args", []))
    return str(args[args.index("-e") + 1]) if "-e" in args[:-1] else ""


def runner_entrypoints(manifests: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every ``module:function`` that the runner scripts of ``manifests`` run, sorted, once each."""
    found = {_entrypoint(t) for m in manifests for t in _templates(m) if is_runner_script(t)}
    return tuple(sorted(e for e in found if e))


def _calls(templates: Sequence[Mapping[str, Any]], name: str) -> Iterator[Mapping[str, Any]]:
    """Tasks and steps that call template ``name`` of the same object."""
    for template in templates:
        tasks = list(template.get("dag", {}).get("tasks", []) or [])
        tasks += [step for group in template.get("steps", []) or [] for step in group or []]
        for task in tasks:
            if isinstance(task, dict) and task.get("template") == name and "templateRef" not in task:
                yield task


def _substitute(value: str, workflow_args: Mapping[str, str]) -> str | None:
    resolved = _PARAMETER_RE.sub(lambda m: workflow_args.get(m.group(1), m.group(0)), value)
    return None if "{{" in resolved else resolved


def _arguments(holder: Mapping[str, Any]) -> dict[str, str]:
    params = holder.get("arguments", {}).get("parameters", []) or []
    return {str(p["name"]): str(p["value"]) for p in params if isinstance(p, dict) and "value" in p}


def _case(manifest: Mapping[str, Any], template: Mapping[str, Any]) -> RunnerCase | None:
    templates = _templates(manifest)
    workflow_args = _arguments(workflow_spec(dict(manifest)) or {})
    call_args: dict[str, str] = next((_arguments(task) for task in _calls(templates, template["name"])), {})
    inputs = []
    for param in template.get("inputs", {}).get("parameters", []) or []:
        name = str(param["name"])
        raw = param.get("value", call_args.get(name, param.get("default")))
        value = _substitute(str(raw), workflow_args) if raw is not None else None
        if value is None:
            return None
        inputs.append({"name": name, "value": value})
    script = template["script"]
    env = {str(e["name"]): str(e["value"]) for e in script.get("env", []) or [] if "value" in e}
    return RunnerCase(
        object_name=str(manifest.get("metadata", {}).get("name", "")),
        template=str(template["name"]),
        entrypoint=_entrypoint(template),
        command=tuple(str(c) for c in script.get("command", ["python"])),
        args=tuple(str(a) for a in script.get("args", [])),
        inputs=tuple(inputs),
        env=env,
    )


def runner_cases(manifests: Iterable[Mapping[str, Any]]) -> list[RunnerCase]:
    """Runner templates whose every input has a value: fixed, from the task that calls it (with the workflow's
    arguments filled in), or the input's default."""
    cases = []
    for manifest in manifests:
        for template in _templates(manifest):
            if is_runner_script(template):
                case = _case(manifest, template)
                if case is not None:
                    cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------------- running


def run_on_host(case: RunnerCase, *, timeout: float = 180.0) -> RunOutcome:
    """The runner template in the emitting environment: the reference output for the image's run."""
    with tempfile.TemporaryDirectory(prefix="hera-build-check-") as tmp:
        args_file = Path(tmp, "args.json")
        args_file.write_bytes(case.args_json())
        env = {**case.env, "hera__outputs_directory": str(Path(tmp, "outputs"))}
        result = run_command(
            [sys.executable, *case.args, str(args_file)], env=env, check=False, timeout=timeout, what="runner on host"
        )
    return RunOutcome(result.returncode, result.stdout, result.stderr)


def _inspect(
    image: str, project: Project, entrypoints: Sequence[str], runner: ContainerRunner, options: CheckOptions
) -> dict[str, Any]:
    command = [*options.python_command[1:], "-c", _INSPECT_SCRIPT, project.distribution_name, *entrypoints]
    outcome = runner.run(image, entrypoint=list(options.python_command[:1]), command=command, timeout=options.timeout)
    for line in outcome.stdout.splitlines():
        if line.startswith(_MARKER):
            data: dict[str, Any] = json.loads(line[len(_MARKER) :])
            return data
    detail = (outcome.stderr or outcome.stdout).strip().splitlines()
    raise CheckError(
        f"image {image} cannot run Python with {' '.join(options.python_command)!r} "
        f"(exit code {outcome.exit_code}{': ' + detail[-1] if detail else ''})",
        "the image needs python on PATH (the runner template's command)",
    )


def _same(installed: str | None, expected: str) -> bool:
    if installed is None:
        return False
    try:
        return Version(installed) == Version(expected)
    except InvalidVersion:
        return installed == expected


def _emitting_hera() -> str:
    try:
        return importlib.metadata.version("hera")
    except importlib.metadata.PackageNotFoundError:
        raise CheckError("hera is not installed in this environment", "install the project's dependencies") from None


def _problems(data: Mapping[str, Any], project: Project, hera: str) -> list[str]:
    problems = []
    installed = data.get("distribution")
    if installed is None:
        problems.append(f"{project.name} is not installed")
    elif not _same(installed, project.version.exact):
        problems.append(f"{project.name} is {installed}, not {project.version.exact}")
    if data.get("hera") is None:
        problems.append("hera is not installed")
    elif not _same(data["hera"], hera):
        problems.append(f"hera is {data['hera']}, but the templates are emitted with hera {hera}")
    problems += [f"{entry} does not import ({error})" for entry, error in data.get("imports", {}).items() if error]
    return problems


def _run_case(image: str, case: RunnerCase, runner: ContainerRunner, options: CheckOptions) -> RunOutcome:
    command = list(options.runner_command or case.command)
    return runner.run(
        image,
        entrypoint=command[:1],
        command=[*command[1:], *case.args, ARGS_PATH],
        files={ARGS_PATH: case.args_json()},
        env=case.env,
        timeout=options.timeout,
    )


def check_image(
    image: str,
    project: Project,
    *,
    runner: ContainerRunner,
    manifests: Sequence[Mapping[str, Any]] | None = None,
    options: CheckOptions | None = None,
    reference: Callable[[RunnerCase], RunOutcome] = run_on_host,
) -> CheckResult:
    """Check ``image`` against ``project`` (its emitted templates unless ``manifests`` are given).

    Raises :class:`CheckError` listing every problem found; returns what was verified.
    """
    options = options or CheckOptions()
    if manifests is None:
        from hera_build.templates.build import TemplateOptions, build_templates

        manifests = [
            obj.manifest for obj in build_templates(TemplateOptions(project_dir=project.root), project).objects
        ]
    entrypoints = runner_entrypoints(manifests)
    hera = _emitting_hera()
    data = _inspect(image, project, entrypoints, runner, options)
    problems = _problems(data, project, hera)
    if problems:
        raise CheckError(
            f"image {image} would not run {project.name} {project.version.exact}'s templates: {'; '.join(problems)}",
            "rebuild the image with `hera-build image` from this environment",
        )
    notes: list[str] = []
    if not entrypoints:
        notes.append("the project's templates use no runner scripts")
    run = None
    cases = runner_cases(manifests)
    if options.run_template and cases:
        run = _end_to_end(image, cases[0], runner, options, reference, notes)
    elif options.run_template and entrypoints:
        notes.append("no runner template has a value for every input, so none was run end to end")
    return CheckResult(
        image=image,
        distribution=project.distribution_name,
        version=str(data["distribution"]),
        hera_version=str(data["hera"]),
        python_version=str(data.get("python", "")),
        entrypoints=entrypoints,
        run=run,
        notes=tuple(notes),
    )


def _end_to_end(
    image: str,
    case: RunnerCase,
    runner: ContainerRunner,
    options: CheckOptions,
    reference: Callable[[RunnerCase], RunOutcome],
    notes: list[str],
) -> RunnerRun:
    outcome = _run_case(image, case, runner, options)
    where = f"runner template {case.object_name}/{case.template} ({case.entrypoint})"
    if outcome.exit_code != 0:
        detail = (outcome.stderr or outcome.stdout).strip().splitlines()
        raise CheckError(
            f"{where} exits with {outcome.exit_code} in {image}{': ' + detail[-1] if detail else ''}",
            "run the image with the same command to see the whole traceback",
        )
    expected = reference(case)
    if expected.exit_code != 0:
        notes.append(f"{where} fails in the emitting environment too, so its output was not compared")
        return RunnerRun(case, outcome.exit_code, outcome.stdout, None)
    if outcome.stdout.strip() != expected.stdout.strip():
        raise CheckError(
            f"{where} prints {outcome.stdout.strip()[-200:]!r} in {image}, "
            f"but {expected.stdout.strip()[-200:]!r} in this environment",
            "rebuild the image from the same source and dependencies",
        )
    return RunnerRun(case, outcome.exit_code, outcome.stdout, expected.stdout)


def check_for_backend(image: str, project: Project, backend: str) -> CheckResult:
    """Check ``image`` in the local Docker engine with the command ``templates`` emits for ``backend`` (buildpacks
    images start Python through the CNB launcher)."""
    from hera_build.image.backends import runner_command_for
    from hera_build.image.engine import DockerEngine

    python = runner_command_for(backend) or ("python",)
    options = CheckOptions(python_command=python, runner_command=runner_command_for(backend))
    return check_image(image, project, runner=DockerEngine.from_env(), options=options)


def describe(result: CheckResult) -> list[str]:
    """What the check verified, in a few lines for people (the JSON summary is :meth:`CheckResult.to_json`)."""
    lines = [
        f"  {result.distribution} {result.version}, hera {result.hera_version}, Python {result.python_version}",
        f"  {len(result.entrypoints)} runner entrypoint(s) import: {', '.join(result.entrypoints) or '-'}",
    ]
    if result.run is not None:
        case = result.run.case
        lines.append(
            f"  ran {case.object_name}/{case.template} ({case.entrypoint}) -> {result.run.output.strip()[-120:]}"
        )
    return lines + [f"  note: {note}" for note in result.notes]


def image_checker(
    project: Project, backend: str, progress: Callable[[str], None] | None = None
) -> Callable[[str], dict[str, Any]]:
    """The publish pipeline's check step for ``project`` built with ``backend``: the check's JSON summary; with
    ``progress``, also what is checked and what the check verified (:func:`describe`), as it happens."""

    def check(image: str) -> dict[str, Any]:
        if progress is not None:
            progress(f"checking {image} (no network)")
        result = check_for_backend(image, project, backend)
        if progress is not None:
            for line in describe(result):
                progress(line)
        summary: dict[str, Any] = result.to_json()
        return summary

    return check
