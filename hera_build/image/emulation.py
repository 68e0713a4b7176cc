"""Which image platforms this machine can run, for the image check of a multi-platform build.

An image for the machine's own architecture runs natively. One for another architecture runs only when the
kernel hands its ELF binaries to an emulator: binfmt_misc with a registered interpreter (Debian's
``qemu-user-static``) whose magic matches the architecture's ELF ``e_machine`` and that has the **F**
(fix-binary) flag — the kernel opens the interpreter when it is registered, so it also works inside a container,
whose file system does not have it. Without F a container fails with "exec format error" however the host is
set up, so such an entry does not count.

The Docker engine is assumed to run on this machine's kernel (a local ``DOCKER_HOST``), as the image check's
engine does everywhere else.
"""

from __future__ import annotations

import platform as host
from pathlib import Path

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
_E_MACHINE = {"amd64": (62, "little"), "arm64": (183, "little"), "386": (3, "little"), "arm": (40, "little"),
              "ppc64le": (21, "little"), "s390x": (22, "big"), "riscv64": (243, "little")}  # fmt: skip
"""OCI architecture → ELF ``e_machine`` and byte order (the header's ``e_machine`` is at offset 18)."""
_NATIVE = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386",
           "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip
_QEMU = {"arm64": "aarch64", "amd64": "x86_64", "386": "i386", "arm": "arm"}


def native_architecture(machine: str | None = None) -> str:
    """The machine's architecture in OCI terms (``amd64``, ``arm64`` …)."""
    name = (machine or host.machine()).lower()
    return _NATIVE.get(name, name)


def _entry(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return fields
    for line in lines:
        key, _, value = line.partition(" ")
        if key in ("enabled", "disabled"):
            fields["state"] = key
        else:
            fields[key.rstrip(":")] = value.strip()
    return fields


def _matches(fields: dict[str, str], architecture: str) -> bool:
    """An ELF magic rule whose ``e_machine`` bytes are ``architecture``'s."""
    known = _E_MACHINE.get(architecture)
    magic = fields.get("magic", "")
    if known is None or not magic.startswith("7f454c46") or len(magic) < 40 or fields.get("offset", "0") != "0":
        return False
    number, order = known
    return magic[36:40] == number.to_bytes(2, order).hex()  # type: ignore[arg-type]


def unrunnable_reason(platform: str, *, machine: str | None = None, binfmt_dir: Path = BINFMT_DIR) -> str | None:
    """``None`` when this machine runs ``platform``'s images (natively or emulated), else why it cannot."""
    os_name, _, rest = platform.partition("/")
    architecture = rest.partition("/")[0]
    native = native_architecture(machine)
    if os_name == "linux" and architecture == native:
        return None
    fix = (
        f"install qemu-user-static and register its {_QEMU.get(architecture, architecture)} interpreter with "
        "binfmt_misc with the F flag (scripts/install-system.sh does both)"
    )
    if os_name != "linux":
        return f"{platform} images do not run on Linux"
    status = _entry(binfmt_dir / "status")
    if not (binfmt_dir / "status").is_file() or status.get("state") != "enabled":
        return f"{platform} images do not run on this {native} machine: binfmt_misc is not mounted or enabled; {fix}"
    without_f = None
    for path in sorted(binfmt_dir.iterdir()):
        if path.name in ("register", "status"):
            continue
        fields = _entry(path)
        if fields.get("state") != "enabled" or not _matches(fields, architecture):
            continue
        if "F" in fields.get("flags", ""):
            return None
        without_f = fields.get("interpreter", path.name)
    if without_f is not None:
        return (
            f"{platform} images do not run in containers on this {native} machine: its binfmt_misc interpreter "
            f"{without_f} lacks the F flag; {fix}"
        )
    return f"{platform} images do not run on this {native} machine: no emulator is registered; {fix}"
