"""The API server, behind one small protocol: get, server-side apply, list, delete of Argo's objects.

:class:`KubeApi` is the real thing, built on the official ``kubernetes`` client (the ``cluster`` extra): its
config loaders cover what users have (``KUBECONFIG`` with several files, ``~/.kube/config``, contexts, exec and
token plugins, in-cluster service accounts), which a hand-written client would get subtly wrong. It is imported
only when a command connects, so the other commands never pay for it. Responses are read as plain JSON
(``_preload_content=False``): the generated models of the client changed shape between releases, the JSON of the
API did not. Every failure becomes one :class:`~hera_build.errors.ClusterError` line.

Tests use the in-memory fake in ``tests/support/fake_cluster.py``, which implements the same protocol.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hera_build.errors import ClusterError

GROUP = "argoproj.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "hera-build"
"""The server-side apply field manager: the fields hera-build set are owned by this name."""
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    namespaced: bool


KINDS = {
    k.name: k
    for k in (
        Kind("WorkflowTemplate", "workflowtemplates", True),
        Kind("ClusterWorkflowTemplate", "clusterworkflowtemplates", False),
        Kind("CronWorkflow", "cronworkflows", True),
        Kind("Workflow", "workflows", True),
    )
}
"""The Argo kinds publish reads or writes (Workflows only to find references)."""


class ClusterApi(Protocol):
    """What publish and prune need from an API server. ``namespace`` is ignored for cluster-scoped kinds."""

    server: str

    def check_kinds(self, kinds: set[str]) -> None:
        """Raise :class:`ClusterError` unless the server serves these Argo kinds (the CRDs are installed)."""

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The live object, or ``None`` when there is none."""

    def apply(self, manifest: dict[str, Any], namespace: str, *, force: bool, dry_run: bool) -> dict[str, Any]:
        """Server-side apply (field manager :data:`FIELD_MANAGER`); the object as the server has (or would have)
        it afterwards."""

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` (every namespace when ``None``), optionally by label selector."""

    def delete(self, kind: str, name: str, namespace: str) -> None:
        """Delete the object; one that is already gone is fine."""


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Connection:
    """What :func:`connect` found: the API, the namespace to publish into, and where both came from."""

    api: ClusterApi
    namespace: str
    context: str | None


def connect(kubeconfig: Path | None = None, context: str | None = None, namespace: str | None = None) -> Connection:
    """Connect as kubectl would: ``kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``) and its ``context``
    (else the current one), else the in-cluster service account; the namespace is ``namespace``, else the
    context's, else the service account's, else ``default``. Nothing is requested from the server yet."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise ClusterError(
            "publishing needs the kubernetes client, which is not installed",
            "pip install 'hera-build[cluster]'",
        ) from None

    path = kubeconfig or _default_kubeconfig()
    try:
        if path is not None:
            if kubeconfig is not None and not kubeconfig.is_file():
                raise ClusterError(f"kubeconfig {kubeconfig} does not exist", "pass an existing file to --kubeconfig")
            contexts, active = config.list_kube_config_contexts(config_file=str(path))
            chosen = active
            if context is not None:
                found = [c for c in contexts if c.get("name") == context]
                if not found:
                    names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
                    raise ClusterError(
                        f"kubeconfig {path} has no context {context!r} (it has: {names})",
                        "pass one of them to --context",
                    )
                chosen = found[0]
            api_client = config.new_client_from_config(config_file=str(path), context=context)
            from_config = ((chosen or {}).get("context") or {}).get("namespace")
            context_name = (chosen or {}).get("name")
        else:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            api_client = client.ApiClient(configuration)
            from_config = _read(IN_CLUSTER_NAMESPACE)
            context_name = None
    except ConfigException as exc:
        where = (
            f"kubeconfig {path}" if path is not None else "no kubeconfig ($KUBECONFIG, ~/.kube/config) and in-cluster"
        )
        raise ClusterError(
            f"cannot load the Kubernetes configuration ({where}): {_one_line(str(exc))}",
            "pass --kubeconfig FILE (and --context NAME), or set KUBECONFIG",
        ) from None
    api_client.configuration.retries = 1  # an unreachable server is reported in seconds, not after urllib3's retries
    if not api_client.configuration.verify_ssl:  # insecure-skip-tls-verify was asked for: kubectl does not warn
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return Connection(KubeApi(api_client), namespace or from_config or "default", context_name)


def _default_kubeconfig() -> Path | None:
    """The kubeconfig kubectl would read, or ``None`` for in-cluster; the first file of ``$KUBECONFIG``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        first = next((p for p in env.split(os.pathsep) if p), None)
        if first:
            return Path(first)
    home = Path.home() / ".kube" / "config"
    if home.is_file() or "KUBERNETES_SERVICE_HOST" not in os.environ:
        return home
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class KubeApi:
    """:class:`ClusterApi` over the official client's ``CustomObjectsApi``."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._objects = client.CustomObjectsApi(api_client)
        self._exception = client.ApiException
        self.server: str = api_client.configuration.host

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call, read the JSON body, and turn every failure into one line naming ``what``."""
        import urllib3

        try:
            response = method(*args, _preload_content=False, _request_timeout=60, **kwargs)
        except self._exception as exc:
            raise _api_error(what, exc.status, exc.reason, exc.body, self.server) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterError(
                f"cannot reach the Kubernetes API server at {self.server}: {_one_line(str(reason), 200)}",
                "check that the cluster is up and --kubeconfig/--context point at it",
            ) from None
        data = response.data
        return json.loads(data) if data else {}

    def check_kinds(self, kinds: set[str]) -> None:
        try:
            served = self._call(f"{API_VERSION} resources", self._objects.get_api_resources, GROUP, VERSION)
        except ApiError as exc:
            if exc.status != 404:
                raise
            served = {"resources": []}
        names = {r.get("name") for r in served.get("resources", [])}
        missing = sorted(KINDS[k].plural for k in kinds if KINDS[k].plural not in names)
        if missing:
            raise ClusterError(
                f"the cluster at {self.server} does not serve {API_VERSION} {', '.join(missing)}: Argo Workflows' "
                "CRDs are not installed",
                "install Argo Workflows (its CRDs) on the cluster, or point --kubeconfig/--context at one that has it",
            )

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        k = KINDS[kind]
        try:
            if k.namespaced:
                found = self._call(
                    f"get {kind} {name}", self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace,
                    k.plural, name,
                )  # fmt: skip
            else:
                found = self._call(
                    f"get {kind} {name}", self._objects.get_cluster_custom_object, GROUP, VERSION, k.plural, name
                )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    def apply(self, manifest: dict[str, Any], namespace: str, *, force: bool, dry_run: bool) -> dict[str, Any]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        k = KINDS[kind]
        options: dict[str, Any] = {
            "field_manager": FIELD_MANAGER,
            "force": force,
            "_content_type": "application/apply-patch+yaml",  # JSON is YAML: the body is sent as JSON
        }
        if dry_run:
            options["dry_run"] = "All"
        what = f"apply {kind} {name}"
        if k.namespaced:
            body = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
            applied = self._call(
                what, self._objects.patch_namespaced_custom_object, GROUP, VERSION, namespace, k.plural, name, body,
                **options,
            )  # fmt: skip
        else:
            applied = self._call(
                what, self._objects.patch_cluster_custom_object, GROUP, VERSION, k.plural, name, manifest, **options
            )
        return dict(applied)

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        k = KINDS[kind]
        options = {"label_selector": selector} if selector else {}
        what = f"list {k.plural}"
        if not k.namespaced:
            found = self._call(what, self._objects.list_cluster_custom_object, GROUP, VERSION, k.plural, **options)
        elif namespace is None:
            found = self._call(
                what, self._objects.list_custom_object_for_all_namespaces, GROUP, VERSION, k.plural, **options
            )
        else:
            found = self._call(
                what, self._objects.list_namespaced_custom_object, GROUP, VERSION, namespace, k.plural, **options
            )
        return [{**item, "kind": kind} for item in found.get("items", [])]

    def delete(self, kind: str, name: str, namespace: str) -> None:
        k = KINDS[kind]
        try:
            if k.namespaced:
                self._call(
                    f"delete {kind} {name}", self._objects.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                    k.plural, name,
                )  # fmt: skip
            else:
                self._call(
                    f"delete {kind} {name}", self._objects.delete_cluster_custom_object, GROUP, VERSION, k.plural, name
                )
        except ApiError as exc:
            if exc.status != 404:
                raise


class ApiError(ClusterError):
    """A request the API server answered with an error status (kept for callers that branch on ``status``)."""

    def __init__(self, message: str, fix: str | None, status: int | None) -> None:
        super().__init__(message, fix)
        self.status = status


def _api_error(what: str, status: int | None, reason: str | None, body: str | None, server: str) -> ApiError:
    """One line from the server's ``Status`` answer: its message is already the most precise thing to say."""
    message = reason or "error"
    try:
        parsed = json.loads(body or "")
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"])
    except ValueError:
        if body:
            message = body
    line = f"{what}: the API server at {server} answered {status} {_one_line(message)}"
    fixes = {
        401: "the credentials in the kubeconfig were refused: log in again, or pass --kubeconfig/--context",
        403: "ask for RBAC rights on Argo's objects in this namespace (get, list, patch, delete), or use --namespace",
        404: "check --namespace (it must exist) and that Argo Workflows is installed",
        409: "another field manager owns these fields: --force takes them over",
        422: "the server's validation refused the object: fix it in the Python source and release a new version",
    }
    return ApiError(line, fixes.get(status or 0, "run again with --debug, and check the API server"), status)
