#!/usr/bin/env bash
# pcscd restarting under a SIM in use: the software SIM sits in pcscd's vpcd
# reader; while pcscd is down the CLI and the PKCS#11 library fail with a
# clear error; once pcscd is back (and the emulator has reconnected to it)
# signing works again and the SIM's keys are intact. Needs a pcscd started
# by scripts/pcscd.sh (the one test.sh starts), since it restarts it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/iotsafe
DIR=$(mktemp -d /tmp/iotsafe-pcscd-restart.XXXXXX)
SERVE=
cleanup() { [ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ ! -f /tmp/iotsafe-pcscd.pid ]; then
  echo "not run: the pcscd in use was not started by scripts/pcscd.sh, so it is not ours to restart"
  exit 0
fi
"$BIN" emulator init --state "$DIR/sim.json" >/dev/null
"$BIN" emulator serve --state "$DIR/sim.json" --vpcd 127.0.0.1:35963 >"$DIR/serve.log" 2>&1 &
SERVE=$!
export IOTSAFE_SIM=pcsc: IOTSAFE_PKCS11_STORE=$DIR/store IOTSAFE_PKCS11_LOG=$DIR/p11.log
head -c 5000 /dev/urandom >"$DIR/fw.bin"

# until: run a command until it succeeds, at most N tenths of a second.
until_ok() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

until_ok 100 "$BIN" info || fail "the software SIM did not appear in pcscd: $(cat "$DIR/serve.log")"
"$BIN" pubkey --key 01 >"$DIR/before.pem"
"$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig1" || fail "sign before the restart"
echo "signed through pcscd"

scripts/pcscd.sh stop
if "$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig2" 2>"$DIR/down.err"; then
  fail "signing succeeded with pcscd stopped"
fi
grep -qi -E "pcsc|service|reader" "$DIR/down.err" || fail "unclear error with pcscd down: $(cat "$DIR/down.err")"
echo "pcscd down: $(head -1 "$DIR/down.err")"
pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" -L >"$DIR/p11down.txt" 2>&1 || true
grep -q "(empty)" "$DIR/p11down.txt" || fail "PKCS#11 slot not empty with pcscd down: $(cat "$DIR/p11down.txt")"

scripts/pcscd.sh start >/dev/null
until_ok 150 "$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig3" || fail "signing did not come back after pcscd restarted: $(tail -5 "$DIR/serve.log")"
"$BIN" verify --key 01 --in "$DIR/fw.bin" --sig "$DIR/sig3" >/dev/null || fail "signature after the restart does not verify"
"$BIN" pubkey --key 01 | cmp -s - "$DIR/before.pem" || fail "the SIM's key changed across the restart"
openssl dgst -sha256 -binary "$DIR/fw.bin" >"$DIR/fw.sha"
pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" --sign -m ECDSA --id 01 -i "$DIR/fw.sha" -o "$DIR/sig4" >/dev/null 2>&1 \
  || fail "PKCS#11 signing after the restart"
echo "pcscd restarted: the SIM is back, signing works (CLI and PKCS#11), keys intact"
