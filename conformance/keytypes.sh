#!/usr/bin/env bash
# PKCS#11 conformance for the optional IoT SAFE key types: an RSA-2048 key
# (container 07, "rsa-key") and a brainpoolP256r1 key (container 08,
# "brainpool-key"), driven by the real consumers (OpenSC pkcs11-tool, the
# OpenSSL pkcs11 engine, curl, GnuTLS), every signature checked by openssl
# with the exported public key, every TLS peer a real openssl s_server on
# 127.0.0.1.
#
#   conformance/keytypes.sh iotsafe   # build/libiotsafe-pkcs11.so on the gsma-keytypes emulator, which
#                                     # takes extended-length APDUs (an RSA signature in one answer)
#   conformance/keytypes.sh pcsc      # the same with a pcsc: SIM (the emulator in pcscd through vpcd,
#                                     # short APDUs: every RSA answer crosses a real PC/SC stack in 61xx parts)
#   conformance/keytypes.sh softhsm   # SoftHSM2 holding equivalent keys (the reference)
#
# Needs build/libiotsafe-pkcs11.so and build/iotsafe (make pkcs11 build).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${1:-iotsafe}
. "$ROOT/conformance/lib.sh"
workdir keytypes

case "$TARGET" in
  iotsafe | pcsc)
    MOD=$ROOT/build/libiotsafe-pkcs11.so
    [ -f "$MOD" ] || { echo "build/libiotsafe-pkcs11.so is missing: run make pkcs11" >&2; exit 1; }
    "$ROOT/build/iotsafe" emulator init --profile gsma-keytypes --state "$WORK/sim.json" >/dev/null
    SIM="emulator:$WORK/sim.json?extended=1"
    if [ "$TARGET" = pcsc ]; then
      pcsc_sim "$WORK/sim.json"
      SIM="pcsc:"
    fi
    # Key generation replaces the factory keys of containers 07 and 08.
    printf 'store: %s\nlog: %s\nlog-level: info\n[slot]\nsim: %s\nreplace-keys: yes\n' \
      "$WORK/store" "$WORK/module.log" "$SIM" >"$WORK/pkcs11.conf"
    export IOTSAFE_PKCS11_CONF="$WORK/pkcs11.conf"
    TOKEN="IoT SAFE" PIN=""
    for i in $(seq 1 100); do # the card reaches pcscd through vpcd in a moment
      pkcs11-tool --module "$MOD" -L 2>/dev/null | grep -q "token label *: $TOKEN" && break
      sleep 0.1
    done
    ;;
  softhsm)
    MOD=/usr/lib/softhsm/libsofthsm2.so
    [ -f "$MOD" ] || MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
    mkdir -p "$WORK/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/tokens" >"$WORK/softhsm2.conf"
    export SOFTHSM2_CONF="$WORK/softhsm2.conf"
    TOKEN=keytypes PIN=1234
    softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin 12345678 >/dev/null
    # The same layout as the emulator's: RSA-2048 in 07, brainpool in 08.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out r.key 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 -out b.key 2>/dev/null
    t="pkcs11-tool --module $MOD --login --pin $PIN"
    for k in r:07:rsa-key:--usage-sign 'b:08:brainpool-key:--usage-sign --usage-derive'; do
      IFS=: read -r f id label usage <<<"$k"
      openssl pkcs8 -topk8 -nocrypt -in $f.key -outform DER -out $f.p8
      openssl pkey -in $f.key -pubout -outform DER -out $f.pub.der
      $t --write-object $f.p8 --type privkey --id $id --label $label $usage >/dev/null 2>&1
      $t --write-object $f.pub.der --type pubkey --id $id --label $label >/dev/null 2>&1
    done
    ;;
  *) echo "usage: $0 iotsafe|pcsc|softhsm" >&2; exit 2 ;;
esac

LOGIN=()
URIPIN=""
if [ -n "$PIN" ]; then
  LOGIN=(--login --pin "$PIN")
  URIPIN="?pin-value=$PIN"
