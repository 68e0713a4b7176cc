"""The base's Python is found by reading its layers: PATH, symlinks, whiteouts, package databases."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hera_build.errors import BuildError
from hera_build.image.backends.oci.base import load_base
from hera_build.image.backends.oci.model import Platform
from hera_build.image.backends.oci.probe import ImageFiles, probe_files, probe_python
from hera_build.image.cache import BuildCache
from tests.support.oci_images import DPKG_STATUS, RootFile, debian_python_root, layer_bytes, write_base_layout

ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
AMD64 = Platform("linux", "amd64")


def _files(*layers: list[RootFile]) -> ImageFiles:
    files = ImageFiles()
    for entries in layers:
        raw, _ = layer_bytes(entries)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            files.apply_layer((m, tar.extractfile(m) if m.isreg() else None) for m in tar.getmembers())
    return files


def _no_factory(registry: str | None) -> object:
    raise AssertionError("no registry may be contacted")


def test_debian_python_is_found_through_merged_usr_symlinks() -> None:
    probe = probe_files(_files(debian_python_root("3.11")), ("PATH=/bin",), AMD64)

    assert probe.executable == "/usr/bin/python3.11"
    assert probe.version == "3.11.2", "the patch version comes from dpkg's python3.11-minimal"
    assert (probe.libc, probe.libc_version) == ("glibc", "2.36")
    assert probe.home == "/usr/bin"


def test_official_image_layout_uses_python_version_env() -> None:
    root = [
        RootFile("usr/local/bin/python3.12", content=b"elf", mode=0o755),
        RootFile("usr/local/bin/python3", link="python3.12"),
        RootFile("usr/local/lib/python3.12/os.py", content=b""),
        RootFile(
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            content=b"junk GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\n",
        ),
    ]
    probe = probe_files(_files(root), (*ENV, "PYTHON_VERSION=3.12.7"), AMD64)

    assert probe.executable == "/usr/local/bin/python3.12"
    assert probe.version == "3.12.7"
    assert (probe.libc, probe.libc_version) == ("glibc", "2.36"), "read from libc.so.6 when there is no dpkg"


def test_version_from_stdlib_when_the_binary_has_no_version_in_its_name() -> None:
    root = [
        RootFile("opt/py/bin/python3", content=b"elf", mode=0o755),
        RootFile("opt/py/lib/python3.10/os.py", content=b""),
    ]
    probe = probe_files(_files(root), ("PATH=/opt/py/bin:/usr/bin",), AMD64)

    assert (probe.executable, probe.version) == ("/opt/py/bin/python3", "3.10")


def test_musl_is_detected_from_the_loader_and_apk() -> None:
    root = [
        RootFile("lib/ld-musl-x86_64.so.1", content=b"elf"),
        RootFile("lib/apk/db/installed", content=b"P:musl\nV:1.2.4-r2\n\nP:python3\nV:3.11.8-r0\n\n"),
        RootFile("usr/bin/python3.11", content=b"elf", mode=0o755),
        RootFile("usr/bin/python3", link="python3.11"),
    ]
    probe = probe_files(_files(root), ENV, AMD64)

    assert (probe.version, probe.libc, probe.libc_version) == ("3.11.8", "musl", "1.2.4")
    assert probe.target().platforms[0] == "musllinux_1_2_x86_64"


def test_whiteout_in_an_upper_layer_removes_python() -> None:
    upper = [RootFile("usr/bin/.wh.python3.11", content=b"")]
    with pytest.raises(BuildError, match="no python3 on its PATH"):
        probe_files(_files(debian_python_root(), upper), ENV, AMD64)


def test_opaque_directory_hides_lower_contents_but_keeps_its_own() -> None:
    upper = [
        RootFile("usr/bin/.wh..wh..opq", content=b""),
        RootFile("usr/bin/python3.12", content=b"elf", mode=0o755),
        RootFile("usr/bin/python3", link="python3.12"),
    ]
    files = _files(debian_python_root("3.11"), upper)

    assert not files.exists("usr/bin/python3.11")
    probe = probe_files(files, ENV, AMD64)
    assert probe.executable == "/usr/bin/python3.12"
    assert probe.version == "3.12", "dpkg's 3.11 package must not be taken for the 3.12 interpreter"


def test_symlink_loops_do_not_hang() -> None:
    files = _files([RootFile("a", link="b"), RootFile("b", link="a")])
    assert files.resolve("a/x") is None


def test_facts_give_manylinux_tags_for_the_image_glibc() -> None:
    target = probe_files(_files(debian_python_root("3.11")), ENV, AMD64).target()

    assert (target.interpreter, target.abi, target.version) == ("cp311", "cp311", "3.11.2")
    assert target.platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux2014_x86_64" in target.platforms
    assert target.markers["python_full_version"] == "3.11.2"
    assert target.python == "/usr/bin/python3.11"


def test_probe_is_cached_by_manifest_digest(tmp_path: Path) -> None:
    write_base_layout(tmp_path / "base")
    cache = BuildCache(tmp_path / "cache")
    base = load_base(f"oci:{tmp_path / 'base'}", platform=AMD64, client_factory=_no_factory, cache=cache)  # type: ignore[arg-type]
    first = probe_python(base, cache)

    for blob in (tmp_path / "base/blobs/sha256").iterdir():  # a second probe must not read the layers
        if blob.stat().st_size > 1000:
            blob.unlink()
    assert probe_python(base, cache) == first
    assert first.version == "3.11.2"
    assert DPKG_STATUS  # the fixture's package database is what gave the patch version
