"""Typed options for ``pack build`` and ``pack builder create``, each turned into an argument list in one place.

pack's own CLI layer turns flags into option values; this is the reverse, and the only code that knows pack's
flag names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal

__all__ = ["PullPolicy", "BuildOptions", "BuilderCreateOptions"]


class PullPolicy(str, Enum):
    """When pack pulls the builder, run image and buildpacks."""

    ALWAYS = "always"
    IF_NOT_PRESENT = "if-not-present"
    NEVER = "never"

    def __str__(self) -> str:
        return self.value


def _check_env(env: Mapping[str, str]) -> None:
    for name in env:
        if not name or "=" in name:
            raise ValueError(f"invalid build environment variable name {name!r}")


@dataclass(frozen=True)
class BuildOptions:
    """One ``pack build``. Defaults are the reproducible, non-interactive choices."""

    image: str
    """Image name to build (``repo:tag``); with :attr:`publish` a registry reference."""
    path: Path
    """The app dir (pack copies it into the build container's workspace)."""
    builder: str
    pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    creation_time: int | Literal["now"] | None = None
    """Seconds since the epoch (e.g. SOURCE_DATE_EPOCH), ``"now"``, or ``None`` for pack's fixed 1980-01-01."""
    publish: bool = False
    """Write the image straight to its registry instead of the Docker engine (``report.toml`` then has a digest)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Build-time environment (``--env``); visible in the process list, so no secrets here."""
    report_output_dir: Path | None = None
    no_color: bool = True
    trust_builder: bool = False
    trust_extra_buildpacks: bool = False
    """Keep the trusted (one-container) flow when buildpacks are added to a trusted builder."""
    buildpacks: tuple[str, ...] = ()
    """``--buildpack`` values: ``id[@version]``, a path, ``docker://image`` or ``urn:cnb:…``."""
    network: str | None = None
    """Network of the build containers (``host`` to reach a registry on the host's loopback)."""
    tags: tuple[str, ...] = ()
    """Additional tags for the same image."""
    descriptor: Path | None = None
    """project.toml to use instead of ``<path>/project.toml``."""
    run_image: str | None = None
    insecure_registries: tuple[str, ...] = ()
    """Registries the lifecycle may reach over plain HTTP (``127.0.0.1:5000``)."""
    clear_cache: bool = False
    default_process: str | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.creation_time, int) and self.creation_time < 0:
            raise ValueError(f"creation_time must be seconds since the epoch, got {self.creation_time}")
        _check_env(self.env)

    def to_args(self) -> list[str]:
        """``build …`` arguments, without the executable."""
        args = ["build", self.image, "--path", os.fspath(self.path), "--builder", self.builder]
        args += ["--pull-policy", str(self.pull_policy)]
        if self.creation_time is not None:
            args += ["--creation-time", str(self.creation_time)]
        if self.descriptor is not None:
            args += ["--descriptor", os.fspath(self.descriptor)]
        if self.run_image:
            args += ["--run-image", self.run_image]
        for buildpack in self.buildpacks:
            args += ["--buildpack", buildpack]
        for name, value in self.env.items():
            args += ["--env", f"{name}={value}"]
        for tag in self.tags:
            args += ["--tag", tag]
        if self.network:
            args += ["--network", self.network]
        for registry in self.insecure_registries:
            args += ["--insecure-registry", registry]
        if self.report_output_dir is not None:
            args += ["--report-output-dir", os.fspath(self.report_output_dir)]
        if self.default_process:
            args += ["--default-process", self.default_process]
        flags = {
            "--publish": self.publish,
            "--trust-builder": self.trust_builder,
            "--trust-extra-buildpacks": self.trust_extra_buildpacks,
            "--clear-cache": self.clear_cache,
            "--no-color": self.no_color,
            "--verbose": self.verbose,
        }
        return args + [flag for flag, on in flags.items() if on]


@dataclass(frozen=True)
class BuilderCreateOptions:
    """One ``pack builder create`` from a ``builder.toml``."""

    name: str
    config: Path
    pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    publish: bool = False
    no_color: bool = True
    targets: tuple[str, ...] = ()
    """``os/arch`` platforms to create the builder for (default: those in builder.toml)."""

    def to_args(self) -> list[str]:
        args = ["builder", "create", self.name, "--config", os.fspath(self.config)]
        args += ["--pull-policy", str(self.pull_policy)]
        for target in self.targets:
            args += ["--target", target]
        if self.publish:
            args.append("--publish")
        if self.no_color:
            args.append("--no-color")
        return args
