#!/usr/bin/env bash
# Install the Debian packages that hera-build's CI and development need:
#   docker.io (engine 20.10 + containerd + runc), docker-registry (a local registry), debootstrap (base images)
#   qemu-user-static (runs arm64 images: multi-platform image checks, the arm64 base image) and helpers, then
#   registers qemu's aarch64 interpreter with binfmt_misc (flag F, so containers use it without a copy).
#   Idempotent: does nothing when everything is installed and registered; runs `apt-get update` at most once.
# Services are NOT started here (no init system): see start-docker.sh and start-registry.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

PACKAGES=(docker.io docker-registry debootstrap iproute2 ca-certificates git curl tar gzip wget
          debian-archive-keyring procps qemu-user-static)
[ "$(id -u)" = 0 ] || hb_die "must run as root"

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
# register_binfmt ARCH: make the kernel run ARCH's ELF binaries with qemu-ARCH-static. Without an init system
# nobody runs systemd-binfmt or update-binfmts, so the rule qemu-user-static ships in /usr/lib/binfmt.d is
# written to binfmt_misc here. The F (fix-binary) flag makes the kernel open the interpreter now, so it works
# inside containers and chroots that do not have it.
register_binfmt() {
  local arch="$1" dir=/proc/sys/fs/binfmt_misc rule name flags
  if [ ! -e "$dir/register" ]; then
    mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null \
      || { hb_log "warning: cannot mount binfmt_misc: $arch images will not run here"; return 0; }
  fi
  rule="$(cat "/usr/lib/binfmt.d/qemu-$arch.conf" 2>/dev/null || true)"
  [ -n "$rule" ] || { hb_log "warning: qemu-user-static ships no binfmt rule for $arch"; return 0; }
  name="$(printf '%s' "$rule" | cut -d: -f2)"
  if [ -e "$dir/$name" ]; then
    if grep -q '^flags: .*F' "$dir/$name"; then hb_log "binfmt_misc: $name registered"; return 0; fi
    echo -1 > "$dir/$name" 2>/dev/null || true   # registered without F (useless in containers): again, with F
  fi
  flags="$(printf '%s' "$rule" | awk -F: '{print $NF}')"
  case "$flags" in *F*) ;; *) rule="${rule}F" ;; esac
  printf '%s' "$rule" > "$dir/register" \
    || { hb_log "warning: cannot register $name with binfmt_misc: $arch images will not run here"; return 0; }
  hb_log "binfmt_misc: registered $name ($(sed -n 's/^interpreter //p' "$dir/$name"), flags $(sed -n 's/^flags: //p' "$dir/$name"))"
}

if [ "${#missing[@]}" = 0 ]; then
  hb_log "all packages already installed: ${PACKAGES[*]}"
  register_binfmt aarch64
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
register_binfmt aarch64
