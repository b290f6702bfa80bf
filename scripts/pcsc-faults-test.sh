#!/usr/bin/env bash
# Faults on the PC/SC path with real pcscd, from separate processes:
# 1. the SIM pulled while a C program signs in a loop through the PKCS#11
#    library: the program gets CKR_DEVICE_REMOVED (no crash, no hang), and
#    once the SIM is back a new process signs;
# 2. pcscd restarting under a SIM in use: while pcscd is down the CLI and
#    the PKCS#11 library fail with a clear error; once pcscd is back (and
#    the emulator has reconnected to it) signing works again and the SIM's
#    keys are intact. This part needs a pcscd started by scripts/pcscd.sh
#    (the one test.sh starts), since it restarts it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/iotsafe
DIR=$(mktemp -d /tmp/iotsafe-pcscd-restart.XXXXXX)
SERVE=
cleanup() { [ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
[ "${KEEP:-0}" = 1 ] && trap - EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" emulator init --state "$DIR/sim.json" >/dev/null
serve() {
  "$BIN" emulator serve --state "$DIR/sim.json" --vpcd 127.0.0.1:35963 >>"$DIR/serve.log" 2>&1 &
  SERVE=$!
}
serve
export IOTSAFE_SIM=pcsc: IOTSAFE_PKCS11_STORE=$DIR/store IOTSAFE_PKCS11_LOG=$DIR/p11.log
head -c 5000 /dev/urandom >"$DIR/fw.bin"

# until: run a command until it succeeds, at most N tenths of a second.
until_ok() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

until_ok 100 timeout 60 "$BIN" info || fail "the software SIM did not appear in pcscd: $(cat "$DIR/serve.log")"

# 1. The SIM pulled during a signing loop in C.
cc -O2 -o "$DIR/p11bench" conformance/bench.c $(pkg-config --cflags p11-kit-1) -ldl
"$DIR/p11bench" "$ROOT/build/libiotsafe-pkcs11.so" device-key "" 5 >"$DIR/loop.out" 2>"$DIR/loop.err" &
LOOP=$!
sleep 1
kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; SERVE=
set +e
timeout 20 tail --pid="$LOOP" -f /dev/null
wait "$LOOP"; rc=$?
set -e
[ $rc -eq 1 ] || fail "the signing loop ended with status $rc (want 1: a reported error, not a crash or a hang): $(cat "$DIR/loop.err")"
grep -q "C_Sign\(Init\)\? failed: 0x32" "$DIR/loop.err" || fail "want CKR_DEVICE_REMOVED (0x32) when the SIM is pulled: $(cat "$DIR/loop.err")"
echo "SIM pulled mid-loop: $(cat "$DIR/loop.err")"
serve
until_ok 100 timeout 60 "$BIN" info || fail "the software SIM did not come back: $(tail -3 "$DIR/serve.log")"
openssl dgst -sha256 -binary "$DIR/fw.bin" >"$DIR/fw.sha"
timeout 60 pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" --sign -m ECDSA --id 01 -i "$DIR/fw.sha" -o "$DIR/sig0" >/dev/null 2>&1 \
  || fail "PKCS#11 signing once the SIM is back"
echo "SIM back: a new process signs through the PKCS#11 library"

# 2. pcscd restarting.
if [ ! -f /tmp/iotsafe-pcscd.pid ]; then
  echo "pcscd restart not run: the pcscd in use was not started by scripts/pcscd.sh, so it is not ours to restart"
  exit 0
fi
timeout 60 "$BIN" pubkey --key 01 >"$DIR/before.pem"
timeout 60 "$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig1" || fail "sign before the restart"
echo "signed through pcscd"

scripts/pcscd.sh stop
if timeout 60 "$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig2" 2>"$DIR/down.err"; then
  fail "signing succeeded with pcscd stopped"
fi
grep -qi -E "pcsc|service|reader" "$DIR/down.err" || fail "unclear error with pcscd down: $(cat "$DIR/down.err")"
echo "pcscd down: $(head -1 "$DIR/down.err")"
timeout 60 pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" -L >"$DIR/p11down.txt" 2>&1 || true
grep -q "(empty)" "$DIR/p11down.txt" || fail "PKCS#11 slot not empty with pcscd down: $(cat "$DIR/p11down.txt")"

scripts/pcscd.sh start >/dev/null
until_ok 150 timeout 60 "$BIN" sign --key 01 --in "$DIR/fw.bin" --out "$DIR/sig3" || fail "signing did not come back after pcscd restarted: $(tail -5 "$DIR/serve.log")"
timeout 60 "$BIN" verify --key 01 --in "$DIR/fw.bin" --sig "$DIR/sig3" >/dev/null || fail "signature after the restart does not verify"
timeout 60 "$BIN" pubkey --key 01 | cmp -s - "$DIR/before.pem" || fail "the SIM's key changed across the restart"
timeout 60 pkcs11-tool --module "$ROOT/build/libiotsafe-pkcs11.so" --sign -m ECDSA --id 01 -i "$DIR/fw.sha" -o "$DIR/sig4" >/dev/null 2>&1 \
  || fail "PKCS#11 signing after the restart"
echo "pcscd restarted: the SIM is back, signing works (CLI and PKCS#11), keys intact"
