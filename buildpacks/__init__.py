"""Cloud Native Buildpacks for Hera runner images: a typed wrapper around the ``pack`` CLI, and our buildpack.

Usable on its own (it does not import hera_build)::

    from buildpacks import BuildOptions, PackClient, PullPolicy

    client = PackClient()
    client.preflight()
    report = client.build(BuildOptions(image="acme/app:1.0", path=app_dir, builder="acme/builder",
                                       pull_policy=PullPolicy.NEVER))
    report.image_id, report.digest

The package also ships ``hera-runner`` (a CNB buildpack that installs a hera-build wheelhouse offline and runs
the Hera runner) and ``builder/`` (a builder.toml and stack Dockerfile); see :mod:`buildpacks.resources`.
"""

from __future__ import annotations

from buildpacks._process import LineHandler, ProcessResult, Runner, run_process
from buildpacks.client import DEFAULT_TIMEOUT, PackClient
from buildpacks.descriptor import GroupEntry, ProjectDescriptor, parse_group_entry
from buildpacks.errors import (
    BuildpackBuildError,
    DaemonUnavailableError,
    DetectionFailedError,
    ExportError,
    ImageNotFoundError,
    LifecycleError,
    PackError,
    PackFailedError,
    PackNotFoundError,
    PackTimeoutError,
    PackVersionError,
    RegistryError,
    ReportError,
    UntrustedBuilderError,
)
from buildpacks.options import BuilderCreateOptions, BuildOptions, PullPolicy
from buildpacks.report import BuildReport, parse_report, read_report
from buildpacks.resources import (
    BUILDPACK_ID,
    builder_dir,
    buildpack_dir,
    buildpack_version,
    copy_builder,
    copy_buildpack,
)
from buildpacks.version import MINIMUM_PACK_VERSION, PackVersion, parse_pack_version

__all__ = [
    "BUILDPACK_ID",
    "DEFAULT_TIMEOUT",
    "MINIMUM_PACK_VERSION",
    "BuildOptions",
    "BuildReport",
    "BuilderCreateOptions",
    "BuildpackBuildError",
    "DaemonUnavailableError",
    "DetectionFailedError",
    "ExportError",
    "GroupEntry",
    "ImageNotFoundError",
    "LifecycleError",
    "LineHandler",
    "PackClient",
    "PackError",
    "PackFailedError",
    "PackNotFoundError",
    "PackTimeoutError",
    "PackVersion",
    "PackVersionError",
    "ProcessResult",
    "ProjectDescriptor",
    "PullPolicy",
    "RegistryError",
    "ReportError",
    "Runner",
    "UntrustedBuilderError",
    "builder_dir",
    "buildpack_dir",
    "buildpack_version",
    "copy_buildpack",
    "copy_builder",
    "parse_group_entry",
    "parse_pack_version",
    "parse_report",
    "read_report",
    "run_process",
]
