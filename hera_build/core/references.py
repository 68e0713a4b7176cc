"""Image references, parsed with the OCI distribution grammar (``distribution/reference``).

Parsing once into :class:`ImageRef` means the rest of hera-build never splits strings on ``:`` (which breaks
on ``localhost:5000/repo``) and never emits a reference that a registry would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hera_build.errors import ConfigError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
TAG_RE = re.compile(rf"^{_TAG}$")
LOCAL_PREFIXES = ("oci:", "oci-archive:", "docker-archive:")
"""Base images on disk (an OCI layout or a ``docker save`` archive), which only the oci backend reads."""
_MAX_NAME = 255


@dataclass(frozen=True)
class ImageRef:
    """``repository[:tag][@digest]``; ``repository`` includes the registry host when there is one."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def registry(self) -> str | None:
        """The registry host (``localhost:5000``), or ``None`` for Docker Hub short names."""
        first, sep, _ = self.repository.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
            return first
        return None

    @property
    def path(self) -> str:
        """The repository path within its registry."""
        registry = self.registry
        return self.repository[len(registry) + 1 :] if registry else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str | None) -> ImageRef:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str, *, what: str = "image reference") -> ImageRef:
    """Parse ``text`` or raise a :class:`ConfigError` naming ``what`` was being read."""
    match = _REFERENCE_RE.match(text.strip())
    if match is None or len(match["name"]) > _MAX_NAME:
        raise ConfigError(
            f"invalid {what} {text!r}: not an OCI image reference",
            "write it as [registry/]repository[:tag][@sha256:digest], repository in lowercase",
        )
    return ImageRef(repository=_lower_host(match["name"]), tag=match["tag"], digest=match["digest"])


def _lower_host(name: str) -> str:
    """Host names are case-insensitive (``LocalHost:5000`` is ``localhost:5000``): write registry hosts in lower
    case, so that everything that compares them (loopback, insecure registries, credentials) agrees."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first.lower() == "localhost"):
        return f"{first.lower()}/{rest}"
    return name


def parse_tag(text: str, *, what: str = "tag") -> str:
    """A bare tag (``latest``) as the OCI grammar allows it, or a :class:`ConfigError` naming ``what``."""
    if not TAG_RE.match(text):
        raise ConfigError(
            f"invalid {what} {text!r}: not an image tag",
            "use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (e.g. latest)",
        )
    return text


def parse_repository(text: str, *, what: str = "image repository") -> ImageRef:
    """Parse a bare repository: hera-build sets the tag itself, from the version."""
    ref = parse_image_ref(text, what=what)
    if ref.tag or ref.digest:
        raise ConfigError(
            f"{what} {text!r} has a tag or digest, but hera-build tags images with the package version",
            f"write just the repository, e.g. {ref.repository!r}",
        )
    return ref


def is_local_image_spec(text: str) -> bool:
    """Whether ``text`` names an image on disk (``oci:DIR``, ``docker-archive:FILE``, or a path) rather than a
    registry reference: valid as a base image for the oci backend, which needs no engine or registry."""
    text = text.strip()
    return text.startswith(LOCAL_PREFIXES) or text.startswith(("/", "./", "../", "~"))
