"""Test fixtures for the oci backend: tiny wheels, fake base images on disk, and an in-process registry.

The fake base images are written with plain ``tarfile``/``gzip``/``json`` (not with the backend's own writers), so
reading them tests the backend against independently made input. :class:`FakeRegistry` speaks the parts of the
OCI distribution API a push uses (blob HEAD/GET, monolithic and chunked uploads, cross-repository mounts,
manifests, optional bearer-token auth that enforces token scopes as a real token registry does) over real HTTP
on loopback, and logs every request.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "make_wheel",
    "RootFile",
    "layer_bytes",
    "write_base_layout",
    "write_docker_save",
    "FakeRegistry",
    "FakeDockerClient",
    "DPKG_STATUS",
]

DPKG_STATUS = (
    "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u9\n\n"
    "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n\n"
)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    *,
    console_scripts: Mapping[str, str] | None = None,
    data_scripts: Mapping[str, str] | None = None,
    requires: tuple[str, ...] = (),
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A valid pure-Python wheel: ``files`` (path in purelib → text), console scripts, ``.data/scripts``;
    ``metadata`` adds METADATA fields (``License-Expression``, ``Classifier``, …)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    members: dict[str, bytes] = {path: text.encode() for path, text in files.items()}
    for script, text in (data_scripts or {}).items():
        members[f"{dist}-{version}.data/scripts/{script}"] = text.encode()
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"{field}: {value}\n" for field, value in (metadata or {}).items())
    meta += "".join(f"Requires-Dist: {req}\n" for req in requires)
    members[f"{info}/METADATA"] = meta.encode()
    members[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if console_scripts:
        lines = "".join(f"{script} = {target}\n" for script, target in console_scripts.items())
        members[f"{info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
    members[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


@dataclass(frozen=True)
class RootFile:
    """An entry of a fake root file system: a file (``content``), a directory, or a symlink (``link``)."""

    path: str
    content: bytes | None = None
    link: str | None = None
    mode: int = 0o644


def layer_bytes(entries: list[RootFile]) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip) of ``entries`` in the given order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mode = entry.mode
            if entry.link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(entry.content)
                tar.addfile(info, io.BytesIO(entry.content))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def debian_python_root(version: str = "3.11") -> list[RootFile]:
    """A merged-/usr Debian-like root with ``python3`` → ``python3.X`` and a dpkg database."""
    return [
        RootFile("bin", link="usr/bin"),
        RootFile("usr/"),
        RootFile("usr/bin/"),
        RootFile(f"usr/bin/python{version}", content=b"\x7fELF fake", mode=0o755),
        RootFile("usr/bin/python3", link=f"python{version}"),
        RootFile(f"usr/lib/python{version}/"),
        RootFile(f"usr/lib/python{version}/os.py", content=b"# os\n"),
        RootFile("var/lib/dpkg/status", content=DPKG_STATUS.encode()),
    ]


def _config(diff_ids: list[str], env: list[str], architecture: str = "amd64") -> dict[str, Any]:
    architecture, _, variant = architecture.partition("/")
    return {
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": env, "Cmd": ["python3"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test base"}],
    } | ({"variant": variant} if variant else {})


_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]


def write_base_layout(
    directory: Path,
    layers: list[list[RootFile]] | None = None,
    *,
    name: str = "base:test",
    env: list[str] | None = None,
    platforms: tuple[str, ...] = ("amd64",),
) -> dict[str, Any]:
    """An OCI image layout holding a base image per architecture (``arm64/v8``: with a variant); returns its
    digests for assertions."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = _sha(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return digest

    entries = []
    info: dict[str, Any] = {"manifests": {}}
    for arch in platforms:
        layer_descs, diff_ids = [], []
        for entry_list in layers or [debian_python_root()]:
            raw, gz = layer_bytes(entry_list)
            layer_descs.append(
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": put(gz), "size": len(gz)}
            )
            diff_ids.append(_sha(raw))
        config = json.dumps(_config(diff_ids, env or _ENV, arch)).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": put(config),
                    "size": len(config),
                },
                "layers": layer_descs,
            }
        ).encode()
        digest = put(manifest)
        info["manifests"][arch] = digest
        info.setdefault("layers", {})[arch] = [d["digest"] for d in layer_descs]
        info.setdefault("diff_ids", {})[arch] = diff_ids
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest),
                "platform": {"architecture": arch.partition("/")[0], "os": "linux"}
                | ({"variant": arch.partition("/")[2]} if "/" in arch else {}),
                "annotations": {"org.opencontainers.image.ref.name": name.rpartition(":")[2]},
            }
        )
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return info


