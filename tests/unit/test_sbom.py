"""The image's SBOM: valid SPDX 2.3, every installed distribution at its exact version with the wheel's hash and
the declared licence, the base image by digest, and the same bytes every time."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from hera_build.image.sbom import sbom_bytes, wheel_package, wheelhouse_sbom
from tests.support.oci_images import make_wheel

BASE_DIGEST = "sha256:" + "b" * 64
IMAGE_DIGEST = "sha256:" + "c" * 64


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    return [
        make_wheel(tmp_path / "w", "ml-pipeline", "0.3.0", {"ml_pipeline/__init__.py": ""},
                   metadata={"License-Expression": "Apache-2.0", "Summary": "Acme's pipeline"}),
        make_wheel(tmp_path / "w", "Typing_Extensions", "4.12.2", {"typing_extensions.py": ""},
                   metadata={"Classifier": "License :: OSI Approved :: Python Software Foundation License"}),
        make_wheel(tmp_path / "w", "six", "1.16.0", {"six.py": ""}, metadata={"License": "MIT"}),
        make_wheel(tmp_path / "w", "odd-version", "1!2.0.post1+local.7", {"odd.py": ""}),
    ]  # fmt: skip


def _document(wheels: list[Path], epoch: int = 1_700_000_000) -> dict[str, Any]:
    return wheelhouse_sbom(
        wheels, image="127.0.0.1:5000/acme/ml-pipeline:0.3.0", image_digest=IMAGE_DIGEST,
        base_image="127.0.0.1:5000/hera-build-base:bookworm-python3", base_digest=BASE_DIGEST, epoch=epoch,
    )  # fmt: skip


def test_the_document_is_valid_spdx_2_3(tmp_path: Path, wheels: list[Path]) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(sbom_bytes(_document(wheels)))

    problems = validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3")

    assert [problem.validation_message for problem in problems] == []


def test_a_base_chosen_from_an_index_is_named_by_its_manifest_and_the_index_kept_beside_it(
    tmp_path: Path, wheels: list[Path]
) -> None:
    """A multi-platform base's tag resolves to an index; each image is built on one manifest of it. The base
    package is that manifest (what a scanner looks up), the index an external reference; a base that is one
    manifest gives the same bytes as before."""
    index = "sha256:" + "c" * 64
    document = wheelhouse_sbom(
        wheels, image="127.0.0.1:5000/acme/ml-pipeline:0.3.0", image_digest=IMAGE_DIGEST,
        base_image="127.0.0.1:5000/hera-build-base:bookworm-python3", base_digest=BASE_DIGEST, base_index=index,
        epoch=1_700_000_000,
    )  # fmt: skip
    base = next(p for p in document["packages"] if p["SPDXID"] == "SPDXRef-BaseImage")

    assert base["versionInfo"] == BASE_DIGEST and base["checksums"][0]["checksumValue"] == BASE_DIGEST[7:]
    assert base["externalRefs"] == [
        {"referenceCategory": "OTHER", "referenceType": "oci-image-index", "referenceLocator": index}
    ]
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(sbom_bytes(document))
    assert [p.validation_message for p in validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3")] == []
    same = wheelhouse_sbom(
        wheels, image="127.0.0.1:5000/acme/ml-pipeline:0.3.0", image_digest=IMAGE_DIGEST,
        base_image="127.0.0.1:5000/hera-build-base:bookworm-python3", base_digest=BASE_DIGEST,
        base_index=BASE_DIGEST, epoch=1_700_000_000,
    )  # fmt: skip
    assert sbom_bytes(same) == sbom_bytes(_document(wheels))


def test_every_distribution_is_listed_with_its_version_hash_and_licence(wheels: list[Path]) -> None:
    packages = {p["name"]: p for p in _document(wheels)["packages"]}

    assert packages["ml-pipeline"]["versionInfo"] == "0.3.0"
    assert packages["ml-pipeline"]["licenseDeclared"] == "Apache-2.0"
    assert packages["odd-version"]["versionInfo"] == "1!2.0.post1+local.7"
    assert packages["odd-version"]["licenseDeclared"] == "NOASSERTION"
    assert packages["six"]["licenseDeclared"] == "NOASSERTION", "free text is not an SPDX expression"
    assert "MIT" in packages["six"]["licenseComments"]
    assert "Python Software Foundation License" in packages["Typing_Extensions"]["licenseComments"]
    six = wheels[2]
    assert packages["six"]["checksums"] == [
        {"algorithm": "SHA256", "checksumValue": hashlib.sha256(six.read_bytes()).hexdigest()}
    ]
    assert packages["six"]["externalRefs"][0]["referenceLocator"] == "pkg:pypi/six@1.16.0"
    assert packages["127.0.0.1:5000/hera-build-base:bookworm-python3"]["versionInfo"] == BASE_DIGEST
    assert packages["127.0.0.1:5000/acme/ml-pipeline:0.3.0"]["checksums"][0]["checksumValue"] == "c" * 64


def test_contains_and_descendant_of_relationships(wheels: list[Path]) -> None:
    document = _document(wheels)
    kinds = [(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in document["relationships"]]

    assert kinds[:2] == [("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
                         ("SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-BaseImage")]  # fmt: skip
    assert sorted(k[2] for k in kinds[2:]) == sorted(p["SPDXID"] for p in document["packages"][2:])
    assert all(k[1] == "CONTAINS" for k in kinds[2:]) and len(kinds) == 2 + len(wheels)


def test_the_same_image_gives_the_same_bytes(wheels: list[Path]) -> None:
    first, again = sbom_bytes(_document(wheels)), sbom_bytes(_document(list(reversed(wheels))))
    later = _document(wheels, epoch=1_800_000_000)

    assert first == again
    assert json.loads(first)["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert later["documentNamespace"] != json.loads(first)["documentNamespace"]


def test_what_the_wheelhouse_knows_of_each_wheel_gives_the_same_bytes(tmp_path: Path, wheels: list[Path]) -> None:
    """The digests and METADATA headers the wheelhouse keeps (so no wheel is hashed or opened again) describe the
    wheels exactly as reading the files does, CRLF metadata and a multi-line licence included."""
    from hera_build.core.integrity import file_sha256
    from hera_build.image.wheelhouse import read_wheel_facts

    lf = make_wheel(
        tmp_path / "lf",
        "crlf",
        "1.0",
        {"crlf.py": ""},
        metadata={"License": "MIT\n        and more", "Project-URL": "Home, https://example.invalid"},
    )
    crlf = tmp_path / "w" / lf.name
    with zipfile.ZipFile(lf) as source, zipfile.ZipFile(crlf, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/METADATA"):
                data = (data.decode() + "\nA long description.\nKey: not a header\n").replace("\n", "\r\n").encode()
            target.writestr(info, data)
    all_wheels = [*wheels, crlf]
    known = {wheel: read_wheel_facts(wheel).metadata for wheel in all_wheels}

    from_files = _document(all_wheels)
    from_known = wheelhouse_sbom(
        all_wheels, image="127.0.0.1:5000/acme/ml-pipeline:0.3.0", image_digest=IMAGE_DIGEST,
        base_image="127.0.0.1:5000/hera-build-base:bookworm-python3", base_digest=BASE_DIGEST, epoch=1_700_000_000,
        sha256_of=file_sha256, metadata_of=known.__getitem__,
    )  # fmt: skip

    assert sbom_bytes(from_known) == sbom_bytes(from_files)


def test_a_wheel_without_metadata_is_one_clear_error(tmp_path: Path) -> None:
    import zipfile

    from hera_build.errors import BuildError

    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("broken.py", "")
    with pytest.raises(BuildError, match="no METADATA"):
        wheel_package(broken)


def test_an_sbom_that_cannot_be_published_is_a_warning_not_a_failed_release() -> None:
    """The image is already released when the SBOM goes up: failing then must not hide the push."""
    from hera_build.core.references import parse_image_ref
    from hera_build.errors import BuildError
    from hera_build.publish.push import _attach_sbom

    said: list[str] = []
    built: Any = type("Built", (), {"image": parse_image_ref("127.0.0.1:9/acme/x:1.0")})()

    def broken(digest: str) -> bytes:
        raise BuildError(f"cannot read wheel for {digest[:13]}", "rebuild the wheelhouse")

    assert _attach_sbom(built, "sha256:" + "a" * 64, broken, said.append) is None
    assert said == ["warning: the SBOM was not published: cannot read wheel for sha256:aaaaaa"]
