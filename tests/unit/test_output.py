"""Atomic output: one file per object plus a kustomization, all or nothing, released files immutable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hera_build.errors import OutputError
from hera_build.templates.emit import PinnedObject
from hera_build.templates.output import KUSTOMIZATION, layout, render, render_stream, write_output

WT = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "a-v1-0-0"}, "spec": {}}


def pinned(kind: str, metadata: dict[str, str], module: str = "pkg.flows", attribute: str = "w") -> PinnedObject:
    name = metadata.get("name") or metadata["generateName"]
    manifest = {"kind": kind, "metadata": metadata}
    return PinnedObject(kind, name, name, module, attribute, manifest, version_tag="1.0.0")


def test_named_objects_are_filed_by_kind_and_name() -> None:
    assert list(layout([pinned("WorkflowTemplate", {"name": "a-v1-0-0"})])) == ["workflowtemplate-a-v1-0-0.yaml"]
    assert list(layout([pinned("CronWorkflow", {"name": "a-v1-0-0"})], "json")) == ["cronworkflow-a-v1-0-0.json"]


def test_workflows_sharing_a_generate_name_each_get_a_file_of_their_own_under_submit() -> None:
    """Several modules define `Workflow(generate_name="hello-")`: each is a file, named where it is defined, in
    the version's submit folder (kubectl apply -k cannot create them; a bumped version does not clash)."""
    objects = [
        pinned("Workflow", {"generateName": "hello-"}, "pkg.a", "w"),
        pinned("Workflow", {"generateName": "hello-"}, "pkg.b", "w"),
        pinned("Workflow", {"generateName": "hello-"}, "pkg.b", "again"),
    ]
    assert list(layout(objects)) == [
        "submit/1.0.0/workflow-hello.pkg.a.w.yaml",
        "submit/1.0.0/workflow-hello.pkg.b.w.yaml",
        "submit/1.0.0/workflow-hello.pkg.b.again.yaml",
    ]


def test_two_objects_on_one_path_is_an_error_naming_both() -> None:
    objects = [pinned("Workflow", {"name": "x"}, "pkg.a", "one"), pinned("Workflow", {"name": "x"}, "pkg.b", "two")]
    with pytest.raises(OutputError, match=r"Workflow pkg.a.one and Workflow pkg.b.two would both be written to"):
        layout(objects)


def test_files_in_subfolders_are_written_and_kept_out_of_the_kustomization(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    result = write_output({"wt.yaml": "a: 1\n", "submit/1.0.0/workflow-x.m.a.yaml": "b: 1\n"}, out)
    assert result.new == ("wt.yaml", "submit/1.0.0/workflow-x.m.a.yaml")
    assert (out / "submit/1.0.0/workflow-x.m.a.yaml").read_text() == "b: 1\n"
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["wt.yaml"]


def test_yaml_keeps_key_order_and_quotes_version_like_strings() -> None:
    text = render({"kind": "X", "metadata": {"labels": {"v": "1.0"}}, "spec": {"source": "a\nb\n"}})
    assert text.index("kind") < text.index("metadata")
    assert "v: '1.0'" in text
    assert "source: |" in text
    assert yaml.safe_load(text)["metadata"]["labels"]["v"] == "1.0"


def test_the_kustomization_text_is_what_it_was_for_ordinary_names(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    names = ["workflowtemplate-train-pipeline-v0-3-0.yaml", "cronworkflow-nightly-v0-3-0.yaml", "x.json"]
    write_output({name: "a: 1\n" for name in names}, out)
    document = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(names)}
    assert (out / KUSTOMIZATION).read_text() == yaml.safe_dump(document, sort_keys=False)


def test_a_file_name_that_is_not_utf8_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """kustomization.yaml could only list it as Python's stand-in (``"\\uDCFF.yaml"``), a file kustomize would
    not find; leaving it out would deploy less than the folder holds."""
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    kustomization = (out / KUSTOMIZATION).read_bytes()
    (out / os.fsdecode(b"\xff.yaml")).write_text("stray: 1\n")
    (out / os.fsdecode(b"notes-\xff.txt")).write_text("not a resource: not listed, not refused\n")

    with pytest.raises(OutputError) as info:
        write_output({"wt-v2.yaml": "v: 2\n"}, out)

    assert "\n" not in info.value.message
    assert info.value.message == (
        f"output folder {out} holds a file whose name is not UTF-8 (b'\\xff.yaml'), which kustomization.yaml "
        "cannot list"
    )
    assert info.value.fix == "rename the file to a UTF-8 name, or move it out of the folder"
    assert not (out / "wt-v2.yaml").exists() and (out / KUSTOMIZATION).read_bytes() == kustomization
    os.rename(out / os.fsdecode(b"\xff.yaml"), out / "stray.yaml")
    write_output({"wt-v2.yaml": "v: 2\n"}, out)
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["stray.yaml", "wt-v1.yaml", "wt-v2.yaml"]


def test_stream_is_multi_document() -> None:
    assert len(list(yaml.safe_load_all(render_stream([WT, WT])))) == 2


def test_writes_files_and_a_kustomization_listing_them(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    result = write_output({"b.yaml": "b: 1\n", "a.yaml": "a: 1\n"}, out)
    assert result.new == ("b.yaml", "a.yaml")
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["a.yaml", "b.yaml"]


def test_old_versions_stay_and_are_listed(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    result = write_output({"wt-v2.yaml": "v: 2\n", "wt-v1.yaml": "v: 1\n"}, out)
    assert (result.new, result.unchanged) == (("wt-v2.yaml",), ("wt-v1.yaml",))
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["wt-v1.yaml", "wt-v2.yaml"]


def test_a_version_not_emitted_again_stays_in_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    write_output({"wt-v2.yaml": "v: 2\n"}, out)
    assert (out / "wt-v1.yaml").read_text() == "v: 1\n", "a release adds files; it never drops older versions"
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["wt-v1.yaml", "wt-v2.yaml"]


def test_changed_content_for_a_released_version_is_refused_with_a_diff(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "image: a\n"}, out)
    with pytest.raises(OutputError, match=r"already exists with other content") as info:
        write_output({"wt-v1.yaml": "image: b\n", "other.yaml": "x: 1\n"}, out)
    assert "-image: a" in str(info.value) and "+image: b" in str(info.value)
    assert (out / "wt-v1.yaml").read_text() == "image: a\n"
    assert not (out / "other.yaml").exists(), "nothing is written when anything is refused"


def test_force_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "image: a\n"}, out)
    assert write_output({"wt-v1.yaml": "image: b\n"}, out, force=True).replaced == ("wt-v1.yaml",)
    assert (out / "wt-v1.yaml").read_text() == "image: b\n"


