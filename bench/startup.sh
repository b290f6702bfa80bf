#!/usr/bin/env bash
# One-shot programs on the software SIM with its timing model: what a process
# that starts, signs once and exits pays. For each program: the APDUs the SIM
# processed, their cost in the timing model, the model cost of the signature
# itself, and the wall time of the whole process (median of N runs).
# Usage: bench/startup.sh [N]   (prints a Markdown section on stdout)
# Needs build/iotsafe, build/libiotsafe-pkcs11.so, pkcs11-tool, curl, openssl
# and the OpenSSL pkcs11 engine (the test dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-5}
BIN=$ROOT/build/iotsafe
LIB=$ROOT/build/libiotsafe-pkcs11.so
DIR=$(mktemp -d /tmp/iotsafe-startup.XXXXXX)
SRV=
cleanup() { if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; fi; rm -rf "$DIR"; }
trap cleanup EXIT
cd "$DIR"
"$BIN" emulator init --state sim.json >/dev/null
head -c 32 /dev/urandom >digest
head -c 1000 /dev/urandom >file
export IOTSAFE_PKCS11_STORE=$DIR/store PKCS11_MODULE_PATH=$LIB
URI="emulator:$DIR/sim.json?timing=1&stats=$DIR/stats"

"$BIN" --sim "emulator:$DIR/sim.json" read-file --label ca-cert --pem --out fca.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 1 2>/dev/null
PORT=$(( 20000 + RANDOM % 20000 ))
# Three curl rows of N runs, plus the readiness probe below, which takes one accept.
openssl s_server -accept "127.0.0.1:$PORT" -cert srv.pem -key srv.key -Verify 1 -CAfile fca.pem -www \
  -naccept "$((3 * N + 1))" >srv.log 2>&1 &
SRV=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

run() { # run NAME CMD...: N runs; prints one table row
  local name=$1; shift
  local walls=() i s e
  rm -f stats
  for i in $(seq 1 "$N"); do
    s=$(date +%s%N)
    IOTSAFE_SIM=$URI timeout 60 "$@" >/dev/null 2>&1 || { echo "| $name | failed | | | | |"; return; }
    e=$(date +%s%N)
    walls+=($(( (e - s) / 1000000 )))
  done
  local wall line apdus model sign
  wall=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  line=$(tail -1 stats)
  apdus=$(sed -E 's/.*apdus=([0-9]+).*/\1/' <<<"$line")
  model=$(sed -E 's/.*model_ms=([0-9.]+).*/\1/' <<<"$line")
  sign=$(sed -E 's/.*sign_ms=([0-9.]+).*/\1/' <<<"$line")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$apdus" "$model" "$sign" "$wall" \
    "$(awk -v w="$wall" -v s="$sign" 'BEGIN{ if (s > 0) printf "%.2f", w/s; else print "-" }')"
}

echo
echo "## One-shot programs on the SIM timing model (bench/startup.sh, median of $N runs)"
echo
echo "APDUs the SIM processed from start to exit (the PKCS#11 library closes its logical channel at exit:"
echo "one APDU after the signature), their cost in the timing model, the model cost of the signature"
echo "alone (Compute Signature Init + Update), the wall time of the whole process, and its ratio to the"
echo "signature (goal for pkcs11-tool: at most 1.5, for curl 2.0). The rows marked so have the library's"
echo "certificate cache on (\`cert-cache: yes\`: each certificate file costs one Read File of its last 64"
echo "bytes instead of the whole file) or its directory cache (\`directory-cache: 1h\`, which implies it:"
echo "no command reads the application information, the object list or a public key; the copy is checked"
echo "by those certificate tails), filled by one listing before the runs. Both are off by default."
echo
echo "| Program | APDUs | model ms | signature ms | wall ms | wall / signature |"
echo "|---|---|---|---|---|---|"
run "pkcs11-tool --sign -m ECDSA --id 01" pkcs11-tool --module "$LIB" --sign -m ECDSA --id 01 -i digest -o sig
run "iotsafe sign --key 01 (1000-byte file)" "$BIN" sign --key 01 --in file --out file.sig
run "curl mutual TLS 1.3, certificate and key from the token (OpenSSL pkcs11 engine)" \
  curl -sS --max-time 30 --engine pkcs11 --cert-type ENG --key-type ENG \
  --cert 'pkcs11:token=IoT%20SAFE;object=device-key;type=cert' \
  --key 'pkcs11:token=IoT%20SAFE;object=device-key;type=private' --cacert srv.pem "https://127.0.0.1:$PORT/"
# The same with the certificate cache on, then the directory cache, each
# filled by one listing first (in a store of its own).
printf 'store: %s\ncert-cache: yes\n[slot]\nsim: %s\n' "$DIR/cache-store" "$URI" >cache.conf
printf 'store: %s\ndirectory-cache: 1h\n[slot]\nsim: %s\n' "$DIR/dir-store" "$URI" >dir.conf
for c in cache dir; do
  IOTSAFE_PKCS11_STORE=$DIR/$c-store IOTSAFE_PKCS11_CONF=$DIR/$c.conf pkcs11-tool --module "$LIB" -O >/dev/null 2>&1
done
IOTSAFE_PKCS11_STORE=$DIR/cache-store IOTSAFE_PKCS11_CONF=$DIR/cache.conf run "curl as above, library's certificate cache on" \
  curl -sS --max-time 30 --engine pkcs11 --cert-type ENG --key-type ENG \
  --cert 'pkcs11:token=IoT%20SAFE;object=device-key;type=cert' \
  --key 'pkcs11:token=IoT%20SAFE;object=device-key;type=private' --cacert srv.pem "https://127.0.0.1:$PORT/"
IOTSAFE_PKCS11_STORE=$DIR/dir-store IOTSAFE_PKCS11_CONF=$DIR/dir.conf run "curl as above, library's directory cache on" \
  curl -sS --max-time 30 --engine pkcs11 --cert-type ENG --key-type ENG \
  --cert 'pkcs11:token=IoT%20SAFE;object=device-key;type=cert' \
  --key 'pkcs11:token=IoT%20SAFE;object=device-key;type=private' --cacert srv.pem "https://127.0.0.1:$PORT/"
IOTSAFE_PKCS11_STORE=$DIR/dir-store IOTSAFE_PKCS11_CONF=$DIR/dir.conf run "pkcs11-tool as above, library's directory cache on" \
  pkcs11-tool --module "$LIB" --sign -m ECDSA --id 01 -i digest -o sig
