"""The staged venv holds image paths: shebangs, RECORD and pyvenv.cfg say /opt/venv and the base's python."""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

import pytest

from hera_build.errors import BuildError
from hera_build.image.backends.oci.venv import VenvLayout, install_wheels, write_venv_skeleton
from tests.support.oci_images import make_wheel

LAYOUT = VenvLayout(PurePosixPath("/opt/venv"), PurePosixPath("/usr/local/bin/python3.12"), "3.12.4")


def _tool_wheel(tmp_path: Path) -> Path:
    return make_wheel(
        tmp_path / "wheels",
        "tool-kit",
        "1.0",
        {"tool_kit/__init__.py": "def main():\n    return 0\n"},
        console_scripts={"tool": "tool_kit:main"},
        data_scripts={"legacy": "#!python\nprint('hi')\n"},
    )


def test_skeleton_points_at_the_base_interpreter(tmp_path: Path) -> None:
    write_venv_skeleton(LAYOUT, tmp_path)

    venv = tmp_path / "opt/venv"
    assert (venv / "pyvenv.cfg").read_text().splitlines() == [
        "home = /usr/local/bin",
        "include-system-site-packages = false",
        "version = 3.12.4",
        "executable = /usr/local/bin/python3.12",
    ]
    assert os.readlink(venv / "bin/python") == "/usr/local/bin/python3.12"
    assert os.readlink(venv / "bin/python3") == "python"
    assert os.readlink(venv / "bin/python3.12") == "python"
    assert os.readlink(venv / "lib64") == "lib"
    assert (venv / "lib/python3.12/site-packages").is_dir()


def test_console_scripts_and_data_scripts_get_the_venv_python_shebang(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_venv_skeleton(LAYOUT, root)
    install_wheels([_tool_wheel(tmp_path)], LAYOUT, root)

    tool = root / "opt/venv/bin/tool"
    assert tool.read_text().splitlines()[0] == "#!/opt/venv/bin/python"
    assert "from tool_kit import main" in tool.read_text()
    assert os.access(tool, os.X_OK)
    assert (root / "opt/venv/bin/legacy").read_text().splitlines()[0] == "#!/opt/venv/bin/python"


def test_record_lists_image_relative_paths_and_installer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install_wheels([_tool_wheel(tmp_path)], LAYOUT, root, requested=True)

    info = root / "opt/venv/lib/python3.12/site-packages/tool_kit-1.0.dist-info"
    with (info / "RECORD").open() as stream:
        paths = {row[0] for row in csv.reader(stream)}
    assert "tool_kit/__init__.py" in paths
    assert "../../../bin/tool" in paths
    assert "../../../bin/legacy" in paths
    assert not any(str(tmp_path) in path for path in paths), "no host path may leak into RECORD"
    assert (info / "INSTALLER").read_text() == "hera-build\n"
    assert (info / "REQUESTED").exists()


def test_application_installs_into_a_separate_tree_with_only_its_files(tmp_path: Path) -> None:
    deps, app = tmp_path / "deps", tmp_path / "app"
    write_venv_skeleton(LAYOUT, deps)
    install_wheels([_tool_wheel(tmp_path)], LAYOUT, deps)
    project = make_wheel(tmp_path / "wheels", "proj", "2.0", {"proj/__init__.py": "VALUE = 1\n"})
    install_wheels([project], LAYOUT, app, requested=True)

    app_files = sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file())
    assert app_files == [
        "opt/venv/lib/python3.12/site-packages/proj-2.0.dist-info/INSTALLER",
        "opt/venv/lib/python3.12/site-packages/proj-2.0.dist-info/METADATA",
        "opt/venv/lib/python3.12/site-packages/proj-2.0.dist-info/RECORD",
        "opt/venv/lib/python3.12/site-packages/proj-2.0.dist-info/REQUESTED",
        "opt/venv/lib/python3.12/site-packages/proj-2.0.dist-info/WHEEL",
        "opt/venv/lib/python3.12/site-packages/proj/__init__.py",
    ]


def test_two_wheels_with_the_same_file_are_a_build_error(tmp_path: Path) -> None:
    one = make_wheel(tmp_path / "a", "one", "1.0", {"shared/x.py": "a = 1\n"})
    two = make_wheel(tmp_path / "b", "two", "1.0", {"shared/x.py": "a = 2\n"})

    with pytest.raises(BuildError, match="cannot install two-1.0"):
        install_wheels([one, two], LAYOUT, tmp_path / "root")


def test_a_file_that_is_not_a_wheel_is_a_build_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notawheel.zip"
    bogus.write_bytes(b"PK")

    with pytest.raises(BuildError, match="is not a wheel"):
        install_wheels([bogus], LAYOUT, tmp_path / "root")
