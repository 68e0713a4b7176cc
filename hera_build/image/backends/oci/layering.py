"""Which installed distribution goes into which image layer: the one decision that makes a dependency change cost
only the change. Pure (names and sizes in, groups out), so it is tested without building anything.

- A *large* distribution (at least :data:`LARGE_BYTES` installed) gets a layer of its own: upgrading numpy
  re-uploads numpy and nothing else (what Nixery and nix2container do for big store paths).
- *Small* ones share :data:`SMALL_BUCKETS` layers, chosen by a hash of the canonical name alone. Adding, upgrading
  or removing a small distribution changes only its bucket's layer; no other distribution moves, because no
  bucket depends on what else is installed (a sorted packing would shift every later layer).
- The venv skeleton (``pyvenv.cfg``, the ``bin/python`` links) is its own small layer below them, identical for
  every project on the same interpreter and venv path; the application stays the top layer, above all of these.

**The bound.** An image may have at most :data:`MAX_IMAGE_LAYERS` layers, *base layers included*. Docker's overlay2
driver refuses images deeper than 128 layers (the kernel's overlayfs mount takes at most ~128 lower directories
in the page-sized mount options; Docker checks ``max depth exceeded`` at 127 parents), and containerd, podman
and the registries accept that much. We stay well below it, at 100, leaving room for images built ``FROM`` ours.
When the base is deep, the budget shrinks: buckets come first (they hold everything that is not large), then the
largest distributions get their own layers while the budget lasts; the rest fall back into their buckets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from hera_build.errors import BuildError

MAX_IMAGE_LAYERS = 100
"""All layers of an image, base included: below Docker overlay2's 127/128 with room for derived images."""
SMALL_BUCKETS = 16
"""Layers that small distributions share. Fixed: changing it would move every small distribution."""
LARGE_BYTES = 4 << 20
"""Installed size from which a distribution gets a layer of its own (numpy, scipy, pandas, torch, …)."""
OWN_LAYERS = 2
"""Layers hera-build writes besides the dependency groups: the venv skeleton and the application."""


@dataclass(frozen=True)
class Distribution:
    """One dependency to install: its name, its version and how much it takes installed (uncompressed)."""

    name: str
    version: str
    size: int

    @property
    def canonical_name(self) -> str:
        return str(canonicalize_name(self.name))


@dataclass(frozen=True)
class LayerGroup:
    """The distributions of one dependency layer; ``name`` is ``dist-<name>`` or ``bucket-<nn>``."""

    name: str
    members: tuple[Distribution, ...]

    @property
    def size(self) -> int:
        return sum(member.size for member in self.members)


def bucket_of(name: str, buckets: int = SMALL_BUCKETS) -> int:
    """The bucket of a small distribution: a hash of its canonical name only, never of what else is installed."""
    digest = hashlib.sha256(str(canonicalize_name(name)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def plan_layers(
    distributions: Iterable[Distribution],
    *,
    base_layers: int = 0,
    max_layers: int = MAX_IMAGE_LAYERS,
    buckets: int = SMALL_BUCKETS,
    large_bytes: int = LARGE_BYTES,
) -> tuple[LayerGroup, ...]:
    """The dependency layers, bottom to top: large distributions by name, then the non-empty buckets by number.

    ``base_layers`` counts against ``max_layers`` together with the skeleton and application layers.
    """
    dists = sorted(distributions, key=lambda dist: dist.canonical_name)
    names = [dist.canonical_name for dist in dists]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise BuildError(f"two wheels for {duplicate} in the wheelhouse", "keep exactly one wheel per distribution")
    budget = max_layers - base_layers - OWN_LAYERS
    if budget < 1:
        raise BuildError(
            f"the base image has {base_layers} layers: with hera-build's {OWN_LAYERS + 1} it would exceed "
            f"{max_layers}, more than every engine accepts",
            "use a base image with fewer layers (squash it)",
        )
    buckets = min(buckets, budget)
    large = sorted((d for d in dists if d.size >= large_bytes), key=lambda d: (-d.size, d.canonical_name))
    own = {dist.canonical_name for dist in large[: budget - buckets]}
    groups = [LayerGroup(f"dist-{dist.canonical_name}", (dist,)) for dist in dists if dist.canonical_name in own]
    shared: dict[int, list[Distribution]] = {}
    for dist in dists:
        if dist.canonical_name not in own:
            shared.setdefault(bucket_of(dist.name, buckets), []).append(dist)
    groups += [LayerGroup(f"bucket-{index:02d}", tuple(shared[index])) for index in sorted(shared)]
    return tuple(groups)


def describe(groups: Sequence[LayerGroup]) -> list[str]:
    """One line per group for progress output: ``dist-numpy: numpy 2.1.3`` or ``bucket-03: six 1.16.0, …``."""
    return [f"{group.name}: " + ", ".join(f"{m.name} {m.version}" for m in group.members) for group in groups]
