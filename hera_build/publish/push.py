"""Put a built image in the registry under all its tags, and read back what landed.

Backends only build. An image the oci backend wrote is pushed blob by blob through the registry client (no engine
needed, blobs the registry has are skipped or mounted: :mod:`.oci`); an image in a Docker engine (docker and
buildpacks backends) is pushed by the engine. Either way what the registry holds under the version's tag — digest
and input-digest label — is what gets recorded, so a release that built and one that reused the image record the
same thing: after an engine push the registry is asked; after an oci push its answer to the manifest PUT is that
answer (the digest of the exact bytes sent, whose config hera-build wrote).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from hera_build.core.progress import no_progress
from hera_build.core.references import ImageRef
from hera_build.errors import BuildError, HeraBuildError, PublishError
from hera_build.image.backends import BuiltImage
from hera_build.image.engine import DockerEngine
from hera_build.image.inputs import INPUT_DIGEST_LABEL
from hera_build.image.registry import RegistryView, RemoteImage
from hera_build.publish.oci import PushResult
from hera_build.publish.sbom import PublishedSbom, SbomFor, publish_sbom


@dataclass(frozen=True)
class Published:
    """What the registry has now: the version tag's digest, and what the push cost."""

    digest: str
    remote: RemoteImage
    pushes: tuple[PushResult, ...] = ()
    """Per repository, for oci images: which blobs existed, were mounted or uploaded."""
    sbom: PublishedSbom | None = None
    """The SBOM artifact beside the image (:mod:`.sbom`), when one was asked for; of the first platform's image
    for a multi-platform one (each platform's is in :attr:`sboms`)."""
    sboms: tuple[tuple[str, PublishedSbom], ...] = ()
    """A multi-platform image: ``(platform, its SBOM)`` for each platform manifest."""

    @property
    def uploaded_bytes(self) -> int | None:
        return sum(push.uploaded_bytes for push in self.pushes) if self.pushes else None


def _push_oci(built: BuiltImage, progress: Callable[[str], None]) -> tuple[PushResult, ...]:
    from hera_build.image.backends.oci.image import BuiltIndex
    from hera_build.image.cache import BuildCache
    from hera_build.image.registry import RegistryClient, open_registry
    from hera_build.publish.oci import push_image, push_index

    cache = BuildCache()
    by_repository: dict[str, list[ImageRef]] = {}
    for ref in built.tags:
        by_repository.setdefault(ref.repository, []).append(ref)
    results = []
    registries: dict[str | None, RegistryClient] = {}
    for group in by_repository.values():
        target = group[0]
        if target.registry not in registries:
            registries[target.registry] = open_registry(target.registry)
        push = push_index if isinstance(built.oci, BuiltIndex) else push_image
        result = push(built.oci, target, [ref.tag or "latest" for ref in group], registries[target.registry], cache)
        progress(
            f"pushed {result.repository}@{result.digest[:19]}: {result.count('uploaded')} blob(s) uploaded "
            f"({result.uploaded_bytes} bytes), {result.count('mounted')} mounted, {result.count('exists')} present"
        )
        results.append(result)
    return tuple(results)


def _push_engine(built: BuiltImage, engine: DockerEngine, progress: Callable[[str], None], verbose: bool) -> str:
    if built.local is None:
        raise BuildError(f"{built.image} is not in the Docker engine to push", "report this as a bug in hera-build")
    digest = ""
    for ref in built.tags:
        engine.tag(built.local, ref)
        progress(f"pushing {ref}")
        pushed = engine.push(ref, progress=progress, verbose=verbose)
        if ref == built.image:
            digest = pushed
    return digest


Pusher = Callable[[BuiltImage, Callable[[str], None], bool], tuple[str, tuple[PushResult, ...]]]
"""Pushes a built image under all its tags; returns the version tag's digest (and, for oci images, the cost)."""


def make_pusher(engine: Callable[[], DockerEngine] = DockerEngine.from_env) -> Pusher:
    """The oci backend's images go through the registry API, engine images through ``engine``."""

    def push(built: BuiltImage, progress: Callable[[str], None], verbose: bool) -> tuple[str, tuple[PushResult, ...]]:
        if built.oci is not None:
            pushes = _push_oci(built, progress)
            return pushes[0].digest, pushes
        return _push_engine(built, engine(), progress, verbose), ()

    return push


def push_built(built: BuiltImage, progress: Callable[[str], None], verbose: bool) -> tuple[str, tuple[PushResult, ...]]:
    """:func:`make_pusher` with the engine of the environment."""
    return make_pusher()(built, progress, verbose)


