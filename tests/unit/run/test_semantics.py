# ruff: noqa: E501 - the workflows are YAML written as Argo's examples write them, one step per line
"""Argo's semantics, run on the fake engine: each test is a workflow from Argo's walk-through, reduced, with the
phases and outputs Argo gives it."""

from __future__ import annotations

import json
import threading
import time

import pytest

from hera_build.run._core import SCRIPT_PATH
from hera_build.run.nodes import node_id
from tests.support.fake_engine import FakeEngine
from tests.support.runs import node, output, phases
from tests.unit.run.conftest import Run

ECHO = """
  - name: echo
    inputs: {parameters: [{name: message}]}
    container: {image: fake, command: [fake], args: ["print {{inputs.parameters.message}}"]}
"""


def test_steps_run_groups_in_order_and_pass_results_on(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: steps}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: hello1, template: echo, arguments: {parameters: [{name: message, value: hello1}]}}
    - - {name: hello2a, template: echo, arguments: {parameters: [{name: message, value: "{{steps.hello1.outputs.result}}-a"}]}}
      - {name: hello2b, template: echo, arguments: {parameters: [{name: message, value: b}]}}
"""
        + ECHO
    )
    assert result.phase == "Succeeded"
    assert output(result, "hello2a") == "hello1-a"
    root = node(result, "wf")
    assert root["type"] == "Steps" and root["id"] == "wf"
    first, second = node(result, "[0]"), node(result, "[1]")
    assert root["children"] == [first["id"]]
    assert first["children"] == [node(result, "hello1")["id"]]
    assert node(result, "hello1")["children"] == [second["id"]], "the next group hangs from the previous steps"
    assert sorted(second["children"]) == sorted([node(result, "hello2a")["id"], node(result, "hello2b")["id"]])
    assert node(result, "hello1")["name"] == "wf[0].hello1"
    assert node(result, "hello1")["id"] == node_id("wf", "wf[0].hello1")


def test_node_ids_are_argos_fnv_hash_of_the_node_name() -> None:
    assert node_id("wf", "wf") == "wf"
    assert node_id("hello-world-x2x4d", "hello-world-x2x4d[0].a") == "hello-world-x2x4d-" + str(
        _fnv1a32(b"hello-world-x2x4d[0].a")
    )


def _fnv1a32(data: bytes) -> int:
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) % 2**32
    return value


DIAMOND = """
kind: Workflow
metadata: {name: diamond}
spec:
  entrypoint: diamond
  templates:
  - name: diamond
    dag:
      tasks:
      - {name: A, template: run, arguments: {parameters: [{name: code, value: "0"}]}}
      - {name: B, depends: A, template: run, arguments: {parameters: [{name: code, value: "%(b)s"}]}}
      - {name: C, depends: A.Succeeded, template: run, arguments: {parameters: [{name: code, value: "0"}]}}
      - {name: D, depends: "B && C", template: run, arguments: {parameters: [{name: code, value: "0"}]}}
      - {name: on-b-failure, depends: "B.Failed || B.Errored", template: run, arguments: {parameters: [{name: code, value: "0"}]}}
  - name: run
    inputs: {parameters: [{name: code}]}
    container: {image: fake, command: [fake], args: ["print {{inputs.parameters.code}}", "exit {{inputs.parameters.code}}"]}
"""


def test_diamond_dag_runs_what_depends_allows(run: Run) -> None:
    result = run(DIAMOND % {"b": "0"})
    assert result.phase == "Succeeded"
    assert phases(result) == {
        "wf": "Succeeded",
        "A": "Succeeded",
        "B": "Succeeded",
        "C": "Succeeded",
        "D": "Succeeded",
        "on-b-failure": "Omitted",
    }
    assert node(result, "on-b-failure")["message"] == "omitted: depends condition not met"
    a, b, c, d = (node(result, n) for n in "ABCD")
    assert node(result, "wf")["children"] == [a["id"]]
    assert sorted(a["children"]) == sorted([b["id"], c["id"]])
    assert sorted(b["children"]) == sorted([d["id"], node(result, "on-b-failure")["id"]])
    assert c["children"] == [d["id"]], "a task hangs from every task it depends on"


def test_a_failed_task_omits_its_dependents_and_fails_the_dag_through_them(run: Run) -> None:
    result = run(DIAMOND % {"b": "3"})
    assert phases(result)["B"] == "Failed"
    assert node(result, "B")["message"] == "Error (exit code 3)"
    assert phases(result)["D"] == "Omitted", "D depends on B succeeding"
    assert phases(result)["on-b-failure"] == "Succeeded"
    assert result.phase == "Failed", "the omitted target D inherits B's failure"


def test_dependencies_with_continue_on_let_a_failure_through(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: flaky, template: fail, continueOn: {failed: true}}
      - {name: after, dependencies: [flaky], template: ok}
  - {name: fail, container: {image: fake, command: [fake], args: ["exit 1"]}}
  - {name: ok, container: {image: fake, command: [fake], args: ["print ok"]}}
"""
    )
    assert phases(result) == {"wf": "Succeeded", "flaky": "Failed", "after": "Succeeded"}
    assert result.phase == "Succeeded"


