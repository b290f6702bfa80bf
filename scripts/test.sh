#!/usr/bin/env bash
# The whole test suite (what `make test` and CI run): static checks, every Go
# test with the real system services the integration tests need (pcscd with
# vpcd, started here on loopback and stopped on exit), a short run of every
# fuzz target, a no-cgo build, and one pass of every benchmark so none rots.
set -euo pipefail
cd "$(dirname "$0")/.."

# Count-based (Nx): a duration races the fuzz coordinator's deadline in Go 1.26
# (golang/go#75804, a spurious "context deadline exceeded").
FUZZTIME=${FUZZTIME:-100000x}
export IOTSAFE_REQUIRE_TOOLS=${IOTSAFE_REQUIRE_TOOLS:-1}

step() { printf '\n=== %s\n' "$*"; }

# What the suite starts or writes outside its own test directories goes,
# pass or fail: the pcscd it started, and its work directory (footprint
# snapshot, step logs, the misuse/fork SIM), a fresh one per run.
started_pcscd=0
work=$(mktemp -d /tmp/iotsafe-test.XXXXXX)
cleanup() {
  if [ "$started_pcscd" = 1 ]; then scripts/pcscd.sh stop || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step "footprint before (checked at the end: /var/lib/iotsafe, /etc/iotsafe, p11-kit's module directories, \$HOME and the top of /tmp unchanged)"
footprint_before=$work/footprint
scripts/footprint.sh >"$footprint_before"
wc -l <"$footprint_before"

step "make demo's packages cover what the build needs (cgo pkg-config modules -> Debian packages)"
scripts/deps.sh check

step "licences: every Go module compiled into the CLI and the PKCS#11 library has an identified licence (scripts/licenses.sh)"
scripts/licenses.sh check

step "go.mod is tidy"
go mod tidy -diff

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed on: $bad"; exit 1; fi

step "go vet"
go vet ./...

step "build without cgo"
CGO_ENABLED=0 go build ./...

step "cross-builds: macOS (PC/SC compiled out with a clear error without cgo) and Windows (PC/SC through winscard.dll), amd64 and arm64"
for arch in amd64 arm64; do GOOS=darwin GOARCH=$arch CGO_ENABLED=0 go build ./...; done
# Everything but the PKCS#11 library's C ABI (a Linux shared object).
for arch in amd64 arm64; do GOOS=windows GOARCH=$arch CGO_ENABLED=0 go build $(go list ./... | grep -v /pkcs11mod/cabi); done
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$work/iotsafe.exe" ./cmd/iotsafe
go version -m "$work/iotsafe.exe" | grep -q 'github.com/ebfe/scard' || { echo "the Windows CLI lacks PC/SC"; exit 1; }

if [ -x scripts/pcscd.sh ]; then
  step "start pcscd (vpcd on 127.0.0.1)"
  scripts/pcscd.sh start
  started_pcscd=1
fi

step "go test"
go test -count=1 -timeout 20m ./...

step "the device CLI of the packages (-tags noestserver): no EST server, and it says which package has it"
go vet -tags noestserver ./cmd/iotsafe
go test -count=1 -tags noestserver -run TestESTServerNotInDeviceBuild ./cmd/iotsafe

step "race detector on the concurrent paths"
go test -count=1 -race -timeout 10m . ./transport/... ./emulator/... ./signer/... ./pkcs11mod/...

step "figures quoted in the README, docs/speed.md and docs/go.md are the bench report's (scripts/figures-check.py)"
scripts/figures-check.py README.md docs/speed.md docs/go.md

step "the README: short, and its command blocks run as written (scripts/readme-test.sh)"
[ "$(wc -l <README.md)" -le 200 ] || { echo "README.md has $(wc -l <README.md) lines: reference material belongs in docs/"; exit 1; }
scripts/readme-test.sh

step "the README's go get block, in a new user's module, against this commit served by a module proxy on disk (scripts/goget-test.sh)"
scripts/goget-test.sh

step "docs/troubleshooting.md: every transcript is what the commands print (scripts/troubleshooting-test.py)"
scripts/troubleshooting-test.py

step "PKCS#11 library: misuse from C (NULL pointers, bad handles, order, short buffers, 3.0 interfaces, cycles, 16 threads)"
make -s pkcs11
cc -O2 -Wall -I pkcs11mod/cabi -o build/p11-misuse conformance/misuse.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
misuse_dir=$work/misuse
mkdir "$misuse_dir"
build/iotsafe emulator init --profile gsma-keytypes --state "$misuse_dir/sim.json" >/dev/null
IOTSAFE_SIM="emulator:$misuse_dir/sim.json" IOTSAFE_PKCS11_STORE="$misuse_dir/store" \
  timeout 300 build/p11-misuse build/libiotsafe-pkcs11.so device-key rsa-key

step "PKCS#11 library in a forking program: every fork pattern ends by itself"
cc -O2 -Wall -I pkcs11mod/cabi -o build/p11-fork conformance/fork.c $(pkg-config --cflags p11-kit-1) -ldl -lpthread
IOTSAFE_SIM="emulator:$misuse_dir/sim.json" IOTSAFE_PKCS11_STORE="$misuse_dir/store" \
  timeout 300 build/p11-fork build/libiotsafe-pkcs11.so device-key
rm -rf "$misuse_dir"

step "PKCS#11 conformance with the real consumers: our library on the emulator"
conformance/run.sh iotsafe

step "PKCS#11 conformance: our library with a pcsc: SIM (the emulator in pcscd through vpcd)"
conformance/run.sh pcsc

step "PKCS#11 conformance: our library with an mbim: SIM (the emulator behind the fake MBIM function)"
conformance/run.sh mbim

step "PKCS#11 conformance: our library with a qmi: SIM (the emulator behind the fake QMI device)"
conformance/run.sh qmi

step "the bridge: a modem's SIM shared through pcscd by three processes at once"
scripts/bridge-test.sh
scripts/bridge-test.sh mbim
scripts/bridge-test.sh qmi

step "ModemManager's way: two processes signing at once through the real mbim-proxy and qmi-proxy"
scripts/ctl-proxy-test.sh mbim
scripts/ctl-proxy-test.sh qmi

step "PC/SC faults from separate processes: SIM pulled during a C signing loop, pcscd restarted"
scripts/pcsc-faults-test.sh

step "PKCS#11 consumers: PyKCS11, mosquitto_pub/sub, strongSwan pki and charon (IKEv2), OpenVPN, Java 17 SunPKCS11 (emulator, pcsc:, SoftHSM2)"
conformance/consumers.sh iotsafe
conformance/consumers.sh pcsc
conformance/consumers.sh softhsm

step "packages: .debs (iotsafe, iotsafe-est-server) for amd64, arm64 and armhf linked for glibc <= 2.31, lintian without errors (scripts/deb.sh)"
scripts/deb.sh

step "packages installed in fresh Debian 11 and 12 roots (amd64 chroot; arm64, armhf, ARMv6 under qemu-user): p11-kit, pkcs11-tool, OpenSSL, wpa_supplicant, dpkg -r/--purge"
scripts/deb-install-test.sh

step "the newcomer's first command: make demo in a fresh Debian 12 root with only Go and apt-get install make (scripts/newcomer-test.sh)"
scripts/newcomer-test.sh

step "PKCS#11 conformance: the same script against SoftHSM2"
conformance/run.sh softhsm

step "PKCS#11 key types: RSA-2048 and brainpoolP256r1 keys on the emulator, through pcscd, and in SoftHSM2"
conformance/keytypes.sh iotsafe
conformance/keytypes.sh pcsc
conformance/keytypes.sh softhsm

step "examples/curl: curl and openssl with a provisioned credential through the PKCS#11 library"
examples/curl/run.sh >"$work/example-curl.log" 2>&1 || { cat "$work/example-curl.log"; exit 1; }
tail -3 "$work/example-curl.log"

step "fuzz targets, ${FUZZTIME} each"
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "--- $pkg $f"
    go test -run '^$' -fuzz "^${f}\$" -fuzztime "$FUZZTIME" "$pkg" >"$work/fuzz.log" 2>&1 || { cat "$work/fuzz.log"; exit 1; }
  done
done

step "benchmarks, one short pass (figures: make bench)"
go test -run '^$' -bench . -benchtime 3x -count 1 ./... >"$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }
grep -E '^(Benchmark|ok|FAIL)' "$work/bench.log" | head -60
conformance/bench.sh 1 0.2
bench/startup.sh 1 | tail -3
bench/idle.sh 3 | tail -3

step "the suite left /var/lib/iotsafe, /etc/iotsafe, p11-kit's module directories, \$HOME and /tmp as it found them"
# The pcscd it started goes first (its pid file and log are in /tmp).
if [ "$started_pcscd" = 1 ]; then scripts/pcscd.sh stop; started_pcscd=0; fi
if ! scripts/footprint.sh | diff "$footprint_before" - >"$work/footprint.diff"; then
  echo "the test suite changed the machine outside its temporary directories:"
  head -40 "$work/footprint.diff"
  exit 1
fi
echo "unchanged"

echo
echo "all tests passed"
