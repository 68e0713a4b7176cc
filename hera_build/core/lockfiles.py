"""Versions from lock files (``uv.lock``, ``poetry.lock``, ``pylock.toml``), for ``--lock FILE``.

A release pipeline pins to what the lock file says, not to whatever happens to be installed on the CI runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hera_build.errors import ConfigError

_TABLES = {"uv.lock": "package", "poetry.lock": "package", "pylock.toml": "packages"}


def _table_for(path: Path) -> str:
    name = path.name
    if name in _TABLES:
        return _TABLES[name]
    if name.startswith("pylock.") and name.endswith(".toml"):
        return "packages"
    raise ConfigError(
        f"unknown lock file {path}", "pass a uv.lock, poetry.lock or pylock.toml (PEP 751) file to --lock"
    )


def read_lock_versions(path: Path | str) -> dict[str, str]:
    """Map each locked distribution (normalized name) to its locked version."""
    import tomlkit  # here: every templates run imports this module, few pass --lock
    from tomlkit.exceptions import TOMLKitError

    path = Path(path)
    table = _table_for(path)
    try:
        document: dict[str, Any] = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except FileNotFoundError:
        raise ConfigError(f"lock file {path} does not exist", "pass the path of an existing lock file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read lock file {path}: {reason}", "pass the path of a lock file") from None
    except TOMLKitError as exc:
        raise ConfigError(f"lock file {path} is not valid TOML: {exc}", "regenerate the lock file") from None
    packages = document.get(table, [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise ConfigError(
            f"lock file {path} has no [[{table}]] tables as {path.name} files have", "regenerate the lock file"
        )
    versions: dict[str, str] = {}
    for package in packages:
        name, version = package.get("name"), package.get("version")
        if name and version:
            versions[canonicalize_name(str(name))] = str(version)
    return versions
