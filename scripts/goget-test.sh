#!/usr/bin/env bash
# The README's `go get` line, run as written by a new Go user, against this
# commit: the working tree is served as version v$(cat VERSION) by a module
# proxy on disk (the zip, .mod and .info files the GOPROXY protocol names),
# the module's dependencies from the Go module cache this machine already
# has (itself a valid file:// proxy), so nothing is fetched from the network.
# Then, in a fresh module, the program a user writes first: signer's
# ExampleNew (what the README shows) as a main package, with the README's
# block (`go get`, `go mod tidy`) run as written, then `go build`, and run.
#
# Everything goes to a temporary directory, the module cache included (the
# served version must not reach the user's cache); the build cache is the
# usual one. Checksums: GOSUMDB is off, as the served version is this
# commit's and not the public one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MOD=$(go list -m)
V=v$(cat VERSION)
CACHE=$(go env GOMODCACHE)
work=$(mktemp -d /tmp/iotsafe-goget.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The module as the proxy serves it: files of the working tree that git
# tracks, less the nested modules (directories with a go.mod of their own).
at=$work/proxy/$MOD/@v
mkdir -p "$at"
git ls-files -z | python3 -c '
import os, sys, zipfile
mod, v, out = sys.argv[1:4]
files = [f for f in sys.stdin.read().split("\0") if f and os.path.isfile(f)]
nested = {os.path.dirname(f) for f in files if f.endswith("/go.mod")}
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    n = 0
    for f in files:
        if any(f.startswith(d + "/") for d in nested):
            continue
        z.write(f, "%s@%s/%s" % (mod, v, f))
        n += 1
print("served %s@%s: %d files" % (mod, v, n))
' "$MOD" "$V" "$at/$V.zip"
cp go.mod "$at/$V.mod"
printf '{"Version":"%s","Time":"%s"}\n' "$V" "$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)" >"$at/$V.info"
echo "$V" >"$at/list"

# The README's block with the `go get` line, exactly as written.
block=$(python3 - README.md <<'PY'
import re, sys
for b in re.findall(r'```sh\n(.*?)```', open(sys.argv[1]).read(), re.S):
    if any(l.startswith('go get ') for l in b.splitlines()):
        print(b, end='')
        break
PY
)
[ -n "$block" ] || { echo "goget-test: README.md has no block with a 'go get' line"; exit 1; }
grep -q "^go get $MOD@" <<<"$block" || { echo "goget-test: the README's go get line does not get $MOD"; exit 1; }
# The Go release it names is the go.mod's.
want=$(go list -m -f '{{.GoVersion}}')
said=$(sed -nE 's/^go get .*# Go ([0-9.]+) or newer.*/\1/p' <<<"$block")
[ "$said.0" = "$want" ] || [ "$said" = "$want" ] || {
  echo "goget-test: the README says Go '$said' or newer, go.mod says go $want"; exit 1; }

mkdir "$work/app"
cd "$work/app"
export GOPROXY="file://$work/proxy,file://$CACHE/cache/download" GOSUMDB=off GOFLAGS=-modcacherw \
  GOMODCACHE=$work/modcache GOPATH=$work/gopath GOTOOLCHAIN=local
go mod init example.com/meter >/dev/null 2>&1
sed -e 's/^package signer_test$/package main/' "$ROOT/signer/example_test.go" >main.go
grep -q '^package main$' main.go || { echo "goget-test: signer/example_test.go is not package signer_test"; exit 1; }
printf '\nfunc main() { ExampleNew() }\n' >>main.go
while IFS= read -r l; do
  l=${l%%#*}
  [ -n "${l// /}" ] || continue
  echo "\$ $l"
  eval "$l" || { echo "goget-test: the README's line '$l' failed"; exit 1; }
done <<<"$block"
grep -qE "^(require)?[[:space:]]*$MOD $V( |$)" go.mod || { cat go.mod; echo "goget-test: go.mod does not require $MOD $V"; exit 1; }
echo "\$ go build"
go build -o meter . || { echo "goget-test: a program using the module does not build after the README's lines"; exit 1; }
out=$(./meter)
echo "$out"
[ "$out" = "verifies: true" ] || { echo "goget-test: the program printed '$out', want 'verifies: true'"; exit 1; }
