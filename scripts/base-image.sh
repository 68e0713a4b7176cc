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
PUSH=auto; FORCE=0; PRINT_ONLY=0; OCI=1; SAVE=1

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

print_env() {
  echo "export HERA_BUILD_TEST_BASE_IMAGE=$NAME"
  [ "$SAVE" = 1 ] && echo "export HERA_BUILD_TEST_BASE_IMAGE_ARCHIVE=$SAVE_TAR"
  [ "$OCI" = 1 ] && echo "export HERA_BUILD_TEST_BASE_IMAGE_OCI=$OCI_DIR"
  if [ "$PUSH" != no ]; then echo "export HERA_BUILD_TEST_BASE_IMAGE_REMOTE=$REMOTE"; fi
  return 0
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

[ "$(id -u)" = 0 ] || hb_die "must run as root (debootstrap)"
mkdir -p "$BASE_DIR"
[ "$FORCE" = 1 ] && rm -rf "$ROOTFS_TAR" "$SAVE_TAR" "$SAVE_TAR.image-id" "$OCI_DIR"

# ---------- 1. root file system ----------
if [ -s "$ROOTFS_TAR" ]; then
  hb_log "cached root file system: $ROOTFS_TAR"
else
  command -v debootstrap >/dev/null || hb_die "debootstrap not installed (run scripts/install-system.sh)"
  MIRROR="${HERA_BUILD_DEBIAN_MIRROR:-$(hb_debian_mirror "$SUITE" || true)}"
  [ -n "$MIRROR" ] || hb_die "no Debian mirror for '$SUITE' (main) found in /etc/apt/sources.list{,.d/*}"
  KEYRING_ARGS=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && KEYRING_ARGS=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  WORK="$(mktemp -d "$BASE_DIR/.debootstrap.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  hb_log "debootstrap $SUITE (minbase + $INCLUDE) from the configured mirror $MIRROR ..."
  if ! timeout 1200 debootstrap --variant=minbase --include="$INCLUDE" --components=main \
        "${KEYRING_ARGS[@]}" "$SUITE" "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [ -f "$WORK/rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$WORK/rootfs/debootstrap/debootstrap.log" >&2
    hb_die "debootstrap failed"
  fi
  R="$WORK/rootfs"
  # Slim down: package caches and lists are useless in an image without network.
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
         "$R"/var/log/* "$R"/tmp/* "$R"/var/tmp/* "$R"/debootstrap
  # Do not bake the host's identity into the image.
  : > "$R/etc/hostname"; : > "$R/etc/resolv.conf"; rm -f "$R/etc/machine-id"; : > "$R/etc/machine-id"
  chroot "$R" python3 -c "import venv, ensurepip" \
    || hb_die "python3 in the root file system does not work"
  tar -C "$R" --numeric-owner --sort=name -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$WORK"; trap - EXIT
  hb_log "root file system cached: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
fi

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
if [ "$OCI" = 1 ]; then
  if [ -s "$OCI_DIR/index.json" ] && [ "$OCI_DIR/index.json" -nt "$ROOTFS_TAR" ]; then
    hb_log "cached OCI layout: $OCI_DIR"
  else
    rm -rf "$OCI_DIR.tmp"
    PY="$(command -v python3)"
    "$PY" - "$ROOTFS_TAR" "$OCI_DIR.tmp" "$NAME" <<'PYEOF'
import gzip, hashlib, json, os, sys, shutil
rootfs, out, name = sys.argv[1:4]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data: bytes) -> str:
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return d
# layer: gzip of the rootfs tar (mtime 0 => reproducible), diff_id = sha256 of the uncompressed tar
diff, comp = hashlib.sha256(), hashlib.sha256()
tmp = os.path.join(blobs, ".layer.tmp")
class Tee:
    def __init__(self, f): self.f = f
    def write(self, b): comp.update(b); return self.f.write(b)
    def flush(self): self.f.flush()
with open(rootfs, "rb") as src, open(tmp, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=Tee(raw), mtime=0, compresslevel=6) as gz:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            diff.update(chunk); gz.write(chunk)
layer_digest = comp.hexdigest(); layer_size = os.path.getsize(tmp)
os.replace(tmp, os.path.join(blobs, layer_digest))
config = {
    "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
               "Cmd": ["python3"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hera-build scripts/base-image.sh (debootstrap)"}],
}
cb = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
manifest = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + put(cb), "size": len(cb)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + layer_digest, "size": layer_size}],
}
mb = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + put(mb), "size": len(mb),
                        "platform": {"architecture": "amd64", "os": "linux"},
                        "annotations": {"org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                                        "io.containerd.image.name": name}}]}
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f, indent=1)
PYEOF
    rm -rf "$OCI_DIR"; mv "$OCI_DIR.tmp" "$OCI_DIR"
    hb_log "OCI layout: $OCI_DIR"
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

print_env
