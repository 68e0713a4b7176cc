"""``[tool.hera-build]``: the typed configuration, with every key documented once, here.

Keys are kebab-case in pyproject.toml, as PEP 621 tools do. An unknown key is an error with a did-you-mean,
because a misspelt key silently ignored is how names and images drift apart. The configuration reference in
the docs is generated from this dataclass (:func:`config_keys`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hera_build.core.references import ImageRef, is_local_image_spec, parse_image_ref, parse_repository
from hera_build.core.versions import DEFAULT_NAME_FORMAT
from hera_build.errors import ConfigError

BackendName = Literal["docker", "buildpacks", "oci"]
PullPolicy = Literal["always", "if-not-present", "never"]
_PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FORMAT_FIELD_RE = re.compile(r"\{([^{}]*)\}")
_FORMAT_FIELDS = {"name", "slug"}


def _doc(description: str) -> dict[str, str]:
    """A key's description, from which the configuration reference is generated."""
    return {"description": description}


@dataclass(frozen=True)
class HeraBuildConfig:
    """The ``[tool.hera-build]`` table of pyproject.toml.

    A plain dataclass checked by :func:`parse_config` (not a pydantic model): every command reads it, and
    building a pydantic model costs a tenth of a second of start-up that ``hera-build image`` would wait for.
    """

    image: str | None = field(
        default=None,
        metadata=_doc(
            "Image repository of the runner image, without a tag (e.g. `ghcr.io/acme/ml-pipeline`). "
            "hera-build tags it with the package version."
        ),
    )
    modules: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Dotted names of the modules that define the project's Hera objects. Default: the modules of "
            "the project's own `hera_build.templates` entry points."
        ),
    )
    name_format: str = field(
        default=DEFAULT_NAME_FORMAT,
        metadata=_doc(
            "How versioned names are made from a template's name: `{name}` and `{slug}` (the version as "
            "a name fragment, `1.2.3` → `1-2-3`)."
        ),
    )
    backend: BackendName | None = field(
        default=None,
        metadata=_doc(
            "Image builder: `docker` (a Docker engine), `buildpacks` (the `pack` CLI) or `oci` (no "
            "engine). Default: `oci`."
        ),
    )
    base_image: str | None = field(
        default=None,
        metadata=_doc(
            "Base image of the runner image; it must have Python. Default: `python:<host major.minor>-slim`. "
            "The oci backend also reads one from disk: `oci:DIR` (an OCI layout) or `docker-archive:FILE` "
            "(`docker save`)."
        ),
    )
    platforms: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "`oci` backend: the platforms to build the image for, as `os/architecture[/variant]` (e.g. "
            '`["linux/amd64", "linux/arm64"]`). Each gets its own image, from wheels resolved on the host for '
            "it; more than one are pushed under one OCI image index, whose digest the templates pin. The base "
            "image must have each platform (a multi-platform index). Default: `linux/amd64`. `--platform` "
            "(repeatable) overrides it."
        ),
    )
    external: tuple[str, ...] = field(
        default=(),
        metadata=_doc("templateRef names deliberately left as written (templates that no Python package provides)."),
    )
    builder: str | None = field(default=None, metadata=_doc("Buildpacks builder image for the `buildpacks` backend."))
    buildpacks: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "`buildpacks` backend: buildpacks that run before hera-build's own `hera-build/hera-runner`, as "
            "`id[@version]` from the builder or a `docker://`/path URI; e.g. `paketo-buildpacks/cpython` on a builder "
            "whose build image has no python3."
        ),
    )
    pull_policy: PullPolicy | None = field(
        default=None,
        metadata=_doc(
            "`buildpacks` backend: when pack pulls the builder and run image. Default: `if-not-present`; "
            "`never` for offline builds with a local builder."
        ),
    )

    @property
    def image_ref(self) -> ImageRef | None:
        return parse_repository(self.image, what="image") if self.image else None


@dataclass(frozen=True)
class ConfigKey:
    """One key of ``[tool.hera-build]``, as the configuration reference shows it."""

    key: str
    """kebab-case, as written in pyproject.toml."""
    name: str
    annotation: Any
    default: Any
    description: str


@functools.cache
def config_keys() -> tuple[ConfigKey, ...]:
    """Every key, in declaration order (the reference and the did-you-mean list come from here)."""
    hints = typing.get_type_hints(HeraBuildConfig)
    return tuple(
        ConfigKey(item.name.replace("_", "-"), item.name, hints[item.name], item.default, item.metadata["description"])
        for item in dataclasses.fields(HeraBuildConfig)
    )


def _image_is_repository(value: str) -> None:
    parse_repository(value, what="image")


def _is_base_image(value: str) -> None:
    if not is_local_image_spec(value):
        parse_image_ref(value, what="base-image")


def _is_image_ref(value: str) -> None:
    parse_image_ref(value, what="builder")


