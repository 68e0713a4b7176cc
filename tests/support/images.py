"""Fakes for the image side: a registry that holds tags, a backend that "builds" by hashing, and a pusher.

They keep the contracts the real ones keep: the backend computes its inputs with the real
:func:`hera_build.image.inputs.compute_inputs` and labels what it builds with the input digest (unless told to
behave like a broken backend); the pusher puts the image, with those labels, under the version tag — into the
dict of :class:`FakeRegistry`, or (:func:`http_pusher`) as a config and manifest into the HTTP fake registry of
:mod:`tests.support.oci_images`, where the real registry client, the SBOM publisher and its reader work on it.
Asked for several platforms, the backend builds one image per platform (each with its own native wheel, so each
platform's SBOM lists other distributions) under an OCI index, and the HTTP pusher pushes them and the index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.backends import BuildRequest, BuiltImage, PlatformImage, Prepared
from hera_build.image.inputs import compute_inputs, identity_labels
from hera_build.image.labels import LABEL_BACKEND_VERSION
from hera_build.image.registry import RemoteImage
from hera_build.image.target import host_facts, target_from_facts
from hera_build.image.wheelhouse import Wheelhouse
from hera_build.publish.oci import PushResult
from tests.support import oci_images

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def native_wheel(platform: str) -> str:
    """The distribution only ``platform``'s image of a multi-platform fake build installs: ``native-arm64``."""
    return "native-" + platform.split("/")[1]


@dataclass(frozen=True)
class FakeIndex:
    """What a multi-platform fake build made: per platform its config and manifest bytes, and the index."""

    images: tuple[tuple[str, bytes, bytes], ...]
    """``(platform, config, manifest)`` each, in the index's order."""
    index: bytes


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeRegistry:
    """Tags → images; unreachable on request."""

    def __init__(self) -> None:
        self.images: dict[str, RemoteImage] = {}
        self.down = False

    def lookup(self, ref: ImageRef) -> RemoteImage | None:
        if self.down:
            raise PublishError("registry registry.test is unreachable (connection refused)", "start it")
        return self.images.get(f"{ref.repository}:{ref.tag}")


@dataclass
class FakeBuilder:
    """A backend whose project wheel's content is ``code()`` and whose base is ``base_digest``."""

    code: Callable[[], str]
    base_digest: str = "sha256:" + "b" * 64
    identity: dict[str, str] = field(default_factory=lambda: {"layer-format": "1"})
    apply_labels: bool = True
    name: str = "oci"
    prepared: list[BuildRequest] = field(default_factory=list)
    requests: list[BuildRequest] = field(default_factory=list)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    indexes: dict[str, FakeIndex] = field(default_factory=dict)
    """Index digest → what a multi-platform build made, for the pushers."""

    def prepare(self, request: BuildRequest, work: Path) -> Prepared:
        self.prepared.append(request)
        project = request.project
        wheel = oci_images.make_wheel(work, project.name, project.version.exact, {f"{project.name}.py": ""})
        wheelhouse = Wheelhouse(wheel, (), {}, "", "", target_from_facts(host_facts()))
        wheelhouses = {}
        if len(request.platforms) > 1:
            for platform in request.platforms:
                native = oci_images.make_wheel(work / platform.replace("/", "-"), native_wheel(platform), "1.0", {})
                wheelhouses[platform] = Wheelhouse(wheel, (native,), {}, "", "", target_from_facts(host_facts()))
        code = self.code()
        inputs = compute_inputs(
            request.project,
            wheelhouse,
            base_image=request.base_image,
            base_digest=self.base_digest,
            backend=self.name,
            identity=self.identity | ({"platforms": ",".join(request.platforms)} if wheelhouses else {}),
            source_date_epoch=request.source_date_epoch,
            content=lambda path: sha(code),
        )
        return Prepared(request, wheelhouse, inputs, wheelhouses=wheelhouses)

    def build(self, prepared: Prepared, work: Path) -> BuiltImage:
        request = prepared.request
        self.requests.append(request)
        labels = identity_labels(prepared.inputs.digest) if self.apply_labels else {}
        labels[LABEL_BACKEND_VERSION] = "9.9.9"
        config = sha(json.dumps([str(request.image), labels, len(self.requests)]))
        self.labels[config] = labels
        if len(request.platforms) > 1:
            return self._build_index(prepared, labels)
        return BuiltImage(
            backend=self.name,
            image=request.image,
            tags=request.tags,
            inputs=prepared.inputs,
            image_id=config,
            local=None,
            backend_version="9.9.9",
        )

    def _build_index(self, prepared: Prepared, labels: dict[str, str]) -> BuiltImage:
        """One image per platform (a config naming it, an OCI manifest without layers) under an index annotated
        with the labels, as the oci backend annotates its index; the image id is the host platform's config."""
        request, images, entries = prepared.request, [], []
        for platform in request.platforms:
            os_name, architecture = platform.split("/")[:2]
            config = json.dumps({"architecture": architecture, "os": os_name, "config": {"Labels": labels},
                                 "build": len(self.requests)}, sort_keys=True).encode()  # fmt: skip
            descriptor = {"mediaType": OCI_CONFIG, "digest": sha(config.decode()), "size": len(config)}
            manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor,
                                   "layers": []}, sort_keys=True).encode()  # fmt: skip
            images.append((platform, config, manifest))
            entries.append({"mediaType": OCI_MANIFEST, "digest": sha(manifest.decode()), "size": len(manifest),
                            "platform": {"os": os_name, "architecture": architecture}})  # fmt: skip
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries, "annotations": labels},
                           sort_keys=True).encode()  # fmt: skip
        digest = sha(index.decode())
        self.indexes[digest] = FakeIndex(tuple(images), index)
        host = next(i for i, (platform, _, _) in enumerate(images) if platform.split("/")[1] == "amd64")
        image_id = sha(images[host][1].decode())
        self.labels[image_id] = labels
        return BuiltImage(
            backend=self.name,
            image=request.image,
            tags=request.tags,
            inputs=prepared.inputs,
            image_id=image_id,
            digest=digest,
            local=None,
            backend_version="9.9.9",
            platforms=tuple(
                PlatformImage(platform, sha(manifest.decode()), sha(config.decode()), None)
                for platform, config, manifest in images
            ),
        )


