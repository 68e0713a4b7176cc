#!/usr/bin/env bash
# Build a single-node Kubernetes from Go modules (through the Go module proxy; no image is pulled):
# kube-apiserver, kube-scheduler, kube-controller-manager, kubelet and kubectl from k8s.io/kubernetes, etcd from
# go.etcd.io/etcd/server/v3, and the pause (sandbox) image from Kubernetes' pause.c, pushed to the local registry.
#
# Outputs (CACHE = ${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}):
#   CACHE/kube/vK/bin/{kube-apiserver,kube-scheduler,kube-controller-manager,kubelet,kubectl}
#   CACHE/etcd/vE/bin/etcd                        (+ .<name>.stamp: the version + build flags each binary holds)
#   CACHE/kube/vK/pause                           static pause binary;  REGISTRY/pause:P  the sandbox image
# A binary whose stamp matches is not rebuilt; an image whose label names the same pause binary is not rebuilt.
#
# The kubernetes module's go.mod points its k8s.io/* staging modules at ./staging (absent from the module zip):
# a writable copy drops those replaces and requires the published k8s.io/X v0.M.P instead; `go mod tidy` is not
# run (it fails on a test-only module the proxy does not serve). etcd's server module gets the same treatment.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

DEFAULT_KUBE_VERSION=v1.34.4
DEFAULT_ETCD_VERSION=v3.6.16
PAUSE_VERSION=3.10.1   # what kubeadm v1.34 uses (build/pause/Makefile TAG)
KUBE_CMDS=(kube-apiserver kube-scheduler kube-controller-manager kubelet kubectl)

usage() {
  cat <<USAGE
Usage: $0 [--no-image] [--force] [--print-env] [-h|--help]

Builds Kubernetes \$HERA_BUILD_KUBE_VERSION (default $DEFAULT_KUBE_VERSION: ${KUBE_CMDS[*]}) and etcd
\$HERA_BUILD_ETCD_VERSION (default $DEFAULT_ETCD_VERSION) into \${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci},
and the pause image $HERA_BUILD_REGISTRY/pause:$PAUSE_VERSION (static gcc build of pause.c, docker import, push).

  --no-image   do not build/push the pause image
  --force      rebuild even when the cached binaries carry the right stamp
  --print-env  only print the export lines (no building)
Go builds run one at a time under nice; each is bounded by \$HERA_BUILD_GO_TIMEOUT seconds (default 2400).
USAGE
}

IMAGE=1; FORCE=0; PRINT_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-image) IMAGE=0 ;;
    --force) FORCE=1 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

KV="${HERA_BUILD_KUBE_VERSION:-$DEFAULT_KUBE_VERSION}"; KV="v${KV#v}"
EV="${HERA_BUILD_ETCD_VERSION:-$DEFAULT_ETCD_VERSION}"; EV="v${EV#v}"
KROOT="$HERA_BUILD_CI_CACHE/kube/$KV"; KBIN="$KROOT/bin"; KSRC="$KROOT/src"
EROOT="$HERA_BUILD_CI_CACHE/etcd/$EV"; EBIN="$EROOT/bin"; ESRC="$EROOT/src"
PAUSE_IMAGE="$HERA_BUILD_REGISTRY/pause:$PAUSE_VERSION"

