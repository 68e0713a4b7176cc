"""Argo's simple template tags, ``{{name}}``: substituted in strings and, recursively, in whole templates.

Argo substitutes in stages: a template's own inputs first (leaving ``{{steps.…}}``/``{{tasks.…}}`` for later), then
each step's fields once earlier steps have finished. So substitution either leaves unknown tags in place or fails
on the first one, and the caller says which. Expression tags (``{{=…}}``) are refused before a run starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TAG_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class Unresolved(Exception):
    """A tag with no value in scope (the caller turns it into a node error)."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def substitute(text: str, scope: Mapping[str, str], *, strict: bool = True) -> str:
    """Replace every ``{{tag}}`` whose name is in ``scope``; an unknown one raises :class:`Unresolved` if
    ``strict``, else stays as it is."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name in scope:
            return scope[name]
        if strict:
            raise Unresolved(name)
        return match[0]

    return TAG_RE.sub(replace, text) if "{{" in text else text


def substitute_all(value: Any, scope: Mapping[str, str], *, strict: bool = True) -> Any:
    """:func:`substitute` in every string of a JSON-like value (a copy)."""
    if isinstance(value, str):
        return substitute(value, scope, strict=strict)
    if isinstance(value, dict):
        return {key: substitute_all(item, scope, strict=strict) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_all(item, scope, strict=strict) for item in value]
    return value


def tags(value: Any) -> list[str]:
    """Every tag name in a JSON-like value."""
    if isinstance(value, str):
        return TAG_RE.findall(value)
    if isinstance(value, dict):
        return [tag for item in value.values() for tag in tags(item)]
    if isinstance(value, list):
        return [tag for item in value for tag in tags(item)]
    return []


def is_single_tag(text: str) -> bool:
    """``"{{tasks.a.outputs.result}}"`` and nothing else: Argo drops such an argument when its value is absent."""
    match = TAG_RE.fullmatch(text.strip())
    return match is not None
