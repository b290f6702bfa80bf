#!/usr/bin/env bash
# What a host that waits in C_WaitForSlotEvent for its whole life (strongSwan's
# charon does) costs the SIM: APDUs per hour while idle, per transport. For
# each transport the SIM counts the APDUs of a run that waits WINDOW seconds
# and of one that waits 0 s (start-up and close); the difference, scaled to an
# hour, is the idle cost. Goal: 0 through PC/SC, at most 60 an hour elsewhere.
# Usage: bench/idle.sh [WINDOW]   (prints a Markdown section on stdout)
# Needs build/iotsafe, build/libiotsafe-pkcs11.so, a C compiler and, for the
# PC/SC row, pcscd with vpcd (scripts/pcscd.sh; started here when not running).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WINDOW=${1:-130}
DIR=$(mktemp -d /tmp/iotsafe-idle.XXXXXX)
PIDS=()
started_pcscd=0
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$started_pcscd" = 1 ] && scripts/pcscd.sh stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
cc -O2 -Wall -I pkcs11mod/cabi -o "$DIR/waitevent" conformance/waitevent.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
"$ROOT/build/iotsafe" emulator init --state "$DIR/sim.json" >/dev/null
export IOTSAFE_PKCS11_STORE=$DIR/store
apdus() { sed -E 's/.*apdus=([0-9]+).*/\1/' "$1" | awk '{s+=$1} END {print s+0}'; }

# wait_run SIM SECONDS: the library waits that long with SIM.
wait_run() { IOTSAFE_SIM=$1 timeout $(( $2 + 60 )) "$DIR/waitevent" "$ROOT/build/libiotsafe-pkcs11.so" "$2" >/dev/null; }

# served KIND SECONDS: the emulator served as KIND (modem, vpcd), the
# library waiting that long; prints the APDUs the served SIM saw.
served() {
  local kind=$1 secs=$2 stats=$DIR/stats-$1-$2 sim pid path
  rm -f "$stats"
  case "$kind" in
    modem)
      "$ROOT/build/iotsafe" emulator serve --state "$DIR/sim.json" --modem --stats "$stats" >"$DIR/path" 2>"$DIR/serve.log" &
      pid=$!
      for _ in $(seq 1 100); do [ -s "$DIR/path" ] && break; sleep 0.05; done
      sim="modem:$(head -1 "$DIR/path")" ;;
    vpcd)
      "$ROOT/build/iotsafe" emulator serve --state "$DIR/sim.json" --vpcd 127.0.0.1:35963 --stats "$stats" 2>"$DIR/serve.log" &
      pid=$!
      # pcscd polls vpcd about twice a second: no APDU is spent to see
      # the card arrive (a probe would count).
      sleep 3
      sim="pcsc:" ;;
  esac
  wait_run "$sim" "$secs"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  apdus "$stats"
}

row() { # row NAME BASELINE LOADED
  local idle=$(( $3 - $2 ))
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$WINDOW" "$idle" \
    "$(awk -v n="$idle" -v w="$WINDOW" 'BEGIN{printf "%.0f", n*3600/w}')" "$4"
}

echo
echo "## Idle cost of a host waiting in C_WaitForSlotEvent (bench/idle.sh)"
echo
echo "APDUs the SIM saw while one thread of a host blocked in C_WaitForSlotEvent for the window, beyond"
echo "those of start-up and close (a run that waits 0 s), and that rate per hour."
echo
echo "| Transport | window s | idle APDUs | per hour | goal |"
echo "|---|---|---|---|---|"
rm -f "$DIR/st0" "$DIR/st1"
wait_run "emulator:$DIR/sim.json?stats=$DIR/st0" 0
wait_run "emulator:$DIR/sim.json?stats=$DIR/st1" "$WINDOW"
row "in-process emulator (no presence without an APDU, as modem, MBIM and QMI)" "$(apdus "$DIR/st0")" "$(apdus "$DIR/st1")" "at most 60"
b=$(served modem 0); l=$(served modem "$WINDOW")
row "modem (AT+CSIM on a pty, the fake modem)" "$b" "$l" "at most 60"
if ! scripts/pcscd.sh status >/dev/null 2>&1; then scripts/pcscd.sh start >/dev/null && started_pcscd=1; fi
b=$(served vpcd 0); l=$(served vpcd "$WINDOW")
row "PC/SC (pcscd and vpcd)" "$b" "$l" "0"
