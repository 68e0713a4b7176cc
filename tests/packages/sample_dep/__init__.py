from hera.workflows import WorkflowTemplate, script


@script(constructor="runner")
def shared_step() -> str:
    return "shared"


with WorkflowTemplate(name="dep-template", entrypoint="shared-step") as dep_template:
    shared_step()
