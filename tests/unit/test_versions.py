"""Version mapping: PEP 440 → image tag and Kubernetes name slug, both injective."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from hera_build.core.versions import (
    MAX_CRON_NAME_LENGTH,
    MAX_NAME_LENGTH,
    ProjectVersion,
    image_tag,
    name_slug,
    shorten_name,
    version_from_slug,
    version_from_tag,
    versioned_name,
)
from hera_build.errors import VersionError

OCI_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@pytest.mark.parametrize(
    ("version", "tag", "slug"),
    [
        ("1.2.3", "1.2.3", "1-2-3"),
        ("1.2.3rc1", "1.2.3rc1", "1-2-3rc1"),
        ("1.2.3.post1", "1.2.3.post1", "1-2-3-post1"),
        ("1!2.0", "1-2.0", "e1-2-0"),
        ("1.2.3+local.7", "1.2.3_local.7", "1-2-3-l-local-7"),
        ("1.0.dev3", "1.0.dev3", "1-0-dev3"),
        ("2.0.0-RC1", "2.0.0rc1", "2-0-0rc1"),
    ],
)
def test_documented_examples(version: str, tag: str, slug: str) -> None:
    assert image_tag(version) == tag
    assert name_slug(version) == slug


def test_exact_string_is_kept_for_annotations_while_forms_are_canonical() -> None:
    version = ProjectVersion.parse("2.0.0-RC1")
    assert (version.exact, version.canonical, version.tag) == ("2.0.0-RC1", "2.0.0rc1", "2.0.0rc1")


def test_invalid_version_says_what_a_version_looks_like() -> None:
    with pytest.raises(VersionError, match="not a PEP 440 version") as info:
        ProjectVersion.parse("v1.banana")
    assert info.value.fix and "1.2.3" in info.value.fix


numbers = st.integers(min_value=0, max_value=10**6)
versions = st.builds(
    lambda epoch, release, pre, post, dev, local: Version(
        (f"{epoch}!" if epoch else "")
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{'.'.join(local)}" if local else "")
    ),
    st.integers(min_value=0, max_value=5),
    st.lists(numbers, min_size=1, max_size=5),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), numbers),
    st.none() | numbers,
    st.none() | numbers,
    st.none() | st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=3),
)


@given(versions)
def test_tag_is_valid_and_decodes_to_the_same_version(version: Version) -> None:
    tag = image_tag(version)
    assert OCI_TAG.match(tag)
    assert version_from_tag(tag) == version and str(version_from_tag(tag)) == str(version)


@given(versions)
def test_slug_is_a_dns_label_and_decodes_to_the_same_version(version: Version) -> None:
    slug = name_slug(version)
    assert DNS_LABEL.match(slug)
    assert str(version_from_slug(slug)) == str(version)


@given(versions, versions)
def test_distinct_versions_never_share_a_tag_or_slug(a: Version, b: Version) -> None:
    if str(a) != str(b):
        assert image_tag(a) != image_tag(b)
        assert name_slug(a) != name_slug(b)


def test_default_versioned_name() -> None:
    assert versioned_name("train", ProjectVersion.parse("1.2.3")) == "train-v1-2-3"


@given(st.from_regex(r"[a-z][a-z0-9-]{0,80}[a-z0-9]", fullmatch=True), versions)
def test_versioned_names_fit_kubernetes_limits(name: str, version: Version) -> None:
    pv = ProjectVersion.parse(str(version))
    for limit in (MAX_NAME_LENGTH, MAX_CRON_NAME_LENGTH):
        result = versioned_name(name, pv, limit=limit)
        assert len(result) <= limit
        assert DNS_SUBDOMAIN.match(result)


def test_long_names_keep_the_version_readable_and_get_a_stable_hash() -> None:
    version = ProjectVersion.parse("1.2.3")
    name = "a-very-long-workflow-template-name-that-goes-on-and-on-forever-and-ever"
    first = versioned_name(name, version)
    assert len(first) == MAX_NAME_LENGTH and first.endswith("-v1-2-3")
    assert first == versioned_name(name, version)
    assert first != versioned_name(name + "x", version)


def test_shorten_name_leaves_short_names_alone() -> None:
    assert shorten_name("short", 10) == "short"
    assert len(shorten_name("x" * 100, 52)) == 52


def test_names_with_characters_kubernetes_refuses_are_errors() -> None:
    with pytest.raises(VersionError, match="not a valid Kubernetes name"):
        versioned_name("My_Template", ProjectVersion.parse("1.0"))


def test_a_tag_over_128_characters_is_an_error() -> None:
    with pytest.raises(VersionError, match="128"):
        image_tag("1.0+" + ".".join(["abcdefghij"] * 13))
