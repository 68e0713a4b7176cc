#!/usr/bin/env bash
# Make hera-build's base image without pulling anything: debootstrap a minimal Debian bookworm with python3
# (from the Debian mirror this machine's apt is configured with), import it into the Docker engine, save it as
# a `docker save` archive and an OCI image layout, and push it to the local registry.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

SUITE=bookworm
INCLUDE=python3,python3-venv,python-is-python3
NAME="$HERA_BUILD_BASE_IMAGE"
REGISTRY="$HERA_BUILD_REGISTRY"
PUSH=auto; FORCE=0; PRINT_ONLY=0; OCI=1; SAVE=1; MULTI=0

usage() {
  cat <<USAGE
Usage: $0 [options]

Builds the base image '$NAME' (override: --name or \$HERA_BUILD_BASE_IMAGE):
  debootstrap --variant=minbase --include=$INCLUDE $SUITE ROOTFS <mirror from /etc/apt/sources.list.d>
  tar -C ROOTFS -c . | docker import --change 'ENV PATH=...' --change 'CMD ["python3"]' - NAME
Everything is cached under \${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}/base/ and skipped when present:
  <name>.rootfs.tar        the debootstrapped root file system (a second run skips debootstrap)
  <name>.docker.tar        'docker save' archive of the image      (+ .image-id: the image id it holds)
  <name>.oci/              OCI image layout (index.json, blobs/sha256/...) of the same root file system, tag in
                           index.json annotation org.opencontainers.image.ref.name
where <name> is NAME with '/' and ':' replaced by '_'.

Options:
  --name NAME     image name:tag to create (default $NAME)
  --push          push to REGISTRY/NAME (fail if the registry is down)
  --no-push       do not push (default: push when http://REGISTRY/v2/ answers)
  --registry H:P  registry to push to (default \$HERA_BUILD_REGISTRY or 127.0.0.1:5000)
  --no-save       do not write the 'docker save' archive
  --no-oci        do not write the OCI layout
  --multi-platform
                  also make an arm64 root file system (debootstrap --arch=arm64 --foreign, second stage run
                  under qemu-aarch64-static: scripts/install-system.sh installs and registers it), an OCI layout
                  <name>.multi.oci/ whose index holds the amd64 and the arm64 image, and push that index to
                  REGISTRY/<repository>:<tag>-multi (the base of the multi-platform tests)
  --force         redo everything (debootstrap, import, save, OCI)
  --print-env     print the export lines for the test suite and exit
  -h, --help      this help
Needs root, debootstrap and a running engine (scripts/install-system.sh, scripts/start-docker.sh).
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift ;;
    --name=*) NAME="${1#*=}" ;;
    --registry) REGISTRY="$2"; shift ;;
    --registry=*) REGISTRY="${1#*=}" ;;
    --push) PUSH=yes ;;
    --no-push) PUSH=no ;;
    --no-save) SAVE=0 ;;
    --no-oci) OCI=0 ;;
    --force) FORCE=1 ;;
    --multi-platform) MULTI=1 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$NAME" in *:*) ;; *) NAME="$NAME:latest" ;; esac

BASE_DIR="$HERA_BUILD_CI_CACHE/base"
STEM="$(printf '%s' "$NAME" | tr '/:' '__')"
ROOTFS_TAR="$BASE_DIR/$STEM.rootfs.tar"
SAVE_TAR="$BASE_DIR/$STEM.docker.tar"
OCI_DIR="$BASE_DIR/$STEM.oci"
REMOTE="$REGISTRY/$NAME"
ARM_ROOTFS_TAR="$BASE_DIR/$STEM.arm64.rootfs.tar"
MULTI_OCI_DIR="$BASE_DIR/$STEM.multi.oci"
MULTI_REMOTE="$REMOTE-multi"