def test_continue_on_in_steps_keeps_the_workflow_going(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: flaky, template: fail, continueOn: {failed: true}}
    - - {name: after, template: ok, arguments: {parameters: [{name: seen, value: "{{steps.flaky.status}}"}]}}
  - {name: fail, container: {image: fake, command: [fake], args: ["exit 1"]}}
  - name: ok
    inputs: {parameters: [{name: seen}]}
    container: {image: fake, command: [fake], args: ["print {{inputs.parameters.seen}}"]}
"""
    )
    assert result.phase == "Succeeded"
    assert output(result, "after") == "Failed"


def test_a_failed_step_stops_the_steps_and_fails_the_workflow(run: Run, engine: FakeEngine) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: broken, template: fail}
    - - {name: never, template: fail}
  - {name: fail, container: {image: fake, command: [fake], args: ["err boom", "exit 2"]}}
"""
    )
    assert result.phase == "Failed"
    assert "never" not in phases(result)
    assert result.workflow["status"]["message"] == f"child '{node(result, 'broken')['id']}' failed"
    assert len(engine.runs) == 1
    assert result.log(node(result, "broken")["id"]) == "boom\n"
    assert [n["displayName"] for n in result.failed_nodes()] == ["broken"]


COIN = """
kind: Workflow
metadata: {name: coinflip}
spec:
  entrypoint: coinflip
  arguments: {parameters: [{name: side, value: heads}]}
  templates:
  - name: coinflip
    steps:
    - - {name: flip-coin, template: flip-coin}
    - - {name: heads, template: say, when: "{{steps.flip-coin.outputs.result}} == heads"}
      - {name: tails, template: say, when: "{{steps.flip-coin.outputs.result}} == tails"}
      - {name: heads-regex, template: say, when: "{{steps.flip-coin.outputs.result}} =~ hea"}
      - {name: both, template: say, when: "( {{steps.flip-coin.outputs.result}} == heads && 2 > 1.5 ) || false"}
  - name: flip-coin
    script: {image: fake, command: [fake], source: "print {{workflow.parameters.side}}"}
  - {name: say, container: {image: fake, command: [fake], args: ["print said"]}}
"""


@pytest.mark.parametrize("side", ["heads", "tails"])
def test_coin_flip_runs_the_branch_whose_when_holds(run: Run, side: str) -> None:
    result = run(COIN, parameters={"side": side})
    assert result.phase == "Succeeded"
    assert output(result, "flip-coin") == side
    expected = {"heads": "Succeeded", "tails": "Skipped", "heads-regex": "Succeeded", "both": "Succeeded"}
    if side == "tails":
        expected = {"heads": "Skipped", "tails": "Succeeded", "heads-regex": "Skipped", "both": "Skipped"}
    assert {k: v for k, v in phases(result).items() if k in expected} == expected
    skipped = next(k for k, v in expected.items() if v == "Skipped")
    assert node(result, skipped)["type"] == "Skipped"
    assert "evaluated false" in node(result, skipped)["message"]


def test_a_script_source_is_staged_and_appended_as_the_last_argument(run: Run, engine: FakeEngine) -> None:
    run(COIN)
    spec = engine.runs[0]
    assert spec.command == ("fake",)
    assert spec.args == (SCRIPT_PATH,)
    assert spec.files[SCRIPT_PATH] == b"print heads"
    assert spec.network == "none"


FAN = (
    """
kind: Workflow
metadata: {name: fan}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: generate, template: generate}
      - name: square
        depends: generate
        template: square
        arguments: {parameters: [{name: n, value: "{{item.n}}"}, {name: label, value: "{{item.label}}"}]}
        withParam: "{{tasks.generate.outputs.result}}"
      - name: total
        depends: square.AnySucceeded
        template: echo
        arguments: {parameters: [{name: message, value: "{{tasks.square.outputs.result}}|{{tasks.square.outputs.parameters.label}}"}]}
  - name: generate
    script: {image: fake, command: [fake], source: 'print [{"n": 1, "label": "one"}, {"n": 2, "label": "two"}, {"n": 3, "label": "three"}]'}
  - name: square
    inputs: {parameters: [{name: n}, {name: label}]}
    container: {image: fake, command: [fake], args: ["print {{inputs.parameters.n}}{{inputs.parameters.n}}", "write /tmp/label {{inputs.parameters.label}}"]}
    outputs: {parameters: [{name: label, valueFrom: {path: /tmp/label}}]}
"""
    + ECHO
)


