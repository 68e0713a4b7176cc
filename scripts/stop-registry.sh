#!/usr/bin/env bash
# Stop the registry started by scripts/start-registry.sh (pid in /var/run/hera-build-registry.pid). Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
case "${1:-}" in -h|--help) sed -n '2p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

PIDFILE=/var/run/hera-build-registry.pid
if [ ! -s "$PIDFILE" ]; then hb_log "not running (no $PIDFILE)"; exit 0; fi
pid="$(cat "$PIDFILE")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  gone() { ! kill -0 "$pid" 2>/dev/null; }
  hb_wait 15 gone || { kill -KILL "$pid" 2>/dev/null || true; hb_wait 5 gone || true; }
  hb_log "registry (pid $pid) stopped"
fi
rm -f "$PIDFILE"
