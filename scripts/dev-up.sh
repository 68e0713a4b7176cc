#!/usr/bin/env bash
# One-time (and re-runnable) setup of everything hera-build's tests need, except the tests themselves:
#   Debian packages (+ qemu binfmt) -> Docker engine -> local registry on 127.0.0.1:5000 -> base image (imported
#   + pushed; and an amd64 + arm64 index)
#   -> pack + CNB lifecycle built from Go modules -> the offline test builder (scripts/make-test-builder.sh)
#   -> Argo and Kubernetes built from Go modules -> a single-node cluster with Argo (scripts/cluster.sh).
# Every step is idempotent and cached under ${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}; a second run
# takes seconds. At the end it prints the `export` lines for the test suite; use them with
#   eval "$(scripts/dev-up.sh --quiet)"      or      scripts/dev-up.sh --env-only > .env.sh
# Needs root (apt-get, dockerd, debootstrap). .ci/run uses this script too.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

QUIET=0; ENV_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    -q|--quiet) QUIET=1 ;;
    --env-only) ENV_ONLY=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
               echo; echo "Options: --quiet (progress to stderr only, exports on stdout), --env-only (print exports, do nothing)"
               exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

env_lines() {
  "$HERE/base-image.sh" --print-env
  echo "export HERA_BUILD_TEST_REGISTRY=$HERA_BUILD_REGISTRY"
  "$HERE/build-pack.sh" --print-env
  if [ -x "$HERE/make-test-builder.sh" ]; then "$HERE/make-test-builder.sh" --print-env; fi
  echo "export HERA_BUILD_CI_CACHE=$HERA_BUILD_CI_CACHE"
  # ---- Argo + Kubernetes test cluster (build-argo.sh, build-kube.sh, cluster.sh) ----
  "$HERE/build-argo.sh" --print-env
  "$HERE/build-kube.sh" --print-env
  "$HERE/cluster.sh" --print-env
  # ---- end Argo + Kubernetes ----
}
if [ "$ENV_ONLY" = 1 ]; then env_lines; exit 0; fi

step() { # step NAME CMD...: run with a header and its duration; all output to stderr
  local name="$1"; shift
  local t0=$SECONDS
  echo "==> $name" >&2
  "$@" >&2
  echo "<== $name: $((SECONDS - t0))s" >&2
}

step "install Debian packages" "$HERE/install-system.sh"
step "start Docker engine" "$HERE/start-docker.sh"
step "start local registry" "$HERE/start-registry.sh"
step "base image" "$HERE/base-image.sh" --push
# The amd64 + arm64 base index of the multi-platform tests (an arm64 debootstrap under qemu: minutes the first
# time, cached after).
step "multi-platform base image" "$HERE/base-image.sh" --push --multi-platform
step "pack + lifecycle" "$HERE/build-pack.sh"
# The offline CNB test builder (another script's job), when present.
if [ -x "$HERE/make-test-builder.sh" ]; then step "test builder" "$HERE/make-test-builder.sh"; fi

# ---- Argo + Kubernetes test cluster: argo CLI, workflow-controller, argoexec image; Kubernetes, etcd, pause
# image (Go builds, about 30 minutes on 2 cores the first time, seconds after); then the cluster itself, left
# running (scripts/cluster.sh down stops it). HERA_BUILD_NO_CLUSTER=1 skips this block.
if [ "${HERA_BUILD_NO_CLUSTER:-0}" != 1 ]; then
  step "argo CLI, workflow-controller, argoexec image" "$HERE/build-argo.sh"
  step "kubernetes, etcd, pause image" "$HERE/build-kube.sh"
  step "cluster (kubernetes + argo) up" "$HERE/cluster.sh" up
fi
# ---- end Argo + Kubernetes ----

if [ "$QUIET" = 0 ]; then
  {
    echo
    echo "Ready. docker $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)," \
         "pack $(pack --version 2>/dev/null), registry http://$HERA_BUILD_REGISTRY"
    echo "Environment for the tests (eval \"\$(scripts/dev-up.sh --env-only)\"):"
  } >&2
fi
env_lines
