"""``hera-build lint``: check the project's objects (or YAML files) against Argo's rules and CRD schemas."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from hera_build._cli._common import add_argo_args, add_crd_arg, add_project_args, add_uppercase_arg, info, print_json
from hera_build.errors import ConfigError
from hera_build.templates.build import TemplateOptions, build_templates
from hera_build.templates.lint import WORKFLOW_KINDS, Finding

_EPILOG = """\
examples:
  hera-build lint                                   the project's objects, Argo's naming and reference rules
  hera-build lint --crd workflowtemplates.yaml      also the CRD schema (kubectl get crd ... -o yaml)
  hera-build lint dist/argo/*.yaml --crd crds/*.yaml   YAML files that are already written
  hera-build lint --argo --json                     also Argo's own validator, with the providers' templates

HERA_BUILD_CRD_DIR, when set, adds every CRD file in that folder. --argo runs `argo lint --offline`; the argo
CLI comes from --argo-path, $HERA_BUILD_ARGO or PATH (scripts/build-argo.sh --cli-only builds it).
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check objects against Argo's rules and CRD schemas",
        description="Lint the project's emitted objects (as `templates` would write them) or the given YAML "
        "files: names, template and task references, required inputs of referenced templates, and optionally "
        "the openAPIV3 schemas of Argo's CRDs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", type=Path, help="YAML files to lint instead of the project")
    add_project_args(parser)
    add_crd_arg(parser)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON on stdout")
    add_uppercase_arg(parser)
    add_argo_args(parser)
    parser.set_defaults(run=run)


def crd_files(explicit: list[Path]) -> tuple[Path, ...]:
    """``--crd`` files, then those in ``$HERA_BUILD_CRD_DIR`` (a folder that is missing or empty is an error)."""
    from hera_build.templates.crd import default_crd_paths  # jsonschema loads only when CRDs are used

    return tuple(explicit) + default_crd_paths()


def _load(files: list[Path]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in files:
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", "pass the paths of YAML files") from None
        except UnicodeDecodeError:
            raise ConfigError(f"cannot read {path}: not UTF-8 text", "pass the paths of YAML files") from None
        except yaml.YAMLError as exc:
            from hera_build.templates.crd import yaml_problem

            raise ConfigError(f"{path} is not valid YAML: {yaml_problem(exc)}", "fix the YAML at that line") from None
        objects.extend(d for d in docs if isinstance(d, dict) and d.get("kind") in WORKFLOW_KINDS)
    if not objects:
        raise ConfigError(
            f"no Argo objects ({', '.join(sorted(WORKFLOW_KINDS))}) in {', '.join(str(p) for p in files)}",
            "pass the YAML files that hera-build templates wrote (e.g. dist/argo/*.yaml)",
        )
    return objects


def run(args: argparse.Namespace) -> int:
    from hera_build.templates import lint

    crds = crd_files(args.crd)
    if args.files:
        objects, findings = _lint_files(args, crds)
    else:
        result = build_templates(
            TemplateOptions(
                project_dir=args.project,
                version=args.project_version,
                crd_files=crds,
                allow_uppercase=args.allow_uppercase,
                argo=args.argo,
                argo_path=args.argo_path,
            ),
            raise_errors=False,
        )
        objects, findings = [obj.manifest for obj in result.objects], result.findings
    if args.json:
        print_json({"objects": len(objects), "findings": [vars(f) for f in findings]})
    else:  # errors come once, in the one error that lists them all; warnings do not stop the run
        for finding in findings:
            if finding.severity != "error":
                info(str(finding))
    lint.raise_for_findings(findings)
    if not args.json:
        info(f"ok: {len(objects)} objects pass")
    return 0


def _lint_files(args: argparse.Namespace, crds: tuple[Path, ...]) -> tuple[list[dict[str, Any]], list[Finding]]:
    from hera_build.templates import lint

    schemas = None
    if crds:
        from hera_build.templates.crd import CrdSchemas

        schemas = CrdSchemas.from_files(crds)
    objects = _load(args.files)
    # The files given are all there is, as for `argo lint --offline`: a ref to anything else is an error.
    findings = lint.lint(
        objects, crd=schemas, strict_names=False, require_known_refs=True, allow_uppercase=args.allow_uppercase
    )
    if args.argo:
        from hera_build.templates.argo import argo_lint, find_argo

        findings.extend(argo_lint(objects, find_argo(args.argo_path)))
    return objects, findings
