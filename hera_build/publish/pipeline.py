"""Build → check → publish: the one order in which an image reaches the registry, for every backend.

1. *prepare*: the backend settles the wheelhouse and the input digest (nothing is built);
2. *decide* (only when publishing): the policy (:mod:`.policy`) compares the digest with the registry's image
   under the version tag — reuse it, refuse, or build;
3. *build*: the backend makes the image, in an engine or as OCI blobs; nothing is pushed;
4. *check*: the image check runs it as Argo will; a failing check stops here, so a broken image never gets a
   version tag in the registry and the next run builds and checks again;
5. *publish*: push under every tag and read back what landed (:mod:`.push`).

When no engine can run the check (the oci backend needs none to build), the image is published and the result
says ``checked: false``; a later run that reuses it checks it first, where an engine is. A reused image is
checked too (pulled by digest), so "released" always means "checked" wherever a check can run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hera_build.core.progress import no_progress
from hera_build.core.references import ImageRef, parse_image_ref
from hera_build.errors import EngineError, PublishError
from hera_build.image.backends import Builder, BuildRequest, BuildResult, BuiltImage, Prepared
from hera_build.image.emulation import unrunnable_reason
from hera_build.image.engine import DockerEngine, connect_engine
from hera_build.image.labels import LABEL_BACKEND_VERSION
from hera_build.image.registry import RegistryView, RemoteImage, open_registry
from hera_build.publish.policy import Decision, decide
from hera_build.publish.push import Published, Pusher, publish, tag_reused
from hera_build.publish.sbom import find_sbom, index_platforms, sbom_document_for

Checker = Callable[[str], dict[str, Any]]
"""Checks the image the engine knows by this reference; raises :class:`~hera_build.errors.CheckError` when it
would not run the templates, :class:`~hera_build.errors.EngineError` when no engine can run it."""


@dataclass(frozen=True)
class ShipOptions:
    push: bool = False
    force: bool = False
    checker: Checker | None = field(default=None, compare=False)
    """``None``: no check (``--no-check``)."""
    sbom: bool = False
    """Publish an SPDX SBOM of the image's Python distributions beside it (:mod:`hera_build.publish.sbom`)."""


@dataclass(frozen=True)
class Shipped:
    """The result, with what only tests and benchmarks look at."""

    result: BuildResult
    decision: Decision | None
    built: BuiltImage | None
    published: Published | None


def lookup(registry: RegistryView, request: BuildRequest) -> RemoteImage | None:
    return registry.lookup(request.image)


def decision_for(prepared: Prepared, registry: RegistryView, *, force: bool) -> Decision:
    request = prepared.request
    remote = lookup(registry, request)
    platforms = tuple(platform for platform, _ in prepared.inputs.platforms)
    return decide(
        request.image, request.project.version.exact, remote, prepared.inputs.digest, force=force, platforms=platforms
    )


def _run_check(
    checker: Checker, local: str | None, progress: Callable[[str], None]
) -> tuple[bool, dict[str, Any] | None]:
    """(checked, summary); an engine that is missing or lacks the image means "could not check", not a failure."""
    if local is None:
        progress("warning: the image check did not run: no Docker engine has the image")
        return False, None
    try:
        return True, checker(local)
    except EngineError as exc:
        progress(f"warning: the image check did not run ({exc.message})")
        return False, None


def check_reused(
    checker: Checker,
    remote: RemoteImage,
    request: BuildRequest,
    engine: Callable[[], DockerEngine | None] = connect_engine,
) -> tuple[bool, dict[str, Any] | None]:
    """Check the registry's image before reusing it (pulled by digest): a version published where no engine
    could check it is checked the first time an engine can."""
    connected = engine()
    reference = request.image.with_digest(remote.digest)
    if len(request.platforms) > 1:
        return _check_index(checker, connected, reference, request.platforms, request.progress)
    platform = request.platforms[0] if request.platforms else None
    reason = unrunnable_reason(platform) if platform is not None else None
    if reason is not None:
        request.progress(f"warning: the image check did not run for {platform}: {reason}")
        return False, None
    pulled = connected.pull(reference, platform=platform) if connected is not None else None
    return _run_check(checker, str(pulled.id) if pulled is not None else None, request.progress)


