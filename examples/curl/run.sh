#!/usr/bin/env bash
# examples/curl: curl and openssl use a SIM credential, provisioned zero-touch,
# through the PKCS#11 library, unchanged: only pkcs11: URIs on their command
# lines. Everything runs on the software SIM and on 127.0.0.1.
#
#   1. a software SIM; a local EST server with its CA (iotsafe est-server)
#   2. zero-touch provisioning: key pair generated on the SIM, CSR signed
#      there, EST enrolment, certificate delivered to the SIM
#   3. the "cloud": openssl s_server demanding a client certificate of the CA
#   4. curl with key and certificate from the token; openssl s_client with
#      the OpenSSL pkcs11 engine
#   5. the same with the certificate kept in the PKCS#11 host-side store
#      (iotsafe provision --deliver pkcs11-store) on a second SIM
#   6. the operator deletes the key: the token no longer offers it and
#      curl cannot authenticate
#
# Needs build/iotsafe and build/libiotsafe-pkcs11.so (make build pkcs11),
# curl, openssl and the OpenSSL pkcs11 engine (libengine-pkcs11-openssl).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/build/iotsafe
LIB=$ROOT/build/libiotsafe-pkcs11.so
for f in "$BIN" "$LIB"; do [ -f "$f" ] || { echo "missing $f: run make build pkcs11" >&2; exit 1; }; done
for t in curl openssl pkcs11-tool; do
  command -v $t >/dev/null || { echo "$t is missing: apt-get install curl openssl opensc libengine-pkcs11-openssl" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/iotsafe-curl.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
cd "$DIR"
say() { printf '\n\033[1m-- %s\033[0m\n' "$*"; }

export IOTSAFE_PKCS11_STORE=$DIR/p11store
export PKCS11_MODULE_PATH=$LIB # where the OpenSSL pkcs11 engine finds the module
TOKEN='pkcs11:token=IoT%20SAFE'
KEY="$TOKEN;object=ztp-key;type=private"
CERT="$TOKEN;object=ztp-key;type=cert"

say "1. A software SIM and a local EST server that knows the SIM maker's factory CA"
"$BIN" emulator init --state sim.json
# The factory CA travels from the SIM maker to the operator's CA; here it is
# read off the software SIM. A bootstrap password stays the fallback, from a
# file (never on a command line).
"$BIN" --sim "emulator:$DIR/sim.json" read-file --label ca-cert --pem --out factory-ca.pem
(umask 077; head -c 18 /dev/urandom | base64 >bootstrap.pw)
"$BIN" est-server --dir ca --listen 127.0.0.1:0 --bootstrap-ca factory-ca.pem --user device --password-file bootstrap.pw \
  --ready-file est.url >est.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s est.url ] && break; sleep 0.1; done
[ -s est.url ] || { cat est.log; echo "EST server did not start" >&2; exit 1; }
echo "EST server at $(cat est.url)"

say "2. Zero-touch provisioning: key pair on the SIM, CSR, enrolment, certificate to the SIM"
export IOTSAFE_SIM=emulator:$DIR/sim.json
"$BIN" provision --key 02 --est "$(cat est.url)" --est-ca ca/ca.pem --factory-key device-key --cn "meter-{key}"
timeout 60 pkcs11-tool --module "$LIB" -O --type cert 2>/dev/null | grep -A3 "label: *ztp-key"

say "3. The cloud: an HTTPS server that demands a client certificate from the CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 1 2>/dev/null
cloud() { # cloud: one connection; sets PORT
  local i
  for i in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 20000))
    timeout 60 openssl s_server -accept "127.0.0.1:$PORT" -naccept 1 -www -cert srv.pem -key srv.key \
      -Verify 1 -verify_return_error -CAfile ca/ca.pem >cloud.log 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do grep -q ACCEPT cloud.log 2>/dev/null && return 0; sleep 0.1; done
  done
  echo "the cloud server did not start" >&2
  return 1
}

say "4a. curl: key and certificate from the SIM, named by pkcs11: URIs"
cloud
echo "curl --cert '$CERT' --key '$KEY' https://127.0.0.1:$PORT/"
curl -sS --max-time 30 --cert "$CERT" --key "$KEY" --cacert srv.pem "https://127.0.0.1:$PORT/" >page.html
grep -E "^(New, |Peer signature type|Peer signing digest)" page.html | head -3
grep -q "Cipher is" page.html
echo "mutual TLS OK: the server accepted $(sed -n 's/.*depth=0 //p' cloud.log | head -1)"

say "4b. openssl s_client with the pkcs11 engine"
cloud
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -engine pkcs11 -keyform engine \
  -key "$KEY" -cert <(pkcs11-tool --module "$LIB" --read-object --type cert --label ztp-key 2>/dev/null | openssl x509 -inform DER) \
  -CAfile srv.pem -verify_return_error -ign_eof -quiet >sclient.out 2>sclient.err
grep -q "Cipher is" sclient.out
echo "mutual TLS OK with openssl s_client"

say "5. A second SIM whose certificate is kept in the PKCS#11 host-side store"
"$BIN" emulator init --state sim2.json
export IOTSAFE_SIM=emulator:$DIR/sim2.json
# Its factory CA is not the first SIM's: it enrols with the bootstrap password.
"$BIN" provision --key 02 --deliver pkcs11-store --est "$(cat est.url)" --est-ca ca/ca.pem --user device --password-file bootstrap.pw --cn "tracker-{key}"
cloud
curl -sS --max-time 30 --cert "$CERT" --key "$KEY" --cacert srv.pem "https://127.0.0.1:$PORT/" >page2.html
grep -q "Cipher is" page2.html
echo "mutual TLS OK: certificate from the host store, key on the SIM"

say "6. The operator deletes the key over the air"
"$BIN" --sim emulator:sim2.json emulator admin delete --key 02
timeout 60 pkcs11-tool --module "$LIB" -O >after.txt 2>&1 || true
if grep -q "ID: *02$" after.txt; then
  echo "the removed key is still offered: this is a bug" >&2; exit 1
fi
echo "the token no longer offers key 02 nor its certificate (no object with ID 02 left)"
cloud
if curl -sS --max-time 30 --cert "$CERT" --key "$KEY" --cacert srv.pem "https://127.0.0.1:$PORT/" >page3.html 2>curl3.err; then
  echo "curl authenticated with a removed credential: this is a bug" >&2; exit 1
fi
echo "curl refused: $(head -1 curl3.err)"
echo
echo "examples/curl: done"
