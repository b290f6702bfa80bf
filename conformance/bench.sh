#!/usr/bin/env bash
# C_Sign (CKM_ECDSA, P-256) per second through libiotsafe-pkcs11 on the
# in-process emulator and through SoftHSM2 holding a P-256 key, from the same
# C harness (conformance/bench.c), RUNS times each, alternating. Prints the
# figures as Go benchmark lines (package pkcs11mod/cabi) for bench/report.
#   conformance/bench.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-5}
SECS=${2:-2}
WORK=$(mktemp -d /tmp/iotsafe-p11bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/bench" conformance/bench.c $(pkg-config --cflags p11-kit-1) -ldl
"$ROOT/build/iotsafe" emulator init --state "$WORK/sim.json" >/dev/null
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
[ -f "$SOFTHSM" ] || SOFTHSM=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/tokens" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 >/dev/null
pkcs11-tool --module "$SOFTHSM" --login --pin 1234 --keypairgen --key-type EC:prime256v1 --id 01 --label device-key >/dev/null 2>&1
echo "pkg: github.com/go-iotsafe/iotsafe/pkcs11mod/cabi"
line() { # name "module C_Sign/s R signatures N seconds T"
  awk -v n="$1" '{ printf "%s\t%d\t%.0f ns/op\n", n, $5, 1e9 / $3 }'
}
for _ in $(seq 1 "$RUNS"); do
  IOTSAFE_SIM="emulator:$WORK/sim.json" IOTSAFE_PKCS11_STORE="$WORK/store" \
    "$WORK/bench" "$ROOT/build/libiotsafe-pkcs11.so" device-key "" "$SECS" | line BenchmarkCSignIoTSAFE
  "$WORK/bench" "$SOFTHSM" device-key 1234 "$SECS" | line BenchmarkCSignSoftHSM2
done
