#!/usr/bin/env bash
# Lists what the project could leave behind on a user's machine, so that the
# test suite can check it left the machine as it found it:
# `scripts/footprint.sh > before; ...; scripts/footprint.sh | diff before -`.
# It covers /var/lib/iotsafe, /etc/iotsafe, p11-kit's module directories (/etc/pkcs11,
# /usr/share/p11-kit/modules), $HOME and the names at the top of /tmp, less what the Go tool
# itself keeps there by design whenever it runs: its build and module caches
# (GOCACHE, GOMODCACHE, GOPATH's pkg) and its telemetry counters. One line per file or directory: path, type, size, modification time.
set -euo pipefail
prune=()
for d in "$(go env GOCACHE)" "$(go env GOMODCACHE)" "$(go env GOPATH)/pkg" "${HOME:-/root}/.cache/go-build" \
  "$(go env GOTELEMETRYDIR)"; do
  [ -n "$d" ] && prune+=(-path "$d" -prune -o)
done
# What the user has at the top of /tmp, by name only (tools leave files
# there: lintian's mldbm-elf-*, the JVM's hsperfdata_USER), less the Go
# tool's own build directories, which come and go with any go command.
# Listed before the sort below starts, whose own temporary files are there
# while it runs.
top=$(find "${TMPDIR:-/tmp}" -mindepth 1 -maxdepth 1 -user "$(id -u)" ! -name 'go-build*' -printf '%p %y\n' 2>/dev/null)
{
  [ -z "$top" ] || printf '%s\n' "$top"
  for root in /var/lib/iotsafe /etc/iotsafe /etc/pkcs11 /usr/share/p11-kit/modules "${HOME:-/root}"; do
    [ -e "$root" ] || { echo "$root absent"; continue; }
    find "$root" -xdev "${prune[@]}" -printf '%p %y %s %T@\n' 2>/dev/null
  done
} | LC_ALL=C sort
