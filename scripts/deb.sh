#!/usr/bin/env bash
# Builds the Debian packages for amd64, arm64 and armhf (or the
# architectures given), with nfpm: build/deb/iotsafe_<version>_<arch>.deb,
# the device side (the CLI without the EST server, built with -tags
# noestserver, and the PKCS#11 library), and
# build/deb/iotsafe-est-server_<version>_<arch>.deb, the EST server on its
# own (with a systemd unit).
#
# Usage: scripts/deb.sh [amd64|arm64|armhf ...]
#
# The cgo binaries (the CLI, for PC/SC, and the PKCS#11 library) are linked
# against a Debian 11 (bullseye) sysroot made from Debian's own packages, so
# that they need at most glibc 2.31 and start on Debian 11, Ubuntu 20.04 and
# Raspberry Pi OS Bullseye as well as on Debian 12; the script fails if a
# binary asks for a newer GLIBC_ symbol version. Debian's armhf is ARMv7;
# for ARMv6 boards (Pi Zero/1) a static CLI without PC/SC is built beside
# the armhf package (build/deb/iotsafe-linux-armv6). lintian checks each
# package (errors fail).
#
# Needs (scripts/deps.sh deb installs them): mmdebstrap, the cross gcc
# packages, lintian, and Go. nfpm is run at a pinned version through
# `go run`, from the Go module proxy.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
VERSION=$(cat VERSION)
OUT=$ROOT/build/deb
MAX_GLIBC=2.31
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(amd64 arm64 armhf)

triplet() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    *) echo "deb.sh: unknown architecture $1 (amd64, arm64 or armhf)" >&2; return 1 ;;
  esac
}

# sysroot ARCH: a Debian 11 root holding the C library, pcsclite and
# p11-kit's headers for ARCH, unpacked (nothing runs), with absolute
# symbolic links made relative so that the linker finds them under it.
sysroot() {
  local arch=$1 dir=$ROOT/build/sysroot/bullseye-$1
  if [ ! -e "$dir/.done" ]; then
    rm -rf "$dir" && mkdir -p "$(dirname "$dir")"
    mmdebstrap --quiet --variant=extract --architectures="$arch" \
      --include=libc6-dev,linux-libc-dev,libpcsclite-dev,libp11-kit-dev \
      bullseye "$dir" "$MIRROR" >&2
    local l t
    while IFS= read -r l; do
      t=$(readlink "$l")
      ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$dir$t")" "$l"
    done < <(find "$dir" -path "$dir/dev" -prune -o -type l -lname '/*' -print)
    touch "$dir/.done"
  fi
  echo "$dir"
}

