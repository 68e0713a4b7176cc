"""Manifests as YAML text: libyaml's C emitter where it gives the very bytes of PyYAML's Python emitter.

Half of ``hera-build templates`` went into PyYAML's pure-Python emitter. libyaml (``yaml.CSafeDumper``) is many
times faster and, with the same representer (the Python one: only the emitter is C), writes the same text for
almost everything a manifest holds. Not for all: a scalar that must be *double-quoted* and is longer than the
line width is folded differently (libyaml breaks the line bare, PyYAML escapes the break and the next space), and
non-ASCII or control characters are escaped differently. Both are valid YAML, but released files must not change
bytes when the emitter does, so such a document is emitted by the Python emitter, as before.

A string is double-quoted only when neither plain, single-quoted nor block style can hold it. For printable ASCII
and ``\\n``, that happens to a multi-line string exactly when a block literal is not allowed: when a line ends
with a space, or the string does. :func:`c_safe` checks that (and that keys are short single lines) at C speed;
the tests compare both emitters on the examples, a generated 500-template project and random strings.

Strings that another YAML reader would take for something else are quoted. PyYAML resolves YAML 1.1 but leaves
out ``y``/``n`` (``Y``, ``N``), and misses numbers that Go's YAML readers (Kubernetes, Argo) parse: ``08``,
``0o17``, ``0X1F``, ``1e3``. Written plain, ``y`` would reach Argo as ``true`` and ``08`` as ``8``. The extra
resolvers (:data:`_AMBIGUOUS`) make both dumpers single-quote them, as PyYAML quotes ``yes`` and ``010``; they
match no ordinary name, so those files keep their bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

WIDTH = 120
_PRINTABLE = re.compile(r"[ -~\n]*\Z")
_MAX_KEY = 100
"""PyYAML writes a key longer than 128 characters as ``? key``; libyaml decides that differently: stay below."""


_AMBIGUOUS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), "yYnN"),
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:[0-9][0-9_]*|0[bBoOxX][0-9a-fA-F_]+)$"), "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
        "-+.0123456789",
    ),
)
"""(tag, pattern, first characters) of plain scalars that YAML 1.1 (bool ``y``/``n``) or Go's readers (numbers
with leading zeros, ``0o``/``0X``/``0B`` prefixes, exponents without a dot) take for a non-string, beyond what
PyYAML's own resolvers catch; a string matching one is quoted."""


class _PyDumper(yaml.SafeDumper):
    """Block style, multi-line strings as ``|`` blocks (scripts stay readable in review)."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _configure(dumper: Any) -> None:
    dumper.add_representer(str, _str_presenter)
    for tag, pattern, first in _AMBIGUOUS:
        dumper.add_implicit_resolver(tag, pattern, list(first))


_configure(_PyDumper)

_CBase: Any = getattr(yaml, "CSafeDumper", None)
C_EMITTER = _CBase is not None
"""Whether libyaml is there (PyYAML built with it); without it every document takes the Python emitter."""

if _CBase is not None:

    class _CDumper(_CBase):  # type: ignore[misc]
        """The C emitter with the Python representer and resolvers of :class:`_PyDumper`."""

    _configure(_CDumper)


def _safe_string(value: str, *, key: bool) -> bool:
    if not _PRINTABLE.match(value):
        return False
    if key:
        return "\n" not in value and len(value) <= _MAX_KEY
    return "\n" not in value or (" \n" not in value and not value.endswith(" "))


def c_safe(value: Any, *, key: bool = False) -> bool:
    """Whether the C emitter writes ``value`` exactly as the Python emitter does (see the module's docstring)."""
    if isinstance(value, str):
        return _safe_string(value, key=key)
    if isinstance(value, Mapping):
        return all(c_safe(k, key=True) and c_safe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(c_safe(item) for item in value)
    return value is None or isinstance(value, (bool, int, float))


def dump_yaml(document: Mapping[str, Any]) -> str:
    """Block-style YAML, keys in insertion order, width 120: the C emitter when :func:`c_safe`, else Python's."""
    dumper = _CDumper if C_EMITTER and c_safe(document) else _PyDumper
    return yaml.dump(dict(document), Dumper=dumper, sort_keys=False, default_flow_style=False, width=WIDTH)
