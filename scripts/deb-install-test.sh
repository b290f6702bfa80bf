#!/usr/bin/env bash
# Install tests of the Debian packages (scripts/deb.sh builds them), in
# fresh Debian 11 (bullseye) and Debian 12 (bookworm) roots made from
# Debian's packages with mmdebstrap:
#
#   amd64, in a chroot: `apt-get install ./iotsafe_<v>_amd64.deb`; p11-kit
#     lists the IoT SAFE token of a software SIM set in
#     /etc/iotsafe/pkcs11.conf; the release's pkcs11-tool signs through
#     p11-kit's proxy and the release's OpenSSL verifies; the release's
#     wpa_supplicant loads the installed library (Debian 12's refuses
#     libraries outside /usr/lib: a copy in /usr/local/lib is the control);
#     beside it, `apt-get install ./iotsafe-est-server_<v>_amd64.deb`: the
#     device package's CLI names it for est-server, and a SIM key made by
#     `iotsafe provision` is certified by iotsafe-est-server with the SIM's
#     factory credential; that release's systemd-analyze verifies the units
#     of both; `dpkg -r` keeps only the conffiles, `dpkg --purge` leaves the
#     root's file list as it was before the install.
#   arm64 and armhf, unpacked into a root of that architecture and run with
#     qemu-user (qemu-*-static started explicitly inside the chroot; no
#     binfmt): p11-kit lists the token, pkcs11-tool signs through p11-kit's
#     proxy (armhf: the 32-bit CK_ULONG ABI), OpenSSL verifies; the EST
#     server's binary runs.
#   ARMv6: the static ARMv6 CLI (build/deb/iotsafe-linux-armv6) runs under
#     qemu with an ARMv6 CPU (arm1176, Pi Zero/1 class), and its signature
#     verifies.
#
# Usage: scripts/deb-install-test.sh [bullseye|bookworm ...]
# Runs as root (chroot, mmdebstrap) in a private mount namespace: every
# root lives in a tmpfs that vanishes with it (32-bit programs under qemu
# also need a tmpfs: on ext4 their readdir fails with EOVERFLOW).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ -z "${IOTSAFE_DEBTEST_NS:-}" ]; then
  exec unshare --mount --propagation private env IOTSAFE_DEBTEST_NS=1 "$0" "$@"
fi
# Not on the word of a variable: the mounts below must not reach the host.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/$PPID/ns/mnt)" ]; then
  echo "deb-install-test: not in a private mount namespace (run it without IOTSAFE_DEBTEST_NS)" >&2
  exit 1
fi
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
VERSION=$(cat VERSION)
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(bullseye bookworm)
WORK=$(mktemp -d /tmp/iotsafe-debtest.XXXXXX)
trap 'umount -l "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
mount -t tmpfs -o size=6g tmpfs "$WORK"

for a in amd64 arm64 armhf; do
  for p in iotsafe iotsafe-est-server; do
    [ -f "build/deb/${p}_${VERSION}_$a.deb" ] || { echo "deb-install-test: build/deb/${p}_${VERSION}_$a.deb is missing: run scripts/deb.sh" >&2; exit 1; }
  done
done
[ -f build/deb/iotsafe-linux-armv6 ] || { echo "deb-install-test: build/deb/iotsafe-linux-armv6 is missing: run scripts/deb.sh" >&2; exit 1; }

fail=0
. scripts/rootguard.sh
failed() { echo "FAIL: $*" >&2; fail=1; }
ok() { echo "ok: $*"; }

# The guard itself, on a root whose etc/ is an absolute symlink to the
# host's /etc: refused (in a subshell, as it exits); a plain path passes.
g=$WORK/guard-check
mkdir -p "$g/var" && ln -s /etc "$g/etc"
if (rp "$g" etc/iotsafe/pkcs11.conf >/dev/null 2>&1) || ! (rp "$g" var/x >/dev/null); then
  echo "deb-install-test: the root-path guard does not work" >&2; exit 1
fi
rm -rf "$g"

