from hera.workflows import DAG, Container, CronWorkflow, Task, WorkflowTemplate, script
from hera.workflows.models import TemplateRef, WorkflowTemplateRef


@script(constructor="runner")
def add(a: int, b: int = 2) -> int:
    return a + b


with WorkflowTemplate(name="compat-add", entrypoint="main") as compat_add:
    gpu = Container(name="gpu", image="nvidia/cuda:12.4.0-base-ubuntu22.04", command=["nvidia-smi"])
    with DAG(name="main"):
        first = add(name="first", arguments={"a": "1"})
        second = Task(name="second", template_ref=TemplateRef(name="compat-helper", template="gpu"), arguments={})
        third = gpu(name="third")
        first >> second >> third

with WorkflowTemplate(name="compat-helper", entrypoint="gpu") as compat_helper:
    Container(name="gpu", image="busybox:1.36", command=["true"])

with CronWorkflow(
    name="compat-cron", schedule="0 2 * * *", workflow_template_ref=WorkflowTemplateRef(name="compat-add")
) as compat_cron:
    pass
