#!/usr/bin/env bash
# Starts or stops a pcscd for the tests: `scripts/pcscd.sh start|stop|status`.
# start runs `pcscd -f -a` in the background (unless one already runs, which
# is then left alone), logs to /tmp/iotsafe-pcscd.log and waits, bounded,
# until it lists its readers (the vpcd virtual readers, whose card side the
# tests connect to 127.0.0.1:35963 only). stop ends only a pcscd it started,
# and removes its pid file and log.
set -euo pipefail
PIDFILE=/tmp/iotsafe-pcscd.pid
LOG=/tmp/iotsafe-pcscd.log

# up: a live pcscd answers and lists the vpcd readers (pgrep would also
# count a defunct one).
up() { timeout 2 pcsc_scan -r 2>/dev/null | grep -q 'Virtual PCD'; }

case "${1:-}" in
start)
  if up; then
    echo "pcscd already running; using it"
    exit 0
  fi
  command -v pcscd >/dev/null || { echo "pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)" >&2; exit 1; }
  pcscd -f -a >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 50); do
    if up; then
      echo "pcscd started (pid $(cat "$PIDFILE")), readers: $(timeout 2 pcsc_scan -r 2>/dev/null | grep -c 'Virtual PCD') virtual"
      exit 0
    fi
    sleep 0.2
  done
  echo "pcscd did not come up; its log:" >&2
  cat "$LOG" >&2
  "$0" stop
  exit 1
  ;;
stop)
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE" "$LOG"
  fi
  ;;
status)
  up && echo "pcscd running" || { echo "pcscd not running"; exit 1; }
  ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
