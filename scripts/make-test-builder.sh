#!/usr/bin/env bash
# Create hera-build's offline test builder for the buildpacks backend, without pulling anything:
#   1. build and run images from the debootstrap base image (scripts/base-image.sh) with
#      buildpacks/builder/stack.Dockerfile (a CNB user; CNB_USER_ID, CNB_GROUP_ID, PATH; same python path),
#   2. `pack builder create --pull-policy never` from them, the repo's buildpacks/hera-runner and the lifecycle
#      folder that scripts/build-pack.sh built.
# Idempotent: each image carries a hash of its inputs and is only rebuilt when they change.
# Prints the export lines for the test suite at the end (HERA_BUILD_TEST_BUILDER, ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/common.sh"

BASE="${HERA_BUILD_TEST_BASE_IMAGE:-$HERA_BUILD_BASE_IMAGE}"
TAG="${HERA_BUILD_TEST_BUILDER_TAG:-bookworm}"
BUILD_IMAGE="hera-build-test-stack-build:$TAG"
RUN_IMAGE="hera-build-test-stack-run:$TAG"
BUILDER="${HERA_BUILD_TEST_BUILDER:-hera-build-test-builder:$TAG}"
REGISTRY="$HERA_BUILD_REGISTRY"
# `pack build --publish` reads the run image from the output image's registry: the builder lists a copy of the run
# image in the local registry as a mirror, and pack picks the mirror on the registry it publishes to.
RUN_MIRROR="$REGISTRY/$RUN_IMAGE"
PACK="${HERA_BUILD_TEST_PACK:-$HERA_BUILD_CI_CACHE/bin/pack}"
[ -x "$PACK" ] || PACK="$(command -v pack || echo "$PACK")"
LIFECYCLE_DIR="${HERA_BUILD_TEST_LIFECYCLE_DIR:-}"
FORCE=0; PRINT_ONLY=0