fi
P11() { timeout 120 pkcs11-tool --module "$MOD" --token-label "$TOKEN" "${LOGIN[@]}" "$@"; }
SUB() { bash -c "set -e; $(declare -f P11 has); LOGIN=(${LOGIN[*]}); MOD='$MOD'; TOKEN='$TOKEN'; $1"; }
TOK="pkcs11:token=$(printf '%s' "$TOKEN" | sed 's/ /%20/g')"
RKEY="$TOK;object=rsa-key;type=private$URIPIN"
BKEY="$TOK;object=brainpool-key;type=private$URIPIN"
export PKCS11_MODULE_PATH=$MOD
echo "== key types: $TARGET ($MOD), token '$TOKEN'"

echo "conformance message" >msg
head -c 100000 /dev/urandom >big.bin
openssl dgst -sha256 -binary msg >msg.sha256
# The DER DigestInfo of msg's SHA-256 (RFC 8017 §9.2 note 1), what TLS 1.2
# stacks hand to CKM_RSA_PKCS.
{ printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; cat msg.sha256; } >msg.di
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout eca.key -out eca.pem \
  -subj "/CN=key types CA" -days 2 2>/dev/null
export CAFILE=eca.pem

echo "-- pkcs11-tool"
T "-O lists the RSA-2048 and brainpoolP256r1 key pairs" SUB '
  P11 -O >o.txt; cat o.txt
  grep -q "Private Key Object; RSA" o.txt && grep -q "Public Key Object; RSA 2048 bits" o.txt
  grep -q "EC_PARAMS: *06092b2403030208010107" o.txt'
T "-M advertises the RSA mechanisms and RSA key generation" SUB '
  P11 -M >m.txt; cat m.txt
  for m in RSA-PKCS-KEY-PAIR-GEN "RSA-PKCS," SHA256-RSA-PKCS SHA512-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS; do
    grep -q "^ *$m" m.txt || { echo "missing $m"; false; }
  done'
T "read-object: the RSA and brainpool public keys" SUB '
  P11 --read-object --type pubkey --id 07 -o rpub.der
  P11 --read-object --type pubkey --id 08 -o bpub.der
  openssl pkey -pubin -inform DER -in rpub.der -out rpub.pem
  openssl pkey -pubin -inform DER -in bpub.der -out bpub.pem
  openssl pkey -pubin -in rpub.pem -noout -text | grep -q "Public-Key: (2048 bit)"
  openssl pkey -pubin -in bpub.pem -noout -text | grep -q "ASN1 OID: brainpoolP256r1"'
T "sign CKM_SHA256/384/512_RSA_PKCS (short and 100 kB input), openssl verifies, the token verifies" SUB '
  for h in 256 384 512; do for f in msg big.bin; do
    P11 --sign -m SHA$h-RSA-PKCS --id 07 -i $f -o r$h.sig
    [ $(stat -c %s r$h.sig) = 256 ]
    openssl dgst -sha$h -verify rpub.pem -signature r$h.sig $f
    P11 --verify -m SHA$h-RSA-PKCS --id 07 -i $f --signature-file r$h.sig | grep -q "Signature is valid"
  done; done'
T "sign CKM_RSA_PKCS over a SHA-256 DigestInfo, openssl verifies" SUB '
  P11 --sign -m RSA-PKCS --id 07 -i msg.di -o rdi.sig
  openssl pkeyutl -verify -pubin -inkey rpub.pem -in msg.sha256 -sigfile rdi.sig -pkeyopt digest:sha256'
T "sign CKM_RSA_PKCS_PSS and CKM_SHA384_RSA_PKCS_PSS (salt = hash length), openssl verifies" SUB '
  P11 --sign -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 --salt-len 32 --id 07 -i msg.sha256 -o p1.sig
  openssl pkeyutl -verify -pubin -inkey rpub.pem -in msg.sha256 -sigfile p1.sig \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt digest:sha256
  P11 --sign -m SHA384-RSA-PKCS-PSS --mgf MGF1-SHA384 --salt-len 48 --id 07 -i big.bin -o p2.sig
  openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -verify rpub.pem -signature p2.sig big.bin
  P11 --verify -m SHA384-RSA-PKCS-PSS --mgf MGF1-SHA384 --salt-len 48 --id 07 -i big.bin --signature-file p2.sig | grep -q "Signature is valid"'