# glibc_needed FILE: the newest GLIBC_ symbol version FILE asks for.
glibc_needed() {
  readelf -V --wide "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

# build ARCH DIR: the CLI, the library and the EST server for ARCH, in DIR.
build() {
  local arch=$1 dir=$2 tri sr cc goarm="" cflags
  tri=$(triplet "$arch")
  sr=$(sysroot "$arch")
  cc="$tri-gcc"
  [ "$arch" = amd64 ] && cc=gcc
  # The cross compilers search their own (Debian 12) headers first:
  # the sysroot's come before them.
  cflags="-O2 -g -isystem $sr/usr/include/$tri -isystem $sr/usr/include"
  [ "$arch" = armhf ] && goarm=7
  mkdir -p "$dir"
  (
    export CGO_ENABLED=1 GOOS=linux GOARCH="${arch/armhf/arm}" GOARM=$goarm \
      CC="$cc --sysroot=$sr" CGO_CFLAGS="$cflags" \
      PKG_CONFIG_SYSROOT_DIR="$sr" PKG_CONFIG_LIBDIR="$sr/usr/lib/$tri/pkgconfig:$sr/usr/share/pkgconfig"
    [ -n "$goarm" ] || unset GOARM
    go build -buildmode=pie -trimpath -tags noestserver -ldflags "-s -w" -o "$dir/iotsafe" ./cmd/iotsafe
    # The EST server has no C (pure-Go SQLite, PostgreSQL and name
    # resolver): linked by the C toolchain all the same, as a PIE against
    # the same C library, like every other program of the system (lintian
    # refuses a static one).
    # Without cgo, go build hands neither CC nor pkg-config's -L (which
    # puts the sysroot's C library first for the CLI) to the linker: both
    # are named here.
    go build -buildmode=pie -trimpath -tags netgo,osusergo \
      -ldflags "-s -w -linkmode=external -extld=$cc '-extldflags=--sysroot=$sr -L$sr/usr/lib/$tri -L$sr/lib/$tri'" \
      -o "$dir/iotsafe-est-server" ./cmd/iotsafe-est-server
    go build -buildmode=c-shared -trimpath \
      -ldflags "-s -w -extldflags=-Wl,--version-script=$ROOT/pkcs11mod/cabi/exports.map" \
      -o "$dir/libiotsafe-pkcs11.so" ./pkcs11mod/cabi
    rm -f "$dir/libiotsafe-pkcs11.h"
  )
  local f need
  for f in "$dir/iotsafe" "$dir/libiotsafe-pkcs11.so" "$dir/iotsafe-est-server"; do
    need=$(glibc_needed "$f")
    if [ "$(printf '%s\n%s\n' "$need" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
      echo "deb.sh: $f needs GLIBC_$need, more than $MAX_GLIBC (Debian 11)" >&2
      return 1
    fi
    echo "$need" >"$f.glibc"
  done
}

# docs DIR: man pages (gzipped) and completions from the command tree, the
# copyright file, and the Debian changelog.
# docs DIR PACKAGE: its man pages, completions, copyright and changelog.
docs() {
  local dir=$1 name=$2
  rm -rf "$dir" && mkdir -p "$dir"
  if [ "$name" = iotsafe ]; then
    go run -tags gendocs,noestserver ./cmd/iotsafe gen-docs "$dir"
    scripts/licenses.sh >"$dir/copyright"
  else
    go run -tags gendocs ./cmd/iotsafe-est-server gen-docs "$dir"
    scripts/licenses.sh server >"$dir/copyright"
  fi
  gzip -9n "$dir"/man1/*.1
  {
    echo "$name ($VERSION) unstable; urgency=medium"
    echo
    echo "  * Release $VERSION of go-iotsafe, built from commit $(git rev-parse --short HEAD)."
    echo
    echo " -- go-iotsafe developers <go-iotsafe@users.noreply.github.com>  $(date -R -d "@$(git log -1 --format=%ct)")"
  } | gzip -9n >"$dir/changelog.gz"
}

# nfpm_head NAME ARCH SECTION: the fields both packages' nfpm.yaml share.
nfpm_head() {
  printf '%s\n' "name: $1" "arch: $2" "platform: linux" "version: $VERSION" "section: $3" "priority: optional" \
    "maintainer: go-iotsafe developers <go-iotsafe@users.noreply.github.com>" \
    "homepage: https://github.com/go-iotsafe/iotsafe" "license: Apache-2.0"
}

# manpages DIR: nfpm contents entries for the gzipped man pages in DIR/man1.
manpages() {
  local m
  for m in "$1"/man1/*.1.gz; do
    printf '  - src: %s\n    dst: /usr/share/man/man1/%s\n    file_info: {mode: 0644}\n' "$m" "$(basename "$m")"
  done
}

# pkg ARCH: the package of ARCH.
pkg() {
  local arch=$1 dir=$OUT/$1 tri libc
  tri=$(triplet "$arch")
  build "$arch" "$dir"
  libc=$(printf '%s\n%s\n' "$(cat "$dir/iotsafe.glibc")" "$(cat "$dir/libiotsafe-pkcs11.so.glibc")" | sort -V | tail -1)
  cat >"$dir/nfpm.yaml" <<EOF
$(nfpm_head iotsafe "$arch" utils)
description: |-
  SIM-held device keys (GSMA IoT SAFE) for standard software
  The iotsafe command and a PKCS#11 library that use the keys of the GSMA
  IoT SAFE applet on a SIM: key generation, signing, ECDH, certificate
  enrolment over EST and renewal, software image verification. The library
  is registered with p11-kit, so OpenSSL, curl, GnuTLS, OpenSSH,
  wpa_supplicant and other PKCS#11 applications use the SIM's keys through
  pkcs11: URIs. SIMs are reached through PC/SC readers, cellular modems
  (AT+CSIM/AT+CGLA, MBIM, QMI) or the built-in software SIM.
depends:
  - libc6 (>= $libc)
  - libpcsclite1 (>= 1.9)
recommends:
  - p11-kit
  - pcscd
suggests:
  - vsmartcard-vpcd
  - opensc
contents:
  - src: $dir/iotsafe
    dst: /usr/bin/iotsafe
    file_info: {mode: 0755}
  - src: $dir/libiotsafe-pkcs11.so
    dst: /usr/lib/$tri/pkcs11/libiotsafe-pkcs11.so
    file_info: {mode: 0644}
  - src: $dir/iotsafe.module
    dst: /usr/share/p11-kit/modules/iotsafe.module
    file_info: {mode: 0644}
  - src: $ROOT/packaging/pkcs11.conf
    dst: /etc/iotsafe/pkcs11.conf
    type: config
    file_info: {mode: 0644}
  - src: $ROOT/packaging/default
    dst: /etc/default/iotsafe
    type: config
    file_info: {mode: 0644}
  - src: $ROOT/packaging/systemd/iotsafe-bridge.service
    dst: /lib/systemd/system/iotsafe-bridge.service
    file_info: {mode: 0644}
  - src: $ROOT/packaging/systemd/iotsafe-renew.service
    dst: /lib/systemd/system/iotsafe-renew.service
    file_info: {mode: 0644}
  - src: $ROOT/packaging/systemd/iotsafe-renew.timer
    dst: /lib/systemd/system/iotsafe-renew.timer
    file_info: {mode: 0644}
  - src: $OUT/docs/completions/iotsafe.bash
    dst: /usr/share/bash-completion/completions/iotsafe
    file_info: {mode: 0644}
  - src: $OUT/docs/completions/_iotsafe
    dst: /usr/share/zsh/vendor-completions/_iotsafe
    file_info: {mode: 0644}
  - src: $OUT/docs/copyright
    dst: /usr/share/doc/iotsafe/copyright
    file_info: {mode: 0644}
  - src: $OUT/docs/changelog.gz
    dst: /usr/share/doc/iotsafe/changelog.gz
    file_info: {mode: 0644}
  - src: $ROOT/README.md
    dst: /usr/share/doc/iotsafe/README.md
    file_info: {mode: 0644}
$(manpages "$OUT/docs")
EOF
  # p11-kit resolves a relative module path in the architecture's module
  # directory (/usr/lib/<triplet>/pkcs11): one file serves every arch.
  printf '# go-iotsafe: SIM (IoT SAFE) keys over PKCS#11; the SIM is set in /etc/iotsafe/pkcs11.conf\nmodule: libiotsafe-pkcs11.so\ncritical: no\n' >"$dir/iotsafe.module"
  go run "$NFPM" pkg --config "$dir/nfpm.yaml" --packager deb --target "$OUT/" >&2
}

# pkg_est ARCH: the EST server's package (its binary is built by build,
# beside the device's, and checked for its C library likewise).
pkg_est() {
  local arch=$1 dir=$OUT/$1
  cat >"$dir/nfpm-est.yaml" <<EOF
$(nfpm_head iotsafe-est-server "$arch" net)
description: |-
  EST server issuing certificates to devices with SIM-held keys
  The EST (RFC 7030) server of go-iotsafe: a CA that certifies the keys
  devices generate in their SIM (GSMA IoT SAFE) at zero-touch provisioning,
  renews and revokes them, and publishes a CRL. Devices authenticate with a
  bootstrap password or a factory certificate. Its records are kept in
  SQLite, or in PostgreSQL shared by several replicas. A systemd unit runs
  it under a dynamic user once configured.
depends:
  - libc6 (>= $(cat "$dir/iotsafe-est-server.glibc"))
suggests:
  - postgresql
contents:
  - src: $dir/iotsafe-est-server
    dst: /usr/bin/iotsafe-est-server
    file_info: {mode: 0755}
  - src: $ROOT/packaging/default-est-server
    dst: /etc/default/iotsafe-est-server
    type: config
    file_info: {mode: 0600}
  - src: $ROOT/packaging/systemd/iotsafe-est-server.service
    dst: /lib/systemd/system/iotsafe-est-server.service
    file_info: {mode: 0644}
  - src: $OUT/docs-est/completions/iotsafe-est-server.bash
    dst: /usr/share/bash-completion/completions/iotsafe-est-server
    file_info: {mode: 0644}
  - src: $OUT/docs-est/completions/_iotsafe-est-server
    dst: /usr/share/zsh/vendor-completions/_iotsafe-est-server
    file_info: {mode: 0644}
  - src: $OUT/docs-est/copyright
    dst: /usr/share/doc/iotsafe-est-server/copyright
    file_info: {mode: 0644}
  - src: $OUT/docs-est/changelog.gz
    dst: /usr/share/doc/iotsafe-est-server/changelog.gz
    file_info: {mode: 0644}
$(manpages "$OUT/docs-est")
EOF
  go run "$NFPM" pkg --config "$dir/nfpm-est.yaml" --packager deb --target "$OUT/" >&2
}

# armv6: a static CLI for ARMv6 boards (Pi Zero/1 class). Debian's armhf is
# ARMv7 (its C library and start files are Thumb-2, which an ARMv6 CPU
# cannot run), so the package's cgo binaries need ARMv7; this one has no C
# at all: every transport but PC/SC (modems, MBIM, QMI, the software SIM).
armv6() {
  CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 go build -trimpath -tags noestserver -ldflags "-s -w" -o "$OUT/iotsafe-linux-armv6" ./cmd/iotsafe
}

mkdir -p "$OUT"
docs "$OUT/docs" iotsafe
docs "$OUT/docs-est" iotsafe-est-server
for a in "${ARCHES[@]}"; do
  triplet "$a" >/dev/null
  pkg "$a"
  pkg_est "$a"
  [ "$a" != armhf ] || armv6
done
status=0
# lintian leaves temporary files (mldbm-elf-*) in $TMPDIR: give it its own,
# removed afterwards, so that nothing stays behind in /tmp.
LINTIAN_TMP=$(mktemp -d /tmp/iotsafe-lintian.XXXXXX)
trap 'rm -rf "$LINTIAN_TMP"' EXIT
for a in "${ARCHES[@]}"; do
 for deb in "$OUT/iotsafe_${VERSION}_$a.deb" "$OUT/iotsafe-est-server_${VERSION}_$a.deb"; do
  [ -f "$deb" ] || { echo "deb.sh: nfpm did not write $deb" >&2; exit 1; }
  # lintian: errors fail; warnings are printed.
  if ! TMPDIR=$LINTIAN_TMP lintian --fail-on error "$deb"; then
    echo "deb.sh: lintian reports errors in $deb" >&2
    status=1
  fi
  echo "built $deb"
 done
done
exit $status
