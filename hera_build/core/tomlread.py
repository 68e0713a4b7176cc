"""Reading TOML files hera-build does not rewrite (pyproject.toml of the project and of local dependencies).

``tomllib`` (Python 3.11+) reads a pyproject.toml several times faster than tomlkit, and a warm build reads a few
of them; tomlkit stays for files hera-build edits (it keeps them as written), for Python 3.10, and for errors:
a file tomllib refuses is read again with tomlkit, so the error a user sees is the one it always was.
"""

from __future__ import annotations

import sys
from typing import Any


class TomlError(ValueError):
    """The file is not valid TOML; the message is tomlkit's (with the line and column)."""


def loads(text: str) -> dict[str, Any]:
    """The document as plain Python values (tables are dicts), as ``tomlkit.parse(text).unwrap()`` gives it."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            pass  # tomlkit says what is wrong, in the words users have seen so far
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        document: dict[str, Any] = tomlkit.parse(text).unwrap()
    except TOMLKitError as exc:
        raise TomlError(str(exc)) from None
    return document
