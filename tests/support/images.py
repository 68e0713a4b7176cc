"""Fakes for the image side: a registry that holds tags, a backend that "builds" by hashing, and a pusher.

They keep the contracts the real ones keep: the backend computes its inputs with the real
:func:`hera_build.image.inputs.compute_inputs` and labels what it builds with the input digest (unless told to
behave like a broken backend); the pusher puts the image, with those labels, under the version tag — into the
dict of :class:`FakeRegistry`, or (:func:`http_pusher`) as a config and manifest into the HTTP fake registry of
:mod:`tests.support.oci_images`, where the real registry client, the SBOM publisher and its reader work on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hera_build.core.references import ImageRef
from hera_build.errors import PublishError
from hera_build.image.backends import BuildRequest, BuiltImage, Prepared
from hera_build.image.inputs import compute_inputs, identity_labels
from hera_build.image.labels import LABEL_BACKEND_VERSION
from hera_build.image.registry import RemoteImage
from hera_build.image.target import host_facts, target_from_facts
from hera_build.image.wheelhouse import Wheelhouse
from hera_build.publish.oci import PushResult
from tests.support import oci_images

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


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

    def prepare(self, request: BuildRequest, work: Path) -> Prepared:
        self.prepared.append(request)
        project = request.project
        wheel = oci_images.make_wheel(work, project.name, project.version.exact, {f"{project.name}.py": ""})
        wheelhouse = Wheelhouse(wheel, (), {}, "", "", target_from_facts(host_facts()))
        code = self.code()
        inputs = compute_inputs(
            request.project,
            wheelhouse,
            base_image=request.base_image,
            base_digest=self.base_digest,
            backend=self.name,
            identity=self.identity,
            source_date_epoch=request.source_date_epoch,
            content=lambda path: sha(code),
        )
        return Prepared(request, wheelhouse, inputs)

    def build(self, prepared: Prepared, work: Path) -> BuiltImage:
        request = prepared.request
        self.requests.append(request)
        labels = identity_labels(prepared.inputs.digest) if self.apply_labels else {}
        labels[LABEL_BACKEND_VERSION] = "9.9.9"
        config = sha(json.dumps([str(request.image), labels, len(self.requests)]))
        self.labels[config] = labels
        return BuiltImage(
            backend=self.name,
            image=request.image,
            tags=request.tags,
            inputs=prepared.inputs,
            image_id=config,
            local=None,
            backend_version="9.9.9",
        )


def fake_pusher(registry: FakeRegistry, builder: FakeBuilder) -> Callable[..., tuple[str, tuple[PushResult, ...]]]:
    """Pushes what ``builder`` built into ``registry`` under every tag, with the labels it built the image with."""

    def push(built: BuiltImage, progress: Callable[[str], None], verbose: bool) -> tuple[str, tuple[PushResult, ...]]:
        del progress, verbose
        digest = sha(built.image_id)
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
