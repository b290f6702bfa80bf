#!/usr/bin/env bash
# PKCS#11 conformance: drives one token with the real third-party consumers
# (OpenSC pkcs11-tool, the OpenSSL pkcs11 engine from libp11, curl, GnuTLS
# p11tool and gnutls-cli, OpenSSH, NSS certutil, p11-kit, and Go's crypto11
# through p11-kit server),
# every check against real servers on 127.0.0.1.
#
#   conformance/run.sh iotsafe   # build/libiotsafe-pkcs11.so on the emulator
#   conformance/run.sh pcsc      # the same library with a pcsc: SIM (emulator in pcscd via vpcd)
#   conformance/run.sh mbim      # the same library with an mbim: SIM (the emulator behind the fake
#                                # MBIM function on a pseudo-terminal, opened directly)
#   conformance/run.sh qmi       # ... with a qmi: SIM (the emulator behind the fake QMI device)
#   conformance/run.sh softhsm   # SoftHSM2 holding an equivalent P-256 credential
#
# Both targets run the same checks; where a token must be driven differently
# (SoftHSM needs a login, the SIM has fixed key containers) the difference
# is in the setup functions below and listed in conformance/README.md.
# Needs build/libiotsafe-pkcs11.so and build/iotsafe (make pkcs11 build).
# As root, the iotsafe target also runs `make install` to a temporary prefix
# registered with p11-kit privately (a mount namespace as root, a temporary
# HOME otherwise),
# to check that p11-kit and the OpenSSL engine find the module without any
# configuration; everything it installs is removed on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${1:-iotsafe}
. "$ROOT/conformance/lib.sh"
workdir conformance

# ---- targets --------------------------------------------------------------

setup_iotsafe() {
  MOD=$ROOT/build/libiotsafe-pkcs11.so
  [ -f "$MOD" ] || { echo "build/libiotsafe-pkcs11.so is missing: run make pkcs11" >&2; exit 1; }
  "$ROOT/build/iotsafe" emulator init --state "$WORK/sim.json" >/dev/null
  export IOTSAFE_SIM="emulator:$WORK/sim.json"
  export IOTSAFE_PKCS11_STORE="$WORK/store"
  export IOTSAFE_PKCS11_LOG="$WORK/module.log"
  TOKEN=$(pkcs11-tool --module "$MOD" -L 2>/dev/null | sed -n 's/^ *token label *: //p' | head -1)
  PIN=""
  # The SIM's containers are fixed: key generation goes into the factory's
  # empty key-generation container 02, ECDH uses the key agreement key 04.
  GEN_ID=02 GEN_LABEL=ztp-key ECDH_ID=04
  GEN_USAGE=""
}

# The same library on the emulator inserted into a real pcscd through vpcd,
# the slot configured with a pcsc: SIM URI (what a device with a USB reader
# or the iotsafe bridge in front of its modem does).
setup_pcsc() {
  MOD=$ROOT/build/libiotsafe-pkcs11.so
  "$ROOT/build/iotsafe" emulator init --state "$WORK/sim.json" >/dev/null
  pcsc_sim "$WORK/sim.json"
  export IOTSAFE_SIM="pcsc:"
  export IOTSAFE_PKCS11_STORE="$WORK/store"
  export IOTSAFE_PKCS11_LOG="$WORK/module.log"
  local i
  for i in $(seq 1 100); do
    TOKEN=$(pkcs11-tool --module "$MOD" -L 2>/dev/null | sed -n 's/^ *token label *: //p' | head -1)
    [ -n "$TOKEN" ] && break
    sleep 0.1
  done
  PIN=""
  GEN_ID=02 GEN_LABEL=ztp-key ECDH_ID=04
  GEN_USAGE=""
}

# The same library on the emulator behind the fake MBIM function or QMI
# device (what a gateway whose modem ModemManager drives offers), each
# consumer opening the device itself (no mbim-proxy or qmi-proxy here).
setup_ctl() { # setup_ctl mbim|qmi
  MOD=$ROOT/build/libiotsafe-pkcs11.so
  "$ROOT/build/iotsafe" emulator init --state "$WORK/sim.json" >/dev/null
  "$ROOT/build/iotsafe" emulator serve --state "$WORK/sim.json" --$1 >"$WORK/dev.path" 2>"$WORK/dev.log" &
  PIDS+=($!)
  local i
  for i in $(seq 1 100); do [ -s "$WORK/dev.path" ] && break; sleep 0.1; done
  export IOTSAFE_SIM="$1:$(cat "$WORK/dev.path")?proxy=0"
  export IOTSAFE_PKCS11_STORE="$WORK/store"
  export IOTSAFE_PKCS11_LOG="$WORK/module.log"
  TOKEN=$(pkcs11-tool --module "$MOD" -L 2>/dev/null | sed -n 's/^ *token label *: //p' | head -1)
  PIN=""
  GEN_ID=02 GEN_LABEL=ztp-key ECDH_ID=04
  GEN_USAGE=""
}

