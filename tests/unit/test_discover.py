"""Discovery: import modules by dotted name, collect the project's own module-level Hera objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from hera.shared import global_config

from hera_build.errors import DiscoveryError
from hera_build.templates.discover import SENTINEL_IMAGE, discover


def test_collects_own_objects_of_every_kind_once(sample_packages: Path) -> None:
    found = discover(["sample_flows.workflows"])
    assert [(o.attribute, o.kind, o.name) for o in found] == [
        ("greet", "WorkflowTemplate", "greet"),
        ("helpers", "ClusterWorkflowTemplate", "helpers"),
        ("cron", "CronWorkflow", "nightly-greet"),
        ("once", "Workflow", "greet-once-"),
    ]


def test_objects_imported_from_dependencies_are_not_collected(sample_packages: Path) -> None:
    names = {o.name for o in discover(["sample_flows.workflows"])}
    assert "dep-template" not in names


def test_default_images_are_marked_and_explicit_ones_kept(sample_packages: Path) -> None:
    greet = discover(["sample_flows.workflows"])[0]
    images = {
        t["name"]: (t.get("script") or t.get("container", {})).get("image") for t in greet.manifest["spec"]["templates"]
    }
    assert images["hello"] == SENTINEL_IMAGE
    assert images["shared-step"] == SENTINEL_IMAGE, "a dependency's runner script inlined here runs in our image"
    assert images["plain"] == SENTINEL_IMAGE
    assert images["gpu"] == "nvidia/cuda:12.4.0-runtime-ubuntu22.04"


def test_hera_global_config_is_restored(sample_packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own default image is back afterwards, also when an import fails (not merely "unchanged": an
    earlier discovery in this process could have left the sentinel behind)."""
    monkeypatch.setattr(global_config, "image", "registry.test/users-default:1")
    discover(["sample_flows.workflows"])
    assert global_config.image == "registry.test/users-default:1"
    with pytest.raises(DiscoveryError):
        discover(["sample_flows.broken"])
    assert global_config.image == "registry.test/users-default:1"


def test_runner_entrypoints_use_dotted_module_names(sample_packages: Path) -> None:
    greet = discover(["sample_flows.workflows"])[0]
    hello = next(t for t in greet.manifest["spec"]["templates"] if t["name"] == "hello")
    assert hello["script"]["args"] == ["-m", "hera.workflows.runner", "-e", "sample_flows.workflows:hello"]


def test_import_error_names_the_module_and_the_cause(sample_packages: Path) -> None:
    with pytest.raises(
        DiscoveryError,
        match=r"importing module 'sample_flows.broken' failed: RuntimeError: boom at import \(at .*broken.py:3\)",
    ):
        discover(["sample_flows.broken"])


def test_module_that_is_not_installed(sample_packages: Path) -> None:
    with pytest.raises(DiscoveryError, match="'no_such_pkg' is not installed") as info:
        discover(["no_such_pkg.workflows"])
    assert info.value.fix and "pip install -e ." in info.value.fix


def test_module_without_objects(sample_packages: Path) -> None:
    with pytest.raises(DiscoveryError, match="no Hera Workflow"):
        discover(["sample_flows.empty"])


def test_no_modules_configured() -> None:
    with pytest.raises(DiscoveryError, match="no modules to scan"):
        discover([])


def test_postponed_annotations_get_a_fix_that_names_the_cause(sample_packages: Path) -> None:
    with pytest.raises(DiscoveryError, match="building sample_flows.future_annotations.future failed") as info:
        discover(["sample_flows.future_annotations"])
    assert info.value.fix and "from __future__ import annotations" in info.value.fix


def test_what_user_code_prints_goes_to_stderr(sample_packages: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`print(w.to_yaml())` at import must not end up in `--json` or `--stdout` output."""
    print("before")
    found = discover(["sample_flows.noisy"])
    print("after")
    out, err = capfd.readouterr()
    assert [o.name for o in found] == ["noisy"]
    assert out == "before\nafter\n"
    assert "name: noisy" in err and "written to descriptor 1" in err


def test_a_standard_library_module_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="module 'email.mime' is part of Python's standard library") as info:
        discover(["email.mime", "sample_flows.workflows"])
    assert info.value.fix and "modules of [tool.hera-build]" in info.value.fix
