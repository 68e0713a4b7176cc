#!/usr/bin/env bash
# Install the Debian packages that hera-build's CI and development need:
#   docker.io (engine 20.10 + containerd + runc), docker-registry (a local registry), debootstrap (base images)
#   and helpers. Idempotent: does nothing when everything is installed; runs `apt-get update` at most once.
# Services are NOT started here (no init system): see start-docker.sh and start-registry.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

PACKAGES=(docker.io docker-registry debootstrap iproute2 ca-certificates git curl tar gzip wget
          debian-archive-keyring procps)
[ "$(id -u)" = 0 ] || hb_die "must run as root"

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" = 0 ]; then
  hb_log "all packages already installed: ${PACKAGES[*]}"
  exit 0
fi
hb_log "installing: ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Package lists: update once if there are none yet or if a wanted package has no candidate.
need_update=0
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  need_update=1
else
  for p in "${missing[@]}"; do
    if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then need_update=1; break; fi
  done
fi
if [ "$need_update" = 1 ]; then
  hb_log "apt-get update"
  timeout 900 "${APT[@]}" update
fi

# Never let a package's maintainer script start a service (no init system; we start daemons ourselves).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

if ! timeout 1800 "${APT[@]}" install --no-install-recommends "${missing[@]}"; then
  # Stale package lists (a .deb that the mirror no longer has): refresh once and retry.
  [ "$need_update" = 1 ] && hb_die "apt-get install failed"
  hb_log "install failed; apt-get update and one retry"
  timeout 900 "${APT[@]}" update
  timeout 1800 "${APT[@]}" install --no-install-recommends "${missing[@]}"
fi
hb_log "installed: ${missing[*]}"
