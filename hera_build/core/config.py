"""``[tool.hera-build]``: the typed configuration, with every key documented once, here.

Keys are kebab-case in pyproject.toml, as PEP 621 tools do. An unknown key is an error with a did-you-mean,
because a misspelt key silently ignored is how names and images drift apart. The configuration reference in
the docs is generated from this model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hera_build.core.references import ImageRef, is_local_image_spec, parse_image_ref, parse_repository
from hera_build.core.versions import DEFAULT_NAME_FORMAT
from hera_build.errors import ConfigError

BackendName = Literal["docker", "buildpacks", "oci"]
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FORMAT_FIELD_RE = re.compile(r"\{([^{}]*)\}")
_FORMAT_FIELDS = {"name", "slug"}


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class HeraBuildConfig(BaseModel):
    """The ``[tool.hera-build]`` table of pyproject.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=_kebab, populate_by_name=True)

    image: str | None = Field(
        default=None,
        description="Image repository of the runner image, without a tag (e.g. `ghcr.io/acme/ml-pipeline`). "
        "hera-build tags it with the package version.",
    )
    modules: tuple[str, ...] = Field(
        default=(),
        description="Dotted names of the modules that define the project's Hera objects. Default: the modules of "
        "the project's own `hera_build.templates` entry points.",
    )
    name_format: str = Field(
        default=DEFAULT_NAME_FORMAT,
        description="How versioned names are made from a template's name: `{name}` and `{slug}` (the version as "
        "a name fragment, `1.2.3` → `1-2-3`).",
    )
    backend: BackendName | None = Field(
        default=None,
        description="Image builder: `docker` (a Docker engine), `buildpacks` (the `pack` CLI) or `oci` (no "
        "engine). Default: `oci`.",
    )
    base_image: str | None = Field(
        default=None,
        description="Base image of the runner image; it must have Python. Default: `python:<host major.minor>-slim`. "
        "The oci backend also reads one from disk: `oci:DIR` (an OCI layout) or `docker-archive:FILE` (`docker save`).",
    )
    external: tuple[str, ...] = Field(
        default=(),
        description="templateRef names deliberately left as written (templates that no Python package provides).",
    )
    builder: str | None = Field(default=None, description="Buildpacks builder image for the `buildpacks` backend.")
    buildpacks: tuple[str, ...] = Field(
        default=(),
        description="`buildpacks` backend: buildpacks that run before hera-build's own `hera-build/hera-runner`, as "
        "`id[@version]` from the builder or a `docker://`/path URI; e.g. `paketo-buildpacks/cpython` on a builder "
        "whose build image has no python3.",
    )
    pull_policy: Literal["always", "if-not-present", "never"] | None = Field(
        default=None,
        description="`buildpacks` backend: when pack pulls the builder and run image. Default: `if-not-present`; "
        "`never` for offline builds with a local builder.",
    )

    @field_validator("image")
    @classmethod
    def _image_is_repository(cls, value: str | None) -> str | None:
        if value is not None:
            parse_repository(value, what="image")
        return value

    @field_validator("base_image")
    @classmethod
    def _is_base_image(cls, value: str | None) -> str | None:
        if value is not None and not is_local_image_spec(value):
            parse_image_ref(value, what="base-image")
        return value

    @field_validator("builder")
    @classmethod
    def _is_image_ref(cls, value: str | None) -> str | None:
        if value is not None:
            parse_image_ref(value, what="builder")
        return value

    @field_validator("modules")
    @classmethod
    def _modules_are_dotted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for module in value:
            if not _MODULE_RE.match(module):
                raise ValueError(f"{module!r} is not a dotted module name (import it by name, not by file path)")
        return value

    @field_validator("name_format")
    @classmethod
    def _name_format_is_versioned(cls, value: str) -> str:
        fields = set(_FORMAT_FIELD_RE.findall(value))
        unknown = fields - _FORMAT_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{name}} and {{slug}}")
        if fields != _FORMAT_FIELDS:
            raise ValueError("must contain both {name} and {slug}, or versions would share names")
        return value

    @property
    def image_ref(self) -> ImageRef | None:
        return parse_repository(self.image, what="image") if self.image else None


def _field_keys() -> list[str]:
    return [field.alias or name for name, field in HeraBuildConfig.model_fields.items()]


def parse_config(table: Mapping[str, Any], *, source: str = "pyproject.toml") -> HeraBuildConfig:
    """Validate a ``[tool.hera-build]`` table; every problem names the file and the key."""
    known = _field_keys()
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(str(key).replace("_", "-"), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"unknown key {key!r} in [tool.hera-build] of {source}", hint)
    try:
        return HeraBuildConfig.model_validate(dict(table))
    except ConfigError as exc:  # raised by a validator that parses an image reference
        raise ConfigError(f"{exc.message}, in [tool.hera-build] of {source}", exc.fix) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        message = _PLAIN.get(error["type"], str(error["msg"]).removeprefix("Value error, "))
        if error["type"] in _PLAIN:
            message += f", not {type(error['input']).__name__} {error['input']!r}"
        raise ConfigError(
            f"invalid value for {key!r} in [tool.hera-build] of {source}: {message}", _fix_for(key)
        ) from None


_PLAIN = {"tuple_type": "must be an array", "string_type": "must be a string", "list_type": "must be an array"}
"""pydantic's words for TOML types ("a valid tuple") in the words of TOML."""

_EXAMPLES = {
    "image": 'image = "ghcr.io/acme/my-package"',
    "modules": 'modules = ["my_package.workflows"]',
    "name-format": 'name-format = "{name}-v{slug}"',
    "backend": 'backend = "oci" (or "docker", "buildpacks")',
    "base-image": 'base-image = "python:3.12-slim"',
    "external": 'external = ["a-template-no-package-provides"]',
    "builder": 'builder = "paketobuildpacks/builder-jammy-base"',
    "buildpacks": 'buildpacks = ["paketo-buildpacks/cpython"]',
    "pull-policy": 'pull-policy = "if-not-present" (or "always", "never")',
}


def _fix_for(key: str) -> str:
    """How to write ``key``: an example line, so the fix is never "see the docs"."""
    example = _EXAMPLES.get(key)
    return f"write it like {example}" if example else "see docs/reference/configuration.md"