if [ "$TARGET" != softhsm ]; then
  T "PSS parameters the card cannot honour are refused (salt 20, MGF1-SHA1 with SHA-256)" SUB '
    ! P11 --sign -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 --salt-len 20 --id 07 -i msg.sha256 -o x.sig >x1.txt 2>&1
    grep -q CKR_MECHANISM_PARAM_INVALID x1.txt
    ! P11 --sign -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA1 --id 07 -i msg.sha256 -o x.sig >x2.txt 2>&1
    grep -q CKR_MECHANISM_PARAM_INVALID x2.txt'
else
  NA "PSS parameters the card cannot honour are refused" "SoftHSM2 signs with any salt and MGF"
fi
T "sign CKM_ECDSA with the brainpool key, openssl verifies" SUB '
  P11 --sign -m ECDSA --id 08 -i msg.sha256 -o b.der --signature-format openssl
  openssl dgst -sha256 -verify bpub.pem -signature b.der msg'
if grep -q "ECDSA-SHA384" m.txt; then
  T "sign CKM_ECDSA_SHA384 (100 kB) with the brainpool key, openssl verifies" SUB '
    P11 --sign -m ECDSA-SHA384 --id 08 -i big.bin -o b2.der --signature-format openssl
    openssl dgst -sha384 -verify bpub.pem -signature b2.der big.bin'
else
  NA "sign CKM_ECDSA_SHA384 with the brainpool key" "the token does not offer the hashing ECDSA mechanisms (SoftHSM 2.6)"
fi
T "derive CKM_ECDH1_DERIVE with the brainpool key equals openssl ECDH" SUB '
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 -out peer.key
  openssl pkey -in peer.key -pubout -outform DER -out peer.der
  P11 --derive -m ECDH1-DERIVE --id 08 -i peer.der -o z1
  openssl pkeyutl -derive -inkey peer.key -peerkey bpub.der -peerform DER -out z2
  [ $(stat -c %s z1) = 32 ] && cmp z1 z2'

echo "-- OpenSSL pkcs11 engine (libp11)"
T "pkeyutl -sign with the RSA key (PKCS#1 v1.5 and PSS), openssl verifies" bash -c '
  set -e
  openssl pkeyutl -engine pkcs11 -keyform engine -inkey "$0" -sign -in msg.sha256 -pkeyopt digest:sha256 -out e1.sig
  openssl pkeyutl -verify -pubin -inkey rpub.pem -in msg.sha256 -sigfile e1.sig -pkeyopt digest:sha256
  openssl pkeyutl -engine pkcs11 -keyform engine -inkey "$0" -sign -in msg.sha256 -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -out e2.sig
  openssl pkeyutl -verify -pubin -inkey rpub.pem -in msg.sha256 -sigfile e2.sig -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32' "$RKEY"
T "req -new: CSRs signed by the RSA key (PKCS#1 v1.5, PSS) and the brainpool key, certified by a local CA" bash -c '
  set -e
  openssl req -new -engine pkcs11 -keyform engine -key "$0" -subj "/CN=rsa device" -out r.csr
  openssl req -in r.csr -verify -noout
  cmp <(openssl req -in r.csr -noout -pubkey) rpub.pem
  openssl req -new -engine pkcs11 -keyform engine -key "$0" -subj "/CN=rsa device" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:32 -out rp.csr
  openssl req -in rp.csr -verify -noout
  openssl req -in rp.csr -noout -text | grep -q "Signature Algorithm: rsassaPss"
  openssl req -new -engine pkcs11 -keyform engine -key "$1" -subj "/CN=brainpool device" -out b.csr
  openssl req -in b.csr -verify -noout
  cmp <(openssl req -in b.csr -noout -pubkey) bpub.pem
  openssl x509 -req -in r.csr -CA eca.pem -CAkey eca.key -CAcreateserial -days 1 -out r.pem 2>/dev/null
  openssl x509 -req -in b.csr -CA eca.pem -CAkey eca.key -CAcreateserial -days 1 -out b.pem 2>/dev/null' "$RKEY" "$BKEY"