def check_platforms(value: tuple[str, ...]) -> None:
    """``linux/architecture[/variant]`` each, no platform twice (``ValueError`` with the reason).

    Only Linux: the wheels are chosen for the base image's glibc or musl. A platform without a variant is the
    same as one with any (``linux/arm64`` is ``linux/arm64/v8``, as an index selects them), so both would put one
    image in the index twice."""
    seen: list[list[str]] = []
    for platform in value:
        if not _PLATFORM_RE.match(platform):
            raise ValueError(f"{platform!r} is not a platform; write os/architecture[/variant], e.g. linux/arm64")
        parts = platform.split("/")
        if parts[0] != "linux":
            raise ValueError(f"{platform}: hera-build builds Linux images only; write linux/{parts[1]}")
        for other in seen:
            if other[:2] == parts[:2] and (len(other) == 2 or len(parts) == 2 or other == parts):
                what = "is listed twice" if other == parts else f"and {'/'.join(other)} are the same platform"
                raise ValueError(f"{platform} {what}")
        seen.append(parts)


def _modules_are_dotted(value: tuple[str, ...]) -> None:
    for module in value:
        if not _MODULE_RE.match(module):
            raise ValueError(f"{module!r} is not a dotted module name (import it by name, not by file path)")


def _name_format_is_versioned(value: str) -> None:
    fields = set(_FORMAT_FIELD_RE.findall(value))
    unknown = fields - _FORMAT_FIELDS
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{name}} and {{slug}}")
    if fields != _FORMAT_FIELDS:
        raise ValueError("must contain both {name} and {slug}, or versions would share names")


_VALIDATORS: dict[str, Callable[[Any], None]] = {
    "image": _image_is_repository,
    "base_image": _is_base_image,
    "builder": _is_image_ref,
    "modules": _modules_are_dotted,
    "platforms": check_platforms,
    "name_format": _name_format_is_versioned,
}


def _not(value: Any) -> str:
    return f", not {type(value).__name__} {value!r}"


def _checked(annotation: Any, value: Any) -> Any:
    """``value`` as ``annotation`` wants it (TOML arrays become tuples); ``ValueError`` with the reason if not."""
    args = typing.get_args(annotation)
    if type(None) in args:  # Optional: TOML has no null, so the value is always the other type
        annotation = next(arg for arg in args if arg is not type(None))
        args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        if value not in args:
            choices = ", ".join(repr(arg) for arg in args[:-1]) + f" or {args[-1]!r}"
            raise ValueError(f"must be {choices}{_not(value)}")
        return value
    if typing.get_origin(annotation) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be an array{_not(value)}")
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"must be an array of strings{_not(item)}")
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a string{_not(value)}")
    return value


def parse_config(table: Mapping[str, Any], *, source: str = "pyproject.toml") -> HeraBuildConfig:
    """Validate a ``[tool.hera-build]`` table; every problem names the file and the key."""
    keys = {key.key: key for key in config_keys()}
    known = list(keys)
    values: dict[str, Any] = {}
    for key, value in table.items():
        spec = keys.get(key)
        if spec is None:
            close = difflib.get_close_matches(str(key).replace("_", "-"), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"unknown key {key!r} in [tool.hera-build] of {source}", hint)
        try:
            values[spec.name] = checked = _checked(spec.annotation, value)
            if spec.name in _VALIDATORS:
                _VALIDATORS[spec.name](checked)
        except ConfigError as exc:  # raised by a validator that parses an image reference
            raise ConfigError(f"{exc.message}, in [tool.hera-build] of {source}", exc.fix) from None
        except ValueError as exc:
            key, message = spec.key, str(exc)
            raise ConfigError(
                f"invalid value for {key!r} in [tool.hera-build] of {source}: {message}", _fix_for(key)
            ) from None
    return HeraBuildConfig(**values)


_EXAMPLES = {
    "image": 'image = "ghcr.io/acme/my-package"',
    "modules": 'modules = ["my_package.workflows"]',
    "name-format": 'name-format = "{name}-v{slug}"',
    "backend": 'backend = "oci" (or "docker", "buildpacks")',
    "base-image": 'base-image = "python:3.12-slim"',
    "platforms": 'platforms = ["linux/amd64", "linux/arm64"]',
    "external": 'external = ["a-template-no-package-provides"]',
    "builder": 'builder = "paketobuildpacks/builder-jammy-base"',
    "buildpacks": 'buildpacks = ["paketo-buildpacks/cpython"]',
    "pull-policy": 'pull-policy = "if-not-present" (or "always", "never")',
}


def _fix_for(key: str) -> str:
    """How to write ``key``: an example line, so the fix is never "see the docs"."""
    example = _EXAMPLES.get(key)
    return f"write it like {example}" if example else "see docs/reference/configuration.md"
