"""PEP 440 versions mapped to the outside world, injectively, in one place.

Two encodings are needed: an OCI image tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``) and a slug that can go
into a Kubernetes name (DNS-1123). Both start from the *canonical* PEP 440 string, which uses only
``[0-9a-z.!+]``, and both can be decoded again (:func:`version_from_tag`, :func:`version_from_slug`):
decodability is what makes them injective, so two different versions can never share a tag or a name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from hera_build.errors import VersionError

MAX_NAME_LENGTH = 63
"""Argo puts WorkflowTemplate names into label values: 63 characters at most."""
MAX_CRON_NAME_LENGTH = 52
"""CronWorkflow names get a timestamp suffix on each run: 52 characters at most."""
DEFAULT_NAME_FORMAT = "{name}-v{slug}"
_HASH_LENGTH = 8
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SLUG_RE = re.compile(
    r"^(?:e(?P<epoch>\d+)-)?(?P<release>\d+(?:-\d+)*)(?P<pre>(?:a|b|rc)\d+)?"
    r"(?:-post(?P<post>\d+))?(?:-dev(?P<dev>\d+))?(?:-l-(?P<local>[a-z0-9]+(?:-[a-z0-9]+)*))?$"
)


def parse_version(text: str) -> Version:
    """Parse a PEP 440 version, or raise a :class:`VersionError` that says how to write one."""
    try:
        return Version(text.strip())
    except InvalidVersion:
        raise VersionError(
            f"invalid version {text!r}: not a PEP 440 version",
            "use a version like 1.2.3, 1.2.3rc1, 1.2.3.post1 or 1.2.3+local.1",
        ) from None


@dataclass(frozen=True)
class ProjectVersion:
    """A resolved version with every outward form of it, computed once.

    ``exact`` is the string as resolved (``1.0`` and ``1.0.0`` are equal versions but different strings, and
    annotations keep what the user wrote); ``canonical``, ``tag`` and ``slug`` are derived from the parsed value.
    """

    exact: str
    canonical: str
    tag: str
    slug: str

    @classmethod
    def parse(cls, text: str) -> ProjectVersion:
        version = parse_version(text)
        return cls(exact=text.strip(), canonical=str(version), tag=image_tag(version), slug=name_slug(version))


def _as_version(version: Version | str) -> Version:
    return version if isinstance(version, Version) else parse_version(version)


def image_tag(version: Version | str) -> str:
    """``1.2.3+local.7`` → ``1.2.3_local.7``, ``1!2.0`` → ``1-2.0``: canonical PEP 440 never uses ``_`` or ``-``."""
    tag = str(_as_version(version)).replace("+", "_").replace("!", "-")
    if not _TAG_RE.match(tag):
        raise VersionError(
            f"version {version} gives image tag {tag!r}, longer than the 128 characters a tag may have",
            "use a shorter version (shorten the local segment)",
        )
    return tag


def version_from_tag(tag: str) -> Version:
    """Invert :func:`image_tag`."""
    text = tag.replace("_", "+")
    if "-" in text:
        epoch, _, rest = text.partition("-")
        text = f"{epoch}!{rest}"
    return parse_version(text)


def name_slug(version: Version | str) -> str:
    """The version as a DNS-1123 label fragment, decodable by :func:`version_from_slug`.

    ``1.2.3`` → ``1-2-3``; ``1.2.3rc1`` → ``1-2-3rc1``; ``1.2.3.post1`` → ``1-2-3-post1``;
    ``1.2.3.dev4`` → ``1-2-3-dev4``; ``1!2.0`` → ``e1-2-0``; ``1.2.3+local.7`` → ``1-2-3-l-local-7``.
    """
    v = _as_version(version)
    parts = [f"e{v.epoch}-" if v.epoch else "", "-".join(str(n) for n in v.release)]
    if v.pre is not None:
        parts.append(f"{v.pre[0]}{v.pre[1]}")
    if v.post is not None:
        parts.append(f"-post{v.post}")
    if v.dev is not None:
        parts.append(f"-dev{v.dev}")
    if v.local is not None:
        parts.append("-l-" + v.local.replace(".", "-"))
    return "".join(parts)


def version_from_slug(slug: str) -> Version:
    """Invert :func:`name_slug`; raises :class:`VersionError` for text that no version maps to."""
    match = _SLUG_RE.match(slug)
    if match is None:
        raise VersionError(f"{slug!r} is not a version slug", "slugs look like 1-2-3 or 1-2-3rc1")
    text = match["release"].replace("-", ".") + (match["pre"] or "")
    if match["epoch"]:
        text = f"{match['epoch']}!{text}"
    if match["post"]:
        text += f".post{match['post']}"
    if match["dev"]:
        text += f".dev{match['dev']}"
    if match["local"]:
        text += "+" + match["local"].replace("-", ".")
    return parse_version(text)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def shorten_name(name: str, limit: int) -> str:
    """Cut ``name`` to ``limit`` characters, ending in a stable hash of the whole name so cuts stay distinct."""
    if len(name) <= limit:
        return name
    head = name[: limit - _HASH_LENGTH - 1].rstrip("-.")
    return f"{head}-{_short_hash(name)}"


def versioned_name(
    name: str, version: ProjectVersion, name_format: str = DEFAULT_NAME_FORMAT, *, limit: int = MAX_NAME_LENGTH
) -> str:
    """Render ``name_format`` for ``name`` at ``version``, shortened to ``limit`` characters.

    When the result is too long, the *original name* is cut and given a hash (of the full rendered name), so the
    version stays readable at the end of the name; only if the version alone is too long is the whole name cut.
    """
    full = name_format.format(name=name, slug=version.slug)
    if len(full) <= limit:
        result = full
    else:
        overflow = len(full) - limit
        keep = len(name) - overflow - _HASH_LENGTH - 1
        if keep >= 1:
            short = f"{name[:keep].rstrip('-.')}-{_short_hash(full)}"
            result = name_format.format(name=short, slug=version.slug)
        else:
            result = shorten_name(full, limit)
    if not _DNS_SUBDOMAIN_RE.match(result):
        raise VersionError(
            f"name {result!r} (from {name!r} and name format {name_format!r}) is not a valid Kubernetes name",
            "use lowercase letters, digits, '-' and '.' in template names and in name-format",
        )
    return result
