#!/usr/bin/env bash
# Installs the Debian packages go-iotsafe needs, if missing.
# Usage: scripts/deps.sh build|demo|deb|test  install what that target needs
#        scripts/deps.sh list build|demo|deb|test print the package list
#        scripts/deps.sh check                 check that the build list covers
#                                              every cgo pkg-config module the
#                                              build uses (run by the test suite)
# Each list contains the one before it: test > demo > build; deb > build,
# and test contains deb.
# As root it runs apt-get; otherwise it prints the exact line to run and fails.
# It never stops, kills or reconfigures a service: packages it installs are
# kept from starting their services during the install (policy-rc.d, only
# while apt-get runs, and only when the machine has none of its own); the
# project starts its own pcscd and mosquitto on loopback, and stops only those.
set -euo pipefail
cd "$(dirname "$0")/.."

# What `go build` of the CLI and `make pkcs11` need: the C compiler for cgo,
# pkg-config, and the -dev packages behind every `#cgo pkg-config:` module
# (libpcsclite for github.com/ebfe/scard, p11-kit-1 for the PKCS#11 headers).
BUILD=(gcc libc6-dev pkg-config libpcsclite-dev libp11-kit-dev)
# What `make demo` runs besides: openssl, mosquitto (examples/ztp, mqtt),
# curl and the OpenSSL pkcs11 engine (examples/curl), pkcs11-tool (opensc).
DEMO=(openssl ca-certificates mosquitto curl opensc libengine-pkcs11-openssl)
# What `make deb` (scripts/deb.sh) and the install tests use besides: a
# Debian 11 sysroot and Debian 11/12 roots (mmdebstrap), cross compilers,
# lintian, qemu-user for the arm64, armhf and ARMv6 runs.
DEB=(mmdebstrap gpg arch-test qemu-user-static gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf binutils lintian)
# What `make test` drives besides.
TEST=(pcscd vsmartcard-vpcd pcsc-tools softhsm2 gnutls-bin p11-kit p11-kit-modules
      openssh-client libnss3-tools mosquitto-clients python3-pykcs11 python3-cryptography
      openjdk-17-jdk-headless strongswan-pki libstrongswan-extra-plugins openvpn libmbim-utils libqmi-utils
      strongswan-charon strongswan-swanctl libstrongswan-standard-plugins
      postgresql)

list() {
  case "$1" in
    build) echo "${BUILD[@]}" ;;
    demo) echo "${BUILD[@]}" "${DEMO[@]}" ;;
    deb) echo "${BUILD[@]}" "${DEB[@]}" ;;
    test) echo "${BUILD[@]}" "${DEMO[@]}" "${DEB[@]}" "${TEST[@]}" ;;
    *) echo "usage: $0 list build|demo|deb|test" >&2; exit 2 ;;
  esac
}

# check: every pkg-config module named by a #cgo directive of the build
# (our code and the modules it compiles) is provided by a package of the
# build list, as dpkg says, and the build list is inside the demo list.
check() {
  local mods pc pkg bad=0 demo
  mods=$(grep -rhoE '#cgo( linux)? pkg-config: .*' $(go list -deps -f '{{.Dir}}' ./cmd/iotsafe ./pkcs11mod/cabi) --include='*.go' 2>/dev/null \
    | sed -E 's/.*pkg-config: //' | tr ' ' '\n' | sort -u)
  [ -n "$mods" ] || { echo "deps check: found no #cgo pkg-config module (the check itself is broken)" >&2; return 1; }
  demo=" $(list demo) "
  for m in $mods; do
    pc=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
    pkg=$(dpkg -S "$pc" 2>/dev/null | head -1 | cut -d: -f1)
    if [ -z "$pkg" ]; then
      echo "deps check: no installed package provides pkg-config module $m" >&2; bad=1; continue
    fi
    case " ${BUILD[*]} " in
      *" $pkg "*) echo "deps check: $m comes from $pkg, in the build list" ;;
      *) echo "deps check: $m comes from $pkg, which the build list lacks" >&2; bad=1 ;;
    esac
  done
  for p in "${BUILD[@]}"; do
    case "$demo" in *" $p "*) ;; *) echo "deps check: $p is in the build list but not in demo's" >&2; bad=1 ;; esac
  done
  return $bad
}

case "${1:-test}" in
  list) list "${2:-test}"; exit 0 ;;
  check) check; exit $? ;;
  build|demo|deb|test) read -r -a pkgs <<<"$(list "${1:-test}")" ;;
  *) echo "usage: $0 build|demo|deb|test|list|check" >&2; exit 2 ;;
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
policy=/usr/sbin/policy-rc.d
ours=0
if [ ! -e "$policy" ]; then
  # Exit status 101: "action forbidden"; invoke-rc.d and deb-systemd-invoke
  # then leave the new packages' services stopped.
  printf '#!/bin/sh\n# go-iotsafe scripts/deps.sh: keep services from starting during its install\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  ours=1
fi
trap '[ $ours = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
