#!/usr/bin/env bash
# Build Argo Workflows from its Go module (through the Go module proxy; nothing is pulled from an image registry):
# the `argo` CLI, `workflow-controller` and `argoexec`, then the executor image (the base image + /bin/argoexec),
# pushed to the local registry.
#
# Outputs (CACHE = ${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}, V = $HERA_BUILD_ARGO_VERSION, default v4.0.5):
#   CACHE/argo/V/bin/{argo,workflow-controller,argoexec}   (+ .<name>.stamp: the version + build flags they hold)
#   CACHE/argo/V/src/                                      writable copy of the module (stub UI, signal_linux.go,
#                                                          the server's bind address patch; scripts/cluster.sh
#                                                          applies its manifests/base/crds/full)
#   REGISTRY/argoexec:V                                    the executor image (ENTRYPOINT ["argoexec"])
# A binary whose stamp matches is not rebuilt; an image whose label names the same argoexec is not rebuilt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

# v4.0.5 is the only v4 the Go module proxy reachable here serves (v4.1.x is refused).
DEFAULT_ARGO_VERSION=v4.0.5
MODULE=github.com/argoproj/argo-workflows/v4

usage() {
  cat <<USAGE
Usage: $0 [--cli-only] [--no-image] [--force] [--print-env] [-h|--help]

Builds Argo Workflows \$HERA_BUILD_ARGO_VERSION (default $DEFAULT_ARGO_VERSION) from $MODULE into
\${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}/argo/VERSION/bin: argo, workflow-controller, argoexec
(CGO_ENABLED=0, one shared Go build cache), and the executor image $HERA_BUILD_REGISTRY/argoexec:VERSION.

  --cli-only   build only the argo CLI (what \`argo lint --offline\` needs)
  --no-image   do not build/push the argoexec image
  --force      rebuild even when the cached binaries carry the right stamp
  --print-env  only print the export lines (no building)
Go builds run under nice; each is bounded by \$HERA_BUILD_GO_TIMEOUT seconds (default 2400).
USAGE
}

CLI_ONLY=0; IMAGE=1; FORCE=0; PRINT_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cli-only) CLI_ONLY=1 ;;
    --no-image) IMAGE=0 ;;
    --force) FORCE=1 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

VERSION="${HERA_BUILD_ARGO_VERSION:-$DEFAULT_ARGO_VERSION}"; VERSION="v${VERSION#v}"
ROOT="$HERA_BUILD_CI_CACHE/argo/$VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/src"
EXEC_IMAGE="$HERA_BUILD_REGISTRY/argoexec:$VERSION"

print_env() {
  echo "export HERA_BUILD_TEST_ARGO=$BIN/argo"
  echo "export HERA_BUILD_TEST_ARGO_CONTROLLER=$BIN/workflow-controller"
  echo "export HERA_BUILD_TEST_ARGOEXEC=$BIN/argoexec"
  echo "export HERA_BUILD_TEST_ARGOEXEC_IMAGE=$EXEC_IMAGE"
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

hb_go_require_amd64
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"

# `argo version` prints gitTag when commit, tag and a clean tree are all set (the module zip has no commit id).
BUILD_DATE=1970-01-01T00:00:00Z
LDFLAGS="-s -w -X $MODULE.version=$VERSION -X $MODULE.gitTag=$VERSION -X $MODULE.gitCommit=none \
-X $MODULE.gitTreeState=clean -X $MODULE.buildDate=$BUILD_DATE"
# "bind-address": built from the source patched by patch_bind_address (binaries built before it are rebuilt).
STAMP="$(hb_go_stamp "$VERSION" "$LDFLAGS" bind-address)"

built() { [ "$FORCE" = 0 ] && hb_built "$BIN" "$1" "$STAMP"; }

make_buildable() { # the module copy in $1: stub UI for the server's embed, signal_linux.go for argoexec
  mkdir -p "$1/ui/dist/app"
  echo '<!doctype html><title>Argo (UI not built)</title>' > "$1/ui/dist/app/index.html"
  local sig="$1/workflow/executor/osspecific"
  # The module zip lacks signal_linux.go; signal_darwin.go is the same code and has no build tag.
  [ -f "$sig/signal_linux.go" ] || cp "$sig/signal_darwin.go" "$sig/signal_linux.go"
}

# `argo server` listens on ":PORT" (every interface) and has no flag for the address. This one-line patch makes it
# listen on "$ARGO_SERVER_BIND_ADDRESS:PORT" (unset: every interface, as before); scripts/cluster.sh sets it to
# 127.0.0.1. Applied once, also to a source copy prepared before the patch existed.
patch_bind_address() {
  local file="$SRC/server/apiserver/argoserver.go"
  local original='address := fmt.Sprintf(":%d", port)'
  local patched='address := fmt.Sprintf("%s:%d", os.Getenv("ARGO_SERVER_BIND_ADDRESS"), port)'
  grep -qF "$patched" "$file" && return 0
  grep -qF "$original" "$file" || hb_die "$file has no '$original' to patch (another Argo version?)"
  grep -q '^[[:space:]]*"os"$' "$file" || hb_die "$file does not import \"os\": the bind address patch would not compile"
  sed -i "s|$original|$patched|" "$file"
  grep -qF "$patched" "$file" || hb_die "patching $file failed"
  hb_log "patched $file: argo server binds to \$ARGO_SERVER_BIND_ADDRESS"
}

mkdir -p "$BIN"
T0=$SECONDS
todo=()
if built argo; then hb_log "argo $VERSION already built: $BIN/argo"; else todo+=(argo); fi
if [ "$CLI_ONLY" = 0 ]; then
  for n in workflow-controller argoexec; do
    if built "$n"; then hb_log "$n $VERSION already built: $BIN/$n"; else todo+=("$n"); fi
  done
fi
hb_go_modcopy "$MODULE@$VERSION" "$SRC" make_buildable   # also what scripts/cluster.sh applies the CRDs from
patch_bind_address
if [ "${#todo[@]}" -gt 0 ]; then hb_go_build "$SRC" "$BIN" "$STAMP" "$LDFLAGS" "${todo[@]}"; fi
v="$("$BIN/argo" version --short 2>/dev/null | head -n1 || true)"
case "$v" in *"$VERSION"*) ;; *) hb_die "built argo reports '$v', expected $VERSION" ;; esac
hb_log "$v ($BIN/argo); binaries took $((SECONDS - T0))s"

# ---------- the executor image ----------
if [ "$CLI_ONLY" = 0 ] && [ "$IMAGE" = 1 ]; then
  T1=$SECONDS
  docker version >/dev/null 2>&1 || hb_die "no docker engine answers (run scripts/start-docker.sh)"
  BASE="$HERA_BUILD_BASE_IMAGE"
  docker image inspect "$BASE" >/dev/null 2>&1 || hb_die "base image $BASE is not in the engine (run scripts/base-image.sh)"
  sum="$(sha256sum "$BIN/argoexec" | cut -d' ' -f1)"
  if [ "$FORCE" = 0 ] && [ "$(hb_image_label "$EXEC_IMAGE" hera-build.argoexec.sha256)" = "$sum" ] \
      && hb_registry_has "$EXEC_IMAGE"; then
    hb_log "image $EXEC_IMAGE already holds this argoexec and is in the registry"
  else
    CTX="$(mktemp -d)"; trap 'rm -rf "$CTX"' EXIT
    cp "$BIN/argoexec" "$CTX/argoexec"
    cat > "$CTX/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY argoexec /bin/argoexec
LABEL hera-build.argoexec.sha256=$sum org.opencontainers.image.version=$VERSION
ENTRYPOINT ["argoexec"]
DOCKERFILE
    hb_log "docker build $EXEC_IMAGE (from $BASE)"
    out="$(DOCKER_BUILDKIT=0 timeout 600 docker build -q --network none --pull=false -t "$EXEC_IMAGE" "$CTX" 2>&1)" \
      || { echo "$out" >&2; hb_die "docker build $EXEC_IMAGE failed"; }
    rm -rf "$CTX"; trap - EXIT
    timeout 600 docker push -q "$EXEC_IMAGE" >&2 || hb_die "docker push $EXEC_IMAGE failed"
    hb_registry_has "$EXEC_IMAGE" || hb_die "pushed, but the registry has no manifest for $EXEC_IMAGE"
  fi
  hb_log "executor image $EXEC_IMAGE ready in $((SECONDS - T1))s"
fi
print_env