def test_with_param_fans_out_over_an_earlier_output_and_fans_in_aggregated(run: Run) -> None:
    result = run(FAN)
    assert result.phase == "Succeeded"
    group = node(result, "square")
    assert group["type"] == "TaskGroup"
    items = [node(result, f"square({i}:label:{label},n:{i + 1})") for i, label in enumerate(["one", "two", "three"])]
    assert group["children"] == [n["id"] for n in items]
    assert output(result, "total") == '[11,22,33]|["one","two","three"]'


def test_with_items_and_with_sequence_expand_steps(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: loops}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: items, template: echo, arguments: {parameters: [{name: message, value: "{{item}}"}]}, withItems: [hello world, 7, true]}
      - name: seq
        template: echo
        arguments: {parameters: [{name: message, value: "n{{item}}"}]}
        withSequence: {start: "2", count: "3", format: "%02d"}
    - - {name: none, template: echo, arguments: {parameters: [{name: message, value: "{{item}}"}]}, withParam: "[]"}
"""
        + ECHO
    )
    assert result.phase == "Succeeded"
    assert output(result, "items(0:hello world)") == "hello world"
    assert output(result, "items(1:7)") == "7"
    assert output(result, "items(2:true)") == "true"
    assert [output(result, f"seq({i}:{n})") for i, n in enumerate(["02", "03", "04"])] == ["n02", "n03", "n04"]
    assert node(result, "none")["phase"] == "Skipped"


ARTIFACTS = """
kind: Workflow
metadata: {name: artifact-passing}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: generate, template: generate}
    - - name: consume
        template: consume
        arguments:
          artifacts:
          - {name: message, from: "{{steps.generate.outputs.artifacts.hello}}"}
          - {name: folder, from: "{{steps.generate.outputs.artifacts.folder}}"}
  - name: generate
    container: {image: fake, command: [fake], args: ["write /tmp/hello.txt hello world", "write /tmp/out/a.txt A", "write /tmp/out/sub/b.txt B"]}
    outputs:
      artifacts:
      - {name: hello, path: /tmp/hello.txt}
      - {name: folder, path: /tmp/out}
      - {name: absent, path: /tmp/nothing, optional: true}
  - name: consume
    inputs:
      artifacts:
      - {name: message, path: /data/message}
      - {name: folder, path: /data/folder}
      - {name: note, path: /data/note, raw: {data: "a raw note"}}
    container: {image: fake, command: [fake], args: ["cat /data/message", "cat /data/folder/sub/b.txt", "cat /data/note"]}
"""


def test_artifacts_pass_from_one_step_to_the_next_through_the_local_store(run: Run) -> None:
    result = run(ARTIFACTS)
    assert result.phase == "Succeeded"
    assert output(result, "consume") == "hello worldBa raw note"
    stored = result.run_dir / "artifacts" / node(result, "generate")["id"] / "hello.tar"
    assert stored.is_file()
    assert [a["name"] for a in node(result, "generate")["outputs"]["artifacts"]] == ["hello", "folder"]


def test_a_missing_output_artifact_errors_the_node(run: Run) -> None:
    result = run(ARTIFACTS.replace("/tmp/hello.txt hello world", "/tmp/other.txt x"))
    assert node(result, "generate")["phase"] == "Error"
    assert "/tmp/hello.txt does not exist" in node(result, "generate")["message"]


RETRY = """
kind: Workflow
metadata: {name: retry}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: flaky, template: flaky}
  - name: flaky
    retryStrategy: {limit: "%(limit)s", retryPolicy: OnFailure, backoff: {duration: "0.01", factor: 2}}
    container: {image: fake, command: [fake], args: ["fail-until 3 flaky", "print ok {{retries}}"]}
