#!/usr/bin/env bash
# The go-iotsafe demo on the built-in emulator. First a tour: create a
# software SIM, show the applet and its objects, sign a file with the
# SIM-held key, verify the signature on the card and with openssl, and show a
# tampered file rejected. Then the zero-touch provisioning story
# (examples/ztp): key pair generated on the SIM, CSR, EST enrollment,
# certificate delivered to the SIM, mutual TLS, MQTT, renewal, revocation.
# Last, examples/curl: curl and openssl use a provisioned SIM credential
# through libiotsafe-pkcs11.so.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${IOTSAFE_BIN:-build/iotsafe}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }

dir=$(mktemp -d /tmp/iotsafe-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
sim="emulator:$dir/sim.json"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. A new SIM with the IoT SAFE applet (software emulator, GSMA profile)"
"$bin" emulator init --state "$dir/sim.json"

say "2. The applet, as the device sees it"
"$bin" --sim "$sim" info

say "3. Its applet store: keys, secrets and files"
"$bin" --sim "$sim" ls

say "4. The device certificate stored on the SIM (file 02)"
"$bin" --sim "$sim" read-file --file 02 --pem --out "$dir/device.pem"
openssl x509 -in "$dir/device.pem" -noout -subject -issuer -dates

say "5. The public key of the signing key (the private key never leaves the SIM)"
"$bin" --sim "$sim" pubkey --key 01 | tee "$dir/key01.pem"

say "6. Sign a firmware image with key 01 on the SIM (ECDSA P-256, SHA-256)"
head -c 100000 /dev/urandom > "$dir/firmware.bin"
"$bin" --sim "$sim" sign --key 01 --in "$dir/firmware.bin" --out "$dir/firmware.sig"
echo "signature: $(wc -c < "$dir/firmware.sig") bytes DER"

say "7. Verify it on the card (Verify Signature with the SIM-held public key)"
"$bin" --sim "$sim" verify --key 01 --in "$dir/firmware.bin" --sig "$dir/firmware.sig"

say "8. Verify it independently with openssl"
openssl dgst -sha256 -verify "$dir/key01.pem" -signature "$dir/firmware.sig" "$dir/firmware.bin"

say "9. A tampered image is refused"
b=$(od -An -tu1 -j500 -N1 "$dir/firmware.bin" | tr -d ' ')   # flip one bit: always a change
printf "\\$(printf %o $((b ^ 1)))" | dd of="$dir/firmware.bin" bs=1 seek=500 conv=notrunc status=none
if "$bin" --sim "$sim" verify --key 01 --in "$dir/firmware.bin" --sig "$dir/firmware.sig"; then
  echo "tampered image accepted: this is a bug" >&2; exit 1
fi

say "10. Random bytes from the SIM"
"$bin" --sim "$sim" random 16

say "Zero-touch provisioning, end to end (local EST server and CA, cloud and MQTT broker on 127.0.0.1)"
"${IOTSAFE_ZTP_BIN:-build/ztp}" --dir "$dir/ztp"

say "curl and openssl through the PKCS#11 library (examples/curl): pkcs11: URIs, nothing else"
examples/curl/run.sh

echo
echo "demo complete"
