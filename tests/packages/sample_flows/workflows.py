from hera.workflows import (
    DAG,
    ClusterWorkflowTemplate,
    Container,
    CronWorkflow,
    Task,
    Workflow,
    WorkflowTemplate,
    script,
)
from hera.workflows.models import TemplateRef, WorkflowTemplateRef
from sample_dep import dep_template, shared_step  # noqa: F401 - imported, not defined here: not emitted


@script(constructor="runner")
def hello(who: str = "world") -> str:
    return f"hello {who}"


with WorkflowTemplate(name="greet", entrypoint="main") as greet:
    gpu = Container(name="gpu", image="nvidia/cuda:12.4.0-runtime-ubuntu22.04", command=["nvidia-smi"])
    plain = Container(name="plain", command=["true"])
    with DAG(name="main"):
        a = hello(name="a")
        b = shared_step(name="b")
        c = Task(name="c", template_ref=TemplateRef(name="helpers", template="noop", cluster_scope=True))
        d = gpu(name="d")
        e = plain(name="e")
        a >> b >> c >> [d, e]

with ClusterWorkflowTemplate(name="helpers", entrypoint="noop") as helpers:
    Container(name="noop", image="busybox:1.36", command=["true"])

with CronWorkflow(
    name="nightly-greet", schedules=["0 1 * * *"], workflow_template_ref=WorkflowTemplateRef(name="greet")
) as cron:
    pass

with Workflow(generate_name="greet-once-", workflow_template_ref=WorkflowTemplateRef(name="greet")) as once:
    pass

alias = greet  # the same object twice: emitted once