"""


def test_a_step_succeeds_on_its_third_attempt(run: Run) -> None:
    result = run(RETRY % {"limit": 2})
    assert result.phase == "Succeeded"
    retry = node(result, "flaky")
    assert retry["type"] == "Retry" and retry["phase"] == "Succeeded"
    attempts = [node(result, f"flaky({i})") for i in range(3)]
    assert retry["children"] == [a["id"] for a in attempts]
    assert [a["phase"] for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert output(result, "flaky") == "ok 2", "the retry node carries its last attempt's outputs"


def test_retries_stop_at_the_limit(run: Run) -> None:
    result = run(RETRY % {"limit": 1})
    assert result.phase == "Failed"
    assert node(result, "flaky")["message"].startswith("No more retries left")


EXIT = (
    """
kind: Workflow
metadata: {name: exit-handlers}
spec:
  entrypoint: intentional-fail
  onExit: exit-handler
  templates:
  - {name: intentional-fail, container: {image: fake, command: [fake], args: ["print failing", "exit %(code)s"]}}
  - name: exit-handler
    steps:
    - - {name: notify, template: echo, arguments: {parameters: [{name: message, value: "{{workflow.name}} {{workflow.status}}"}]}}
      - {name: celebrate, template: echo, arguments: {parameters: [{name: message, value: hooray}]}, when: "{{workflow.status}} == Succeeded"}
      - {name: cry, template: echo, arguments: {parameters: [{name: message, value: boohoo}]}, when: "{{workflow.status}} != Succeeded"}
"""
    + ECHO
)


def test_the_exit_handler_sees_the_workflow_failed(run: Run) -> None:
    result = run(EXIT % {"code": 1})
    assert result.phase == "Failed"
    assert node(result, "wf.onExit")["phase"] == "Succeeded"
    assert output(result, "notify") == "wf Failed"
    assert phases(result)["cry"] == "Succeeded" and phases(result)["celebrate"] == "Skipped"


def test_the_exit_handler_sees_the_workflow_succeed(run: Run) -> None:
    result = run(EXIT % {"code": 0})
    assert result.phase == "Succeeded"
    assert output(result, "notify") == "wf Succeeded"


def test_a_template_deadline_fails_the_pod(run: Run) -> None:
    started = time.monotonic()
    result = run(
        """
kind: Workflow
metadata: {name: timeouts}
spec:
  entrypoint: sleep
  templates:
  - {name: sleep, activeDeadlineSeconds: 0.2, container: {image: fake, command: [fake], args: ["sleep 30"]}}
"""
    )
    assert time.monotonic() - started < 5
    assert result.phase == "Failed"
    assert node(result, "wf")["message"] == "Pod was active on the node longer than the specified deadline"


def test_a_workflow_deadline_stops_everything(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: timeouts}
spec:
  entrypoint: main
  activeDeadlineSeconds: 0.3
  templates:
  - name: main
    steps:
    - - {name: slow, template: sleep}
    - - {name: later, template: sleep}
  - {name: sleep, container: {image: fake, command: [fake], args: ["sleep 30"]}}
"""
    )
    assert result.phase == "Failed"
    assert result.workflow["status"]["message"] == "Workflow exceeded its deadline"
    assert "later" not in phases(result)


def test_parallelism_limits_how_many_pods_run_at_once(run: Run, engine: FakeEngine) -> None:
    peak = 0
    lock = threading.Lock()
    original = engine.run

    def counting(spec, cancel):  # type: ignore[no-untyped-def]
        nonlocal peak
        with lock:
            peak = max(peak, len(engine.running) + 1)
        return original(spec, cancel)

    engine.run = counting  # type: ignore[method-assign]
    result = run(
        """
kind: Workflow
metadata: {name: p}
spec:
  entrypoint: main
  parallelism: 2
  templates:
  - name: main
    steps:
    - - {name: s, template: sleep, withSequence: {count: "6"}}
  - {name: sleep, container: {image: fake, command: [fake], args: ["sleep 0.05"]}}
"""
    )
    assert result.phase == "Succeeded"
    assert peak == 2


def test_fail_fast_false_lets_other_branches_finish(run: Run) -> None:
    template = """
kind: Workflow
metadata: {name: ff}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      failFast: %s
      tasks:
      - {name: bad, template: fail}
      - {name: slow, template: slow}
      - {name: after-slow, depends: slow, template: slow}
  - {name: fail, container: {image: fake, command: [fake], args: ["exit 1"]}}
  - {name: slow, container: {image: fake, command: [fake], args: ["sleep 0.1"]}}
"""
    stopped = run(template % "true")
    assert stopped.phase == "Failed"
    assert "after-slow" not in phases(stopped), "fail fast: nothing new starts after a target fails"
    finished = run(template % "false", name="wf2")
    assert finished.phase == "Failed"
    assert phases(finished)["after-slow"] == "Succeeded"


