"""The release manifest: a documented, versioned, validated record that reads back to what was written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hera_build.errors import ConfigError
from hera_build.release.manifest import (
    MANIFEST_SCHEMA_VERSION,
    BackendRecord,
    BaseImageRecord,
    DependencyEdge,
    EmittedObject,
    ImageRecord,
    ReleaseManifest,
    SourceRecord,
    load_manifest,
    manifest_json_schema,
    write_manifest,
    write_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "release-manifest.schema.json"
DIGEST = "sha256:" + "a" * 64

MANIFEST = ReleaseManifest(
    package="ml-pipeline",
    version="0.3.0",
    image=ImageRecord(
        repository="127.0.0.1:5000/acme/ml-pipeline",
        tag="0.3.0",
        digest=DIGEST,
        id="sha256:" + "b" * 64,
        reference=f"127.0.0.1:5000/acme/ml-pipeline:0.3.0@{DIGEST}",
    ),
    backend=BackendRecord(name="oci", version="0.1.0"),
    base_image=BaseImageRecord(reference="python:3.11-slim", digest=None),
    input_digest="sha256:" + "c" * 64,
    source_date_epoch=1700000000,
    git=SourceRecord(commit="0" * 40, dirty=False),
    hera_version="7.1.0",
    hera_build_version="0.1.0",
    output="dist/argo",
    objects=(
        EmittedObject(
            kind="WorkflowTemplate",
            source_name="train-pipeline",
            name="train-pipeline-v0-3-0",
            file="dist/argo/workflowtemplate-train-pipeline-v0-3-0.yaml",
        ),
    ),
    dependencies=(
        DependencyEdge(
            ref="validate-dataset",
            cluster_scope=False,
            pinned="validate-dataset-v1-4-0",
            distribution="data-utils",
            version="1.4.0",
            specifier="<2,>=1",
            used_by=("train-pipeline-v0-3-0",),
        ),
    ),
)


def test_written_manifest_reads_back_equal_and_rewrites_to_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "release-manifest.json"
    assert write_manifest(MANIFEST, path)
    assert load_manifest(path) == MANIFEST
    before = path.read_bytes()
    assert not write_manifest(load_manifest(path), path), "an unchanged manifest is not rewritten"
    assert path.read_bytes() == before
    assert json.loads(before)["schema_version"] == MANIFEST_SCHEMA_VERSION


def test_image_record_gives_the_pinned_reference() -> None:
    assert str(MANIFEST.image.ref) == MANIFEST.image.reference


def test_the_published_schema_is_current_and_accepts_a_real_manifest() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == manifest_json_schema(), (
        "docs/reference/release-manifest.schema.json is stale: regenerate it with "
        "python -c 'from hera_build.release.manifest import write_schema; from pathlib import Path; "
        'write_schema(Path("docs/reference/release-manifest.schema.json"))\''
    )
    jsonschema.validate(json.loads(MANIFEST.to_json()), manifest_json_schema())
    broken = json.loads(MANIFEST.to_json()) | {"input_digest": None}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, manifest_json_schema())


def test_every_field_is_documented() -> None:
    schema = manifest_json_schema()
    for name, definition in [("ReleaseManifest", schema), *schema["$defs"].items()]:
        for field, spec in definition["properties"].items():
            assert spec.get("description") or "$ref" in spec, f"{name}.{field} has no description"


def test_write_schema_reports_when_it_changed_nothing(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    assert write_schema(path) and not write_schema(path)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    data = json.loads(MANIFEST.to_json()) | {"schema_version": 99}
    with pytest.raises(ConfigError, match="schema_version 99"):
        load_manifest(_write(tmp_path / "m.json", data))


def test_invalid_content_names_the_field(tmp_path: Path) -> None:
    data = json.loads(MANIFEST.to_json())
    data["image"]["tag"] = 3
    with pytest.raises(ConfigError, match=r"invalid at image\.tag"):
        load_manifest(_write(tmp_path / "m.json", data))
    with pytest.raises(ConfigError, match=r"invalid at surprise"):
        load_manifest(_write(tmp_path / "m.json", json.loads(MANIFEST.to_json()) | {"surprise": 1}))


def test_missing_or_unreadable_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_manifest(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not readable JSON"):
        load_manifest(tmp_path / "bad.json")