def write_docker_save(
    path: Path, layers: list[list[RootFile]] | None = None, *, name: str = "base:test"
) -> dict[str, Any]:
    """A ``docker save`` archive in the pre-25 format: uncompressed ``<id>/layer.tar`` and ``manifest.json``."""
    diff_ids, members = [], {}
    for index, entry_list in enumerate(layers or [debian_python_root()]):
        raw, _ = layer_bytes(entry_list)
        diff_ids.append(_sha(raw))
        members[f"layer{index}/layer.tar"] = raw
    config = json.dumps(_config(diff_ids, _ENV)).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    members[config_name] = config
    members["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": [name], "Layers": [f"layer{i}/layer.tar" for i in range(len(diff_ids))]}]
    ).encode()
    with tarfile.open(path, "w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {"diff_ids": diff_ids, "config_digest": _sha(config)}


# ------------------------------------------------------------------------------------------------ fake registry


@dataclass
class _Upload:
    repository: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class FakeRegistry:
    """An in-memory OCI registry over HTTP on 127.0.0.1. ``token_auth`` demands bearer tokens that cover each
    request's scopes; a mount whose token lacks ``pull`` on the source repository falls back to an upload."""

    token_auth: bool = False
    referrers: bool = False
    """Answer a manifest with a ``subject`` with ``OCI-Subject`` and serve ``/v2/<name>/referrers/<digest>`` (OCI
    distribution 1.1); Debian's docker-registry 2.8 does neither (404), and neither does this fake by default."""
    blobs: dict[str, bytes] = field(default_factory=dict)
    repo_blobs: dict[str, set[str]] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    uploads: dict[str, _Upload] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    token_scopes: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeRegistry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                registry._handle(self, "GET")

            def do_HEAD(self) -> None:
                registry._handle(self, "HEAD")

            def do_POST(self) -> None:
                registry._handle(self, "POST")

            def do_PUT(self) -> None:
                registry._handle(self, "PUT")

            def do_PATCH(self) -> None:
                registry._handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def requests(
        self, method: str | None = None, kind: str | None = None
    ) -> list[tuple[str, str, dict[str, list[str]]]]:
        """Logged requests, filtered by method and by ``blobs``/``uploads``/``manifests`` in the path."""
        return [
            entry for entry in self.log
            if (method is None or entry[0] == method) and (kind is None or f"/{kind}/" in entry[1] + "/")
        ]  # fmt: skip

    def clear_log(self) -> None:
        self.log.clear()

    def add_blob(self, repository: str, data: bytes) -> str:
        digest = _sha(data)
        self.blobs[digest] = data
        self.repo_blobs.setdefault(repository, set()).add(digest)
        return digest

    def add_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        digest = _sha(data)
        self.manifests[(repository, reference)] = (data, media_type)
        self.manifests[(repository, digest)] = (data, media_type)
        return digest

    # ---------- request handling ----------

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD" and body:
            handler.wfile.write(body)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str) -> None:
        self._send(handler, status, json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode(),
                   {"Content-Type": "application/json"})  # fmt: skip

    def _granted(self, handler: BaseHTTPRequestHandler) -> dict[str, set[str]]:
        """Repository → actions the request's bearer token was issued for (what a token registry enforces)."""
        kind, _, token = str(handler.headers.get("Authorization") or "").partition(" ")
        if kind != "Bearer" or not token.startswith("scopes."):
            return {}
        granted: dict[str, set[str]] = {}
        for scope in json.loads(base64.urlsafe_b64decode(token.removeprefix("scopes.")).decode()):
            _, name, actions = scope.split(":")
            granted.setdefault(name, set()).update(actions.split(","))
        return granted

    def _covers(self, handler: BaseHTTPRequestHandler, scope: str) -> bool:
        _, name, actions = scope.split(":")
        return not self.token_auth or set(actions.split(",")) <= self._granted(handler).get(name, set())

    def _authorized(self, handler: BaseHTTPRequestHandler, scopes: list[str]) -> bool:
        """Like a real token registry: the token must cover every scope; the challenge names only the target's."""
        if all(self._covers(handler, scope) for scope in scopes):
            return True
        challenge = f'Bearer realm="http://{self.host}/token",service="fake",scope="{" ".join(scopes)}"'
        self._send(handler, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
        return False

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.log.append((method, url.path, query))
        if url.path == "/token":
            scopes = [scope for value in query.get("scope", []) for scope in value.split()]
            with self.lock:
                self.token_scopes.append(scopes)
            token = "scopes." + base64.urlsafe_b64encode(json.dumps(scopes).encode()).decode()
            self._send(handler, 200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"})
            return
        if url.path in ("/v2/", "/v2"):
            self._send(handler, 200, b"{}")
            return
        match = re.match(r"^/v2/(?P<name>.+?)/(?P<kind>blobs|manifests|referrers)/(?P<rest>.*)$", url.path)
        if match is None:
            self._error(handler, 404, "NAME_UNKNOWN")
            return
        name, kind, rest = match["name"], match["kind"], match["rest"]
        pull, push = f"repository:{name}:pull", f"repository:{name}:pull,push"
        with self.lock:
            if kind == "referrers":
                self._referrers(handler, name, rest, query.get("artifactType", [None])[0], pull)
            elif kind == "manifests":
                self._manifest(handler, method, name, rest, body, pull, push)
            elif rest.startswith("uploads"):
                self._upload(handler, method, name, rest, query, body, push, handler.headers)
            else:
                if not self._authorized(handler, [pull]):
                    return
                if rest in self.repo_blobs.get(name, set()):
                    self._send(handler, 200, self.blobs[rest], {"Docker-Content-Digest": rest})
                else:
                    self._error(handler, 404, "BLOB_UNKNOWN")

    def _manifest(self, handler: BaseHTTPRequestHandler, method: str, name: str, ref: str, body: bytes, pull: str,
                  push: str) -> None:  # fmt: skip
        if not self._authorized(handler, [push if method == "PUT" else pull]):
            return
        if method == "PUT":
            document = json.loads(body)
            if "manifests" in document:  # an index: as docker-registry, every manifest it names must be there
                if any((name, entry["digest"]) not in self.manifests for entry in document["manifests"]):
                    self._error(handler, 400, "MANIFEST_UNKNOWN")
                    return
            else:
                needed = [document["config"]["digest"], *(layer["digest"] for layer in document.get("layers", []))]
                if any(digest not in self.repo_blobs.get(name, set()) for digest in needed):
                    self._error(handler, 400, "MANIFEST_BLOB_UNKNOWN")
                    return
            digest = self.add_manifest(name, ref, body, handler.headers.get("Content-Type", ""))
            headers = {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"}
            if self.referrers and "subject" in document:
                headers["OCI-Subject"] = document["subject"]["digest"]
            self._send(handler, 201, b"", headers)
            return
        found = self.manifests.get((name, ref))
        if found is None:
            self._error(handler, 404, "MANIFEST_UNKNOWN")
            return
        data, media_type = found
        self._send(handler, 200, data, {"Content-Type": media_type, "Docker-Content-Digest": _sha(data)})

    def _referrers(self, handler: BaseHTTPRequestHandler, name: str, digest: str, artifact_type: str | None,
                   pull: str) -> None:  # fmt: skip
        if not self.referrers:
            self._send(handler, 404, b"404 page not found")
            return
        if not self._authorized(handler, [pull]):
            return
        entries = {}
        for (repository, _), (data, media_type) in self.manifests.items():
            document = json.loads(data)
            kind = document.get("artifactType")
            if repository == name and (document.get("subject") or {}).get("digest") == digest:
                if artifact_type is None or kind == artifact_type:
                    entries[_sha(data)] = {"mediaType": media_type, "digest": _sha(data), "size": len(data),
                                           "artifactType": kind}  # fmt: skip
        index_type = "application/vnd.oci.image.index.v1+json"
        index = {"schemaVersion": 2, "mediaType": index_type, "manifests": [entries[key] for key in sorted(entries)]}
        self._send(handler, 200, json.dumps(index).encode(), {"Content-Type": index_type})

    def _upload(self, handler: BaseHTTPRequestHandler, method: str, name: str, rest: str, query: dict[str, list[str]],
                body: bytes, push: str, headers: Any) -> None:  # fmt: skip
        if method == "POST":
            mount, source = query.get("mount", [None])[0], query.get("from", [None])[0]
            if not self._authorized(handler, [push]):
                return
            # A mount from a repository the token may not read is not an error: it opens an upload instead.
            readable = source is not None and self._covers(handler, f"repository:{source}:pull")
            if mount and source and readable and mount in self.repo_blobs.get(source, set()):
                self.repo_blobs.setdefault(name, set()).add(mount)
                self._send(handler, 201, b"", {"Location": f"/v2/{name}/blobs/{mount}", "Docker-Content-Digest": mount})
                return
            upload_id = uuid.uuid4().hex
            self.uploads[upload_id] = _Upload(name)
            self._send(handler, 202, b"", {"Location": f"/v2/{name}/blobs/uploads/{upload_id}?_state=s{upload_id}"})
            return
        if not self._authorized(handler, [push]):
            return
        upload_id = rest.split("/", 1)[1] if "/" in rest else ""
        upload = self.uploads.get(upload_id)
        if upload is None:
            self._error(handler, 404, "BLOB_UPLOAD_UNKNOWN")
            return
        if method == "PATCH":
            start = int(str(headers.get("Content-Range", "0-0")).split("-")[0])
            if start != len(upload.data):
                self._send(handler, 416, b"")
                return
            upload.data.extend(body)
            self._send(handler, 202, b"", {"Location": f"/v2/{name}/blobs/uploads/{upload_id}?_state=p",
                                           "Range": f"0-{len(upload.data) - 1}"})  # fmt: skip
            return
        if method == "PUT":
            upload.data.extend(body)
            digest = query.get("digest", [""])[0]
            if _sha(bytes(upload.data)) != digest:
                self._error(handler, 400, "DIGEST_INVALID")
                return
            self.add_blob(name, bytes(upload.data))
            del self.uploads[upload_id]
            self._send(handler, 201, b"", {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
            return
        self._error(handler, 405, "UNSUPPORTED")


def fake_registry(token_auth: bool = False) -> Iterator[FakeRegistry]:
    """A started :class:`FakeRegistry`, stopped afterwards (wrap in a pytest fixture)."""
    registry = FakeRegistry(token_auth=token_auth).start()
    try:
        yield registry
    finally:
        registry.stop()


# ------------------------------------------------------------------------------------------------ fake engine


class FakeDockerClient:
    """The part of a docker SDK client that loading uses: ``images.get``, ``images.load`` and ``images.remove``,
    with the engine's tag semantics (a load moves its tags; an image another tag names or a container in
    :attr:`in_use` runs is not removed without ``force``)."""

    def __init__(self) -> None:
        self.loaded: list[dict[str, Any]] = []
        self.present: set[str] = set()
        self.tags: dict[str, str] = {}
        self.in_use: set[str] = set()
        self.api = type("Api", (), {"timeout": 0})()
        self.images = self

    @property
    def untagged(self) -> set[str]:
        """What ``docker images`` lists as ``<none>``."""
        return self.present - set(self.tags.values())

    def load(self, stream: Any) -> list[Any]:
        with tarfile.open(fileobj=stream) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        self.loaded.append(manifest[0])
        image_id = "sha256:" + manifest[0]["Config"].rsplit("/", 1)[1]
        self.present.add(image_id)
        self.tags.update(dict.fromkeys(manifest[0].get("RepoTags") or (), image_id))
        return [type("Image", (), {"id": image_id})()]

    def get(self, name: str) -> Any:
        from docker.errors import ImageNotFound

        image_id = self.tags.get(name, name if name in self.present else None)
        if image_id is None:
            raise ImageNotFound(name)
        return type("Image", (), {"id": image_id})()

    def remove(self, image: str, force: bool = False) -> None:
        from docker.errors import APIError, ImageNotFound

        if image not in self.present:
            raise ImageNotFound(image)
        names = [name for name, image_id in self.tags.items() if image_id == image]
        if not force and (len(names) > 1 or image in self.in_use):
            raise APIError(f"conflict: unable to delete {image} (must be forced)")
        self.present.discard(image)
        for name in names:
            del self.tags[name]