print_env() {
  echo "export HERA_BUILD_TEST_KUBE_BIN=$KBIN"
  echo "export HERA_BUILD_TEST_KUBECTL=$KBIN/kubectl"
  echo "export HERA_BUILD_TEST_ETCD=$EBIN/etcd"
  echo "export HERA_BUILD_TEST_PAUSE_IMAGE=$PAUSE_IMAGE"
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

hb_go_require_amd64
# GOWORK=off: the kubernetes module ships a go.work over ./staging, which the module zip lacks.
# -mod=mod: the edited go.mod has no go.sum lines for the published staging modules yet.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" GOWORK=off

# Version variables as Kubernetes' hack/lib/version.sh sets them (client-go and component-base).
kminor="${KV#v1.}"; kminor="${kminor%%.*}"
KLDFLAGS="-s -w"
for kv in "gitVersion=$KV" gitMajor=1 "gitMinor=$kminor" gitTreeState=clean buildDate=1970-01-01T00:00:00Z; do
  KLDFLAGS="$KLDFLAGS -X k8s.io/client-go/pkg/version.$kv -X k8s.io/component-base/version.$kv"
done
ELDFLAGS="-s -w"
KSTAMP="$(hb_go_stamp "$KV" "$KLDFLAGS")"
ESTAMP="$(hb_go_stamp "$EV" "$ELDFLAGS")"

built() { [ "$FORCE" = 0 ] && hb_built "$@"; }   # built DIR NAME STAMP

# prepare_src MODULE@VERSION DEST PATTERN REQUIRE_VERSION: writable copy of the module with every
# `replace X => <local path>` whose X matches PATTERN dropped and X required at REQUIRE_VERSION.
prepare_src() {
  MOD="$1" PATTERN="$3" REQUIRE="$4" hb_go_modcopy "$1" "$2" drop_local_replaces
}
drop_local_replaces() { # in the module copy $1, as prepare_src says ($MOD, $PATTERN, $REQUIRE)
  local m args=()
  while read -r m; do
    args+=("-dropreplace=$m" "-require=$m@$REQUIRE")
  done < <(cd "$1" && go mod edit -json \
             | python3 -c 'import json,sys,re
p=re.compile(sys.argv[1])
for r in json.load(sys.stdin).get("Replace") or []:
    if p.fullmatch(r["Old"]["Path"]) and r["New"]["Path"].startswith("."): print(r["Old"]["Path"])' "$PATTERN")
  [ "${#args[@]}" -gt 0 ] || hb_die "no local replaces matching $PATTERN in $MOD's go.mod"
  ( cd "$1" && go mod edit "${args[@]}" )
  hb_log "$MOD: dropped $(( ${#args[@]} / 2 )) local replaces, requiring $REQUIRE instead"
}

T0=$SECONDS
# ---------- etcd ----------
mkdir -p "$EBIN" "$KBIN"
if built "$EBIN" etcd "$ESTAMP"; then
  hb_log "etcd $EV already built: $EBIN/etcd"
else
  t=$SECONDS
  prepare_src "go.etcd.io/etcd/server/v3@$EV" "$ESRC" 'go\.etcd\.io/etcd/.*' "$EV"
  hb_log "go build etcd $EV ..."
  ( cd "$ESRC" && timeout --kill-after=30 "${HERA_BUILD_GO_TIMEOUT:-2400}" \
      nice -n 10 go build -trimpath -ldflags "$ELDFLAGS" -o "$EBIN/etcd.tmp" . )
  mv -f "$EBIN/etcd.tmp" "$EBIN/etcd"; echo "$ESTAMP" > "$EBIN/.etcd.stamp"
  hb_log "built etcd in $((SECONDS - t))s"
fi
v="$("$EBIN/etcd" --version)"
case "$v" in *"etcd Version: ${EV#v}"*) ;; *) hb_die "built etcd reports '$v', expected ${EV#v}" ;; esac

# ---------- kubernetes ----------
todo=()
for n in "${KUBE_CMDS[@]}"; do
  if built "$KBIN" "$n" "$KSTAMP"; then hb_log "$n $KV already built"; else todo+=("$n"); fi
done
if [ "${#todo[@]}" -gt 0 ]; then
  prepare_src "k8s.io/kubernetes@$KV" "$KSRC" 'k8s\.io/.*' "v0.${KV#v1.}"
  hb_go_build "$KSRC" "$KBIN" "$KSTAMP" "$KLDFLAGS" "${todo[@]}"
fi
v="$("$KBIN/kube-apiserver" --version)"
[ "$v" = "Kubernetes $KV" ] || hb_die "built kube-apiserver reports '$v', expected Kubernetes $KV"
hb_log "kubernetes $KV and etcd $EV binaries took $((SECONDS - T0))s"

# ---------- pause image ----------
if [ "$IMAGE" = 1 ]; then
  t=$SECONDS
  PAUSE_BIN="$KROOT/pause"
  if [ ! -x "$PAUSE_BIN" ] || [ "$FORCE" = 1 ]; then
    command -v gcc >/dev/null || hb_die "gcc not installed (run scripts/install-system.sh)"
    src="$(hb_go_moddir "k8s.io/kubernetes@$KV")/build/pause/linux/pause.c"
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-hera-build" -o "$PAUSE_BIN.tmp" "$src"
    mv -f "$PAUSE_BIN.tmp" "$PAUSE_BIN"
  fi
  docker version >/dev/null 2>&1 || hb_die "no docker engine answers (run scripts/start-docker.sh)"
  sum="$(sha256sum "$PAUSE_BIN" | cut -d' ' -f1)"
  if [ "$FORCE" = 0 ] && [ "$(hb_image_label "$PAUSE_IMAGE" hera-build.pause.sha256)" = "$sum" ] \
      && hb_registry_has "$PAUSE_IMAGE"; then
    hb_log "image $PAUSE_IMAGE already holds this pause and is in the registry"
  else
    tar -C "$KROOT" --owner=0 --group=0 -c pause \
      | docker import --change 'ENTRYPOINT ["/pause"]' --change "LABEL hera-build.pause.sha256=$sum" \
          - "$PAUSE_IMAGE" >/dev/null
    timeout 300 docker push -q "$PAUSE_IMAGE" >&2 || hb_die "docker push $PAUSE_IMAGE failed"
    hb_registry_has "$PAUSE_IMAGE" || hb_die "pushed, but the registry has no manifest for $PAUSE_IMAGE"
  fi
  hb_log "pause image $PAUSE_IMAGE ready in $((SECONDS - t))s"
fi
print_env
