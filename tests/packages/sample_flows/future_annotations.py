from __future__ import annotations

from hera.workflows import WorkflowTemplate, script


@script(constructor="runner")
def typed(x: int) -> int:
    return x


with WorkflowTemplate(name="future", entrypoint="typed") as future:
    typed()
