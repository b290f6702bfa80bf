#!/usr/bin/env bash
# The bridge in real use: the software SIM behind a fake modem on a
# pseudo-terminal (or, with the argument mbim or qmi, behind the fake MBIM
# function or QMI device), `iotsafe bridge` exposing it to pcscd, and three separate
# processes signing through pcscd at once (two CLI loops and pkcs11-tool
# through the PKCS#11 library); every signature verifies. Needs a running
# pcscd with vpcd (test.sh starts one).
#
#   scripts/bridge-test.sh [modem|mbim|qmi]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/iotsafe
DIR=$(mktemp -d /tmp/iotsafe-bridge.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" emulator init --state "$DIR/sim.json" >/dev/null
KIND=${1:-modem}
case "$KIND" in
  modem) SERVE=(--modem --quirks) ;;
  mbim) SERVE=(--mbim) ;;
  qmi) SERVE=(--qmi) ;;
  *) fail "usage: $0 [modem|mbim|qmi]" ;;
esac
"$BIN" emulator serve --state "$DIR/sim.json" "${SERVE[@]}" >"$DIR/modem.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$DIR/modem.out" ] && break; sleep 0.1; done
TTY=$(head -1 "$DIR/modem.out")
[ -e "$TTY" ] || fail "the fake $KIND did not start: $(cat "$DIR/modem.out")"
SIM="modem:$TTY"
[ "$KIND" != modem ] && SIM="$KIND:$TTY?proxy=0"
"$BIN" --sim "$SIM" bridge --vpcd 127.0.0.1:35963 >"$DIR/bridge.log" 2>&1 &
PIDS+=($!)
export IOTSAFE_SIM=pcsc: IOTSAFE_PKCS11_STORE=$DIR/store IOTSAFE_PKCS11_LOG=$DIR/p11.log
ok=0
for _ in $(seq 1 100); do timeout 60 "$BIN" info >/dev/null 2>&1 && { ok=1; break; }; sleep 0.1; done
[ $ok = 1 ] || fail "the bridged SIM did not appear in pcscd: $(cat "$DIR/bridge.log")"
timeout 60 "$BIN" pubkey --key 01 >"$DIR/pub.pem"

signer() { # signer N: sign and verify (openssl) 5 files in a row
  local i
  for i in 1 2 3 4 5; do
    head -c 2000 /dev/urandom >"$DIR/f$1.$i"
    timeout 60 "$BIN" sign --key 01 --in "$DIR/f$1.$i" --out "$DIR/s$1.$i" || return 1
    openssl dgst -sha256 -verify "$DIR/pub.pem" -signature "$DIR/s$1.$i" "$DIR/f$1.$i" >/dev/null || return 1
  done
}
p11signer() {
  local i
  for i in 1 2 3; do
    head -c 32 /dev/urandom >"$DIR/d.$i"
    timeout 60 pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" --sign -m ECDSA --id 01 -i "$DIR/d.$i" \
      -o "$DIR/p.$i" --signature-format openssl >/dev/null 2>&1 || return 1
    openssl pkeyutl -verify -pubin -inkey "$DIR/pub.pem" -in "$DIR/d.$i" -sigfile "$DIR/p.$i" >/dev/null || return 1
  done
}
signer 1 & a=$!
signer 2 & b=$!
p11signer & c=$!
wait $a || fail "CLI process 1 failed"
wait $b || fail "CLI process 2 failed"
wait $c || fail "pkcs11-tool process failed: $(tail -3 "$DIR/p11.log" 2>/dev/null)"
echo "bridge ($KIND): three processes signed at once through pcscd and one $KIND device; 13 signatures verified"
