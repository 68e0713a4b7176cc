"""hera-build's library API: the few entry points the CLI is built on, for scripts and other tools.

Everything under ``hera_build`` other than this module and :mod:`hera_build.errors` is internal and may change
between releases. The stages behind these functions read in the order of the folders: ``templates`` (discover,
resolve, pin, lint, write) → ``image`` (wheelhouse, input digest, backends, check) → ``publish`` (the reuse /
refuse policy and the push) → ``release`` (plan and manifest) → ``cluster`` (apply a release to Kubernetes);
``run`` runs whole workflows locally, as Argo would.

Each entry point takes an options value and returns a result value; none prints or exits. Errors are
:class:`~hera_build.errors.HeraBuildError` subclasses carrying the problem and its fix.
"""

from __future__ import annotations

from hera_build.cluster.publish import PublishOptions, PublishResult, publish
from hera_build.errors import HeraBuildError
from hera_build.image.backends import BuildResult
from hera_build.publish.image import ImageOptions, build_image
from hera_build.release.pipeline import Plan, Release, ReleaseOptions, plan, release
from hera_build.run.entry import RunOptions, run_workflow
from hera_build.run.executor import RunResult
from hera_build.templates.build import TemplateOptions, TemplatesResult, build_templates

__all__ = [
    "BuildResult",
    "HeraBuildError",
    "ImageOptions",
    "Plan",
    "PublishOptions",
    "PublishResult",
    "Release",
    "ReleaseOptions",
    "RunOptions",
    "RunResult",
    "TemplateOptions",
    "TemplatesResult",
    "build_image",
    "build_templates",
    "plan",
    "publish",
    "release",
    "run_workflow",
]