# The roots, made in parallel (the time is the download).
pids=()
for rel in "${RELEASES[@]}"; do
  mmdebstrap --quiet --variant=minbase \
    --include=p11-kit,opensc,openssl,wpasupplicant,libpcsclite1,libengine-pkcs11-openssl,systemd \
    "$rel" "$WORK/$rel-amd64" "$MIRROR" >"$WORK/$rel-amd64.log" 2>&1 &
  pids+=($!)
  for a in arm64 armhf; do
    mmdebstrap --quiet --variant=extract --architectures=$a \
      --include=libc6,libpcsclite1,p11-kit,opensc,openssl \
      "$rel" "$WORK/$rel-$a" "$MIRROR" >"$WORK/$rel-$a.log" 2>&1 &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do
  wait "$p" || { cat "$WORK"/*.log >&2; echo "deb-install-test: mmdebstrap failed" >&2; exit 1; }
done

# The checks inside a root: $1 root, $2 command prefix (qemu or empty), $3
# triplet. A SIM, its configuration, the token through p11-kit, a signature
# through p11-kit's proxy verified by OpenSSL.
token_checks() {
  local r=$1 q=$2 tri=$3 what=$4
  inroot "$r"
  # The roots of foreign architectures have no shell: files are written
  # from here, programs run one by one (chroot ROOT [qemu] PROGRAM).
  run() { chroot "$r" $q "$@"; }
  local simdir conf
  rp "$r" tmp >/dev/null # the logs below go to the root's /tmp
  simdir=$(rp "$r" var/lib/iotsafe)
  conf=$(rp "$r" etc/iotsafe/pkcs11.conf)
  mkdir -p "$simdir"
  if ! run /usr/bin/iotsafe emulator init --state /var/lib/iotsafe/sim.json >"$r/tmp/init.log" 2>&1; then
    failed "$what: the software SIM could not be made: $(cat "$r/tmp/init.log")"; return
  fi
  # The package's conffile, in the throwaway root (rp above).
  printf '[slot]\nsim: emulator:/var/lib/iotsafe/sim.json\n' >>"$conf"
  if run /usr/bin/p11-kit list-modules 2>"$r/tmp/p11.err" | tee "$r/tmp/p11.out" | grep -q '^    token: IoT SAFE$' && [ ! -s "$r/tmp/p11.err" ]; then
    ok "$what: p11-kit list-modules shows the IoT SAFE token, nothing on stderr"
  else
    failed "$what: p11-kit list-modules: $(cat "$r/tmp/p11.out" "$r/tmp/p11.err")"
  fi
  # Sign through p11-kit's proxy; the public key is the EC_POINT that
  # pkcs11-tool lists, put in a P-256 SubjectPublicKeyInfo here (bookworm's
  # pkcs11-tool 0.23 fails, now and then, to turn a public key it reads into
  # an OpenSSL key: "cannot create EVP_PKEY", with our library or others).
  local proxy=/usr/lib/$tri/p11-kit-proxy.so point
  echo "signed in a $what root" >"$r/tmp/data"
  if run /usr/bin/pkcs11-tool --module "$proxy" --token-label 'IoT SAFE' --sign -m ECDSA-SHA256 \
         --id 01 -i /tmp/data -o /tmp/sig --signature-format openssl >"$r/tmp/sign.log" 2>&1 &&
     run /usr/bin/pkcs11-tool --module "$proxy" --token-label 'IoT SAFE' -O --type pubkey --id 01 >"$r/tmp/list.log" 2>&1 &&
     point=$(awk '$1 == "EC_POINT:" { p = $2 } $1 == "ID:" && $2 == "01" { print substr(p, 5); exit }' "$r/tmp/list.log") &&
     [ ${#point} = 130 ] &&
     perl -e 'print pack("H*", "3059301306072a8648ce3d020106082a8648ce3d030107034200" . $ARGV[0])' "$point" >"$r/tmp/pub.der" &&
     run /usr/bin/openssl dgst -sha256 -verify /tmp/pub.der -keyform DER -signature /tmp/sig /tmp/data >>"$r/tmp/sign.log" 2>&1 &&
     grep -q '^Verified OK' "$r/tmp/sign.log"; then
    ok "$what: pkcs11-tool signed through p11-kit's proxy, OpenSSL verified"
  else
    failed "$what: sign and verify: $(cat "$r/tmp/sign.log" "$r/tmp/list.log" 2>/dev/null)"
  fi
}

# wpa_check ROOT REL LIB EXPECT: wpa_supplicant with EAP-TLS through the
# OpenSSL pkcs11 engine and LIB as its module; EXPECT is load or refuse.
wpa_check() {
  local r=$1 rel=$2 lib=$3 expect=$4 engines
  inroot "$r"
  rp "$r" tmp >/dev/null
  engines=$(cd "$r" && ls -d usr/lib/x86_64-linux-gnu/engines-*/pkcs11.so | head -1)
  cat >"$r/tmp/wpa.conf" <<EOF
