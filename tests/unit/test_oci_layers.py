"""Layers are deterministic: only paths, file bytes, symlink targets and the executable bit reach the tar."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from hera_build.errors import BuildError
from hera_build.image.backends.oci.layers import DEFAULT_EPOCH, tree_paths, write_layer


def _tree(root: Path, *, mode: int = 0o644, mtime: int = 1_700_000_000, owner: int | None = None) -> Path:
    (root / "opt/venv/bin").mkdir(parents=True)
    (root / "opt/venv/lib/site-packages/pkg").mkdir(parents=True)
    (root / "opt/venv/lib/site-packages/pkg/__init__.py").write_text("x = 1\n")
    (root / "opt/venv/lib/site-packages/pkg-a.txt").write_text("sibling sorts after the pkg directory\n")
    tool = root / "opt/venv/bin/tool"
    tool.write_text("#!/opt/venv/bin/python\n")
    tool.chmod(0o775)
    os.symlink("/usr/bin/python3.11", root / "opt/venv/bin/python")
    for path in tree_paths(root):
        if owner is not None:
            os.lchown(path, owner, owner)
        if not path.is_symlink():
            if path.is_file() and path != tool:
                path.chmod(mode)
            os.utime(path, (mtime, mtime))
    return root


def _other_owner() -> int | None:
    """Another owner than the one creating files, when the tests may give files away (as root, e.g. in CI);
    otherwise the files are not root's anyway, which the owner check below sees too."""
    return 4321 if os.geteuid() == 0 else None


def _members(layer_path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(layer_path, "r:gz") as tar:
        return tar.getmembers()


def test_same_tree_gives_same_digest_whatever_the_file_metadata(tmp_path: Path) -> None:
    first = write_layer(_tree(tmp_path / "a", mode=0o600, mtime=1), tmp_path / "blobs-a")
    second = write_layer(
        _tree(tmp_path / "b", mode=0o664, mtime=2_000_000_000, owner=_other_owner()), tmp_path / "blobs-b"
    )

    assert first.digest == second.digest
    assert first.diff_id == second.diff_id
    assert first.path.read_bytes() == second.path.read_bytes()


def test_entries_are_sorted_owned_by_root_and_stamped_with_the_epoch(tmp_path: Path) -> None:
    layer = write_layer(_tree(tmp_path / "root", owner=_other_owner()), tmp_path / "blobs", epoch=1_234_567)

    members = _members(layer.path)
    names = [m.name for m in members]
    assert names == [
        "opt",
        "opt/venv",
        "opt/venv/bin",
        "opt/venv/bin/python",
        "opt/venv/bin/tool",
        "opt/venv/lib",
        "opt/venv/lib/site-packages",
        "opt/venv/lib/site-packages/pkg",
        "opt/venv/lib/site-packages/pkg/__init__.py",
        "opt/venv/lib/site-packages/pkg-a.txt",
    ]
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == 1_234_567
    by_name = {m.name: m for m in members}
    assert by_name["opt/venv/bin/python"].issym() and by_name["opt/venv/bin/python"].linkname == "/usr/bin/python3.11"
    assert by_name["opt/venv/bin/tool"].mode == 0o755
    assert by_name["opt/venv/lib/site-packages/pkg/__init__.py"].mode == 0o644
    assert by_name["opt/venv"].mode == 0o755


def test_gzip_header_has_no_time_and_no_name(tmp_path: Path) -> None:
    layer = write_layer(_tree(tmp_path / "root"), tmp_path / "blobs")

    header = layer.path.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] & 0x08 == 0, "FNAME flag must not be set"
    assert header[4:8] == b"\x00\x00\x00\x00", "gzip MTIME must be zero"


def test_digests_describe_the_blob_and_the_uncompressed_tar(tmp_path: Path) -> None:
    layer = write_layer(_tree(tmp_path / "root"), tmp_path / "blobs")

    data = layer.path.read_bytes()
    assert layer.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert layer.descriptor.size == len(data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    assert layer.path.name == layer.digest.split(":")[1]
    assert layer.descriptor.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"


def test_content_epoch_and_executable_bit_change_the_digest(tmp_path: Path) -> None:
    base = write_layer(_tree(tmp_path / "a"), tmp_path / "blobs")
    other_epoch = write_layer(_tree(tmp_path / "b"), tmp_path / "blobs", epoch=DEFAULT_EPOCH + 1)
    changed = _tree(tmp_path / "c")
    (changed / "opt/venv/lib/site-packages/pkg/__init__.py").write_text("x = 2\n")
    other_content = write_layer(changed, tmp_path / "blobs")
    executable = _tree(tmp_path / "d")
    (executable / "opt/venv/lib/site-packages/pkg-a.txt").chmod(0o755)
    other_mode = write_layer(executable, tmp_path / "blobs")

    assert len({base.digest, other_epoch.digest, other_content.digest, other_mode.digest}) == 4


def test_uncompressed_tar_is_readable_by_tarfile_as_pax(tmp_path: Path) -> None:
    root = tmp_path / "root"
    long_dir = root / ("d" * 120) / ("e" * 60)
    long_dir.mkdir(parents=True)
    (long_dir / "f.txt").write_text("long names need PAX headers\n")
    layer = write_layer(root, tmp_path / "blobs")

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.path.read_bytes()))) as tar:
        names = tar.getnames()
    assert f"{'d' * 120}/{'e' * 60}/f.txt" in names


def test_special_files_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "pipe")

    with pytest.raises(BuildError, match="not a file, directory or symlink"):
        write_layer(root, tmp_path / "blobs")
    assert not [p for p in (tmp_path / "blobs").iterdir()], "no partial blob is left behind"
