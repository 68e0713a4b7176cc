"""A virtual environment for the image, written on the host with PyPA ``installer`` — no interpreter runs.

The tree is staged under a host directory that stands for ``/`` in the image, so every path that ends up in a
file (script shebangs, ``RECORD`` entries, ``pyvenv.cfg``) is the path *inside the image*: installer's
``destdir`` does exactly this. The venv links to the base image's interpreter (``bin/python`` →
``/usr/bin/python3.11``) and ``pyvenv.cfg`` names its directory as ``home``, which is all CPython needs to
start in a venv; pip, activate scripts and ensurepip are not needed in a runner image and are left out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from hera_build.errors import BuildError

DEFAULT_VENV = PurePosixPath("/opt/venv")
INSTALLER_NAME = "hera-build"
"""Written to each ``*.dist-info/INSTALLER``, as pip writes ``pip``."""


@dataclass(frozen=True)
class VenvLayout:
    """Where the venv lives in the image and which interpreter it runs on."""

    path: PurePosixPath
    python_executable: PurePosixPath
    """The base image's interpreter, resolved (``/usr/bin/python3.11``)."""
    python_version: str
    """``3.11`` or ``3.11.2``."""

    @property
    def major_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    @property
    def bin(self) -> PurePosixPath:
        return self.path / "bin"

    @property
    def python(self) -> PurePosixPath:
        """The venv's interpreter: what shebangs and ``PATH`` point at."""
        return self.bin / "python"

    @property
    def site_packages(self) -> PurePosixPath:
        return self.path / "lib" / f"python{self.major_minor}" / "site-packages"

    def scheme(self) -> dict[str, str]:
        """The sysconfig ``venv`` scheme of CPython on POSIX, as image paths."""
        site = str(self.site_packages)
        return {
            "purelib": site,
            "platlib": site,
            "scripts": str(self.bin),
            "data": str(self.path),
            "headers": str(self.path / "include" / "site" / f"python{self.major_minor}"),
        }

    def pyvenv_cfg(self) -> str:
        return (
            f"home = {self.python_executable.parent}\n"
            "include-system-site-packages = false\n"
            f"version = {self.python_version}\n"
            f"executable = {self.python_executable}\n"
        )


@dataclass(frozen=True)
class InstalledWheel:
    name: str
    version: str
    wheel: Path


def _staged(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


def write_venv_skeleton(layout: VenvLayout, root: Path) -> None:
    """``pyvenv.cfg``, the ``bin/python*`` symlinks, ``lib64`` → ``lib`` and an empty ``site-packages``."""
    venv = _staged(root, layout.path)
    _staged(root, layout.site_packages).mkdir(parents=True, exist_ok=True)
    bin_dir = _staged(root, layout.bin)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (venv / "pyvenv.cfg").write_text(layout.pyvenv_cfg(), encoding="utf-8")
    links = {
        "python": str(layout.python_executable),
        "python3": "python",
        f"python{layout.major_minor}": "python",
    }
    for name, target in links.items():
        os.symlink(target, bin_dir / name)
    os.symlink("lib", venv / "lib64")


def install_wheels(
    wheels: Sequence[Path], layout: VenvLayout, root: Path, *, requested: bool = False
) -> list[InstalledWheel]:
    """Install ``wheels`` into the venv staged under ``root``, in name order (the order is part of no output,
    but a fixed order gives the same error first). ``requested`` marks them as asked for by the user
    (``REQUESTED``), as pip does for the project itself."""
    destination = SchemeDictionaryDestination(
        scheme_dict=layout.scheme(),
        interpreter=str(layout.python),
        script_kind="posix",
        hash_algorithm="sha256",
        destdir=str(root),
    )
    metadata = {"INSTALLER": f"{INSTALLER_NAME}\n".encode()}
    if requested:
        metadata["REQUESTED"] = b""
    installed = []
    for wheel in sorted(wheels, key=lambda path: path.name):
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename as exc:
            raise BuildError(f"{wheel} is not a wheel: {exc}", "rebuild the wheelhouse") from None
        try:
            with WheelFile.open(wheel) as source:
                install(source, destination, metadata)
        except (InstallerError, FileExistsError, ValueError, OSError) as exc:
            raise BuildError(
                f"cannot install {wheel.name} into the image's virtual environment: {exc}",
                "check that the wheelhouse has exactly one wheel per distribution and that the wheel is valid",
            ) from exc
        installed.append(InstalledWheel(str(name), str(version), wheel))
    return installed
