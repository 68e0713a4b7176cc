"""The layering plan: large distributions alone, small ones in buckets that no unrelated change moves, and never
more layers than every engine accepts."""

from __future__ import annotations

import pytest

from hera_build.errors import BuildError
from hera_build.image.backends.oci.layering import (
    LARGE_BYTES,
    MAX_IMAGE_LAYERS,
    OWN_LAYERS,
    SMALL_BUCKETS,
    Distribution,
    LayerGroup,
    bucket_of,
    plan_layers,
)

MB = 1 << 20
PROJECT = [
    Distribution("numpy", "2.1.3", 60 * MB),
    Distribution("scipy", "1.14.1", 110 * MB),
    Distribution("pandas", "2.2.3", 70 * MB),
    Distribution("scikit-learn", "1.5.2", 40 * MB),
    Distribution("pydantic_core", "2.27.1", 5 * MB),
    Distribution("python-dateutil", "2.9.0", 800_000),
    Distribution("pytz", "2024.2", 3 * MB),
    Distribution("joblib", "1.4.2", 2 * MB),
    Distribution("threadpoolctl", "3.5.0", 60_000),
    Distribution("hera", "5.20.0", 2 * MB),
    Distribution("typing_extensions", "4.12.2", 150_000),
]


def _by_name(groups: tuple[LayerGroup, ...]) -> dict[str, tuple[Distribution, ...]]:
    return {group.name: group.members for group in groups}


def test_large_distributions_get_a_layer_each_and_small_ones_share_buckets() -> None:
    groups = plan_layers(PROJECT)

    own = [group.name for group in groups if group.name.startswith("dist-")]
    assert own == ["dist-numpy", "dist-pandas", "dist-pydantic-core", "dist-scikit-learn", "dist-scipy"]
    for group in groups:
        if group.name.startswith("bucket-"):
            assert all(dist.size < LARGE_BYTES for dist in group.members)
            assert {bucket_of(dist.name) for dist in group.members} == {int(group.name[-2:])}
    assert sorted(d.name for g in groups for d in g.members) == sorted(d.name for d in PROJECT)
    assert [g.name for g in groups] == own + sorted(g.name for g in groups if g.name.startswith("bucket-"))


def test_the_bucket_depends_on_the_canonical_name_only() -> None:
    assert bucket_of("Typing_Extensions") == bucket_of("typing-extensions")
    assert 0 <= bucket_of("six") < SMALL_BUCKETS


@pytest.mark.parametrize(
    "change",
    [
        [*PROJECT, Distribution("six", "1.16.0", 30_000)],  # added
        [d for d in PROJECT if d.name != "threadpoolctl"],  # removed
        [d if d.name != "joblib" else Distribution("joblib", "1.4.3", 2 * MB) for d in PROJECT],  # upgraded
        [*PROJECT, Distribution("torch", "2.5.1", 900 * MB)],  # a large one added
    ],
    ids=["add-small", "remove-small", "upgrade-small", "add-large"],
)
def test_an_unrelated_change_moves_no_other_distribution(change: list[Distribution]) -> None:
    before, after = _by_name(plan_layers(PROJECT)), _by_name(plan_layers(change))
    changed = {d.name for d in set(PROJECT) ^ set(change)}

    differing = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert len(differing) == 1, f"only the layer holding {changed} changes, not {differing}"
    name = differing.pop()
    assert changed <= {d.name for d in before.get(name, ()) + after.get(name, ())}


def test_the_layer_count_stays_within_the_bound_and_the_largest_keep_their_own_layers() -> None:
    many = [Distribution(f"big-{i:03d}", "1.0", (i + 1) * 10 * MB) for i in range(150)]
    many += [Distribution(f"small-{i:03d}", "1.0", 1000) for i in range(300)]

    for base_layers in (0, 5, 40, 90, MAX_IMAGE_LAYERS - OWN_LAYERS - 1):
        groups = plan_layers(many, base_layers=base_layers)
        assert base_layers + len(groups) + OWN_LAYERS <= MAX_IMAGE_LAYERS
        assert sum(len(g.members) for g in groups) == len(many), "every distribution is somewhere"
    groups = plan_layers(many, base_layers=5)
    own = {g.members[0].name for g in groups if g.name.startswith("dist-")}
    assert own == {f"big-{i:03d}" for i in range(150 - len(own), 150)}, "the largest get the layers"


def test_a_base_image_too_deep_for_any_dependency_layer_is_refused() -> None:
    with pytest.raises(BuildError, match="exceed 100.*squash"):
        plan_layers(PROJECT, base_layers=MAX_IMAGE_LAYERS - OWN_LAYERS)


def test_two_wheels_of_one_distribution_are_refused() -> None:
    with pytest.raises(BuildError, match="two wheels for typing-extensions"):
        plan_layers([*PROJECT, Distribution("Typing.Extensions", "4.0.0", 1)])
