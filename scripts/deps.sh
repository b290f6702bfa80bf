#!/usr/bin/env bash
# Installs the Debian packages go-iotsafe's tests (or demo) use, if missing.
# Usage: scripts/deps.sh test|demo
# As root it runs apt-get; otherwise it prints the exact line to run and fails.
set -euo pipefail

case "${1:-test}" in
  demo) pkgs=(openssl ca-certificates mosquitto gcc libc6-dev pkg-config libp11-kit-dev
              curl opensc libengine-pkcs11-openssl) ;;
  test) pkgs=(openssl ca-certificates gcc libc6-dev pkg-config
              pcscd vsmartcard-vpcd pcsc-tools libpcsclite-dev opensc
              libengine-pkcs11-openssl softhsm2 gnutls-bin p11-kit p11-kit-modules libp11-kit-dev openssh-client libnss3-tools curl mosquitto mosquitto-clients) ;;
  *) echo "usage: $0 test|demo" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "go-iotsafe needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages enable services; this project starts its own pcscd and
# mosquitto on loopback, so stop any instance the install started.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop pcscd.socket pcscd mosquitto >/dev/null 2>&1 || true
fi
pkill -x mosquitto 2>/dev/null || true
