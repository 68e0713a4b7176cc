"""The corpus: one WorkflowTemplate per Argo feature, each with an outcome the tests assert.

Templates left on Hera's default image run in this project's image (hera-build pins them to it), which has
Python, hera, pydantic and this package.
"""

from hera.workflows import (
    DAG,
    Artifact,
    Container,
    Parameter,
    Steps,
    Task,
    WorkflowTemplate,
)
from hera.workflows.models import ContinueOn, TemplateRef

from run_corpus.steps import describe, fail, flip, numbers, price, say, sleep_long, square, third_time_lucky, total

with WorkflowTemplate(name="diamond", entrypoint="diamond") as diamond:
    Container(
        name="echo",
        inputs=[Parameter(name="message")],
        command=["sh", "-c"],
        args=["echo {{inputs.parameters.message}}"],
    )
    with DAG(name="diamond"):
        Task(name="a", template="echo", arguments={"message": "a"})
        Task(name="b", template="echo", depends="a", arguments={"message": "b-after-{{tasks.a.outputs.result}}"})
        Task(name="c", template="echo", depends="a.Succeeded", arguments={"message": "c"})
        Task(
            name="d",
            template="echo",
            depends="b && c",
            arguments={"message": "{{tasks.b.outputs.result}}+{{tasks.c.outputs.result}}"},
        )
        Task(name="on-failure", template="echo", depends="b.Failed || c.Failed", arguments={"message": "never"})

with WorkflowTemplate(
    name="coinflip", entrypoint="coinflip", arguments=[Parameter(name="side", value="heads")]
) as coinflip:
    with Steps(name="coinflip") as steps:
        flip(name="flip-coin", arguments={"side": "{{workflow.parameters.side}}"})
        with steps.parallel():
            say(name="heads", arguments={"message": "it was heads"}, when="{{steps.flip-coin.outputs.result}} == heads")
            say(name="tails", arguments={"message": "it was tails"}, when="{{steps.flip-coin.outputs.result}} == tails")

with WorkflowTemplate(
    name="fan-out-fan-in", entrypoint="main", arguments=[Parameter(name="count", value="4")]
) as fan_out_fan_in:
    with DAG(name="main"):
        generate = numbers(name="generate", arguments={"count": "{{workflow.parameters.count}}"})
        squares = square(name="square", arguments={"n": "{{item}}"}, with_param=generate.result)
        summed = total(name="total", arguments={"values": "{{tasks.square.outputs.result}}"})
        generate >> squares >> summed

with WorkflowTemplate(name="artifact-passing", entrypoint="main") as artifact_passing:
    Container(
        name="hello-world-to-file",
        command=["sh", "-c"],
        args=["mkdir -p /tmp/out && echo hello world | tee /tmp/out/hello_world.txt"],
        outputs=[Artifact(name="hello-art", path="/tmp/out/hello_world.txt")],
    )
    Container(
        name="print-message-from-file",
        inputs=[Artifact(name="message", path="/tmp/message")],
        command=["sh", "-c"],
        args=["cat /tmp/message"],
    )
    with Steps(name="main"):
        from hera.workflows import Step

        Step(name="generate-artifact", template="hello-world-to-file")
        Step(
            name="consume-artifact",
            template="print-message-from-file",
            arguments=[Artifact(name="message", from_="{{steps.generate-artifact.outputs.artifacts.hello-art}}")],
        )

with WorkflowTemplate(name="retry-third-time", entrypoint="main") as retry_third_time:
    with Steps(name="main"):
        third_time_lucky(name="flaky")

with WorkflowTemplate(name="exit-handler", entrypoint="main", on_exit="exit-handler") as exit_handler:
    with Steps(name="main"):
        fail(name="intentional-fail", arguments={"message": "failing on purpose"})
    with Steps(name="exit-handler"):
        say(name="notify", arguments={"message": "{{workflow.name}} {{workflow.status}}"})

with WorkflowTemplate(name="continue-on", entrypoint="main") as continue_on:
    with Steps(name="main"):
        fail(name="may-fail", arguments={"message": "failing"}, continue_on=ContinueOn(failed=True))
        say(name="after", arguments={"message": "went on after {{steps.may-fail.status}}"})

with WorkflowTemplate(name="timeout", entrypoint="main") as timeout:
    with Steps(name="main"):
        sleep_long(name="sleep")

with WorkflowTemplate(
    name="runner-io",
    entrypoint="main",
    arguments=[Parameter(name="order", value='{"item": "apple", "quantity": 4}')],
) as runner_io:
    with Steps(name="main"):
        priced = price(name="price", arguments={"order": "{{workflow.parameters.order}}"})
        describe(
            name="describe",
            arguments={"order": "{{workflow.parameters.order}}", "total": "{{steps.price.outputs.parameters.total}}"},
        )

with WorkflowTemplate(name="provider-refs", entrypoint="main") as provider_refs:
    with DAG(name="main"):
        validate = Task(
            name="validate",
            template_ref=TemplateRef(name="validate-dataset", template="validate-dataset"),
            arguments={"dataset": '{"uri": "s3://corpus/data", "rows": 20}', "min_rows": "10"},
        )
        stats = Task(
            name="stats",
            template_ref=TemplateRef(name="dataset-stats", template="dataset-stats", cluster_scope=True),
            arguments={"dataset": '{"uri": "{{tasks.validate.outputs.result}}", "rows": 20}'},
        )
        validate >> stats
