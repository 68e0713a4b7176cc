"""The labels every backend puts on a runner image, defined once so that images from docker, buildpacks and
oci builds describe themselves the same way (OCI ``org.opencontainers.image.*`` annotations as labels)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from hera_build.core.gitinfo import GitInfo
from hera_build.core.project import Project

if TYPE_CHECKING:
    from hera_build.image.wheelhouse import Wheelhouse

LABEL_DEPENDENCY_DIGEST = "dev.hera-build.dependency-digest"
LABEL_BACKEND_VERSION = "dev.hera-build.backend-version"
"""Which backend (and version) built the image; the release manifest reads it back from the registry."""

_URL_KEYS = ("source", "repository", "source code", "code", "homepage")
"""``[project.urls]`` keys that name the source, most specific first."""


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_url(project: Project, git: GitInfo | None) -> str | None:
    """The project's source URL from ``[project.urls]``, else the git remote."""
    urls = (project.raw.get("project") or {}).get("urls") or {}
    by_key = {str(key).lower(): str(value) for key, value in urls.items()}
    for key in _URL_KEYS:
        if key in by_key:
            return by_key[key]
    return git.remote_url if git else None


def oci_labels(project: Project, *, base_image: str, git: GitInfo | None, created: int | None) -> dict[str, str]:
    """Title, version, base, description, revision, source and (when reproducible) creation time."""
    labels = {
        "org.opencontainers.image.title": project.name,
        "org.opencontainers.image.version": project.version.exact,
        "org.opencontainers.image.base.name": base_image,
    }
    description = (project.raw.get("project") or {}).get("description")
    if description:
        labels["org.opencontainers.image.description"] = str(description)
    if git is not None:
        labels["org.opencontainers.image.revision"] = git.commit
    source = source_url(project, git)
    if source:
        labels["org.opencontainers.image.source"] = source
    if created is not None:
        labels["org.opencontainers.image.created"] = rfc3339(created)
    return labels


def image_labels(
    project: Project,
    *,
    base_image: str,
    git: GitInfo | None,
    source_date_epoch: int | None,
    wheelhouse: Wheelhouse | None = None,
) -> dict[str, str]:
    """OCI annotations (``org.opencontainers.image.*``) and hera-build's digests, as image labels."""
    labels = oci_labels(project, base_image=base_image, git=git, created=source_date_epoch)
    if wheelhouse is not None:
        labels[LABEL_DEPENDENCY_DIGEST] = wheelhouse.dependency_digest
    return labels
