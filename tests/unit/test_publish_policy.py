"""The one publish policy: build a new version, reuse the same inputs, refuse other content unless --force."""

from __future__ import annotations

import pytest

from hera_build.core.references import ImageRef
from hera_build.errors import ImmutableTagError
from hera_build.image.inputs import INPUT_DIGEST_LABEL, identity_labels
from hera_build.image.registry import RemoteImage
from hera_build.publish.policy import decide

IMAGE = ImageRef("registry.test/acme/app", "1.0")
OURS = "sha256:" + "1" * 64
THEIRS = "sha256:" + "2" * 64


def _remote(label: str | None) -> RemoteImage:
    return RemoteImage("sha256:" + "d" * 64, "sha256:" + "c" * 64, identity_labels(label) if label else {})


def test_a_tag_the_registry_lacks_is_built() -> None:
    decision = decide(IMAGE, "1.0", None, OURS, force=False)
    assert (decision.action, decision.remote) == ("build", None)
    decision.raise_if_refused()


def test_the_same_inputs_reuse_the_registry_image() -> None:
    remote = _remote(OURS)
    decision = decide(IMAGE, "1.0", remote, OURS, force=False)
    assert (decision.action, decision.remote) == ("reuse", remote)
    assert decision.reason.endswith("reusing it")
    assert decide(IMAGE, "1.0", remote, OURS, force=True).action == "reuse", "--force never rebuilds the same inputs"


@pytest.mark.parametrize("label", [THEIRS, None])
def test_other_content_is_refused_and_force_rebuilds_it(label: str | None) -> None:
    decision = decide(IMAGE, "1.0", _remote(label), OURS, force=False)
    assert decision.action == "refuse"
    assert decision.reason.startswith("version 1.0 is already released with other content")
    assert (label or f"no {INPUT_DIGEST_LABEL} label") in decision.reason and OURS in decision.reason
    with pytest.raises(ImmutableTagError) as info:
        decision.raise_if_refused()
    assert info.value.fix == "bump the version, or pass --force to move the tag"
    forced = decide(IMAGE, "1.0", _remote(label), OURS, force=True)
    assert forced.action == "build" and "--force" in forced.reason


def test_an_image_labelled_by_another_input_schema_is_named_as_such() -> None:
    """A hera-build that hashes other inputs cannot compare: it says that, not "other content"."""
    old = RemoteImage("sha256:" + "d" * 64, "sha256:" + "c" * 64, {INPUT_DIGEST_LABEL: OURS})
    decision = decide(IMAGE, "1.0", old, OURS, force=False)
    assert decision.action == "refuse" and "computed input digests another way" in decision.reason
    assert decide(IMAGE, "1.0", old, OURS, force=True).action == "build"


@pytest.mark.parametrize(
    ("released", "building", "said"),
    [
        (("linux/amd64", "linux/arm64/v8"), ("linux/arm64", "linux/amd64"), "released for linux/amd64, linux/arm64/v8, "
         "this build is for linux/arm64, linux/amd64"),
        ((), ("linux/amd64", "linux/arm64"), "released for one platform, this build is for linux/amd64, linux/arm64"),
        (("linux/amd64", "linux/arm64"), (), "released for linux/amd64, linux/arm64, this build is for one platform"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_platforms_when_only_they_may_differ(
    released: tuple[str, ...], building: tuple[str, ...], said: str
) -> None:
    """Reordering or changing ``platforms`` changes the index: the refusal says why, not just "other content"."""
    remote = RemoteImage("sha256:" + "d" * 64, None, identity_labels(THEIRS), released)

    decision = decide(IMAGE, "1.0", remote, OURS, force=False, platforms=building)

    assert decision.action == "refuse" and f"; it was {said})" in decision.reason


def test_the_same_platforms_are_not_mentioned() -> None:
    remote = RemoteImage("sha256:" + "d" * 64, None, identity_labels(THEIRS), ("linux/amd64", "linux/arm64/v8"))
    decision = decide(IMAGE, "1.0", remote, OURS, force=False, platforms=("linux/amd64", "linux/arm64"))
    assert "released for" not in decision.reason
