#!/usr/bin/env bash
# Start Debian's Docker engine (dockerd 20.10, API 1.41) in the background if none answers on
# /var/run/docker.sock. No init system is needed. The daemon runs with --bridge=none --iptables=false
# --ip-masq=false: containers get no network (use --network host when one is needed); builds work offline.
# Idempotent; waits (bounded, $HERA_BUILD_DOCKER_TIMEOUT seconds, default 60) until the engine answers.
#
# Log: ${HERA_BUILD_DOCKER_LOG:-/var/log/hera-build-dockerd.log}. Stop it with scripts/stop-docker.sh.
# Clients (docker CLI 28.x, docker-py 7.x, pack) negotiate API 1.41 themselves; no DOCKER_API_VERSION needed.
# Never `docker run` an image missing from the engine without `--pull never`: the engine would try Docker Hub.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

SOCK=/var/run/docker.sock
PIDFILE=/var/run/docker.pid
LOG="${HERA_BUILD_DOCKER_LOG:-/var/log/hera-build-dockerd.log}"
TIMEOUT="${HERA_BUILD_DOCKER_TIMEOUT:-60}"

ping_engine() { curl -sf --max-time 5 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }


if ping_engine; then
  hb_log "docker engine already answers on $SOCK"
  exit 0
fi

[ "$(id -u)" = 0 ] || hb_die "must run as root to start dockerd"
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || hb_die "dockerd not installed (run scripts/install-system.sh)"
DOCKERD="$(command -v dockerd || echo /usr/sbin/dockerd)"

# A dockerd that is still starting: wait for it rather than starting a second one.
pid=""
if [ -s "$PIDFILE" ]; then
  pid="$(cat "$PIDFILE")"
  if ! kill -0 "$pid" 2>/dev/null; then
    hb_log "removing stale $PIDFILE (pid $pid is gone)"
    rm -f "$PIDFILE"; pid=""
  fi
fi

if [ -z "$pid" ]; then
  mkdir -p "$(dirname "$LOG")"
  # Stale socket from a dead daemon would make dockerd fail.
  [ -S "$SOCK" ] && rm -f "$SOCK"
  hb_log "starting $DOCKERD (log: $LOG)"
  # setsid + nohup: the daemon must outlive this script and its session.
  setsid nohup "$DOCKERD" --bridge=none --iptables=false --ip-masq=false \
      --pidfile "$PIDFILE" --host "unix://$SOCK" >>"$LOG" 2>&1 < /dev/null &
  pid=$!
fi

if ! hb_wait "$TIMEOUT" ping_engine; then
  tail -n 30 "$LOG" >&2 || true
  hb_die "docker engine did not answer on $SOCK within ${TIMEOUT}s"
fi
hb_log "docker engine is up (pid $(cat "$PIDFILE" 2>/dev/null || echo "$pid"), server $(curl -sf --unix-socket "$SOCK" http://localhost/version | sed -n 's/.*"Version":"\([^"]*\)".*"ApiVersion":"\([^"]*\)".*/\1, API \2/p'))"