def test_template_ref_resolves_in_the_referenced_template_and_its_scope(run: Run) -> None:
    provider = """
kind: WorkflowTemplate
metadata: {name: greet-v1-0-0}
spec:
  templates:
  - name: greet
    inputs: {parameters: [{name: who}, {name: greeting, default: hello}]}
    steps:
    - - {name: say, template: echo, arguments: {parameters: [{name: message, value: "{{inputs.parameters.greeting}} {{inputs.parameters.who}}"}]}}
    outputs: {parameters: [{name: said, valueFrom: {parameter: "{{steps.say.outputs.result}}"}}]}
""" + ECHO.replace("\n  -", "\n  -", 1)
    result = run(
        """
kind: Workflow
metadata: {name: refs}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: hi, templateRef: {name: greet-v1-0-0, template: greet}, arguments: {parameters: [{name: who, value: world}]}}
""",
        library=[provider],
    )
    assert result.phase == "Succeeded"
    assert output(result, "hi", "said") == "hello world"
    assert node(result, "hi")["templateRef"] == {"name": "greet-v1-0-0", "template": "greet"}


def test_output_parameters_come_from_files_with_defaults(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: outputs}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: fake, command: [fake], args: ["write /tmp/a.txt value-a"]}
    outputs:
      parameters:
      - {name: a, valueFrom: {path: /tmp/a.txt}}
      - {name: b, valueFrom: {path: /tmp/b.txt, default: fallback}}
"""
    )
    assert output(result, "wf", "a") == "value-a"
    assert output(result, "wf", "b") == "fallback"


def test_inputs_parameters_is_the_json_list_the_hera_runner_reads(run: Run, engine: FakeEngine) -> None:
    run(
        """
kind: Workflow
metadata: {name: runner}
spec:
  entrypoint: main
  arguments: {parameters: [{name: x, value: '{"a": 1}'}]}
  templates:
  - name: main
    inputs: {parameters: [{name: x}, {name: n, default: "2"}]}
    script: {image: fake, command: [fake], args: [-m, hera.workflows.runner, -e, "m:f"], source: "{{inputs.parameters}}"}
"""
    )
    spec = engine.runs[0]
    assert spec.args == ("-m", "hera.workflows.runner", "-e", "m:f", SCRIPT_PATH)
    staged = json.loads(spec.files[SCRIPT_PATH])
    assert [{"name": p["name"], "value": p["value"]} for p in staged] == [
        {"name": "x", "value": '{"a": 1}'},
        {"name": "n", "value": "2"},
    ]


def test_a_skipped_output_reference_falls_back_to_the_consumers_default(run: Run) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: skip}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: maybe, template: echo, when: "a == b", arguments: {parameters: [{name: message, value: x}]}}
      - {name: use, depends: maybe, template: show, arguments: {parameters: [{name: value, value: "{{tasks.maybe.outputs.result}}"}]}}
  - name: show
    inputs: {parameters: [{name: value, default: nothing}]}
    container: {image: fake, command: [fake], args: ["print {{inputs.parameters.value}}"]}
"""
        + ECHO
    )
    assert phases(result)["maybe"] == "Skipped"
    assert output(result, "use") == "nothing"


def test_cancelling_a_run_kills_its_containers_and_fails_it(engine: FakeEngine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from hera_build.run import RunSettings, run_manifest

    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    manifest = yaml.safe_load(
        """
kind: Workflow
metadata: {name: long}
spec:
  entrypoint: main
  onExit: main
  templates:
  - {name: main, container: {image: fake, command: [fake], args: ["sleep 30"]}}
"""
    )
    started = time.monotonic()
    result = run_manifest(manifest, engine=engine, options=RunSettings(runs_dir=tmp_path), cancel=cancel)
    assert time.monotonic() - started < 5
    assert result.phase == "Failed"
    assert result.workflow["status"]["message"] == "Stopped with strategy 'Terminate'"
    assert len(engine.runs) == 1, "no exit handler after a stop"


def test_an_empty_dir_volume_becomes_a_volume_of_the_container(run: Run, engine: FakeEngine) -> None:
    result = run(
        """
kind: Workflow
metadata: {name: volumes}
spec:
  entrypoint: main
  volumes: [{name: scratch, emptyDir: {}}]
  templates:
  - name: main
    volumes: [{name: own, emptyDir: {medium: Memory}}]
    container: {image: fake, command: [fake], args: ["print ok"], volumeMounts: [{name: scratch, mountPath: /scratch}, {name: own, mountPath: /own}]}
"""
    )
    assert result.phase == "Succeeded"
    assert engine.runs[0].volumes == ("/scratch", "/own")