setup_softhsm() {
  MOD=/usr/lib/softhsm/libsofthsm2.so
  [ -f "$MOD" ] || MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
  mkdir -p "$WORK/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/tokens" >"$WORK/softhsm2.conf"
  export SOFTHSM2_CONF="$WORK/softhsm2.conf"
  TOKEN=conformance PIN=1234
  softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin 12345678 >/dev/null
  # The credential the SIM emulator ships: a factory CA, a device key
  # with its certificate (01) and the CA certificate (03).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fca.key -out fca.pem \
    -subj "/O=go-iotsafe/CN=conformance factory CA" -days 2 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key 2>/dev/null
  openssl req -new -key dev.key -subj "/O=go-iotsafe/CN=conformance device" -out dev.csr
  openssl x509 -req -in dev.csr -CA fca.pem -CAkey fca.key -CAcreateserial -days 2 -out dev-factory.pem 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in dev.key -outform DER -out dev.p8
  openssl pkey -in dev.key -pubout -outform DER -out devpub.der
  openssl x509 -in dev-factory.pem -outform DER -out dev-factory.der
  openssl x509 -in fca.pem -outform DER -out fca.der
  local t="pkcs11-tool --module $MOD --login --pin $PIN"
  $t --write-object dev.p8 --type privkey --id 01 --label device-key --usage-sign >/dev/null 2>&1
  $t --write-object devpub.der --type pubkey --id 01 --label device-key >/dev/null 2>&1
  $t --write-object dev-factory.der --type cert --id 01 --label device-key >/dev/null 2>&1
  $t --write-object fca.der --type cert --id 03 --label ca-cert >/dev/null 2>&1
  $t --keypairgen --key-type EC:prime256v1 --id 04 --label ecdh-key --usage-derive >/dev/null 2>&1
  GEN_ID=02 GEN_LABEL=ztp-key ECDH_ID=04
  GEN_USAGE="--usage-sign"
}

case "$TARGET" in
  iotsafe) setup_iotsafe ;;
  pcsc) setup_pcsc ;;
  mbim | qmi) setup_ctl "$TARGET" ;;
  softhsm) setup_softhsm ;;
  *) echo "usage: $0 iotsafe|pcsc|mbim|qmi|softhsm" >&2; exit 2 ;;
esac
[ -n "$TOKEN" ] || { echo "no token found in $MOD" >&2; exit 1; }

LOGIN=()
URIPIN=""
if [ -n "$PIN" ]; then
  LOGIN=(--login --pin "$PIN")
  URIPIN="?pin-value=$PIN"
  export GNUTLS_PIN=$PIN
