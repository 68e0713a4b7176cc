"""Import a project's modules by dotted name and collect the Hera objects it defines.

Hera decides a script's image when the ``@script`` decorator runs, so the default image must be set *before*
the user's modules are imported: we set it to :data:`SENTINEL_IMAGE`, import, build, and restore Hera's global
configuration afterwards. The emitted models then say exactly which templates were left on the default image
(they carry the sentinel) and which the user gave an image of their own.

User code may print while it is imported or built (``print(w.to_yaml())`` is common in examples). Discovery
sends whatever it writes to stdout to stderr instead, at the file-descriptor level too (C extensions and
subprocesses write there directly), so ``--json`` and ``--stdout`` output stays what hera-build printed.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hera_build.errors import DiscoveryError

SENTINEL_IMAGE = "hera-build.invalid/default-image:sentinel"
"""Stands in for Hera's default image while user code is imported; never left in output."""
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class DiscoveredObject:
    """One module-level Hera object and its built manifest (a plain dict, as Argo's API takes it)."""

    module: str
    attribute: str
    kind: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        metadata = self.manifest.get("metadata", {})
        return str(metadata.get("name") or metadata.get("generateName") or "")

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterWorkflowTemplate"


def _hera_workflow_class() -> type:
    from hera.workflows import Workflow

    return Workflow


@contextlib.contextmanager
def sentinel_image() -> Iterator[None]:
    """Set Hera's default image to the sentinel; restore the whole global config afterwards."""
    from hera.shared import global_config

    saved = copy.copy(global_config.__dict__)
    global_config.image = SENTINEL_IMAGE
    try:
        yield
    finally:
        global_config.__dict__ = saved


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers (``printf`` in an extension), so they land where the descriptor points now."""
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to talk to (e.g. Windows): Python's flush is all
        pass


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what is written to stdout to stderr meanwhile: ``sys.stdout`` and, when it has one, descriptor 1."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    saved: int | None = None
    try:
        sys.stdout.fileno()  # a captured sys.stdout (pytest's capsys) has no descriptor: only swap the object
        sys.stderr.flush()
        saved = os.dup(1)
        os.dup2(sys.stderr.fileno(), 1)
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError and a ValueError
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        if saved is not None:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)


def _top_level(module: str) -> str:
    return module.partition(".")[0]


def _purge(packages: set[str]) -> None:
    """Forget already imported project modules, so they are imported again under the sentinel."""
    for name in list(sys.modules):
        if _top_level(name) in packages:
            del sys.modules[name]


def _dotted(module: str) -> str:
    """Refuse file paths and other non-module names before importing: they fail in confusing ways."""
    if _MODULE_RE.match(module):
        return module
    guess = module.removesuffix(".py").replace("/", ".").replace("\\", ".").strip(".")
    guess = guess.removeprefix("src.")
    raise DiscoveryError(
        f"{module!r} is not a dotted module name: hera-build imports modules by name, as the runner does",
        f"name it as Python imports it, e.g. {guess!r}" if _MODULE_RE.match(guess) else "name it as Python imports it",
    )


def _location(exc: BaseException) -> str:
    """Where the error is: a SyntaxError knows its file and line; others, the innermost frame."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen ")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown location"


def _one_line(text: str) -> str:
    """Exceptions such as pydantic's span lines; the CLI prints one line per error."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _not_stdlib(module: str) -> None:
    """``email`` or ``json`` in ``modules`` imports fine and finds nothing: almost always a typo or a clash."""
    if _top_level(module) in sys.stdlib_module_names:
        raise DiscoveryError(
            f"module {module!r} is part of Python's standard library, not a module of your project",
            "list your own package's modules in modules of [tool.hera-build] (e.g. 'my_package.workflows'); "
            "a package of your own must not share a standard-library name",
        )


def _import(module: str) -> ModuleType:
    _dotted(module)
    _not_stdlib(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module and "." in module and importlib.util.find_spec(_top_level(module)) is not None:
            raise DiscoveryError(
                f"module {module!r} does not exist: package {_top_level(module)!r} is installed but has no such module",
                "check the module name in modules of [tool.hera-build] (or --module); if the module is new and the "
                "project is not installed editable, reinstall it (pip install -e .)",
            ) from exc
        if exc.name and module.startswith(exc.name):
            raise DiscoveryError(
                f"module {module!r} cannot be imported: {exc.name!r} is not installed in this environment",
                "install the project into the environment that runs hera-build (pip install -e .)",
            ) from exc
        raise DiscoveryError(
            f"importing module {module!r} failed: {exc} (at {_location(exc)})",
            f"install the missing dependency {exc.name!r}" if exc.name else "install the missing dependency",
        ) from exc
    except Exception as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else _one_line(str(exc))
        raise DiscoveryError(
            f"importing module {module!r} failed: {type(exc).__name__}: {detail} (at {_location(exc)})",
            "fix the error in that module; run with --debug for the full traceback",
        ) from exc


def _foreign_ids(workflow_cls: type, packages: set[str]) -> set[int]:
    """Ids of Hera objects visible in modules outside the project: those the project merely imported."""
    ids: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or _top_level(name) in packages:
            continue
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            continue
        for value in list(namespace.values()):
            if isinstance(value, workflow_cls):
                ids.add(id(value))
    return ids


def _kind(obj: Any) -> str:
    for cls in type(obj).__mro__:
        if cls.__name__ in KINDS and cls.__module__.startswith("hera."):
            return cls.__name__
    return "Workflow"


def _build(obj: Any, module: str, attribute: str) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = obj.to_dict()
    except Exception as exc:  # Hera's validation errors surface at build time
        fix = "fix the object's definition; run with --debug for the full traceback"
        if "issubclass() arg 1 must be a class" in str(exc):
            fix = (
                "Hera reads script annotations as classes: remove `from __future__ import annotations` from the "
                "modules that define @script functions"
            )
        raise DiscoveryError(
            f"building {module}.{attribute} failed: {type(exc).__name__}: {_one_line(str(exc))}", fix
        ) from exc
    return manifest


def discover(modules: Sequence[str], *, packages: Sequence[str] = ()) -> list[DiscoveredObject]:
    """Import ``modules`` and return the Hera objects they define, in module then definition order.

    ``packages`` are the project's top-level packages (default: those of ``modules``); objects that are also
    visible in a module outside them were imported from a dependency and are left out.
    """
    if not modules:
        raise DiscoveryError(
            "no modules to scan for Hera objects",
            'set modules = ["your_package.workflows"] in [tool.hera-build], or run hera-build init',
        )
    own = set(packages) or {_top_level(m) for m in modules}
    workflow_cls = _hera_workflow_class()
    found: list[DiscoveredObject] = []
    with stdout_to_stderr(), sentinel_image():
        _purge(own)
        imported = [(module, _import(module)) for module in modules]
        foreign = _foreign_ids(workflow_cls, own)
        seen: set[int] = set()
        for module_name, module in imported:
            for attribute, value in list(vars(module).items()):
                if not isinstance(value, workflow_cls) or id(value) in foreign or id(value) in seen:
                    continue
                seen.add(id(value))
                found.append(
                    DiscoveredObject(module_name, attribute, _kind(value), _build(value, module_name, attribute))
                )
    if not found:
        raise DiscoveryError(
            f"no Hera Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow objects at module level "
            f"in {', '.join(modules)}",
            "define them at module level (e.g. `with WorkflowTemplate(...) as wt:`) in the configured modules",
        )
    return found