def test_a_run_that_changes_no_file_leaves_the_folder_as_it_is(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    files = {"wt-v1.yaml": "v: 1\n", "submit/1/workflow-run.pkg.w.yaml": "run: 1\n"}
    write_output(files, out)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out, *out.rglob("*"))}

    result = write_output(files, out, force=True)

    assert result.unchanged == tuple(files) and not result.new and not result.replaced
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out, *out.rglob("*"))} == before


def test_a_stale_kustomization_is_rewritten_when_no_file_changes(tmp_path: Path) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    (out / "by-hand.yaml").write_text("x: 1\n")
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["by-hand.yaml", "wt-v1.yaml"]


def test_a_replaced_file_is_a_new_file_and_kept_files_keep_their_content(tmp_path: Path) -> None:
    """Files that stay are carried over without copying; a replaced one is written anew, never into the file the
    previous folder had (which another link, or a reader of the old folder, still sees)."""
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "image: a\n", "keep.yaml": "k: 1\n", "submit/1/w.yaml": "run: 1\n"}, out)
    os.link(out / "wt-v1.yaml", tmp_path / "held")

    write_output({"wt-v1.yaml": "image: b\n", "wt-v2.yaml": "v: 2\n"}, out, force=True)

    assert (tmp_path / "held").read_text() == "image: a\n"
    assert (out / "wt-v1.yaml").read_text() == "image: b\n"
    assert (out / "keep.yaml").read_text() == "k: 1\n" and (out / "submit/1/w.yaml").read_text() == "run: 1\n"
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["keep.yaml", "wt-v1.yaml", "wt-v2.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".argo.lock", "argo", "held"]


def test_a_failure_while_writing_leaves_the_previous_folder_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    before = sorted(p.name for p in tmp_path.iterdir())

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("hera_build.templates.output._kustomization", fail)
    with pytest.raises(OSError, match="disk full"):
        write_output({"wt-v2.yaml": "v: 2\n"}, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in out.iterdir()) == [KUSTOMIZATION, "wt-v1.yaml"]


def test_a_failure_while_swapping_the_folder_puts_the_previous_one_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step renames the staged folder into place, after the old one was moved aside: if that rename
    fails, the old folder must be moved back, not left under a temporary name."""
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    rename = os.rename

    def fail_into_place(source: str | Path, target: str | Path) -> None:
        staged = Path(source).name.startswith(f".{out.name}.") and ".old-" not in Path(source).name
        if staged and Path(target) == out.resolve():
            raise OSError("rename failed")
        rename(source, target)

    monkeypatch.setattr("hera_build.templates.output.os.rename", fail_into_place)
    with pytest.raises(OSError, match="rename failed"):
        write_output({"wt-v2.yaml": "v: 2\n"}, out)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".argo.lock", "argo"], "no staging or backup folder"
    assert sorted(p.name for p in out.iterdir()) == [KUSTOMIZATION, "wt-v1.yaml"]


def test_a_failed_first_run_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hera_build.templates.output._kustomization", lambda d: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_output({"a.yaml": "a: 1\n"}, tmp_path / "argo")
    assert [p.name for p in tmp_path.iterdir()] == [".argo.lock"], "only the (empty) lock file"


def test_links_in_the_folder_stay_links(tmp_path: Path) -> None:
    """What users put in the folder besides hera-build's files is carried over as it is, links as links."""
    out = tmp_path / "argo"
    write_output({"wt-v1.yaml": "v: 1\n"}, out)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "common.yaml").write_text("c: 1\n")
    os.symlink(tmp_path / "shared", out / "shared")
    os.symlink(tmp_path / "shared" / "common.yaml", out / "common.yaml")
    os.symlink(tmp_path / "missing.yaml", out / "dangling.yaml")

    write_output({"wt-v2.yaml": "v: 2\n"}, out)

    assert all((out / name).is_symlink() for name in ("shared", "common.yaml", "dangling.yaml"))
    assert os.readlink(out / "dangling.yaml") == str(tmp_path / "missing.yaml")
    assert (out / "common.yaml").read_text() == "c: 1\n" and (out / "wt-v1.yaml").read_text() == "v: 1\n"
    assert yaml.safe_load((out / KUSTOMIZATION).read_text())["resources"] == ["common.yaml", "wt-v1.yaml", "wt-v2.yaml"]
