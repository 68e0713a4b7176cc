"""Generate an installable Hera project with many WorkflowTemplates, for scale tests and benchmarks.

Each template has a runner script with typed inputs, a DAG, and a templateRef to the previous template, so
emitting it exercises discovery, naming, resolution, pinning and linting at scale.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

__all__ = ["generate"]

_STEP = """
@script(constructor="runner")
def step_{i}(x: int = {i}, label: str = "t{i}") -> str:
    return f"{{label}}:{{x * 2}}"


with WorkflowTemplate(name="gen-template-{i}", entrypoint="main") as template_{i}:
    with DAG(name="main"):
        first = step_{i}(name="run")
{ref}
"""
_REF = """        Task(
            name="previous",
            template_ref=TemplateRef(name="gen-template-{prev}", template="step-{prev_dash}"),
            arguments={{"x": "1"}},
        )
"""


def generate(root: Path, count: int, *, per_module: int = 50, package: str = "genproject") -> list[str]:
    """Write ``root/pyproject.toml`` and ``root/<package>/`` with ``count`` templates; return the module names."""
    pkg = root / package
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    modules = []
    for start in range(0, count, per_module):
        name = f"templates_{start // per_module:03d}"
        body = [
            "from hera.workflows import DAG, Task, WorkflowTemplate, script",
            "from hera.workflows.models import TemplateRef",
        ]
        for i in range(start, min(start + per_module, count)):
            ref = _REF.format(prev=i - 1, prev_dash=i - 1) if i % per_module else ""
            body.append(_STEP.format(i=i, ref=ref))
        (pkg / f"{name}.py").write_text("\n".join(body))
        modules.append(f"{package}.{name}")
    module_list = ", ".join(f'"{m}"' for m in modules)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{package}"
            version = "1.0.0"
            dependencies = ["hera"]

            [tool.hera-build]
            image = "registry.example/{package}"
            modules = [{module_list}]
            """
        )
    )
    return modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    print("\n".join(generate(args.root, args.count)))


if __name__ == "__main__":
    main()