# tls NAME KEY CERT CN EXPECT SERVER-ARGS... -- CLIENT-ARGS...: s_client with
# the token key and CERT to s_server -Verify 1; the server must accept CN,
# and the client's log (with the s_server -www page: the server's view of
# the handshake) must hold every '|'-separated regular expression of
# EXPECT. The server's own key is P-256, so an RSA signature type there is
# the client's.
tls() {
  local name=$1 key=$2 cert=$3 cn=$4 expect=$5; shift 5
  T "$name" bash -c '
    set -e
    '"$(declare -f serve served has)"'
    PIDS=(); DEV_CN="$0"; key=$1; cert=$2; n=$3; expect=$4; shift 4
    s=(); while [ "$1" != -- ]; do s+=("$1"); shift; done; shift
    serve srv.$n.log "${s[@]}"
    printf "GET / HTTP/1.0\r\n\r\n" | timeout 30 openssl s_client -connect 127.0.0.1:$PORT -engine pkcs11 -keyform engine \
      -key "$key" -cert "$cert" -CAfile srv.pem -verify_return_error -ign_eof "$@" >cli.$n.log 2>&1 || { cat cli.$n.log; false; }
    served srv.$n.log
    IFS="|" read -ra want <<<"$expect"
    for w in "${want[@]}"; do has "$w" cli.$n.log; done' "$cn" "$key" "$cert" "$(echo "$name" | tr -c 'A-Za-z0-9' _)" "$expect" "$@"
}
echo "-- TLS with the RSA key (openssl s_client to s_server -Verify 1)"
tls "TLS 1.3 mutual TLS with the RSA key (rsa_pss_rsae_sha256)" "$RKEY" r.pem "rsa device" \
  "Protocol  : TLSv1.3|^Peer signature type: RSA-PSS$" -tls1_3 --
tls "TLS 1.2 mutual TLS with the RSA key, server asks RSA+SHA256 (PKCS#1 v1.5)" "$RKEY" r.pem "rsa device" \
  "Protocol  : TLSv1.2|^Peer signature type: RSA$|^Peer signing digest: SHA256" -tls1_2 -client_sigalgs RSA+SHA256 --
tls "TLS 1.2 mutual TLS with the RSA key, server asks RSA-PSS+SHA384" "$RKEY" r.pem "rsa device" \
  "Protocol  : TLSv1.2|^Peer signature type: RSA-PSS$|^Peer signing digest: SHA384" -tls1_2 -client_sigalgs RSA-PSS+SHA384 --
echo "-- TLS with the brainpool key"
# OpenSSL 3.0 offers no brainpool TLS 1.3 signature scheme (RFC 8734) and
# leaves brainpool out of its default groups: TLS 1.2, both sides listing
# the curve.
tls "TLS 1.2 mutual TLS with the brainpool key (both sides list brainpoolP256r1)" "$BKEY" b.pem "brainpool device" \
  "Protocol  : TLSv1.2" -tls1_2 -groups P-256:brainpoolP256r1 -- -groups P-256:brainpoolP256r1

echo "-- curl and GnuTLS with the RSA key"
T "curl mutual TLS with the RSA key" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="rsa device"
  serve srv.curl.log
  timeout 30 curl -sS --engine pkcs11 --key-type ENG --key "$0" --cert r.pem --cacert srv.pem https://127.0.0.1:$PORT/ >curl.out
  has "Cipher is" curl.out
  served srv.curl.log' "$RKEY"
T "write-object the RSA certificate to the token; curl takes certificate and key from the token" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="rsa device"
  openssl x509 -in r.pem -outform DER -out r.der
  timeout 60 pkcs11-tool --module "$0" --token-label "$1" ${4:+--login --pin $4} --write-object r.der --type cert --id 07 --label rsa-key
  serve srv.curl2.log
  timeout 30 curl -sS --cert "$2" --key "$3" --cacert srv.pem https://127.0.0.1:$PORT/ >curl2.out
  has "Cipher is" curl2.out
  served srv.curl2.log' "$MOD" "$TOKEN" "$TOK;object=rsa-key;type=cert$URIPIN" "$RKEY" "$PIN"
