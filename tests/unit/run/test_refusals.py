"""What a local run cannot honour, and bad arguments, are refused with one line before any container starts."""

from __future__ import annotations

import pytest

from hera_build.errors import RunError
from tests.support.fake_engine import FakeEngine
from tests.unit.run.conftest import Run

WORKFLOW = """
kind: WorkflowTemplate
metadata: {name: wt-v1-0-0}
spec:
  entrypoint: main
  arguments: {parameters: [{name: size, value: "1"}, {name: mode, enum: [fast, slow]}]}
  templates:
  - name: main
    steps:
    - - {name: a, template: %(target)s}
  - {name: ok, container: {image: fake, command: [fake], args: ["print ok"]}}
%(extra)s
"""


def refused(run: Run, engine: FakeEngine, manifest: str, **options: object) -> str:
    with pytest.raises(RunError) as caught:
        run(manifest, **options)
    assert engine.runs == [], "refused before any container started"
    text = str(caught.value)
    assert "\n" not in text and "(fix: " in text
    return caught.value.message


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ("  - {name: bad, resource: {action: create, manifest: x}}", "resource templates"),
        ("  - {name: bad, container: {image: fake}, daemon: true}", "daemon containers"),
        ("  - {name: bad, container: {image: fake}, sidecars: [{name: s, image: fake}]}", "sidecars"),
        ("  - {name: bad, suspend: {}}", "suspend without a duration"),
        ("  - {name: bad, container: {image: fake, volumeMounts: [{name: v, mountPath: /v}]}}", "mounts volume 'v'"),
        ("  - {name: bad, volumes: [{name: v, hostPath: {path: /etc}}], container: {image: fake}}", "hostPath"),
        ("  - {name: bad, container: {image: fake, args: ['{{=1+1}}']}}", "expression tag"),
        ("  - {name: bad, http: {url: 'http://x'}}", "HTTP templates"),
        (
            "  - {name: bad, inputs: {artifacts: [{name: a, path: /a, s3: {key: k}}]}, container: {image: fake}}",
            "input artifact 'a' from s3",
        ),
    ],
)
def test_unsupported_features_are_named_with_their_template(
    run: Run, engine: FakeEngine, extra: str, feature: str
) -> None:
    message = refused(run, engine, WORKFLOW % {"target": "bad", "extra": extra}, parameters={"mode": "fast"})
    assert feature in message
    assert "template 'bad' of WorkflowTemplate/wt-v1-0-0" in message


def test_an_unknown_parameter_is_refused(run: Run, engine: FakeEngine) -> None:
    message = refused(run, engine, WORKFLOW % {"target": "ok", "extra": ""}, parameters={"mode": "fast", "szie": "2"})
    assert message == "WorkflowTemplate 'wt-v1-0-0' has no parameter 'szie' (its parameters: size, mode)"


def test_a_parameter_without_a_value_is_refused(run: Run, engine: FakeEngine) -> None:
    message = refused(run, engine, WORKFLOW % {"target": "ok", "extra": ""})
    assert message == "parameter 'mode' of WorkflowTemplate 'wt-v1-0-0' has no value"


def test_a_value_outside_the_enum_is_refused(run: Run, engine: FakeEngine) -> None:
    message = refused(run, engine, WORKFLOW % {"target": "ok", "extra": ""}, parameters={"mode": "medium"})
    assert "not one of fast, slow" in message


def test_an_unknown_template_is_refused(run: Run, engine: FakeEngine) -> None:
    message = refused(run, engine, WORKFLOW % {"target": "nope", "extra": ""}, parameters={"mode": "fast"})
    assert "has no template 'nope'" in message


def test_an_unknown_entrypoint_is_refused(run: Run, engine: FakeEngine) -> None:
    message = refused(
        run, engine, WORKFLOW % {"target": "ok", "extra": ""}, parameters={"mode": "fast"}, entrypoint="mian"
    )
    assert message == "WorkflowTemplate 'wt-v1-0-0' has no template 'mian' (its templates: main, ok)"


def test_a_template_ref_nobody_provides_is_refused(run: Run, engine: FakeEngine) -> None:
    manifest = """
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  templates:
  - name: main
    dag: {tasks: [{name: v, templateRef: {name: validate-v9-0-0, template: validate}}]}
"""
    assert "templateRef to WorkflowTemplate 'validate-v9-0-0' cannot be resolved" in refused(run, engine, manifest)


def test_a_missing_image_is_refused(run: Run, engine: FakeEngine) -> None:
    manifest = WORKFLOW.replace("image: fake", "image: 127.0.0.1:5000/acme/nope:1.0") % {"target": "ok", "extra": ""}
    message = refused(run, engine, manifest, parameters={"mode": "fast"})
    assert message.startswith("image 127.0.0.1:5000/acme/nope:1.0 is neither in the Docker engine")


def test_an_entrypoint_input_the_arguments_do_not_give_is_refused(run: Run, engine: FakeEngine) -> None:
    manifest = """
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  templates:
  - {name: main, inputs: {parameters: [{name: who}]}, container: {image: fake}}
"""
    assert "needs input 'who'" in refused(run, engine, manifest)