def _check_index(
    checker: Checker,
    engine: DockerEngine | None,
    reference: ImageRef,
    platforms: tuple[str, ...],
    progress: Callable[[str], None],
) -> tuple[bool, dict[str, Any]]:
    """A multi-platform index in the registry: each platform this machine runs is pulled by ``reference`` and
    checked, as after a build; the others are named."""
    summaries: dict[str, Any] = {}
    unchecked: dict[str, str] = {}
    for platform in platforms:
        reason = unrunnable_reason(platform)
        pulled = engine.pull(reference, platform=platform) if engine is not None and reason is None else None
        if pulled is None:
            reason = reason or "no Docker engine has the image"
            progress(f"warning: the image check did not run for {platform}: {reason}")
            unchecked[platform] = reason
            continue
        progress(f"checking the {platform} image")
        checked, summary = _run_check(checker, str(pulled.id), progress)
        if checked:
            summaries[platform] = summary
        else:
            unchecked[platform] = "no Docker engine has the image"
    return not unchecked, {"platforms": summaries, "unchecked": unchecked}


def _registry_platforms(image: str) -> tuple[str, ...]:
    """The platforms of ``image`` when it names a multi-platform index in a registry (a reference with a registry
    host); empty otherwise, or when the registry cannot be asked (the engine may still have the image)."""
    ref = parse_image_ref(image, what="image to check")
    if ref.registry is None:
        return ()
    try:
        found = index_platforms(open_registry(ref.registry), ref, ref.digest or ref.tag or "latest")
    except PublishError:
        return ()
    return tuple(platform for platform, _ in found)


def check_existing(
    checker: Checker,
    image: str,
    *,
    engine: Callable[[], DockerEngine | None] | None = None,
    platforms_of: Callable[[str], tuple[str, ...]] | None = None,
    progress: Callable[[str], None] = no_progress,
) -> tuple[bool, dict[str, Any]]:
    """``image --check IMAGE``: one image is checked as it is; an index is checked on every platform this machine
    runs (each pulled by ``image``, as a reused index is), and the summary names the others under ``unchecked``.
    ``checked`` is true only when every platform was; an index none of whose platforms could be checked here is
    an error, not a pass."""
    platforms = (platforms_of or _registry_platforms)(image)
    if len(platforms) < 2:
        return True, checker(image)
    connected = (engine or connect_engine)()
    checked, summary = _check_index(checker, connected, parse_image_ref(image), platforms, progress)
    if not summary["platforms"]:
        reasons = "; ".join(f"{platform}: {reason}" for platform, reason in summary["unchecked"].items())
        raise EngineError(
            f"no platform of the index {image} could be checked on this machine ({reasons})",
            "check it on a machine with a Docker engine that runs one of its platforms",
        )
    return checked, summary


def _check_platforms(
    checker: Checker, built: BuiltImage, progress: Callable[[str], None]
) -> tuple[bool, dict[str, Any]]:
    """Check each platform's image this machine can run (emulated ones too); say which went unchecked and why.
    ``checked`` is true only when every platform was checked."""
    summaries: dict[str, Any] = {}
    unchecked: dict[str, str] = {}
    for image in built.platforms:
        if image.unchecked is not None:
            progress(f"warning: the image check did not run for {image.platform}: {image.unchecked}")
            unchecked[image.platform] = image.unchecked
            continue
        progress(f"checking the {image.platform} image")
        checked, summary = _run_check(checker, image.local, progress)
        if checked:
            summaries[image.platform] = summary
        else:
            unchecked[image.platform] = "no Docker engine has the image"
    return not unchecked, {"platforms": summaries, "unchecked": unchecked}


def build_checked(
    builder: Builder, prepared: Prepared, work: Path, checker: Checker | None
) -> tuple[BuiltImage, bool | None, dict[str, Any] | None]:
    """Build, then check (a failing check raises before anything is published): each platform's image for a
    multi-platform build."""
    built = builder.build(prepared, work)
    if checker is None:
        return built, None, None
    if built.platforms:
        return built, *_check_platforms(checker, built, prepared.request.progress)
    if built.unchecked is not None:
        prepared.request.progress(f"warning: the image check did not run: {built.unchecked}")
        return built, False, None
    checked, summary = _run_check(checker, built.local, prepared.request.progress)
    return built, checked, summary