T "write-object the brainpool certificate to the token; it reads back byte for byte, with its subject" SUB '
  openssl x509 -in b.pem -outform DER -out bcert.der
  P11 --write-object bcert.der --type cert --id 08 --label brainpool-key >wb.txt 2>&1 || { cat wb.txt; false; }
  P11 --read-object --type cert --id 08 --output-file b.back.der >/dev/null 2>&1
  cmp bcert.der b.back.der
  P11 --list-objects --type cert >lb.txt 2>&1
  grep -A3 "label: *brainpool-key" lb.txt | grep -q "brainpool device"'
T "p11tool --test-sign with the RSA key" bash -c '
  GNUTLS_PIN="$2" timeout 60 p11tool --provider "$0" ${2:+--login} --test-sign "$1" >ts.txt 2>&1; r=$?; cat ts.txt
  [ $r = 0 ] && grep -q "Verifying against public key in the token... ok" ts.txt' "$MOD" "$TOK;object=rsa-key;type=private" "$PIN"
T "gnutls-cli TLS 1.3 mutual TLS with the RSA key" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="rsa device"
  serve srv.gnutls.log
  printf "GET / HTTP/1.0\r\n\r\n" | GNUTLS_PIN="$2" timeout 30 gnutls-cli --provider "$0" --x509keyfile "$1" --x509certfile r.pem \
    --x509cafile srv.pem -p $PORT 127.0.0.1 >gc.txt 2>&1 || { cat gc.txt; false; }
  has "Handshake was completed" gc.txt
  has "(TLS1.3" gc.txt
  served srv.gnutls.log' "$MOD" "$TOK;object=rsa-key;type=private${PIN:+;pin-value=$PIN}" "$PIN"

T "GnuTLS 3.7 (Debian 12) takes no brainpool key: p11tool says the curve is unsupported" bash -c '
  GNUTLS_PIN="$2" timeout 60 p11tool --provider "$0" ${2:+--login} --test-sign "$1" >tb.txt 2>&1; cat tb.txt
  grep -q "The curve is unsupported" tb.txt' "$MOD" "$TOK;object=brainpool-key;type=private" "$PIN"

echo "-- key generation"
if [ "$TARGET" = softhsm ]; then
  # SoftHSM adds a key pair beside the one of the same ID; the SIM replaces
  # the container's key (replace-keys: yes). Remove SoftHSM's first.
  for id in 07 08; do for ty in privkey pubkey; do
    P11 --delete-object --type $ty --id $id >/dev/null 2>&1
  done; done
fi
T "keypairgen RSA 2048 into 07, sign, openssl verifies with the new key" SUB '
  P11 --keypairgen --key-type rsa:2048 --id 07 --label rsa-key --usage-sign
  P11 --read-object --type pubkey --id 07 -o rgen.der
  openssl pkey -pubin -inform DER -in rgen.der -out rgen.pem
  ! cmp -s rgen.pem rpub.pem
  P11 --sign -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 --salt-len 32 --id 07 -i msg -o g.sig
  openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify rgen.pem -signature g.sig msg'
T "keypairgen EC brainpoolP256r1 into 08, sign, openssl verifies with the new key" SUB '
  P11 --keypairgen --key-type EC:brainpoolP256r1 --id 08 --label brainpool-key --usage-sign
  P11 --read-object --type pubkey --id 08 -o bgen.der
  openssl pkey -pubin -inform DER -in bgen.der -out bgen.pem
  ! cmp -s bgen.pem bpub.pem
  P11 --sign -m ECDSA --id 08 -i msg.sha256 -o bg.der --signature-format openssl
  openssl dgst -sha256 -verify bgen.pem -signature bg.der msg'

summary "key types: $TARGET"
