#!/usr/bin/env bash
# Two separate processes signing at once through libmbim's mbim-proxy (or
# libqmi's qmi-proxy), each on its own logical channel of the SIM behind
# the fake MBIM function (QMI device); every signature is checked by
# openssl. The proxy is what ModemManager shares a modem through. This
# script starts the proxy only when none runs, and stops only the one it
# started; a proxy that runs already (ModemManager's) is left alone and
# the check is skipped, saying so.
#
#   scripts/ctl-proxy-test.sh mbim|qmi
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/iotsafe
KIND=${1:?usage: $0 mbim|qmi}
case "$KIND" in
  mbim) PROXY=/usr/libexec/mbim-proxy SOCK=@mbim-proxy ;;
  qmi) PROXY=/usr/libexec/qmi-proxy SOCK=@qmi-proxy ;;
  *) echo "usage: $0 mbim|qmi" >&2; exit 2 ;;
esac
DIR=$(mktemp -d /tmp/iotsafe-proxy.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$PROXY" ] || fail "$PROXY is missing (apt-get install lib$KIND-utils)"
if grep -q " $SOCK\$" /proc/net/unix; then
  echo "$KIND proxy: one runs already (not ours): left alone, check skipped"
  exit 0
fi
"$PROXY" --empty-timeout=0 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q " $SOCK\$" /proc/net/unix && break; sleep 0.05; done
grep -q " $SOCK\$" /proc/net/unix || fail "$PROXY did not listen on $SOCK"
"$BIN" emulator init --state "$DIR/sim.json" >/dev/null
"$BIN" emulator serve --state "$DIR/sim.json" --"$KIND" >"$DIR/dev.out" 2>"$DIR/dev.err" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$DIR/dev.out" ] && break; sleep 0.05; done
DEV=$(head -1 "$DIR/dev.out")
[ -e "$DEV" ] || fail "the fake $KIND device did not start: $(cat "$DIR/dev.err")"
export IOTSAFE_SIM="$KIND:$DEV?proxy=1"
timeout 60 "$BIN" pubkey --key 01 >"$DIR/pub.pem"
signer() { # signer N: sign and verify 10 files in a row, through the proxy
  local i
  for i in $(seq 1 10); do
    head -c 500 /dev/urandom >"$DIR/f$1.$i"
    timeout 60 "$BIN" sign --key 01 --in "$DIR/f$1.$i" --out "$DIR/s$1.$i" || return 1
    openssl dgst -sha256 -verify "$DIR/pub.pem" -signature "$DIR/s$1.$i" "$DIR/f$1.$i" >/dev/null || return 1
  done
}
signer 1 & a=$!
signer 2 & b=$!
wait $a || fail "process 1 failed"
wait $b || fail "process 2 failed"
echo "$KIND proxy: two processes signed at once through the real $(basename "$PROXY"); 20 signatures verified"
