"""The library entry points behind the CLI: small option values in, result values out; nothing printed.

Stages run in one direction: project → discover → name → resolve → pin → lint. Each stage is its own module;
this one only wires them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hera_build.core.lockfiles import read_lock_versions
from hera_build.core.project import Project, load_project
from hera_build.core.references import DIGEST_RE, ImageRef
from hera_build.errors import ConfigError
from hera_build.templates.discover import discover
from hera_build.templates.emit import EmitSettings, PinnedObject, local_names, pin_objects, ref_sites
from hera_build.templates.lint import Finding
from hera_build.templates.resolve import Pin, ProvidedTemplate, RefKey, RefSite, resolve_refs


@dataclass(frozen=True)
class TemplateOptions:
    project_dir: Path = Path(".")
    version: str | None = None
    digest: str | None = None
    lock: Path | None = None
    runner_command: tuple[str, ...] | None = None
    crd_files: tuple[Path, ...] = ()
    allow_uppercase: bool = False
    """Do not warn about upper-case template, step and task names (Argo accepts them)."""
    argo: bool = False
    """Also run Argo's own validator (``argo lint --offline``) on the objects and the providers' templates."""
    argo_path: Path | None = None
    """The ``argo`` CLI; default ``$HERA_BUILD_ARGO``, then ``argo`` on PATH."""


@dataclass(frozen=True)
class TemplatesResult:
    project: Project
    image: ImageRef | None
    objects: list[PinnedObject]
    provider_manifests: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """What the linters found: warnings only, unless ``build_templates(..., raise_errors=False)``."""


def runner_image(project: Project, digest: str | None = None) -> ImageRef | None:
    """``{image}:{tag}[@digest]`` for the project at its (possibly overridden) version."""
    repository = project.config.image_ref
    if digest is not None and not DIGEST_RE.match(digest):
        raise ConfigError(f"invalid digest {digest!r}", "pass --digest sha256:<64 hex characters>")
    if repository is None:
        if digest is not None:
            raise ConfigError("--digest given but no image is configured", "set image in [tool.hera-build]")
        return None
    return repository.with_tag(project.version.tag).with_digest(digest)


def _providers_needed(sites: Sequence[RefSite], names: dict[RefKey, str], external: Sequence[str]) -> bool:
    return any(site.key not in names and site.name not in external for site in sites)


def _pinned_provider_manifests(providers: Sequence[ProvidedTemplate], pins: dict[RefKey, Pin]) -> list[dict[str, Any]]:
    """Providers' objects under the names we pinned to, so the linter can check refs into them."""
    by_key = {p.key: p for p in providers}
    manifests = []
    for key, pin in pins.items():
        if pin.reason == "provider" and key in by_key:
            manifest = copy.deepcopy(by_key[key].manifest)
            manifest.setdefault("metadata", {})["name"] = pin.pinned
            manifests.append(manifest)
    return manifests


def _check_published_name_format(project: Project) -> None:
    """Consumers derive our versioned names from the format our entry-point module declares: they must agree."""
    import importlib

    from hera_build.core.versions import DEFAULT_NAME_FORMAT
    from hera_build.templates.providers import NAME_FORMAT_ATTRIBUTE

    for module_name in project.entry_point_modules:
        module = importlib.import_module(module_name)
        published = getattr(module, NAME_FORMAT_ATTRIBUTE, DEFAULT_NAME_FORMAT)
        if published != project.config.name_format:
            raise ConfigError(
                f"name-format {project.config.name_format!r} differs from the {published!r} that module "
                f"{module_name!r} publishes to consumers of its templates",
                f"add {NAME_FORMAT_ATTRIBUTE} = {project.config.name_format!r} to {module_name}",
            )


def build_templates(
    options: TemplateOptions, project: Project | None = None, *, raise_errors: bool = True
) -> TemplatesResult:
    """Discover, pin and lint the project's objects; raise a HeraBuildError on the first problem.

    Lint errors raise one :class:`~hera_build.errors.LintError` listing them all, unless ``raise_errors`` is
    false (``hera-build lint`` reports them itself); either way the findings are in the result.
    """
    project = project or load_project(options.project_dir, version=options.version)
    objects = discover(project.modules)
    _check_published_name_format(project)
    settings = EmitSettings(
        project=project.distribution_name,
        version=project.version,
        name_format=project.config.name_format,
        image=runner_image(project, options.digest),
        runner_command=options.runner_command,
    )
    names = local_names(objects, settings)
    providers: list[ProvidedTemplate] = []
    sites = ref_sites(objects)
    if _providers_needed(sites, names, project.config.external):
        from hera_build.templates.providers import installed_providers

        providers = installed_providers(exclude=[project.name])
    pins = resolve_refs(
        sites,
        local=names,
        external=project.config.external,
        providers=providers,
        requirements=project.all_requirements,
        versions=read_lock_versions(options.lock) if options.lock else None,
    )
    pinned = pin_objects(objects, pins, names, settings)
    provider_manifests = _pinned_provider_manifests(providers, pins)
    findings = _lint(pinned, provider_manifests, project, options)
    if raise_errors:
        from hera_build.templates.lint import raise_for_findings

        raise_for_findings(findings)
    return TemplatesResult(project, settings.image, pinned, provider_manifests, findings)


def _lint(
    pinned: Sequence[PinnedObject], providers: list[dict[str, Any]], project: Project, options: TemplateOptions
) -> list[Finding]:
    from hera_build.templates import lint

    crd = None
    if options.crd_files:
        from hera_build.templates.crd import CrdSchemas

        crd = CrdSchemas.from_files(options.crd_files)
    manifests = [obj.manifest for obj in pinned]
    findings = lint.lint(
        manifests,
        providers=providers,
        external_names=frozenset(project.config.external),
        crd=crd,
        allow_uppercase=options.allow_uppercase,
    )
    if options.argo:
        from hera_build.templates.argo import argo_lint, find_argo

        argo = find_argo(options.argo_path)
        external = frozenset(project.config.external)
        findings.extend(argo_lint(manifests, argo, providers=providers, external_names=external))
    return findings
