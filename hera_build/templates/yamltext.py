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

Then the representer was most of the time left: it looks up a method for every value. :func:`_node` makes the
same nodes directly for the plain values manifests are made of (and checks :func:`c_safe` on the way), and the
resolver's answer for a scalar, which the C serializer asks twice per scalar, is remembered.
"""

from __future__ import annotations

import io
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

_RESOLVED: dict[tuple[str, bool, bool], str] = {}
"""Tags the resolver found for scalars: the same few thousand values recur in every manifest."""
_RESOLVED_MAX = 1 << 16

if _CBase is not None:

    class _CDumper(_CBase):  # type: ignore[misc]
        """The C emitter with the Python representer and resolvers of :class:`_PyDumper`."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            """The resolver's tag, remembered for scalars (it depends on nothing else: no path resolvers)."""
            if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
                return super().resolve(kind, value, implicit)
            key = (value, implicit[0], implicit[1])
            tag = _RESOLVED.get(key)
            if tag is None:
                if len(_RESOLVED) >= _RESOLVED_MAX:
                    _RESOLVED.clear()
                tag = _RESOLVED[key] = super().resolve(kind, value, implicit)
            return tag

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


_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{name}" for name in ("str", "int", "bool", "null"))
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _NotPlain(Exception):
    """A value :func:`_node` leaves to PyYAML's representer (and :func:`c_safe` decides the emitter)."""


def _node(value: Any, seen: set[int]) -> yaml.Node:
    """The node PyYAML's representer (with :func:`_str_presenter`, block style, keys unsorted) makes of ``value``,
    made directly: that representer spends most of its time finding which method to call.

    Only for exact ``dict``, ``list``, ``str``, ``int``, ``bool`` and ``None`` whose strings are :func:`c_safe`, each
    container once (PyYAML writes an anchor for a container met twice); raises :class:`_NotPlain` for the rest.
    """
    kind = type(value)
    if kind is str:
        if not _safe_string(value, key=False):
            raise _NotPlain
        return yaml.ScalarNode(_STR, value, style="|" if "\n" in value else None)
    if kind is dict:
        if id(value) in seen:
            raise _NotPlain
        seen.add(id(value))
        pairs = []
        for key, item in value.items():
            if type(key) is not str or not _safe_string(key, key=True):
                raise _NotPlain
            pairs.append((yaml.ScalarNode(_STR, key, style="|" if "\n" in key else None), _node(item, seen)))
        return yaml.MappingNode(_MAP, pairs, flow_style=False)
    if kind is list:
        if id(value) in seen:
            raise _NotPlain
        seen.add(id(value))
        return yaml.SequenceNode(_SEQ, [_node(item, seen) for item in value], flow_style=False)
    if kind is bool:
        return yaml.ScalarNode(_BOOL, "true" if value else "false")
    if kind is int:
        return yaml.ScalarNode(_INT, str(value))
    if value is None:
        return yaml.ScalarNode(_NULL, "null")
    raise _NotPlain


def dump_yaml(document: Mapping[str, Any]) -> str:
    """Block-style YAML, keys in insertion order, width 120: the C emitter when :func:`c_safe`, else Python's."""
    if C_EMITTER:
        try:
            node = _node(dict(document), set())
        except _NotPlain:
            pass
        else:
            stream = io.StringIO()
            emitter = _CDumper(stream, default_flow_style=False, width=WIDTH, sort_keys=False)  # as yaml.dump does
            emitter.open()
            emitter.serialize(node)
            emitter.close()
            return stream.getvalue()
    dumper = _CDumper if C_EMITTER and c_safe(document) else _PyDumper
    return yaml.dump(dict(document), Dumper=dumper, sort_keys=False, default_flow_style=False, width=WIDTH)