def _pushed_oci(built: BuiltImage, digest: str) -> RemoteImage:
    """What an oci push put under the version tag, as the registry answered the manifest PUT: the digest of our
    manifest bytes (``put_manifest`` refuses any other answer), with the config we wrote — for an index, with
    its annotations over the tagged platform's labels, as :meth:`RegistryClient.image` reads them back. Asking
    again would fetch back what was just sent, at two more round trips."""
    from hera_build.image.backends.oci.image import BuiltIndex

    if isinstance(built.oci, BuiltIndex):
        config = next(image.config for _, image in built.oci.images if image.image_id == built.image_id)
        annotations = built.oci.annotations
    else:
        config, annotations = built.oci.config, {}
    found = (json.loads(config).get("config") or {}).get("Labels") or {}
    labels = {str(k): str(v) for k, v in found.items()} | annotations
    return RemoteImage(digest=digest, config_digest=built.image_id, labels=labels)


def _attach_sbom(
    built: BuiltImage, digest: str, sbom: SbomFor, progress: Callable[[str], None], platform: str | None = None
) -> PublishedSbom | None:
    """Publish the SBOM beside the pushed image. The image is released by then, so a failure here is a warning
    (and ``image.sbom`` stays ``null`` in the release manifest), not an error that would hide the push."""
    from hera_build.image.registry import open_registry

    what = f"the {platform} image's SBOM" if platform else "the SBOM"
    try:
        document = sbom(digest) if platform is None else sbom(digest, platform)
        attached = publish_sbom(open_registry(built.image.registry), built.image, digest, document)
    except HeraBuildError as exc:
        progress(f"warning: {what} was not published: {exc.message}")
        return None
    where = "a referrer" if attached.referrers else f"tag {attached.tag} (the registry has no referrers API)"
    progress(f"published {what} {attached.digest[:19]} as {where}")
    return attached


def _attach_sboms(
    built: BuiltImage, digest: str, sbom: SbomFor, progress: Callable[[str], None]
) -> tuple[PublishedSbom | None, tuple[tuple[str, PublishedSbom], ...]]:
    """One SBOM per image: for an index, one per platform manifest (its subject), none for the index itself —
    the distributions differ per platform (wheel tags, hashes), so each image lists its own."""
    if not built.platforms:
        return _attach_sbom(built, digest, sbom, progress), ()
    attached = []
    for image in built.platforms:
        one = _attach_sbom(built, image.digest, sbom, progress, image.platform)
        if one is not None:
            attached.append((image.platform, one))
    return (attached[0][1] if attached else None), tuple(attached)


def publish(
    built: BuiltImage,
    registry: RegistryView,
    *,
    pusher: Pusher | None = None,
    progress: Callable[[str], None] = no_progress,
    verbose: bool = False,
    sbom: SbomFor | None = None,
) -> Published:
    """Push ``built`` under every tag, then verify the version tag points at it with the expected inputs; then
    publish ``sbom(digest)`` as an artifact referring to the image."""
    pushed_digest, pushes = (pusher or push_built)(built, progress, verbose)
    remote = _pushed_oci(built, pushed_digest) if built.oci is not None and pushes else registry.lookup(built.image)
    if remote is None:
        raise PublishError(f"{built.image} is not in the registry after the push", "check the registry's logs")
    if remote.digest != pushed_digest:
        raise PublishError(
            f"pushed {built.image}@{pushed_digest} but the tag points to {remote.digest}",
            "something else pushed the same tag at the same time; publish again",
        )
    label = remote.labels.get(INPUT_DIGEST_LABEL)
    if label != built.inputs.digest:
        raise BuildError(
            f"the pushed image has {INPUT_DIGEST_LABEL}={label!r}, not {built.inputs.digest}: backend "
            f"{built.backend!r} did not label the image with its inputs",
            "report this as a bug in hera-build",
        )
    progress(f"published {built.image}@{remote.digest}")
    attached, per_platform = _attach_sboms(built, remote.digest, sbom, progress) if sbom is not None else (None, ())
    return Published(remote.digest, remote, pushes, attached, per_platform)


def tag_reused(
    image: ImageRef,
    digest: str,
    tags: tuple[ImageRef, ...],
    progress: Callable[[str], None] = no_progress,
) -> tuple[ImageRef, ...]:
    """Point the ``--tag`` references in ``image``'s repository at a reused image (``digest``): the manifest's own
    bytes PUT under each tag, so ``latest`` follows a re-run as it follows a build. A reference in another
    repository is not copied there (the image's blobs would have to be): it is named in a warning. Returns the
    tags that now hold the image, the version's first."""
    from hera_build.image.registry import open_registry, repository_path

    client = open_registry(image.registry)
    repository = repository_path(image)
    done = [image]
    manifest = None
    for ref in tags:
        if ref == image:
            continue
        if ref.repository != image.repository:
            progress(
                f"warning: --tag {ref} was not applied: the image was reused, and it is only tagged in its own "
                f"repository {image.repository} (copy it with your registry's tools, or build a new version)"
            )
            continue
        manifest = manifest or client.get_manifest(repository, digest)
        client.put_manifest(repository, str(ref.tag), manifest.data, manifest.media_type)
        progress(f"tagged {ref} (the reused {digest[:19]})")
        done.append(ref)
    return tuple(done)
