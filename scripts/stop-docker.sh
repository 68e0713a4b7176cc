#!/usr/bin/env bash
# Stop the dockerd started by scripts/start-docker.sh (by the pid in /var/run/docker.pid), waiting up to
# $HERA_BUILD_DOCKER_TIMEOUT seconds (default 30) before a SIGKILL. Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

PIDFILE=/var/run/docker.pid
TIMEOUT="${HERA_BUILD_DOCKER_TIMEOUT:-30}"

if [ ! -s "$PIDFILE" ]; then
  hb_log "no $PIDFILE: dockerd is not running (or was not started by start-docker.sh)"
  exit 0
fi
pid="$(cat "$PIDFILE")"
if ! kill -0 "$pid" 2>/dev/null; then
  hb_log "dockerd (pid $pid) is not running; removing $PIDFILE"
  rm -f "$PIDFILE"
  exit 0
fi
hb_log "stopping dockerd (pid $pid)"
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
if ! hb_wait "$TIMEOUT" gone; then
  hb_log "dockerd did not stop within ${TIMEOUT}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  hb_wait 10 gone || hb_die "dockerd (pid $pid) survived SIGKILL"
  rm -f "$PIDFILE"
fi
hb_log "dockerd stopped"