pkcs11_engine_path=/$engines
pkcs11_module_path=$lib
network={
  key_mgmt=IEEE8021X
  eap=TLS
  identity="device"
  engine=1
  engine_id="pkcs11"
  key_id="pkcs11:object=device-key;type=private"
  cert_id="pkcs11:object=device-key;type=cert"
  ca_cert="/etc/ssl/certs/ca-certificates.crt"
}
EOF
  # Its own network namespace: only lo, which the wired driver takes.
  unshare --net chroot "$r" /bin/sh -c 'ip link set lo up 2>/dev/null; timeout 5 wpa_supplicant -dd -D wired -i lo -c /tmp/wpa.conf' >"$r/tmp/wpa.log" 2>&1 || true
  local loaded=no
  grep -q "ENGINE: 'MODULE_PATH' '$lib'" "$r/tmp/wpa.log" && ! grep -q "Failed to load pkcs11 Module" "$r/tmp/wpa.log" && loaded=yes
  case "$expect:$loaded" in
    load:yes) ok "$rel amd64: wpa_supplicant loads $lib" ;;
    refuse:no)
      # Refused for the path (the message docs/troubleshooting.md quotes),
      # not for some other reason.
      if grep -q "Failed to load pkcs11 Module from $lib: Not in trusted path" "$r/tmp/wpa.log"; then
        ok "$rel amd64: wpa_supplicant refuses $lib ($(grep -o 'Not in trusted path.*' "$r/tmp/wpa.log" | head -1))"
      else
        failed "$rel amd64: wpa_supplicant did not load $lib, but not for its path: $(grep -i -m3 'engine\|pkcs11' "$r/tmp/wpa.log")"
      fi ;;
    load:no) failed "$rel amd64: wpa_supplicant did not load $lib: $(grep -i -m3 'engine\|pkcs11' "$r/tmp/wpa.log")" ;;
    refuse:yes) failed "$rel amd64: wpa_supplicant loaded $lib, which it should refuse (the control is broken)" ;;
  esac
}

