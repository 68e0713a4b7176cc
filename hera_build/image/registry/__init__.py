"""The one registry client: :mod:`.auth` reaches a registry (hosts, credentials, tokens per scope) and
:class:`~.client.RegistryClient` makes the distribution-API calls every stage needs."""

from hera_build.image.registry.auth import Credentials, host_of, registry_host, repository_path
from hera_build.image.registry.client import (
    ManifestInfo,
    RegistryApi,
    RegistryClient,
    RegistryView,
    RemoteImage,
    host_platform,
    open_registry,
)

__all__ = [
    "Credentials",
    "ManifestInfo",
    "RegistryApi",
    "RegistryClient",
    "RegistryView",
    "RemoteImage",
    "host_of",
    "host_platform",
    "open_registry",
    "registry_host",
    "repository_path",
]
