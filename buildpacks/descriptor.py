"""``project.toml`` (project descriptor schema 0.2): the app's identity, buildpack group and build environment.

Written once from a typed value, with tomlkit doing the quoting, so a generated build context says exactly what
pack will do with it, and ``pack build`` run by hand in that folder does the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

__all__ = ["SCHEMA_VERSION", "GroupEntry", "ProjectDescriptor", "parse_group_entry"]

SCHEMA_VERSION = "0.2"


@dataclass(frozen=True)
class GroupEntry:
    """One buildpack of ``[[io.buildpacks.group]]``: by ``id`` (and ``version``) from the builder, or by ``uri``."""

    id: str | None = None
    version: str | None = None
    uri: str | None = None

    def __post_init__(self) -> None:
        if not (self.id or self.uri):
            raise ValueError("a buildpack group entry needs an id or a uri")

    def to_table(self) -> dict[str, str]:
        return {key: value for key, value in (("id", self.id), ("version", self.version), ("uri", self.uri)) if value}


def parse_group_entry(spec: str) -> GroupEntry:
    """``id[@version]`` → by id; a path, ``docker://…``, ``urn:cnb:…`` or URL → by uri (pack's own rules)."""
    text = spec.strip()
    if "://" in text or text.startswith(("urn:", "/", ".", "~")):
        return GroupEntry(uri=text)
    ident, _, version = text.partition("@")
    return GroupEntry(id=ident, version=version or None)


@dataclass(frozen=True)
class ProjectDescriptor:
    id: str | None = None
    name: str | None = None
    version: str | None = None
    source_url: str | None = None
    builder: str | None = None
    group: tuple[GroupEntry, ...] = ()
    """The buildpacks to run, in order; empty means the builder's own detection order."""
    build_env: Mapping[str, str] = field(default_factory=dict)
    """``[[io.buildpacks.build.env]]``: set for every buildpack's detect and build."""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    """``[_.metadata]``: free-form, e.g. the tool that generated the file."""

    def to_toml(self) -> str:
        document = tomlkit.document()
        project = tomlkit.table()
        project["schema-version"] = SCHEMA_VERSION
        for key, value in (("id", self.id), ("name", self.name), ("version", self.version)):
            if value:
                project[key] = value
        if self.source_url:
            project["source-url"] = self.source_url
        if self.metadata:
            project["metadata"] = dict(self.metadata)
        document["_"] = project
        io = tomlkit.table(is_super_table=True)
        buildpacks = tomlkit.table()
        if self.builder:
            buildpacks["builder"] = self.builder
        if self.include:
            buildpacks["include"] = list(self.include)
        if self.exclude:
            buildpacks["exclude"] = list(self.exclude)
        if self.group:
            group = tomlkit.aot()
            for entry in self.group:
                group.append(entry.to_table())
            buildpacks["group"] = group
        if self.build_env:
            env = tomlkit.aot()
            for name, value in self.build_env.items():
                env.append({"name": name, "value": value})
            buildpacks["build"] = {"env": env}
        io["buildpacks"] = buildpacks
        document["io"] = io
        return tomlkit.dumps(document)

    def write(self, directory: Path) -> Path:
        """Write ``directory/project.toml``."""
        path = directory / "project.toml"
        path.write_text(self.to_toml(), encoding="utf-8")
        return path