fi
P11() { timeout 60 pkcs11-tool --module "$MOD" --token-label "$TOKEN" "${LOGIN[@]}" "$@"; }
TOK="pkcs11:token=$(printf '%s' "$TOKEN" | sed 's/ /%20/g')"
KEY="$TOK;object=device-key;type=private$URIPIN"
echo "== conformance: $TARGET ($MOD), token '$TOKEN'"
if [ "$TARGET" = iotsafe ]; then
  : >"$WORK/empty.conf" # a configuration without SIMs, whatever /etc/iotsafe holds
  # A good citizen in every host: the reason goes to the log (syslog by
  # default, here a file), never to the host program's stderr.
  T "no SIM configured: C_Initialize succeeds, one empty slot, nothing on the host's stderr, the reason in the log" bash -c '
    env -u IOTSAFE_SIM -u IOTSAFE_PKCS11_LOG IOTSAFE_PKCS11_CONF="$1" timeout 30 pkcs11-tool --module "$0" -L >e.out 2>e.err
    cat e.out e.err; grep -q "Slot 0" e.out && grep -q "(empty)" e.out && ! grep -q iotsafe e.err || exit 1
    env -u IOTSAFE_SIM IOTSAFE_PKCS11_LOG=$PWD/e.log IOTSAFE_PKCS11_CONF="$1" timeout 30 pkcs11-tool --module "$0" -L >/dev/null 2>&1
    grep -q "no SIM configured" e.log' "$MOD" "$WORK/empty.conf"
  T "a SIM that cannot be opened: empty slot, nothing on stderr, the log names it" bash -c '
    env -u IOTSAFE_PKCS11_LOG IOTSAFE_SIM=emulator:/nonexistent/sim.json timeout 30 pkcs11-tool --module "$0" -L >u.out 2>u.err
    cat u.out u.err; grep -q "(empty)" u.out && ! grep -q iotsafe u.err || exit 1
    IOTSAFE_PKCS11_LOG=$PWD/u.log IOTSAFE_SIM=emulator:/nonexistent/sim.json timeout 30 pkcs11-tool --module "$0" -L >/dev/null 2>&1
    grep -q "/nonexistent/sim.json" u.log' "$MOD"
  # Whoever can write the log's directory (the syslog group's /var/log on
  # Ubuntu, a shared directory) must not hang every host that loads the
  # library (a FIFO: an open for writing waits for a reader), nor make it
  # write through a symbolic link, nor into a file of theirs.
  T "a hostile log path: a FIFO does not hang the host, a symbolic link is not followed, a file others can write is not used" bash -c '
    mkdir -p hl && rm -f hl/*; mkfifo hl/fifo; echo precious >hl/target; ln -s "$PWD/hl/target" hl/link
    : >hl/open; chmod 666 hl/open
    for p in fifo link open; do
      IOTSAFE_PKCS11_LOG=$PWD/hl/$p timeout 20 pkcs11-tool --module "$0" -L >hl/$p.out 2>&1; rc=$?
      echo "log at a $p: pkcs11-tool exit $rc"
      [ $rc = 0 ] && grep -q "Slot 0" hl/$p.out || { cat hl/$p.out; exit 1; }
    done
    [ "$(cat hl/target)" = precious ] && [ ! -s hl/open ] || { echo "the library wrote through the link or into the open file"; exit 1; }
    IOTSAFE_PKCS11_LOG=$PWD/hl/own timeout 20 pkcs11-tool --module "$0" -L >/dev/null 2>&1 || exit 1
    [ "$(stat -c %a hl/own)" = 600 ]' "$MOD"
  # The certificate cache, as libp11 and curl use it: the same certificate
  # bytes as the SIM's file, fewer APDUs once the cache is filled, and a
  # certificate the operator replaces read again.
  T "cert-cache: yes: the card's certificate, fewer APDUs from the second process on, a replaced certificate read again" bash -c '
    sim=${IOTSAFE_SIM#emulator:}
    cp "$sim" cc-sim.json
    conf() { printf "cert-cache: %s\n[slot]\nsim: emulator:%s?stats=%s\n" "$1" "$PWD/cc-sim.json" "$PWD/cc.stats" >cc.conf; }
    read_cert() { # read_cert OUT: the certificate of device-key through the token; prints the APDUs it took
      IOTSAFE_PKCS11_STORE=$PWD/cc-store IOTSAFE_PKCS11_CONF=$PWD/cc.conf timeout 30 pkcs11-tool --module "$0" --read-object --type cert --label device-key -o "$1" >/dev/null 2>&1 || exit 1
      tail -1 cc.stats | sed -E "s/.*apdus=([0-9]+).*/\1/"; }
    "$1" --sim emulator:cc-sim.json read-file --label device-cert --out card.der >/dev/null || exit 1
    conf no;  off=$(read_cert off.der)
    conf yes; fill=$(read_cert fill.der); cached=$(read_cert cached.der)
    echo "APDUs: $off without the cache, $fill filling it, $cached from it"
    cmp card.der off.der && cmp card.der fill.der && cmp card.der cached.der || exit 1
    [ "$cached" -lt "$off" ] && [ "$(ls cc-store/*/cert-cache/*.der | wc -l)" = 2 ] || exit 1
    # The operator replaces the device certificate (by one for another key,
    # which the token then lists under the file label).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout repl.key -subj /CN=replacement \
      -days 1 -outform DER -out repl.der 2>/dev/null || exit 1
    "$1" --sim emulator:cc-sim.json emulator admin put-file --file 02 --label device-cert --usage certificate --in repl.der >/dev/null || exit 1
    (read_cert new.der) >/dev/null 2>&1 && exit 1 # device-key has no certificate now
    IOTSAFE_PKCS11_STORE=$PWD/cc-store IOTSAFE_PKCS11_CONF=$PWD/cc.conf timeout 30 pkcs11-tool --module "$0" --read-object --type cert --label device-cert -o new.der >/dev/null 2>&1
    cmp repl.der new.der' "$MOD" "$ROOT/build/iotsafe"
  # The directory cache across real processes (each its own emulator: the
  # 63CF of a change never reaches the next process, as on a SIM whose
  # notice went to another host): from the second process on nothing reads
  # the object list or a public key; a key generated again by another
  # program is caught by the first signature, a swapped SIM by its
  # certificate files.
  T "directory-cache: 1h: fewer APDUs from the second process on; a key generated again elsewhere and a swapped SIM are caught" bash -c '
    sim=${IOTSAFE_SIM#emulator:}
    cp "$sim" dc-sim.json && rm -rf dc-store
    "$1" --sim emulator:dc-sim.json keygen --key 02 >/dev/null || exit 1
    printf "directory-cache: 1h\n[slot]\nsim: emulator:%s?stats=%s\n" "$PWD/dc-sim.json" "$PWD/dc.stats" >dc.conf
    P() { IOTSAFE_PKCS11_STORE=$PWD/dc-store IOTSAFE_PKCS11_CONF=$PWD/dc.conf timeout 30 pkcs11-tool --module "$0" "$@" >/dev/null 2>&1; }
    apdus() { tail -1 dc.stats | sed -E "s/.*apdus=([0-9]+).*/\1/"; }
    pem() { openssl pkey -pubin -inform DER -in "$1" -outform PEM; }
    P --read-object --type cert --label device-key -o c1.der || exit 1; fill=$(apdus)
    P --read-object --type cert --label device-key -o c2.der || exit 1; cached=$(apdus)
    P --read-object --type pubkey --id 02 -o k1.der || exit 1; pub=$(apdus)
    echo "APDUs: $fill filling the cache, $cached from it (certificate), $pub (public key)"
    [ -f "$(ls dc-store/directory-cache/*.json)" ] && [ "$cached" -lt "$fill" ] && [ "$pub" -le 3 ] || exit 1
    cmp c1.der c2.der && [ "$(pem k1.der)" = "$("$1" --sim emulator:dc-sim.json pubkey --key 02)" ] || exit 1
    # Another program generates key 02 again; the kept copy still has the old one.
    "$1" --sim emulator:dc-sim.json keygen --key 02 --replace >/dev/null || exit 1
    "$1" --sim emulator:dc-sim.json pubkey --key 02 >new.pem || exit 1
    head -c 32 /dev/urandom >dg
    P --sign -m ECDSA --id 02 --signature-format openssl -i dg -o dg.sig || exit 1
    openssl pkeyutl -verify -pubin -inkey new.pem -in dg -sigfile dg.sig || exit 1
    ! ls dc-store/directory-cache/*.json 2>/dev/null || { echo "the kept copy survived a signature that does not verify with it"; exit 1; }
    P --read-object --type pubkey --id 02 -o k2.der && [ "$(pem k2.der)" = "$(cat new.pem)" ] || exit 1
    # Another SIM under the same URI.
    P --read-object --type cert --label device-key -o c3.der && ls dc-store/directory-cache/*.json >/dev/null || exit 1
    "$1" emulator init --state dc-new.json >/dev/null && mv dc-new.json dc-sim.json || exit 1
    "$1" --sim emulator:dc-sim.json read-file --label device-cert --out card4.der >/dev/null || exit 1
    P --read-object --type cert --label device-key -o c4.der && cmp card4.der c4.der && ! cmp -s c3.der c4.der' "$MOD" "$ROOT/build/iotsafe"
fi
export PKCS11_MODULE_PATH=$MOD # the OpenSSL pkcs11 engine (libp11)
SUB() { # run a snippet with P11 defined
  bash -c "set -e; $(declare -f P11); LOGIN=(${LOGIN[*]}); MOD='$MOD'; TOKEN='$TOKEN'; $1"
}

# ---- servers on 127.0.0.1 -------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 2 2>/dev/null
# A local enrolment CA, to certify keys generated on the token.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout eca.key -out eca.pem \
  -subj "/CN=conformance enrolment CA" -days 2 2>/dev/null

# ---- pkcs11-tool ----------------------------------------------------------
echo "-- pkcs11-tool"
T "pkcs11-tool -I" bash -c 'timeout 30 pkcs11-tool --module "$0" -I >i.txt && grep -q "Cryptoki version" i.txt && cat i.txt' "$MOD"
T "pkcs11-tool -L shows the token" bash -c 'timeout 30 pkcs11-tool --module "$0" -L | tee l.txt | grep -q "token label *: $1"' "$MOD" "$TOKEN"
T "pkcs11-tool -O lists key pair, certificates" SUB '
  P11 -O >o.txt; cat o.txt
  grep -q "Private Key Object; EC" o.txt && grep -q "Public Key Object; EC" o.txt
  grep -q "Certificate Object; type = X.509 cert" o.txt && grep -q "label: *device-key" o.txt'
T "pkcs11-tool -M advertises ECDSA, ECDSA-KEY-PAIR-GEN, ECDH1-DERIVE" SUB '
  P11 -M >m.txt; cat m.txt
  grep -q "^ *ECDSA," m.txt && grep -q "ECDSA-KEY-PAIR-GEN" m.txt && grep -q "ECDH1-DERIVE" m.txt'
T "read-object: device certificate, CA certificate, public key" SUB '
  P11 --read-object --type cert --id 01 -o dev.der
  P11 --read-object --type cert --id 03 -o ca.der
  P11 --read-object --type pubkey --id 01 -o pub.der
  openssl x509 -inform DER -in dev.der -out dev.pem
  openssl x509 -inform DER -in ca.der -out ca.pem
  openssl pkey -pubin -inform DER -in pub.der -out pub.pem
  openssl verify -CAfile ca.pem dev.pem
  # the certificate certifies the token key
  cmp <(openssl x509 -in dev.pem -noout -pubkey) pub.pem'
if [ "$TARGET" != softhsm ]; then
  T "a general-purpose SIM file is a CKO_DATA object with the file's content" SUB '
    P11 --read-object --type data --label data -o simdata.bin
    "'"$ROOT"'/build/iotsafe" read-file --file 10 --out simdata.cli
    [ -s simdata.bin ] && cmp simdata.bin simdata.cli'
fi
DEV_CN=$(openssl x509 -in dev.pem -noout -subject -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= //p')
[ -n "$DEV_CN" ] || DEV_CN="(device certificate missing)"

head -c 100000 /dev/urandom >big.bin
echo "conformance message" >msg
openssl dgst -sha256 -binary msg >msg.sha256
openssl dgst -sha384 -binary msg >msg.sha384
T "sign CKM_ECDSA (SHA-256 digest), verify on the token and with openssl" SUB '
  P11 --sign -m ECDSA --id 01 -i msg.sha256 -o s1.raw
  [ $(stat -c %s s1.raw) = 64 ]
  P11 --verify -m ECDSA --id 01 -i msg.sha256 --signature-file s1.raw | grep -q "Signature is valid"
  P11 --sign -m ECDSA --id 01 -i msg.sha256 -o s1.der --signature-format openssl
  openssl dgst -sha256 -verify pub.pem -signature s1.der msg'
T "sign CKM_ECDSA with a SHA-384 digest (X9.62 truncation), openssl verifies" SUB '
  P11 --sign -m ECDSA --id 01 -i msg.sha384 -o s2.der --signature-format openssl
  openssl dgst -sha384 -verify pub.pem -signature s2.der msg'
HASHED=1
# Our module must offer them; a third-party token may not (then: n/a, said why).
[ "$TARGET" = iotsafe ] || grep -q "ECDSA-SHA256" m.txt 2>/dev/null || HASHED=0
if [ $HASHED = 0 ]; then
  NA "sign CKM_ECDSA_SHA256/384/512" "the token does not offer the hashing ECDSA mechanisms (SoftHSM 2.6)"
else
T "sign CKM_ECDSA_SHA256 (short and 100 kB input), verify on the token and with openssl" SUB '
  for f in msg big.bin; do
    P11 --sign -m ECDSA-SHA256 --id 01 -i $f -o s3.der --signature-format openssl
    openssl dgst -sha256 -verify pub.pem -signature s3.der $f
    P11 --verify -m ECDSA-SHA256 --id 01 -i $f --signature-file s3.der --signature-format openssl | grep -q "Signature is valid"
  done'
T "sign CKM_ECDSA_SHA384 and CKM_ECDSA_SHA512, openssl verifies" SUB '
  P11 --sign -m ECDSA-SHA384 --id 01 -i big.bin -o s4.der --signature-format openssl
  openssl dgst -sha384 -verify pub.pem -signature s4.der big.bin
  P11 --sign -m ECDSA-SHA512 --id 01 -i msg -o s5.der --signature-format openssl
  openssl dgst -sha512 -verify pub.pem -signature s5.der msg'
fi
T "a wrong signature is refused" SUB '
  P11 --sign -m ECDSA --id 01 -i msg.sha256 -o bad.raw
  b=$(od -An -tu1 -j10 -N1 bad.raw | tr -d " ")
  printf "\\$(printf %o $(( b ^ 1 )))" | dd of=bad.raw bs=1 seek=10 conv=notrunc 2>/dev/null
  P11 --verify -m ECDSA --id 01 -i msg.sha256 --signature-file bad.raw >v.txt 2>&1 || true
  cat v.txt
  grep -q "^Invalid signature" v.txt'
T "generate-random 32 (twice, different)" SUB '
  P11 --generate-random 32 -o r1; P11 --generate-random 32 -o r2
  [ $(stat -c %s r1) = 32 ] && ! cmp -s r1 r2'
T "keypairgen EC P-256 into id $GEN_ID, sign with it, openssl verifies" SUB '
  P11 --keypairgen --key-type EC:prime256v1 --id '"$GEN_ID"' --label '"$GEN_LABEL"' '"$GEN_USAGE"'
  P11 --read-object --type pubkey --id '"$GEN_ID"' -o gpub.der
  openssl pkey -pubin -inform DER -in gpub.der -out gpub.pem
  ! cmp -s gpub.pem pub.pem
  P11 --sign -m ECDSA --id '"$GEN_ID"' -i msg.sha256 -o g.der --signature-format openssl
  openssl dgst -sha256 -verify gpub.pem -signature g.der msg'
T "derive CKM_ECDH1_DERIVE with key $ECDH_ID equals openssl ECDH" SUB '
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key
  openssl pkey -in peer.key -pubout -outform DER -out peer.der
  P11 --derive -m ECDH1-DERIVE --id '"$ECDH_ID"' -i peer.der -o z1
  P11 --read-object --type pubkey --id '"$ECDH_ID"' -o epub.der
  openssl pkeyutl -derive -inkey peer.key -peerkey epub.der -peerform DER -out z2
  [ $(stat -c %s z1) = 32 ] && cmp z1 z2'

# ---- OpenSSL engine -------------------------------------------------------
echo "-- OpenSSL pkcs11 engine (libp11)"
T "pkeyutl -sign with the token key, verified by openssl with the exported public key" bash -c '
  set -e
  openssl pkeyutl -engine pkcs11 -keyform engine -inkey "$0" -sign -in msg.sha256 -out e1.der
  openssl pkeyutl -verify -pubin -inkey pub.pem -in msg.sha256 -sigfile e1.der' "$KEY"
T "req -new: a CSR signed by the token key" bash -c '
  set -e
  openssl req -new -engine pkcs11 -keyform engine -key "$0" -subj "/CN=conformance csr" -out c.csr
  openssl req -in c.csr -verify -noout
  cmp <(openssl req -in c.csr -noout -pubkey) pub.pem' "$KEY"
GKEY="$TOK;id=$(pct "$GEN_ID");type=private$URIPIN"
T "req -new for the generated key, certified by a local CA, write-object to the token" SUB '
  openssl req -new -engine pkcs11 -keyform engine -key "'"$GKEY"'" -subj "/CN=conformance ztp" -out g.csr
  openssl req -in g.csr -verify -noout
  openssl x509 -req -in g.csr -CA eca.pem -CAkey eca.key -CAcreateserial -days 1 -out g.pem
  openssl x509 -in g.pem -outform DER -out g.cert.der
  P11 --write-object g.cert.der --type cert --id '"$GEN_ID"' --label '"$GEN_LABEL"'
  P11 --read-object --type cert --id '"$GEN_ID"' -o g.back.der
  cmp g.cert.der g.back.der
  P11 -O --type cert >oc.txt
  grep -q "conformance ztp" oc.txt'
T "write-object / read-object of a data object" SUB '
  head -c 300 /dev/urandom >blob
  P11 --write-object blob --type data --label conformance-blob
  P11 --read-object --type data --label conformance-blob -o blob.back
  cmp blob blob.back'

for v in tls1_3 tls1_2; do
  T "s_client mutual TLS ($v) to s_server -Verify 1" bash -c '
    set -e
    '"$(declare -f serve served has)"'
    PIDS=(); DEV_CN="$1"
    serve srv.$0.log -$0
    printf "GET / HTTP/1.0\r\n\r\n" | timeout 30 openssl s_client -connect 127.0.0.1:$PORT -engine pkcs11 -keyform engine \
      -key "$2" -cert dev.pem -CAfile srv.pem -verify_return_error -ign_eof >cli.$0.log 2>&1
    grep -q "Verify return code: 0" cli.$0.log
    served srv.$0.log' "$v" "$DEV_CN" "$KEY"
done
T "s_client mutual TLS 1.2 with -client_sigalgs ECDSA+SHA384" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="$0"
  serve srv.384.log -tls1_2 -client_sigalgs ECDSA+SHA384
  printf "GET / HTTP/1.0\r\n\r\n" | timeout 30 openssl s_client -connect 127.0.0.1:$PORT -engine pkcs11 -keyform engine \
    -key "$1" -cert dev.pem -CAfile srv.pem -verify_return_error -ign_eof >cli.384.log 2>&1
  has "Peer signing digest: SHA384" cli.384.log
  served srv.384.log' "$DEV_CN" "$KEY"

# ---- curl -----------------------------------------------------------------
echo "-- curl"
T "curl mutual TLS: key from the token, certificate from a file" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="$0"
  serve srv.curl1.log
  timeout 30 curl -sS --engine pkcs11 --key-type ENG --key "$1" --cert dev.pem --cacert srv.pem https://127.0.0.1:$PORT/ >curl1.out
  has "Cipher is" curl1.out
  served srv.curl1.log' "$DEV_CN" "$KEY"
T "curl mutual TLS: key and certificate from the token (pkcs11: URIs)" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="$0"
  serve srv.curl2.log
  timeout 30 curl -sS --cert "$1" --key "$2" --cacert srv.pem https://127.0.0.1:$PORT/ >curl2.out
  has "Cipher is" curl2.out
  served srv.curl2.log' "$DEV_CN" "$TOK;object=device-key;type=cert$URIPIN" "$KEY"

# ---- GnuTLS ---------------------------------------------------------------
echo "-- GnuTLS"
GLOGIN=()
[ -n "$PIN" ] && GLOGIN=(--login)
T "p11tool --list-all" bash -c 'timeout 30 p11tool --provider "$0" --list-all "$1" >g.txt; cat g.txt; grep -q "Label: device-key" g.txt && grep -q "Type: X.509 Certificate" g.txt' "$MOD" "$TOK"
T "p11tool --test-sign" bash -c 'timeout 60 p11tool --provider "$0" "${@:2}" --test-sign "$1" >ts.txt 2>&1; r=$?; cat ts.txt; [ $r = 0 ] && grep -q "Verifying against public key in the token... ok" ts.txt' \
  "$MOD" "$TOK;object=device-key;type=private" "${GLOGIN[@]}"
T "gnutls-cli mutual TLS" bash -c '
  set -e
  '"$(declare -f serve served has)"'
  PIDS=(); DEV_CN="$0"
  serve srv.gnutls.log
  printf "GET / HTTP/1.0\r\n\r\n" | timeout 30 gnutls-cli --provider "$1" --x509keyfile "$2" --x509certfile dev.pem \
    --x509cafile srv.pem -p $PORT 127.0.0.1 >gc.txt 2>&1 || { cat gc.txt; false; }
  has "Handshake was completed" gc.txt
  served srv.gnutls.log' "$DEV_CN" "$MOD" "$TOK;object=device-key;type=private${PIN:+;pin-value=$PIN}"

# ---- OpenSSH --------------------------------------------------------------
echo "-- OpenSSH"
T "ssh-keygen -D lists the token's EC keys" bash -c '
  timeout 30 ssh-keygen -D "$0" >sshkeys.txt 2>&1; cat sshkeys.txt
  grep -q "^ecdsa-sha2-nistp256 .* device-key$" sshkeys.txt' "$MOD"
T "ssh logs in with the token key (PKCS11Provider) to an SSH server on 127.0.0.1" bash -c '
  set -e
  grep "^ecdsa-sha2-nistp256 .* device-key$" sshkeys.txt >device-key.pub
  (cd "$1/conformance/sshserver" && go build -o "$1/build/sshserver" .)
  rm -f ssh.port
  timeout 60 "$1/build/sshserver" -authorized device-key.pub -port-file ssh.port -timeout 50s >sshd.log 2>&1 &
  for i in $(seq 1 100); do [ -s ssh.port ] && break; sleep 0.1; done
  [ -s ssh.port ] || { cat sshd.log; false; }
  how=(-o PKCS11Provider="$0")
  # ssh creates ~/.ssh (of the passwd home, not $HOME) when it is missing:
  # remove it again if this test made it, empty.
  home=$(getent passwd "$(id -un)" | cut -d: -f6)
  atexit=true
  [ -d "$home/.ssh" ] || atexit="rmdir \"$home/.ssh\" 2>/dev/null || true"
  trap "$atexit" EXIT
  if [ -n "$2" ]; then
    # A token that needs a PIN: the key goes through ssh-agent (ssh-add -s
    # asks for the PIN once), as OpenSSH users do.
    eval "$(ssh-agent -s)" >/dev/null
    trap "kill $SSH_AGENT_PID; $atexit" EXIT
    printf "#!/bin/sh\necho %s\n" "$2" >askpin; chmod +x askpin
    SSH_ASKPASS=$PWD/askpin SSH_ASKPASS_REQUIRE=force DISPLAY=none timeout 60 ssh-add -s "$0" </dev/null
    how=()
  fi
  # IdentitiesOnly with -i KEY.pub picks that token key and nothing else.
  timeout 60 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o IdentitiesOnly=yes -i device-key.pub "${how[@]}" -p "$(cat ssh.port)" device@127.0.0.1 true >ssh.out 2>&1 \
    || { cat ssh.out sshd.log; false; }
  cat ssh.out; grep -q "^authenticated as device" ssh.out' "$MOD" "$ROOT" "$PIN"

# ---- NSS --------------------------------------------------------------------
echo "-- NSS (certutil, modutil)"
T "NSS loads the module, lists the token's certificates and keys, signs a CSR with the token key" bash -c '
  set -e
  rm -rf nssdb; mkdir nssdb
  certutil -N -d sql:nssdb --empty-password
  modutil -dbdir sql:nssdb -add conformance -libfile "$0" -force >/dev/null
  printf "%s\n" "$2" >nsspin
  certutil -L -d sql:nssdb -h all >nss-certs.txt; cat nss-certs.txt
  grep -q "^$1:device-key " nss-certs.txt
  certutil -K -d sql:nssdb -h "$1" -f nsspin >nss-keys.txt 2>&1; cat nss-keys.txt
  grep -q "device-key" nss-keys.txt
  certutil -R -d sql:nssdb -h "$1" -f nsspin -k 01 -s "CN=nss conformance" -o nss.csr
  openssl req -inform DER -in nss.csr -verify -noout
  cmp <(openssl req -inform DER -in nss.csr -noout -pubkey) pub.pem' "$MOD" "$TOKEN" "$PIN"

# ---- p11-kit --------------------------------------------------------------
echo "-- p11-kit"
# The registration is private to the checks: nothing outside the work
# directory is written, even while the suite runs or when it is killed. As
# root (p11-kit skips the user configuration of root), the checks run in a
# private mount namespace where a copy of p11-kit's module directory with
# ours added is mounted over /usr/share/p11-kit/modules; as another user,
# in the user configuration (~/.config/pkcs11/modules) of a temporary HOME.
P11HOME=$WORK/p11home
if [ "$(id -u)" = 0 ]; then
  P11MODS=$WORK/p11modules
  mkdir -p "$P11MODS"
  cp /usr/share/p11-kit/modules/*.module "$P11MODS/" 2>/dev/null || true
else
  P11MODS=$P11HOME/.config/pkcs11/modules
  mkdir -p "$P11MODS"
fi
p11ns() { # p11ns CMD...: CMD with p11-kit seeing $P11MODS
  if [ "$(id -u)" = 0 ]; then
    unshare -m --propagation private sh -c 'mount --bind "$0" /usr/share/p11-kit/modules && exec "$@"' "$P11MODS" "$@"
  else
    HOME=$P11HOME "$@"
  fi
}
if [ "$TARGET" != softhsm ]; then
  # A real installation, to a temporary prefix.
  PREFIX=$WORK/prefix
  T "make install registers the module with p11-kit" bash -c '
    make -s -C "$0" install PREFIX="$1" P11KIT_MODULES="$2" MODULE_NAME=iotsafe-conformance >inst.txt 2>&1 || { cat inst.txt; false; }
    test -x "$1/bin/iotsafe" && test -f "$1/lib/libiotsafe-pkcs11.so" && cat "$2/iotsafe-conformance.module"' \
    "$ROOT" "$PREFIX" "$P11MODS"
fi
if [ "$TARGET" = iotsafe ]; then
  # Every program that loads p11-kit's proxy loads the module: with no SIM
  # configured it must say nothing on that program's stderr.
  T "a program loading p11-kit's proxy with no SIM configured: nothing from the module on its stderr" p11ns bash -c '
    env -u IOTSAFE_SIM -u IOTSAFE_PKCS11_LOG IOTSAFE_PKCS11_CONF="$0" timeout 60 p11-kit list-modules >pkn.out 2>pkn.err
    cat pkn.err; grep -q "iotsafe" pkn.out && ! grep -qi "iotsafe" pkn.err' "$WORK/empty.conf"
fi
T "p11-kit list-modules shows the module and its token" p11ns bash -c 'timeout 60 p11-kit list-modules >pk.txt 2>&1; cat pk.txt; grep -q "token: $0" pk.txt' "$TOKEN"
T "OpenSSL engine finds the token through p11-kit-proxy, no module path given" p11ns bash -c '
  set -e
  unset PKCS11_MODULE_PATH
  openssl pkeyutl -engine pkcs11 -keyform engine -inkey "$0" -sign -in msg.sha256 -out e2.der
  openssl pkeyutl -verify -pubin -inkey pub.pem -in msg.sha256 -sigfile e2.der' "$KEY"

# ---- crypto11 through p11-kit server --------------------------------------
echo "-- crypto11 (Go) through p11-kit server and p11-kit-client.so"
CLIENT=$(ls /usr/lib/*/pkcs11/p11-kit-client.so 2>/dev/null | head -1)
C11="$ROOT/build/crypto11check"
T "crypto11 finds the key pair and certificate, signs, imports a certificate" bash -c '
  set -e
  [ -n "$0" ] || { echo "p11-kit-client.so not found (apt-get install p11-kit-modules)"; false; }
  (cd "$1/conformance/crypto11check" && go build -o "$2" .)
  eval "$(timeout 10 p11-kit server -s --provider "$3" -n "$PWD/p11kit.sock" "$4")"
  trap "kill $P11_KIT_SERVER_PID 2>/dev/null" EXIT
  openssl x509 -in g.pem -out g2.pem
  timeout 60 "$2" -module "$0" -token "$5" -pin "$6" -label device-key -import g2.pem -import-id 0a -import-label crypto11-import' \
  "$CLIENT" "$ROOT" "$C11" "$MOD" "$TOK" "$TOKEN" "$PIN"

if [ "$TARGET" = pcsc ]; then
  echo "-- the SIM after every consumer above ran as its own process"
  T "no logical channel leaked (each process closed its channel, C_Finalize or not)" bash -c '
    if grep -q "no logical channel available" "$0"; then grep "no logical channel" "$0" | head -3; false; fi' "$WORK/module.log"
fi

summary "$TARGET"
