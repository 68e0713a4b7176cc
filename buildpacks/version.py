"""pack's version, and the oldest one this wrapper accepts.

pack 0.40.0 and 0.40.1 ask the Docker engine for API 1.44 and refuse engines that only speak 1.41 (Debian's
docker.io 20.10); pack 0.40.2 negotiates again. Older packs lack flags we pass (``--trust-extra-buildpacks``
came in 0.36, ``--insecure-registry`` and ``--creation-time`` before that), so 0.40.2 is the one floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from buildpacks.errors import PackVersionError

__all__ = ["MINIMUM_PACK_VERSION", "PackVersion", "parse_pack_version"]

_VERSION_RE = re.compile(r"^\s*v?(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<rest>\S*)")


@dataclass(frozen=True, order=True)
class PackVersion:
    major: int
    minor: int
    patch: int
    text: str = field(default="", compare=False)
    """What ``pack --version`` printed, e.g. ``0.40.3+git-1234.build-56`` (not compared)."""

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


MINIMUM_PACK_VERSION = PackVersion(0, 40, 2)


def parse_pack_version(output: str) -> PackVersion:
    """Read the first line of ``pack --version``; unreadable output is a :class:`PackVersionError`."""
    first = output.strip().splitlines()[0] if output.strip() else ""
    match = _VERSION_RE.match(first)
    if match is None:
        raise PackVersionError(
            f"cannot read pack's version from {first[:80]!r}",
            "install a released pack (scripts/build-pack.sh builds one with its version set)",
        )
    return PackVersion(int(match["major"]), int(match["minor"]), int(match["patch"]), first.strip())
