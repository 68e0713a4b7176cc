"""The one publish policy: what happens when the registry already has the version's tag.

A released version never changes, and re-running a release that changed nothing must succeed. So the registry's
image under ``image:tag`` is compared by its input digest label (:mod:`hera_build.image.inputs`) with the inputs
of this source, before anything is built. A multi-platform image is an index, which has no config: its input
digest (over every platform's) is the index's annotation of the same name, which the registry client reads
in place of the label, so the policy is the same for both:

- no image under the tag → *build* (then check, then publish);
- the same input digest → *reuse* the registry's image (nothing is built or pushed);
- another input digest, or none → *refuse*; ``--force`` turns that into *build* and moves the tag.

``image --push``, ``plan`` and ``release`` all decide here, for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hera_build.core.references import ImageRef
from hera_build.errors import ImmutableTagError
from hera_build.image.inputs import INPUT_DIGEST_LABEL, INPUTS_SCHEMA, INPUTS_SCHEMA_LABEL
from hera_build.image.registry import RemoteImage

Action = Literal["build", "reuse", "refuse"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    remote: RemoteImage | None = None

    def raise_if_refused(self) -> None:
        if self.action == "refuse":
            raise ImmutableTagError(self.reason, "bump the version, or pass --force to move the tag")


def _other_platforms(remote: RemoteImage, platforms: tuple[str, ...]) -> str:
    """Where the released image and this build differ in platforms, say so: a user who only changed ``platforms``
    (or their order, which is the index's) would otherwise read just "other content"."""

    def named(values: tuple[str, ...]) -> list[list[str]]:  # linux/arm64 is the index's linux/arm64/v8
        return [value.split("/")[:2] for value in values]

    if named(remote.platforms) == named(platforms):
        return ""
    released = ", ".join(remote.platforms) if remote.platforms else "one platform"
    return f"; it was released for {released}, this build is for {', '.join(platforms) or 'one platform'}"


def decide(
    image: ImageRef,
    version: str,
    remote: RemoteImage | None,
    input_digest: str,
    *,
    force: bool,
    platforms: tuple[str, ...] = (),
) -> Decision:
    """Build, reuse or refuse, from what the registry holds under ``image`` and this source's input digest
    (``platforms``: this build's, when more than one)."""
    if remote is None:
        return Decision("build", f"{image} is not in the registry yet")
    theirs = remote.labels.get(INPUT_DIGEST_LABEL)
    schema = remote.labels.get(INPUTS_SCHEMA_LABEL, "1")
    if theirs and schema != str(INPUTS_SCHEMA):
        if force:
            return Decision(
                "build", f"{image} was labelled by another hera-build; --force: building and moving the tag", remote
            )
        return Decision(
            "refuse",
            f"version {version} was released by a hera-build that computed input digests another way ({image} has "
            f"{INPUTS_SCHEMA_LABEL} {schema}, this one uses {INPUTS_SCHEMA}), so it cannot tell whether the content "
            "is the same",
            remote,
        )
    if theirs == input_digest:
        return Decision(
            "reuse", f"{image} already holds an image of the same inputs ({remote.digest}); reusing it", remote
        )
    what = f"input digest {theirs}" if theirs else f"no {INPUT_DIGEST_LABEL} label"
    if force:
        return Decision("build", f"{image} holds other content ({what}); --force: building and moving the tag", remote)
    return Decision(
        "refuse",
        f"version {version} is already released with other content ({image} is {remote.digest} with {what}, "
        f"this source gives {input_digest}{_other_platforms(remote, platforms)})",
        remote,
    )