# est_check ROOT REL: the EST server's package beside the device's, as a
# zero-touch enrolment runs between them: the server (iotsafe-est-server)
# trusts the SIM maker's CA, the device (iotsafe provision) enrols with its
# SIM's factory credential and gets its certificate on the SIM. The device
# package's own CLI, built without the server, says where it is.
est_check() {
  local r=$1 rel=$2 port pid i
  inroot "$r"
  rp "$r" tmp >/dev/null
  local estdir
  estdir=$(rp "$r" var/lib/iotsafe-est-test)
  # The server's settings file holds its secrets (bootstrap password,
  # admin token): root's alone as installed.
  local mode
  mode=$(chroot "$r" stat -c '%U %a' /etc/default/iotsafe-est-server)
  if [ "$mode" = "root 600" ]; then
    ok "$rel amd64: /etc/default/iotsafe-est-server (the server's secrets) is root's, mode 600"
  else
    failed "$rel amd64: /etc/default/iotsafe-est-server is '$mode', not 'root 600'"
  fi
  chroot "$r" /usr/bin/iotsafe est-server --dir /tmp/x >"$r/tmp/stub.log" 2>&1 || true
  if grep -q "the EST server is in the package iotsafe-est-server" "$r/tmp/stub.log"; then
    ok "$rel amd64: the device CLI's est-server names the package that has it"
  else
    failed "$rel amd64: iotsafe est-server in the device package: $(cat "$r/tmp/stub.log")"
  fi
  port=$(( 20000 + RANDOM % 20000 ))
  rm -f "$r/tmp/est.ready"
  chroot "$r" /usr/bin/iotsafe --sim emulator:/var/lib/iotsafe/sim.json read-file --label ca-cert --pem --out /tmp/factory-ca.pem >"$r/tmp/est.log" 2>&1
  chroot "$r" /bin/sh -c "umask 077; mkdir -p /var/lib/iotsafe-est-test && exec /usr/bin/iotsafe-est-server --dir /var/lib/iotsafe-est-test --listen 127.0.0.1:$port --bootstrap-ca /tmp/factory-ca.pem --ready-file /tmp/est.ready" >>"$r/tmp/est.log" 2>&1 &
  pid=$!
  for i in $(seq 1 100); do [ -s "$r/tmp/est.ready" ] && break; sleep 0.2; done
  if [ -s "$r/tmp/est.ready" ] &&
     chroot "$r" /usr/bin/iotsafe --sim emulator:/var/lib/iotsafe/sim.json provision --est "https://127.0.0.1:$port" \
       --est-ca /var/lib/iotsafe-est-test/ca.pem --factory-key device-key --cn 'meter-{key}' >"$r/tmp/prov.log" 2>&1 &&
     grep -q "delivered to SIM file" "$r/tmp/prov.log"; then
    ok "$rel amd64: iotsafe-est-server certified a SIM key that iotsafe provision made, with the SIM's factory credential"
  else
    failed "$rel amd64: enrolment against iotsafe-est-server: $(cat "$r/tmp/est.log" "$r/tmp/prov.log" 2>/dev/null)"
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$estdir"
}

# files ROOT: the root's file list, without what apt, dpkg and the tests
# change (./root/.cache is OpenSC's, made through p11-kit with or without
# this package).
files() {
  (cd "$1" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/cache -o -path ./var/log \
    -o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./dev -o -path ./run \
    -o -path ./root/.cache \) -prune -o -print | sort)
}

