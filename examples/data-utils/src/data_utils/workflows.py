"""The templates data-utils provides to other packages (its ``hera_build.templates`` entry point)."""

from hera.workflows import ClusterWorkflowTemplate, WorkflowTemplate

from data_utils.steps import dataset_stats, validate_dataset

with WorkflowTemplate(
    name="validate-dataset",
    entrypoint="validate-dataset",
    annotations={
        "workflows.argoproj.io/title": "Validate a dataset",
        "workflows.argoproj.io/description": "Fails unless the dataset has at least min-rows rows.",
    },
) as validate_dataset_template:
    validate_dataset()

with ClusterWorkflowTemplate(name="dataset-stats", entrypoint="dataset-stats") as dataset_stats_template:
    dataset_stats()