def result_of(
    built: BuiltImage | None,
    prepared: Prepared,
    *,
    published: Published | None = None,
    reused: RemoteImage | None = None,
    checked: bool | None = None,
    check: dict[str, Any] | None = None,
) -> BuildResult:
    request = prepared.request
    remote = published.remote if published else reused
    return BuildResult(
        backend=prepared.inputs.backend,
        image=request.image,
        tags=tuple(str(ref) for ref in request.tags),
        image_id=(remote.config_digest if remote else None) or (built.image_id if built else None),
        digest=remote.digest if remote else (built.digest if built else None),
        pushed=published is not None,
        skipped=reused is not None,
        input_digest=prepared.inputs.digest,
        base_image=request.base_image,
        backend_version=(remote.labels.get(LABEL_BACKEND_VERSION) if remote else None)
        or (built.backend_version if built else None),
        layers=built.layers if built else (),
        checked=checked,
        check=check,
        inputs=prepared.inputs,
        sbom=published.sbom.reference if published and published.sbom else None,
        sbom_tag=published.sbom.tag if published and published.sbom else None,
        platforms=tuple((image.platform, image.digest) for image in built.platforms) if built else (),
        sboms=tuple((platform, one.reference, one.tag) for platform, one in published.sboms) if published else (),
    )


def requested_name(requested: tuple[str, ...], found: str) -> str:
    """The index's ``os/architecture[/variant]`` as the platform was requested (``linux/arm64``, though the base
    says ``v8``): what a build records, so a run that reuses the index records the same."""
    os_arch, variant = found.split("/")[:2], found.split("/")[2:]
    for platform in requested:
        parts = platform.split("/")
        if parts[:2] == os_arch and (len(parts) < 3 or parts[2:] == variant):
            return platform
    return found


def _reused_facts(request: BuildRequest, remote: RemoteImage, *, sbom: bool) -> dict[str, Any]:
    """What the run that built a reused image reported, read back from the registry: each platform's manifest
    (an index) and where the SBOMs are, so a re-run's output is the build's, not one without them."""
    client = open_registry(request.image.registry)
    found = index_platforms(client, request.image, remote.digest) if remote.platforms else ()
    platforms = tuple((requested_name(request.platforms, platform), digest) for platform, digest in found)
    facts: dict[str, Any] = {"platforms": platforms}
    if sbom:
        first = find_sbom(client, request.image, remote.digest)
        each = [(platform, find_sbom(client, request.image, digest)) for platform, digest in platforms]
        facts |= {
            "sbom": first.reference if first else None,
            "sbom_tag": first.tag if first else None,
            "sboms": tuple((platform, one.reference, one.tag) for platform, one in each if one is not None),
        }
    return facts


def ship(
    builder: Builder,
    request: BuildRequest,
    options: ShipOptions,
    registry: RegistryView,
    *,
    engine: Callable[[], DockerEngine | None] = connect_engine,
    pusher: Pusher | None = None,
) -> Shipped:
    """Prepare → (decide) → build → check → (publish), in a scratch folder that is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="hera-build-") as tmp:
        work = Path(tmp)
        prepared = builder.prepare(request, work)
        decision = None
        if options.push:
            decision = decision_for(prepared, registry, force=options.force)
            decision.raise_if_refused()
            request.progress(decision.reason)
            if decision.action == "reuse":
                assert decision.remote is not None
                checked, summary = (
                    check_reused(options.checker, decision.remote, request, engine) if options.checker else (None, None)
                )
                result = result_of(None, prepared, reused=decision.remote, checked=checked, check=summary)
                result = replace(result, **_reused_facts(request, decision.remote, sbom=options.sbom))
                if len(request.tags) > 1:  # --tag: moved to the reused image, as a build would have
                    tagged = tag_reused(request.image, decision.remote.digest, request.tags, request.progress)
                    result = replace(result, tags=tuple(str(ref) for ref in tagged))
                return Shipped(result, decision, None, None)
        built, checked, summary = build_checked(builder, prepared, work, options.checker)
        published = None
        if options.push:
            published = publish(
                built, registry, pusher=pusher, progress=request.progress, verbose=request.verbose,
                sbom=sbom_document_for(prepared) if options.sbom else None,
            )  # fmt: skip
        result = result_of(built, prepared, published=published, checked=checked, check=summary)
        return Shipped(result, decision, built, published)