for rel in "${RELEASES[@]}"; do
  r=$WORK/$rel-amd64
  inroot "$r"
  deb=iotsafe_${VERSION}_amd64.deb
  rtmp=$(rp "$r" tmp)
  cp "build/deb/$deb" "$rtmp/"
  files "$r" >"$WORK/$rel.before"
  if chroot "$r" /bin/sh -c "cd /tmp && apt-get install -y -q ./$deb" >"$r/tmp/apt.log" 2>&1; then
    ok "$rel amd64: apt-get install ./$deb"
  else
    failed "$rel amd64: apt-get install: $(tail -5 "$r/tmp/apt.log")"; continue
  fi
  mount -t proc proc "$r/proc"
  token_checks "$r" "" x86_64-linux-gnu "$rel amd64"
  lib=/usr/lib/x86_64-linux-gnu/pkcs11/libiotsafe-pkcs11.so
  wpa_check "$r" "$rel" "$lib" load
  debest=iotsafe-est-server_${VERSION}_amd64.deb
  cp "build/deb/$debest" "$rtmp/"
  if chroot "$r" /bin/sh -c "cd /tmp && apt-get install -y -q ./$debest" >"$r/tmp/apt-est.log" 2>&1; then
    ok "$rel amd64: apt-get install ./$debest"
    est_check "$r" "$rel"
  else
    failed "$rel amd64: apt-get install ./$debest: $(tail -5 "$r/tmp/apt-est.log")"
  fi
  if [ "$rel" = bookworm ]; then
    locallib=$(rp "$r" usr/local/lib)
    mkdir -p "$locallib" && cp "$r$lib" "$locallib/"
    wpa_check "$r" "$rel" /usr/local/lib/libiotsafe-pkcs11.so refuse
    rm -f "$locallib/libiotsafe-pkcs11.so"
  fi
  # The units, as that release's systemd reads them (their commands exist,
  # their settings parse).
  mount --rbind /sys "$r/sys" # bullseye's systemd wants its cgroup
  if chroot "$r" systemd-analyze verify --man=no /lib/systemd/system/iotsafe-bridge.service \
       /lib/systemd/system/iotsafe-renew.service /lib/systemd/system/iotsafe-renew.timer \
       /lib/systemd/system/iotsafe-est-server.service >"$r/tmp/units.log" 2>&1 &&
     [ ! -s "$r/tmp/units.log" ]; then
    ok "$rel amd64: systemd-analyze verify passes the units"
  else
    failed "$rel amd64: systemd-analyze verify: $(cat "$r/tmp/units.log")"
  fi
  umount -R "$r/sys"
  umount "$r/proc"
  simdir=$(rp "$r" var/lib/iotsafe)
  rm -rf "$simdir" # the test's SIM, not the package's
  chroot "$r" dpkg -r iotsafe iotsafe-est-server >"$r/tmp/dpkg.log" 2>&1 || failed "$rel amd64: dpkg -r: $(cat "$r/tmp/dpkg.log")"
  left=$(comm -13 "$WORK/$rel.before" <(files "$r"))
  if [ "$left" = "$(printf './etc/default/iotsafe\n./etc/default/iotsafe-est-server\n./etc/iotsafe\n./etc/iotsafe/pkcs11.conf')" ]; then
    ok "$rel amd64: dpkg -r keeps only the conffiles"
  else
    failed "$rel amd64: after dpkg -r, besides the root as it was: $left"
  fi
  chroot "$r" dpkg --purge iotsafe iotsafe-est-server >"$r/tmp/dpkg.log" 2>&1 || failed "$rel amd64: dpkg --purge: $(cat "$r/tmp/dpkg.log")"
  if diff "$WORK/$rel.before" <(files "$r") >"$WORK/$rel.diff"; then
    ok "$rel amd64: dpkg --purge leaves nothing behind"
  else
    failed "$rel amd64: after dpkg --purge the root differs: $(cat "$WORK/$rel.diff")"
  fi

  for a in arm64 armhf; do
    r=$WORK/$rel-$a
    inroot "$r"
    q=qemu-aarch64-static tri=aarch64-linux-gnu
    [ $a = armhf ] && q=qemu-arm-static tri=arm-linux-gnueabihf
    dpkg -x "build/deb/iotsafe_${VERSION}_$a.deb" "$r"
    rbin=$(rp "$r" usr/bin)
    cp "$(command -v $q)" "$rbin/"
    token_checks "$r" "/usr/bin/$q" "$tri" "$rel $a"
    # The EST server's binary starts on that CPU and knows its commands.
    dpkg -x "build/deb/iotsafe-est-server_${VERSION}_$a.deb" "$r"
    chroot "$r" "/usr/bin/$q" /usr/bin/iotsafe-est-server admin --help >"$r/tmp/est-help.log" 2>&1 || true
    if grep -q "Talks to the admin endpoints of an est-server" "$r/tmp/est-help.log"; then
      ok "$rel $a: iotsafe-est-server runs"
    else
      failed "$rel $a: iotsafe-est-server does not run: $(head -5 "$r/tmp/est-help.log")"
    fi
  done
done

# ARMv6 (arm1176): the static CLI makes a SIM, signs, and OpenSSL (the
# host's) verifies.
d=$WORK/armv6 && mkdir -p "$d"
if qemu-arm-static -cpu arm1176 build/deb/iotsafe-linux-armv6 emulator init --state "$d/sim.json" >/dev/null &&
   echo "signed on an ARMv6 CPU" >"$d/data" &&
   qemu-arm-static -cpu arm1176 build/deb/iotsafe-linux-armv6 --sim "emulator:$d/sim.json" sign --key 01 --in "$d/data" --out "$d/sig" &&
   qemu-arm-static -cpu arm1176 build/deb/iotsafe-linux-armv6 --sim "emulator:$d/sim.json" pubkey --key 01 >"$d/pub.pem" &&
   openssl dgst -sha256 -verify "$d/pub.pem" -signature "$d/sig" "$d/data" >/dev/null; then
  ok "ARMv6 (qemu -cpu arm1176): the static CLI signs, OpenSSL verifies"
else
  failed "ARMv6: the static CLI did not sign under qemu -cpu arm1176"
fi

[ $fail = 0 ] && echo "deb-install-test: all passed" || echo "deb-install-test: FAILED" >&2
exit $fail
