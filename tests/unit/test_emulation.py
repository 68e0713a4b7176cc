"""Which platforms the image check can run: natively, or emulated through binfmt_misc with the F flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from hera_build.image.emulation import native_architecture, unrunnable_reason

AARCH64_MAGIC = "7f454c460201010000000000000000000200b700"
RISCV64_MAGIC = "7f454c460201010000000000000000000200f300"


def _binfmt(tmp_path: Path, *entries: tuple[str, str, str], status: str = "enabled") -> Path:
    """A fake /proc/sys/fs/binfmt_misc: (name, magic, flags) entries, as the kernel lists them."""
    (tmp_path / "register").write_text("")
    (tmp_path / "status").write_text(f"{status}\n")
    for name, magic, flags in entries:
        (tmp_path / name).write_text(
            f"enabled\ninterpreter /usr/libexec/qemu-binfmt/{name}-binfmt-P\nflags: {flags}\noffset 0\n"
            f"magic {magic}\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
        )
    return tmp_path


def test_the_native_platform_always_runs(tmp_path: Path) -> None:
    assert native_architecture("x86_64") == "amd64" and native_architecture("aarch64") == "arm64"
    assert unrunnable_reason("linux/amd64", machine="x86_64", binfmt_dir=tmp_path / "absent") is None
    assert unrunnable_reason("linux/arm64/v8", machine="aarch64", binfmt_dir=tmp_path / "absent") is None


def test_arm64_runs_on_amd64_with_a_fix_binary_aarch64_interpreter(tmp_path: Path) -> None:
    binfmt = _binfmt(tmp_path, ("qemu-aarch64", AARCH64_MAGIC, "POF"))
    assert unrunnable_reason("linux/arm64", machine="x86_64", binfmt_dir=binfmt) is None


@pytest.mark.parametrize(
    ("entries", "status", "reason"),
    [
        ((), "enabled", "no emulator is registered"),
        ((("qemu-riscv64", RISCV64_MAGIC, "F"),), "enabled", "no emulator is registered"),
        ((("qemu-aarch64", AARCH64_MAGIC, "PO"),), "enabled", "qemu-aarch64-binfmt-P lacks the F flag"),
        ((("qemu-aarch64", AARCH64_MAGIC, "POF"),), "disabled", "binfmt_misc is not mounted or enabled"),
    ],
    ids=["nothing-registered", "another-architecture", "without-F", "binfmt-disabled"],
)
def test_otherwise_it_says_why_and_how_to_fix_it(
    tmp_path: Path, entries: tuple[tuple[str, str, str], ...], status: str, reason: str
) -> None:
    said = unrunnable_reason("linux/arm64", machine="x86_64", binfmt_dir=_binfmt(tmp_path, *entries, status=status))
    assert said is not None and said.startswith("linux/arm64 images do not run")
    assert reason in said and "qemu-user-static" in said and "aarch64" in said


def test_binfmt_misc_not_mounted(tmp_path: Path) -> None:
    said = unrunnable_reason("linux/arm64", machine="x86_64", binfmt_dir=tmp_path / "absent")
    assert said is not None and "binfmt_misc is not mounted" in said