usage() {
  cat <<USAGE
Usage: $0 [--force] [--print-env] [-h|--help]

Creates, from the base image '$BASE' (\$HERA_BUILD_TEST_BASE_IMAGE):
  $BUILD_IMAGE, $RUN_IMAGE   stack images (buildpacks/builder/stack.Dockerfile)
  $RUN_MIRROR  the run image, pushed when the registry answers
  $BUILDER                   builder: buildpacks/hera-runner + the lifecycle in \$HERA_BUILD_TEST_LIFECYCLE_DIR
                             (default: the newest \${HERA_BUILD_CI_CACHE}/lifecycle/v*), made with
                             '$PACK builder create --pull-policy never'
  --force      rebuild all three even if their inputs did not change
  --print-env  only print the export lines
Needs a running engine (scripts/start-docker.sh), the base image (scripts/base-image.sh) and pack + lifecycle
(scripts/build-pack.sh).
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

print_env() {
  echo "export HERA_BUILD_TEST_BUILDER=$BUILDER"
  echo "export HERA_BUILD_TEST_STACK_BUILD_IMAGE=$BUILD_IMAGE"
  echo "export HERA_BUILD_TEST_STACK_RUN_IMAGE=$RUN_IMAGE"
  echo "export HERA_BUILD_TEST_STACK_RUN_MIRROR=$RUN_MIRROR"
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

if [ -z "$LIFECYCLE_DIR" ]; then
  LIFECYCLE_DIR="$(ls -d "$HERA_BUILD_CI_CACHE"/lifecycle/v*/ 2>/dev/null | sort -V | tail -n 1 || true)"
  LIFECYCLE_DIR="${LIFECYCLE_DIR%/}"
fi
if [ -z "$LIFECYCLE_DIR" ] || [ ! -f "$LIFECYCLE_DIR/lifecycle.toml" ]; then
  hb_die "no lifecycle folder (lifecycle.toml + lifecycle/) found: run scripts/build-pack.sh or set HERA_BUILD_TEST_LIFECYCLE_DIR"
fi
[ -x "$PACK" ] || hb_die "pack not found at '$PACK': run scripts/build-pack.sh or set HERA_BUILD_TEST_PACK"
docker version >/dev/null 2>&1 || hb_die "no docker engine answers (run scripts/start-docker.sh)"
docker image inspect "$BASE" >/dev/null 2>&1 || hb_die "base image $BASE is not in the engine (run scripts/base-image.sh)"

BP_SRC="$ROOT/buildpacks/hera-runner"
STACK_FILE="$ROOT/buildpacks/builder/stack.Dockerfile"
LABEL=io.hera-build.test.inputs

# hash_of FILE_OR_DIR...: sha256 over relative paths, modes and contents (stable across checkouts).
hash_of() {
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      (cd "$p" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
      (cd "$p" && find . -type f -perm -u+x -print | LC_ALL=C sort | sed 's/^/x /')
    else
      sha256sum < "$p"
    fi
  done | sha256sum | cut -d ' ' -f 1
}
label_of() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

BASE_ID="$(docker image inspect --format '{{.Id}}' "$BASE")"
STACK_KEY="$(printf '%s\n%s\n' "$BASE_ID" "$(hash_of "$STACK_FILE")" | sha256sum | cut -d ' ' -f 1)"

# ---------- 1. stack images ----------
build_stack() { # TARGET IMAGE
  if [ "$FORCE" = 0 ] && [ "$(label_of "$2")" = "$STACK_KEY" ]; then
    hb_log "stack image $2 is up to date"
    return 0
  fi
  hb_log "building stack image $2 (target $1) from $BASE"
  DOCKER_BUILDKIT=0 timeout 600 docker build -q --network none --pull=false \
    --build-arg "BASE_IMAGE=$BASE" --target "$1" --label "$LABEL=$STACK_KEY" \
    -f "$STACK_FILE" -t "$2" "$ROOT/buildpacks/builder" >/dev/null
}
build_stack build "$BUILD_IMAGE"
build_stack run "$RUN_IMAGE"

if curl -sf --max-time 5 -o /dev/null "http://$REGISTRY/v2/"; then
  docker tag "$RUN_IMAGE" "$RUN_MIRROR"
  timeout 300 docker push -q "$RUN_MIRROR" >/dev/null || hb_die "docker push $RUN_MIRROR failed"
  hb_log "run image mirror $RUN_MIRROR pushed"
else
  hb_log "registry $REGISTRY does not answer: run image mirror not pushed (publishing tests need it)"
fi

# ---------- 2. builder ----------
PACK_VERSION="$("$PACK" --version | head -n 1)"
BUILDER_KEY="$(printf '%s\n' "$(docker image inspect --format '{{.Id}}' "$BUILD_IMAGE")" \
  "$(docker image inspect --format '{{.Id}}' "$RUN_IMAGE")" "$(hash_of "$BP_SRC")" \
  "$(hash_of "$LIFECYCLE_DIR/lifecycle.toml" "$LIFECYCLE_DIR/lifecycle/lifecycle" "$LIFECYCLE_DIR/lifecycle/launcher")" \
  "$PACK_VERSION" "$RUN_MIRROR" | sha256sum | cut -d ' ' -f 1)"
DESCRIPTION="hera-build offline test builder; inputs sha256:$BUILDER_KEY"
current="$(docker image inspect --format '{{ index .Config.Labels "io.buildpacks.builder.metadata" }}' "$BUILDER" 2>/dev/null || true)"
if [ "$FORCE" = 0 ] && [[ "$current" == *"$DESCRIPTION"* ]]; then
  hb_log "builder $BUILDER is up to date"
else
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  # A copy of the buildpack with its executable bits set, whatever the checkout did to them.
  cp -R "$BP_SRC" "$WORK/hera-runner"
  chmod 0755 "$WORK/hera-runner/bin/"*
  cat > "$WORK/builder.toml" <<TOML
description = "$DESCRIPTION"

[[buildpacks]]
uri = "$WORK/hera-runner"

[[order]]
[[order.group]]
id = "hera-build/hera-runner"
version = "$(sed -n 's/^version = "\(.*\)"$/\1/p' "$BP_SRC/buildpack.toml" | head -n 1)"

[lifecycle]
uri = "$LIFECYCLE_DIR"

[build]
image = "$BUILD_IMAGE"

[[run.images]]
image = "$RUN_IMAGE"
mirrors = ["$RUN_MIRROR"]

[[targets]]
os = "linux"
arch = "amd64"
TOML
  hb_log "pack builder create $BUILDER (offline, lifecycle from $LIFECYCLE_DIR)"
  PACK_HOME="$WORK/pack-home" timeout 600 "$PACK" builder create "$BUILDER" --config "$WORK/builder.toml" \
    --pull-policy never --no-color >&2
  rm -rf "$WORK"; trap - EXIT
fi
hb_log "builder $BUILDER = $(docker image inspect --format '{{.Id}}' "$BUILDER")"
print_env
