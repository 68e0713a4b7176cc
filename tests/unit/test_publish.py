"""``hera-build publish`` as a specification, against the in-memory API server of tests/support/fake_cluster.py
(the real server: tests/integration/test_publish_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hera_build._cli import main
from hera_build.cluster.kube import _api_error
from hera_build.cluster.publish import PublishOptions, first_difference, publish
from hera_build.errors import ClusterError, ConfigError, ImmutableObjectError
from tests.support.fake_cluster import FakeCluster, edge, forbidden, template, write_release

NS = "team"


@pytest.fixture
def provider(tmp_path: Path) -> Path:
    """data-utils 1.4.0: a pinned template that uses another of its own templates, and one nobody pins."""
    return write_release(
        tmp_path / "data-utils",
        "data-utils",
        "1.4.0",
        [
            template("WorkflowTemplate", "validate-v1-4-0", package="data-utils", version="1.4.0", refs=["io-v1-4-0"]),
            template("WorkflowTemplate", "io-v1-4-0", package="data-utils", version="1.4.0"),
            template("WorkflowTemplate", "unused-v1-4-0", package="data-utils", version="1.4.0"),
        ],
    )


def consumer(tmp_path: Path, version: str = "0.3.0", *, name: str = "ml-pipeline") -> Path:
    slug = "v" + version.replace(".", "-")
    return write_release(
        tmp_path / f"{name}-{version}",
        name,
        version,
        [
            template("CronWorkflow", f"nightly-{slug}", package=name, version=version, refs=[f"train-{slug}"]),
            template("WorkflowTemplate", f"train-{slug}", package=name, version=version, refs=["validate-v1-4-0"]),
        ],
        [edge("validate", "validate-v1-4-0", "data-utils", "1.4.0", [f"train-{slug}"])],
    )


def run(api: FakeCluster, release: Path, *providers: Path, **options: object) -> list[tuple[str, str]]:
    result = publish(PublishOptions(manifest=release, providers=providers, namespace=NS, **options), api)  # type: ignore[arg-type]
    return [(o.name, o.action) for o in result.objects]


def test_providers_pinned_templates_go_first_then_the_release_referenced_kinds_first(
    tmp_path: Path, provider: Path
) -> None:
    api = FakeCluster()
    assert run(api, consumer(tmp_path), provider) == [
        ("io-v1-4-0", "create"),  # what the pinned template references, before it
        ("validate-v1-4-0", "create"),
        ("train-v0-3-0", "create"),  # WorkflowTemplates before the CronWorkflow that refers to them
        ("nightly-v0-3-0", "create"),
    ]
    assert ("WorkflowTemplate", NS, "unused-v1-4-0") not in api.objects  # nobody pins it


def test_publishing_again_is_a_no_op(tmp_path: Path, provider: Path) -> None:
    api = FakeCluster()
    release = consumer(tmp_path)
    run(api, release, provider)
    writes = list(api.writes)
    assert {action for _, action in run(api, release, provider)} == {"unchanged"}
    assert api.writes == writes


def _edit(release: Path, name: str, value: str) -> None:
    path = release / "dist" / "argo" / f"workflowtemplate-{name}.yaml"
    obj = yaml.safe_load(path.read_text())
    obj["spec"]["templates"][0]["steps"][0][0]["templateRef"]["template"] = value
    path.write_text(yaml.safe_dump(obj))


def test_other_content_under_the_same_version_is_refused_before_anything_is_written(
    tmp_path: Path, provider: Path
) -> None:
    api = FakeCluster()
    release = consumer(tmp_path)
    run(api, release, provider)
    _edit(release, "train-v0-3-0", "other")
    api.objects.pop(("CronWorkflow", NS, "nightly-v0-3-0"))  # new, but must not be written either
    writes = list(api.writes)
    with pytest.raises(ImmutableObjectError) as raised:
        run(api, release, provider)
    assert str(raised.value).startswith(
        "WorkflowTemplate/train-v0-3-0 (ml-pipeline 0.3.0) exists in namespace team with other content: "
        "spec.templates[0].steps[0][0].templateRef.template differs (fix: "
    )
    assert "\n" not in str(raised.value)
    assert api.writes == writes


def test_dry_run_shows_the_diff_and_writes_nothing_and_force_overwrites(tmp_path: Path, provider: Path) -> None:
    api = FakeCluster()
    release = consumer(tmp_path)
    run(api, release, provider)
    _edit(release, "train-v0-3-0", "other")
    writes = list(api.writes)
    result = publish(PublishOptions(manifest=release, providers=(provider,), namespace=NS, dry_run=True), api)
    refused = result.refused[0]
    assert refused.diff is not None and "-          template: main\n+          template: other" in refused.diff
    assert api.writes == writes
    assert dict(run(api, release, provider, force=True))["train-v0-3-0"] == "replace"
    live = api.objects[("WorkflowTemplate", NS, "train-v0-3-0")]
    assert live["spec"]["templates"][0]["steps"][0][0]["templateRef"]["template"] == "other"


def test_a_pinned_template_neither_given_nor_on_the_cluster_is_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as raised:
        run(FakeCluster(), consumer(tmp_path))
    assert str(raised.value) == (
        "ml-pipeline 0.3.0 references WorkflowTemplate/validate-v1-4-0 of data-utils 1.4.0, which is not in namespace "
        "team (fix: publish data-utils 1.4.0 first, or pass its release folder with --with DIR)"
    )


def test_a_pinned_template_already_on_the_cluster_needs_no_provider_release(tmp_path: Path) -> None:
    api = FakeCluster()
    api.put(template("WorkflowTemplate", "validate-v1-4-0", package="data-utils", version="1.4.0"), NS)
    assert [a for _, a in run(api, consumer(tmp_path))] == ["create", "create"]


def test_a_provider_release_of_another_version_is_refused(tmp_path: Path) -> None:
    other = write_release(tmp_path / "du", "data-utils", "1.5.0", [template("WorkflowTemplate", "validate-v1-5-0")])
    with pytest.raises(
        ConfigError, match=r"pins validate-v1-4-0 of data-utils 1.4.0, but --with .* is data-utils 1.5.0"
    ):
        run(FakeCluster(), consumer(tmp_path), other)


def test_a_cluster_without_argos_crds_is_one_line(tmp_path: Path, provider: Path) -> None:
    with pytest.raises(ClusterError, match="does not serve"):
        run(FakeCluster(served=["Workflow"]), consumer(tmp_path), provider)


def test_an_object_declaring_another_namespace_is_refused(tmp_path: Path) -> None:
    obj = template("WorkflowTemplate", "wt-v1-0-0", package="p", version="1.0.0")
    obj["metadata"]["namespace"] = "elsewhere"
    release = write_release(tmp_path / "p", "p", "1.0.0", [obj])
    with pytest.raises(ClusterError, match="declares namespace elsewhere, but publishing into team"):
        run(FakeCluster(), release)


def test_workflows_of_a_release_are_not_applied(tmp_path: Path) -> None:
    release = write_release(
        tmp_path / "p", "p", "1.0.0", [template("WorkflowTemplate", "wt-v1-0-0"), template("Workflow", "run-v1-0-0")]
    )
    result = publish(PublishOptions(manifest=release, namespace=NS), FakeCluster())
    assert [o.name for o in result.objects] == ["wt-v1-0-0"]
    assert result.skipped == ("Workflow/run-v1-0-0",)


def test_the_release_folder_is_found_beside_its_manifest_wherever_it_was_moved(tmp_path: Path, provider: Path) -> None:
    moved = tmp_path / "elsewhere" / "artifacts"
    moved.parent.mkdir()
    (consumer(tmp_path) / "dist").rename(moved)
    assert len(run(FakeCluster(), moved / "release-manifest.json", provider)) == 4


# ---- prune ----


def _published(api: FakeCluster, tmp_path: Path, provider: Path, *versions: str) -> None:
    for version in versions:
        run(api, consumer(tmp_path, version), provider)


def _prune(api: FakeCluster, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """Publish ml-pipeline 0.3.0 with --prune: (names deleted, {name kept: referrer})."""
    result = publish(PublishOptions(manifest=consumer(tmp_path, "0.3.0"), namespace=NS, prune=True), api)
    assert result.pruned is not None
    return [n for _, n, _ in result.pruned.deleted], {k.name: k.referenced_by for k in result.pruned.kept}


def test_prune_deletes_old_versions_nothing_references_referrers_first(tmp_path: Path, provider: Path) -> None:
    api = FakeCluster()
    _published(api, tmp_path, provider, "0.1.0", "0.2.0")
    deleted, kept = _prune(api, tmp_path)
    # each old train was referenced only by its own old CronWorkflow, which goes too
    assert deleted == ["nightly-v0-1-0", "nightly-v0-2-0", "train-v0-1-0", "train-v0-2-0"]
    assert kept == {}
    assert ("WorkflowTemplate", NS, "validate-v1-4-0") in api.objects  # another package's: never pruned
    assert ("WorkflowTemplate", NS, "train-v0-3-0") in api.objects


def test_prune_keeps_what_a_workflow_or_another_template_references_and_what_those_reference(
    tmp_path: Path, provider: Path
) -> None:
    api = FakeCluster()
    _published(api, tmp_path, provider, "0.1.0", "0.2.0")
    api.put(template("Workflow", "old-run-x1", refs=["train-v0-1-0"]), NS)
    api.put(template("WorkflowTemplate", "team-b", refs=["train-v0-2-0"]), NS)
    deleted, kept = _prune(api, tmp_path)
    assert deleted == ["nightly-v0-1-0", "nightly-v0-2-0"]
    assert kept == {"train-v0-1-0": "Workflow/old-run-x1", "train-v0-2-0": "WorkflowTemplate/team-b"}


def test_prune_follows_references_between_old_versions(tmp_path: Path) -> None:
    """Old a is used only by old b; b is unreferenced: both go. Once a Workflow uses b, both stay."""
    api = FakeCluster()
    a = template("WorkflowTemplate", "a-v1-0-0", package="p", version="1.0.0")
    b = template("WorkflowTemplate", "b-v1-0-0", package="p", version="1.0.0", refs=["a-v1-0-0"])
    api.put(a, NS)
    api.put(b, NS)
    release = write_release(
        tmp_path / "p", "p", "2.0.0", [template("WorkflowTemplate", "a-v2-0-0", package="p", version="2.0.0")]
    )
    dry = publish(PublishOptions(manifest=release, namespace=NS, prune=True, dry_run=True), api)
    assert dry.pruned is not None and [n for _, n, _ in dry.pruned.deleted] == ["a-v1-0-0", "b-v1-0-0"]
    api.put(template("Workflow", "run-1", refs=["b-v1-0-0"]), NS)
    kept = publish(PublishOptions(manifest=release, namespace=NS, prune=True), api).pruned
    assert kept is not None and kept.deleted == ()
    assert {k.name: k.referenced_by for k in kept.kept} == {
        "a-v1-0-0": "WorkflowTemplate/b-v1-0-0",
        "b-v1-0-0": "Workflow/run-1",
    }


def test_prune_never_touches_newer_versions_or_other_namespaces(tmp_path: Path, provider: Path) -> None:
    api = FakeCluster()
    _published(api, tmp_path, provider, "0.4.0")
    api.put(template("WorkflowTemplate", "train-v0-1-0", package="ml-pipeline", version="0.1.0"), "other-team")
    deleted, _ = _prune(api, tmp_path)
    assert deleted == []
    assert ("WorkflowTemplate", "other-team", "train-v0-1-0") in api.objects


def test_prune_keeps_an_old_cluster_template_when_other_namespaces_cannot_be_listed(tmp_path: Path) -> None:
    api = FakeCluster()
    api.put(template("ClusterWorkflowTemplate", "stats-v1-0-0", package="p", version="1.0.0"))
    api.fail["list-all"] = forbidden()
    release = write_release(
        tmp_path / "p",
        "p",
        "2.0.0",
        [template("ClusterWorkflowTemplate", "stats-v2-0-0", package="p", version="2.0.0")],
    )
    pruned = publish(PublishOptions(manifest=release, namespace=NS, prune=True), api).pruned
    assert pruned is not None and pruned.deleted == ()
    assert [k.name for k in pruned.kept] == ["stats-v1-0-0"]


# ---- small pieces ----


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ({"spec": {"a": 1}}, {"spec": {"a": 1}}, None),
        ({"spec": {"a": 1}}, {"spec": {"a": 2}}, "spec.a"),
        ({"spec": {"t": [{"x": 1}, {"x": 2}]}}, {"spec": {"t": [{"x": 1}, {"x": 3}]}}, "spec.t[1].x"),
        ({"spec": {"t": [1]}}, {"spec": {"t": [1, 2]}}, "spec.t[1]"),
        ({"metadata": {}}, {"metadata": {"labels": {"a": "b"}}}, "metadata.labels"),
    ],
)
def test_first_difference_names_the_field(old: object, new: object, path: str | None) -> None:
    assert first_difference(old, new) == path


def test_server_errors_are_one_line_from_the_status_message() -> None:
    message = (
        'workflowtemplates.argoproj.io "x" is forbidden: User "ci" cannot patch resource "workflowtemplates" in API '
        'group "argoproj.io" in the\nnamespace "team"'
    )
    body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden", "message": message})
    error = _api_error("apply WorkflowTemplate x", 403, "Forbidden", body, "https://k:6443")
    assert "\n" not in str(error) and error.status == 403
    assert str(error).startswith("apply WorkflowTemplate x: the API server at https://k:6443 answered 403 ")
    assert 'cannot patch resource "workflowtemplates"' in str(error) and "(fix: ask for RBAC rights" in str(error)


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "from-context"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_cli_no_cluster_is_one_line(tmp_path: Path, provider: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("kubernetes", reason="the kubernetes client (the cluster extra) is part of the test extra")
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    code = main(
        ["publish", "--manifest", str(consumer(tmp_path)), "--with", str(provider), "--kubeconfig", str(kubeconfig)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        err.startswith("error: cannot reach the Kubernetes API server at https://127.0.0.1:1") and err.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kubeconfig", "{tmp}/missing"], "error: kubeconfig {tmp}/missing does not exist (fix: "),
        (
            ["--kubeconfig", "{kubeconfig}", "--context", "nope"],
            "error: kubeconfig {kubeconfig} has no context 'nope' (it has: ctx)",
        ),
    ],
)
def test_cli_configuration_errors_are_one_line(
    tmp_path: Path, provider: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    pytest.importorskip("kubernetes", reason="the kubernetes client (the cluster extra) is part of the test extra")
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    fill = {"tmp": str(tmp_path), "kubeconfig": str(kubeconfig)}
    code = main(["publish", "--manifest", str(consumer(tmp_path)), *[a.format(**fill) for a in args]])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(message.format(**fill)) and err.count("\n") == 1


def test_the_namespace_comes_from_the_flag_else_the_context(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes", reason="the kubernetes client (the cluster extra) is part of the test extra")
    from hera_build.cluster.kube import connect

    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1")
    assert connect(kubeconfig).namespace == "from-context"
    assert connect(kubeconfig, namespace="given").namespace == "given"