print_env() {
  echo "export HERA_BUILD_TEST_BASE_IMAGE=$NAME"
  [ "$SAVE" = 1 ] && echo "export HERA_BUILD_TEST_BASE_IMAGE_ARCHIVE=$SAVE_TAR"
  [ "$OCI" = 1 ] && echo "export HERA_BUILD_TEST_BASE_IMAGE_OCI=$OCI_DIR"
  if [ "$PUSH" != no ]; then echo "export HERA_BUILD_TEST_BASE_IMAGE_REMOTE=$REMOTE"; fi
  # The multi-platform base (amd64 + arm64), once made with --multi-platform.
  if [ -s "$MULTI_OCI_DIR/index.json" ]; then
    echo "export HERA_BUILD_TEST_BASE_IMAGE_MULTI_OCI=$MULTI_OCI_DIR"
    [ -s "$MULTI_OCI_DIR.pushed" ] && echo "export HERA_BUILD_TEST_BASE_IMAGE_MULTI=$(cat "$MULTI_OCI_DIR.pushed")"
  fi
  return 0
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

[ "$(id -u)" = 0 ] || hb_die "must run as root (debootstrap)"
mkdir -p "$BASE_DIR"
[ "$FORCE" = 1 ] && rm -rf "$ROOTFS_TAR" "$SAVE_TAR" "$SAVE_TAR.image-id" "$OCI_DIR" "$ARM_ROOTFS_TAR" \
  "$MULTI_OCI_DIR" "$MULTI_OCI_DIR.pushed"

# ---------- 1. root file system ----------
# make_rootfs ARCH OUT: debootstrap SUITE for ARCH into the tar OUT (skipped when OUT exists). A foreign ARCH is
# bootstrapped in two stages: the first unpacks the packages on the host (--foreign), the second runs their
# maintainer scripts inside the root file system, under qemu-ARCH-static.
make_rootfs() {
  local arch="$1" out="$2" foreign=() qemu=""
  if [ -s "$out" ]; then hb_log "cached root file system: $out"; return 0; fi
  command -v debootstrap >/dev/null || hb_die "debootstrap not installed (run scripts/install-system.sh)"
  if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    qemu="/usr/bin/qemu-$(case "$arch" in arm64) echo aarch64 ;; *) echo "$arch" ;; esac)-static"
    [ -x "$qemu" ] || hb_die "$qemu not installed (run scripts/install-system.sh)"
    foreign=(--arch="$arch" --foreign)
  fi
  MIRROR="${HERA_BUILD_DEBIAN_MIRROR:-$(hb_debian_mirror "$SUITE" || true)}"
  [ -n "$MIRROR" ] || hb_die "no Debian mirror for '$SUITE' (main) found in /etc/apt/sources.list{,.d/*}"
  KEYRING_ARGS=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && KEYRING_ARGS=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  WORK="$(mktemp -d "$BASE_DIR/.debootstrap.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  hb_log "debootstrap $SUITE $arch (minbase + $INCLUDE) from the configured mirror $MIRROR ..."
  if ! timeout 1200 debootstrap --variant=minbase --include="$INCLUDE" --components=main "${foreign[@]}" \
        "${KEYRING_ARGS[@]}" "$SUITE" "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [ -f "$WORK/rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$WORK/rootfs/debootstrap/debootstrap.log" >&2
    hb_die "debootstrap failed"
  fi
  R="$WORK/rootfs"
  if [ -n "$qemu" ]; then
    hb_log "debootstrap --second-stage ($arch, under $(basename "$qemu")) ..."
    cp "$qemu" "$R/usr/bin/"
    if ! timeout 2400 chroot "$R" /debootstrap/debootstrap --second-stage > "$WORK/second-stage.log" 2>&1; then
      tail -n 30 "$WORK/second-stage.log" >&2
      [ -f "$R/debootstrap/debootstrap.log" ] && tail -n 30 "$R/debootstrap/debootstrap.log" >&2
      hb_die "debootstrap --second-stage failed (is qemu registered with binfmt_misc? scripts/install-system.sh)"
    fi
  fi
  # Slim down: package caches and lists are useless in an image without network.
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
         "$R"/var/log/* "$R"/tmp/* "$R"/var/tmp/* "$R"/debootstrap
  # Do not bake the host's identity into the image.
  : > "$R/etc/hostname"; : > "$R/etc/resolv.conf"; rm -f "$R/etc/machine-id"; : > "$R/etc/machine-id"
  chroot "$R" python3 -c "import venv, ensurepip" \
    || hb_die "python3 in the $arch root file system does not work"
  [ -n "$qemu" ] && rm -f "$R/usr/bin/$(basename "$qemu")"
  tar -C "$R" --numeric-owner --sort=name -cf "$out.tmp" .
  mv -f "$out.tmp" "$out"
  rm -rf "$WORK"; trap - EXIT
  hb_log "root file system cached: $out ($(du -h "$out" | cut -f1))"
}
make_rootfs "$(dpkg --print-architecture)" "$ROOTFS_TAR"

# ---------- 2. import into the engine ----------
docker version >/dev/null 2>&1 || hb_die "no docker engine answers (run scripts/start-docker.sh)"
if [ "$FORCE" = 0 ] && docker image inspect "$NAME" >/dev/null 2>&1; then
  hb_log "image $NAME already in the engine"
else
  hb_log "docker import $NAME"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "hera-build base: debian $SUITE minbase + $INCLUDE" \
    - "$NAME" < "$ROOTFS_TAR" >/dev/null
fi
IMAGE_ID="$(docker image inspect --format '{{.Id}}' "$NAME")"
docker run --rm --network none "$NAME" python3 -c 'import sys, venv; assert sys.version_info >= (3, 11)' \
  || hb_die "python3 does not run in $NAME"
hb_log "image $NAME = $IMAGE_ID"

# ---------- 3. docker save archive ----------
if [ "$SAVE" = 1 ]; then
  if [ -s "$SAVE_TAR" ] && [ "$(cat "$SAVE_TAR.image-id" 2>/dev/null)" = "$IMAGE_ID" ]; then
    hb_log "cached docker save archive: $SAVE_TAR"
  else
    docker save -o "$SAVE_TAR.tmp" "$NAME"
    mv -f "$SAVE_TAR.tmp" "$SAVE_TAR"
    echo "$IMAGE_ID" > "$SAVE_TAR.image-id"
    hb_log "docker save archive: $SAVE_TAR"
  fi
fi

# ---------- 4. OCI image layout ----------
# write_layout OUT NAME ARCH=ROOTFS...: an OCI image layout at OUT whose index holds one image per root file
# system (one gzip layer each, mtime 0: the same tar gives the same digests), all tagged NAME's tag.
write_layout() {
  local out="$1" name="$2"; shift 2
  rm -rf "$out.tmp"
  "$(command -v python3)" - "$out.tmp" "$name" "$@" <<'PYEOF'
import gzip, hashlib, json, os, sys
out, name = sys.argv[1:3]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return d
class Tee:
    def __init__(self, f, h): self.f, self.h = f, h
    def write(self, b): self.h.update(b); return self.f.write(b)
    def flush(self): self.f.flush()
entries = []
for item in sys.argv[3:]:
    arch, rootfs = item.split("=", 1)
    # layer: gzip of the rootfs tar (mtime 0 => reproducible), diff_id = sha256 of the uncompressed tar
    diff, comp = hashlib.sha256(), hashlib.sha256()
    tmp = os.path.join(blobs, ".layer.tmp")
    with open(rootfs, "rb") as src, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=Tee(raw, comp), mtime=0, compresslevel=6) as gz:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                diff.update(chunk); gz.write(chunk)
    layer_digest = comp.hexdigest(); layer_size = os.path.getsize(tmp)
    os.replace(tmp, os.path.join(blobs, layer_digest))
    config = {
        "architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
                   "Cmd": ["python3"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hera-build scripts/base-image.sh (debootstrap)"}],
    }
    if arch == "arm64":
        config["variant"] = "v8"
    cb = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + put(cb), "size": len(cb)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + layer_digest, "size": layer_size}],
    }
    mb = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    platform = {"architecture": arch, "os": "linux"}
    if arch == "arm64":
        platform["variant"] = "v8"
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + put(mb), "size": len(mb),
                    "platform": platform,
                    "annotations": {"org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                                    "io.containerd.image.name": name}})
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f, indent=1)
PYEOF
  rm -rf "$out"; mv "$out.tmp" "$out"
  hb_log "OCI layout: $out"
}
if [ "$OCI" = 1 ]; then
  if [ -s "$OCI_DIR/index.json" ] && [ "$OCI_DIR/index.json" -nt "$ROOTFS_TAR" ]; then
    hb_log "cached OCI layout: $OCI_DIR"
  else
    write_layout "$OCI_DIR" "$NAME" "$(dpkg --print-architecture)=$ROOTFS_TAR"
  fi
fi

# ---------- 5. push to the local registry ----------
registry_up() { curl -sf --max-time 5 -o /dev/null "http://$REGISTRY/v2/"; }
if [ "$PUSH" = no ]; then
  :
elif registry_up; then
  docker tag "$NAME" "$REMOTE"
  hb_log "docker push $REMOTE"
  timeout 600 docker push -q "$REMOTE" >&2 || hb_die "docker push $REMOTE failed"
  repo="${NAME%:*}"; tag="${NAME##*:}"
  digest="$(curl -sf --max-time 10 -o /dev/null -D - \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REGISTRY/v2/$repo/manifests/$tag" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p')"
  [ -n "$digest" ] || hb_die "pushed, but the registry has no manifest for $REMOTE"
  hb_log "pushed $REMOTE@$digest"
elif [ "$PUSH" = yes ]; then
  hb_die "registry http://$REGISTRY/v2/ does not answer (run scripts/start-registry.sh)"
else
  hb_log "registry $REGISTRY is not up: not pushing"; PUSH=no
fi

# ---------- 6. multi-platform base (amd64 + arm64) ----------
# push_layout LAYOUT REF: push an OCI layout's index (its images by digest, then the index under REF's tag)
# through the registry API, byte for byte; prints the index digest. (docker 20.10 cannot push an index.)
push_layout() {
  "$(command -v python3)" - "$1" "$2" <<'PYEOF'
import hashlib, json, os, sys, urllib.error, urllib.request
layout, ref = sys.argv[1:3]
host, _, rest = ref.partition("/")
repo, _, tag = rest.rpartition(":")
base = f"http://{host}/v2/{repo}"
def blob_path(digest): return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])
def call(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        if method == "HEAD" and exc.code == 404:
            return 404, exc.headers
        raise SystemExit(f"{method} {url}: HTTP {exc.code} {exc.read()[:300]!r}")
def push_blob(digest):
    if call("HEAD", f"{base}/blobs/{digest}")[0] == 200:
        return
    _, headers = call("POST", f"{base}/blobs/uploads/")
    location = urllib.parse.urljoin(f"http://{host}/", headers["Location"])
    sep = "&" if "?" in location else "?"
    with open(blob_path(digest), "rb") as f:
        call("PUT", f"{location}{sep}digest={digest}", f.read(), {"Content-Type": "application/octet-stream"})
import urllib.parse
index_bytes = open(os.path.join(layout, "index.json"), "rb").read()
index = json.loads(index_bytes)
for entry in index["manifests"]:
    manifest = json.loads(open(blob_path(entry["digest"]), "rb").read())
    for blob in [manifest["config"], *manifest["layers"]]:
        push_blob(blob["digest"])
    call("PUT", f"{base}/manifests/{entry['digest']}", open(blob_path(entry["digest"]), "rb").read(),
         {"Content-Type": entry["mediaType"]})
pushed = {"schemaVersion": 2, "mediaType": index["mediaType"],
          "manifests": [{k: v for k, v in e.items() if k != "annotations"} for e in index["manifests"]]}
data = json.dumps(pushed, sort_keys=True, separators=(",", ":")).encode()
call("PUT", f"{base}/manifests/{tag}", data, {"Content-Type": index["mediaType"]})
print("sha256:" + hashlib.sha256(data).hexdigest())
PYEOF
}
if [ "$MULTI" = 1 ]; then
  make_rootfs arm64 "$ARM_ROOTFS_TAR"
  if [ -s "$MULTI_OCI_DIR/index.json" ] && [ "$MULTI_OCI_DIR/index.json" -nt "$ARM_ROOTFS_TAR" ] \
     && [ "$MULTI_OCI_DIR/index.json" -nt "$ROOTFS_TAR" ]; then
    hb_log "cached multi-platform OCI layout: $MULTI_OCI_DIR"
  else
    write_layout "$MULTI_OCI_DIR" "$NAME" "amd64=$ROOTFS_TAR" "arm64=$ARM_ROOTFS_TAR"
    rm -f "$MULTI_OCI_DIR.pushed"
  fi
  if [ "$PUSH" != no ] && registry_up; then
    digest="$(push_layout "$MULTI_OCI_DIR" "$MULTI_REMOTE")" || hb_die "pushing $MULTI_REMOTE failed"
    echo "$MULTI_REMOTE" > "$MULTI_OCI_DIR.pushed"
    hb_log "pushed the amd64 + arm64 index $MULTI_REMOTE@$digest"
  fi
fi

print_env