def fake_pusher(registry: FakeRegistry, builder: FakeBuilder) -> Callable[..., tuple[str, tuple[PushResult, ...]]]:
    """Pushes what ``builder`` built into ``registry`` under every tag, with the labels it built the image with."""

    def push(built: BuiltImage, progress: Callable[[str], None], verbose: bool) -> tuple[str, tuple[PushResult, ...]]:
        del progress, verbose
        digest = built.digest if built.platforms and built.digest else sha(built.image_id)
        for ref in built.tags:
            registry.images[f"{ref.repository}:{ref.tag}"] = RemoteImage(
                digest=digest, config_digest=built.image_id, labels=builder.labels[built.image_id]
            )
        return digest, ()

    return push


def http_pusher(
    registry: oci_images.FakeRegistry, builder: FakeBuilder
) -> Callable[..., tuple[str, tuple[PushResult, ...]]]:
    """Pushes what ``builder`` built into the HTTP fake ``registry``: a config holding the build's labels and an
    OCI manifest (no layers) under every tag; the digest is the manifest's, as a real push's is."""

    def push(built: BuiltImage, progress: Callable[[str], None], verbose: bool) -> tuple[str, tuple[PushResult, ...]]:
        del progress, verbose
        if built.platforms and built.digest:
            return _push_index(registry, built, builder.indexes[built.digest]), ()
        digest = ""
        for ref in built.tags:
            repository = ref.path
            config = json.dumps({"config": {"Labels": builder.labels[built.image_id]}}, sort_keys=True).encode()
            descriptor = {"mediaType": OCI_CONFIG, "digest": registry.add_blob(repository, config), "size": len(config)}
            manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor, "layers": []}
            data = json.dumps(manifest, sort_keys=True).encode()
            digest = registry.add_manifest(repository, ref.tag or "latest", data, OCI_MANIFEST)
        return digest, ()

    return push


def _push_index(registry: oci_images.FakeRegistry, built: BuiltImage, made: FakeIndex) -> str:
    """Each platform's config and manifest by digest, then the index under every tag."""
    digest = ""
    for ref in built.tags:
        for _, config, manifest in made.images:
            registry.add_blob(ref.path, config)
            registry.add_manifest(ref.path, sha(manifest.decode()), manifest, OCI_MANIFEST)
        digest = registry.add_manifest(ref.path, ref.tag or "latest", made.index, OCI_INDEX)
    return digest
