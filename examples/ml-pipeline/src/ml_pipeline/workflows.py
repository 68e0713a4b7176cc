"""ml-pipeline's Argo objects: a DAG over its own steps and data-utils' validate-dataset template."""

from hera.workflows import DAG, CronWorkflow, Parameter, Task, WorkflowTemplate
from hera.workflows.models import TemplateRef, WorkflowTemplateRef

from ml_pipeline.steps import evaluate, train

with WorkflowTemplate(
    name="train-pipeline",
    entrypoint="main",
    arguments=[
        Parameter(name="data-uri", value="s3://acme/datasets/iris"),
        Parameter(name="rows", value="150"),
    ],
) as train_pipeline:
    with DAG(name="main"):
        validate = Task(
            name="validate",
            template_ref=TemplateRef(name="validate-dataset", template="validate-dataset"),
            arguments={
                "dataset": '{"uri": "{{workflow.parameters.data-uri}}", "rows": {{workflow.parameters.rows}}}',
            },
        )
        trained = train(
            name="train",
            arguments={"data_uri": "{{workflow.parameters.data-uri}}", "config": '{"learning_rate": 0.1}'},
        )
        scored = evaluate(name="evaluate", arguments={"model_uri": trained.result})
        validate >> trained >> scored

with CronWorkflow(
    name="nightly-train",
    schedules=["0 3 * * *"],
    workflow_template_ref=WorkflowTemplateRef(name="train-pipeline"),
) as nightly_train:
    pass
