"""``report.toml``: what the lifecycle's exporter says it made. The only trustworthy source of id and digest.

pack prints ``*** Images (…)`` too, but logs change between versions and are not an interface; the report
(``--report-output-dir``) is the lifecycle's own record: ``[image] tags``, ``image-id`` (daemon builds) and
``digest`` (``--publish``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildpacks.errors import ReportError

__all__ = ["REPORT_FILE", "BuildReport", "parse_report", "read_report"]

REPORT_FILE = "report.toml"
_HEX_RE = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


@dataclass(frozen=True)
class BuildReport:
    tags: tuple[str, ...]
    image_id: str | None = None
    """``sha256:<hex>`` of the image config, as the Docker engine names the image (daemon builds)."""
    digest: str | None = None
    """``sha256:<hex>`` of the manifest in the registry (published builds)."""
    manifest_size: int | None = None


def _loads(text: str) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    import tomlkit

    return tomlkit.parse(text).unwrap()


def _sha256(value: Any, key: str, source: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _HEX_RE.match(value):
        raise ReportError(f"{source}: [image] {key} is not a sha256 digest: {value!r}", "report this as a bug")
    return value if value.startswith("sha256:") else f"sha256:{value}"


def parse_report(text: str, *, source: str = REPORT_FILE) -> BuildReport:
    """Parse a report; an unreadable one, or one without an id or digest, is a :class:`ReportError`."""
    try:
        data = _loads(text)
    except Exception as exc:  # noqa: BLE001 - tomllib and tomlkit raise different types
        raise ReportError(f"{source} is not valid TOML: {exc}", "report this as a bug") from None
    image = data.get("image")
    if not isinstance(image, Mapping):
        raise ReportError(f"{source} has no [image] table", "check that the lifecycle's export phase ran")
    tags = image.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ReportError(f"{source}: [image] tags is not a list of strings", "report this as a bug")
    size = image.get("manifest-size")
    report = BuildReport(
        tags=tuple(tags),
        image_id=_sha256(image.get("image-id"), "image-id", source),
        digest=_sha256(image.get("digest"), "digest", source),
        manifest_size=size if isinstance(size, int) else None,
    )
    if report.image_id is None and report.digest is None:
        raise ReportError(f"{source} names neither an image id nor a digest", "check that the image was exported")
    return report


def read_report(directory: Path) -> BuildReport:
    """Read ``directory/report.toml`` (the ``--report-output-dir``)."""
    path = directory / REPORT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"pack finished but wrote no {path}", "use a lifecycle that writes report.toml (platform API >= 0.3)"
        ) from None
    return parse_report(text, source=str(path))
