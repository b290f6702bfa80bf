#!/usr/bin/env bash
# The README's first command, as a newcomer runs it: in a fresh Debian 12
# root built from Debian's packages (mmdebstrap's default variant, Debian's
# base system, with no make, compiler or C library headers) that has only
# Go beside it, as root: `apt-get install make` (the line the README gives),
# then `make demo` on a copy of the committed tree. It must end with "demo
# complete": make demo's own dependency list (scripts/deps.sh demo) has to
# cover everything its build and its run need, on a machine where make test
# never ran.
#
# Go is this machine's toolchain (bind-mounted read only); the Go modules
# come from this machine's module cache, served to the root as a file
# proxy (GOPROXY=file://...), so the run needs only Debian's mirror. Debian
# packages do not start their services inside the root (policy-rc.d), and
# a process the demo leaves running inside the root fails the test (it is
# stopped first).
#
# Usage: scripts/newcomer-test.sh
# Runs as root (chroot, mmdebstrap) in a private mount namespace: the root
# lives in a tmpfs that vanishes with it.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
SRC=$PWD
if [ -z "${IOTSAFE_NEWCOMER_NS:-}" ]; then
  exec unshare --mount --propagation private env IOTSAFE_NEWCOMER_NS=1 "$0" "$@"
fi
# Not on the word of a variable: the mounts below must not reach the host.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/$PPID/ns/mnt)" ]; then
  echo "newcomer-test: not in a private mount namespace (run it without IOTSAFE_NEWCOMER_NS)" >&2
  exit 1
fi
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
GOROOT_HOST=$(go env GOROOT)
MODCACHE=$(go env GOMODCACHE)/cache/download
WORK=$(mktemp -d /tmp/iotsafe-newcomer.XXXXXX)
R=$WORK/bookworm
stray() { # the PIDs of processes whose root directory is the test's root
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/}"
  done
  return 0
}
cleanup() {
  local left
  left=$(stray)
  [ -z "$left" ] || kill -9 $left 2>/dev/null || true
  umount -R -l "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=8g tmpfs "$WORK"
. scripts/rootguard.sh

start=$(date +%s)
mmdebstrap --quiet bookworm "$R" "$MIRROR" >"$WORK/mmdebstrap.log" 2>&1 ||
  { cat "$WORK/mmdebstrap.log" >&2; echo "newcomer-test: mmdebstrap failed" >&2; exit 1; }
# What Debian's base system lacks is what the newcomer installs, by the
# README's word or make demo's.
for tool in make gcc pkg-config; do
  if [ -e "$R/usr/bin/$tool" ]; then
    echo "newcomer-test: the fresh root already has $tool: it does not stand for Debian's base system" >&2
    exit 1
  fi
done
# Every path written from this side is resolved as the host resolves it
# and must stay in the root (scripts/rootguard.sh): an absolute symlink in
# the root (etc/resolv.conf often is one) would otherwise send the write
# to the host's own file. A file there is replaced, never written through.
policy=$(rp "$R" usr/sbin/policy-rc.d)
resolv=$(rp "$R" etc/resolv.conf)
src=$(rp "$R" root/go-iotsafe)
gomnt=$(rp "$R" usr/local/go)
proxymnt=$(rp "$R" srv/goproxy)
rm -f "$policy" "$resolv"
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"
# The root's apt needs the host's resolver: mounted read-only over an empty
# file of the root, in this namespace only; the host's file is not copied
# or touched.
: >"$resolv"
mount --bind /etc/resolv.conf "$resolv" && mount -o remount,bind,ro "$resolv"
mkdir -p "$src" "$gomnt" "$proxymnt"
git ls-files -z | xargs -0 cp --parents -t "$src"
mount --bind "$GOROOT_HOST" "$gomnt" && mount -o remount,bind,ro "$gomnt"
mount --bind "$MODCACHE" "$proxymnt" && mount -o remount,bind,ro "$proxymnt"
for d in proc dev sys tmp; do
  [ -d "$(rp "$R" $d)" ] && [ ! -L "$R/$d" ] || { echo "newcomer-test: $R/$d is not a directory of the root" >&2; exit 1; }
done
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"

step=$(rp "$R" tmp/newcomer.sh)
cat >"$step" <<'EOF'
set -eu
cd /root/go-iotsafe
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null
make demo
EOF
rc=0
env -i PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  GOPROXY=file:///srv/goproxy GOTOOLCHAIN=local LANG=C.UTF-8 \
  timeout 1200 chroot "$R" /bin/bash /tmp/newcomer.sh >"$WORK/demo.log" 2>&1 || rc=$?
left=$(stray)
if [ "$rc" -ne 0 ] || ! grep -qx "demo complete" "$WORK/demo.log"; then
  cat "$WORK/demo.log"
  echo "newcomer-test: make demo failed in a fresh Debian 12 root (exit $rc)" >&2
  exit 1
fi
if [ -n "$left" ]; then
  ps -o pid,args -p "$(echo $left | tr ' ' ,)" || true
  echo "newcomer-test: make demo left processes running" >&2
  exit 1
fi
echo "make demo in a fresh Debian 12 root (base system, Go, apt-get install make): demo complete in $(( $(date +%s) - start )) s; packages it installed: $(grep '^installing:' "$WORK/demo.log" | cut -d: -f2-)"
