#!/usr/bin/env bash
# Runs every benchmark five times (five passes) and writes bench/REPORT.md (figures and the
# ratios the project's goals are stated in). Needs the same services as the
# tests for the transport benchmarks (pcscd), which it starts if it can.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-1s}
started=0
if [ -x scripts/pcscd.sh ] && scripts/pcscd.sh start >/dev/null 2>&1; then started=1; fi
trap '[ "$started" = 1 ] && scripts/pcscd.sh stop >/dev/null 2>&1 || true' EXIT
out=bench/bench-raw.txt
# COUNT passes over every benchmark rather than COUNT runs of each in a row:
# a moment of contention on the machine then lands in one run of each pair
# compared (ours and its reference), not in all runs of one side.
: >"$out"
for _ in $(seq 1 "$COUNT"); do
  go test -run '^$' -bench . -benchmem -count 1 -benchtime "$BENCHTIME" ./... | tee -a "$out"
done
# The PKCS#11 library against SoftHSM2 from one C harness.
make -s pkcs11
conformance/bench.sh "$COUNT" 2 | tee -a "$out"
go run ./bench/report < "$out" > bench/REPORT.md
make -s build pkcs11
bench/startup.sh "$COUNT" >> bench/REPORT.md
bench/idle.sh 130 >> bench/REPORT.md
# Java's SunPKCS11 signing loop against the C harness's rate (same library,
# in-process emulator).
jdir=$(mktemp -d /tmp/iotsafe-benchjava.XXXXXX)
build/iotsafe emulator init --state "$jdir/sim.json" >/dev/null
javac -J-XX:-UsePerfData -d "$jdir" conformance/java/P11Check.java
printf 'name = IoTSAFE\nlibrary = %s\nslotListIndex = 0\n' "$PWD/build/libiotsafe-pkcs11.so" >"$jdir/p11.cfg"
java_once() { IOTSAFE_SIM="emulator:$jdir/sim.json" IOTSAFE_PKCS11_STORE="$jdir/store" java -XX:-UsePerfData -cp "$jdir" P11Check "$jdir/p11.cfg" device-key 0 - "$1" "$2" 2>/dev/null | sed -nE 's/.*: ([0-9]+) signatures\/s/\1/p'; }
# One JVM run varies by a third on this 2-core machine (9,400 to 12,900/s
# seen back to back): the median of five.
java_rate() { for _ in 1 2 3 4 5; do java_once "$1" "$2"; done | sort -n | sed -n 3p; }
j1=$(java_rate 1 20000)
j4=$(java_rate 4 5000)
rm -rf "$jdir"
c=$(awk '/^BenchmarkCSignIoTSAFE/ {print $3}' "$out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
{
  echo
  echo "## Java 17 SunPKCS11 signing loop (conformance/java/P11Check.java, no -Xcheck:jni, median of 5 runs)"
  echo
  echo "| Loop | signatures/s | C harness (C_SignInit + C_Sign, one thread) | ratio (goal ≥ 0.5) |"
  echo "|---|---|---|---|"
  for row in "1 thread x 20000:$j1" "4 threads x 5000:$j4"; do
    r=${row##*:}
    printf '| %s | %s | %s | %s |\n' "${row%%:*}" "$r" "$(awk -v n="$c" 'BEGIN{printf "%.0f", 1e9/n}')" \
      "$(awk -v r="$r" -v n="$c" 'BEGIN{ if (r > 0 && n > 0) printf "%.2f", r/(1e9/n); else print "-" }')"
  done
} >> bench/REPORT.md
{
  echo
  echo "## Sizes of the release builds (stripped: -s -w, -trimpath)"
  echo
  echo "| File | Bytes | MiB |"
  echo "|---|---|---|"
  # The CLI from source has everything; the packages split it: the
  # device's CLI without the EST server (-tags noestserver), and the
  # server's own binary.
  go build -trimpath -tags noestserver -ldflags "-s -w" -o build/iotsafe-device ./cmd/iotsafe
  go build -trimpath -ldflags "-s -w" -o build/iotsafe-est-server ./cmd/iotsafe-est-server
  for row in "build/iotsafe:" "build/iotsafe-device: (the device package's CLI: -tags noestserver)" \
             "build/iotsafe-est-server: (the EST server package's)" "build/libiotsafe-pkcs11.so:"; do
    f=${row%%:*}
    n=$(stat -c %s "$f")
    printf '| `%s`%s | %d | %s |\n' "$f" "${row#*:}" "$n" "$(awk -v n="$n" 'BEGIN{printf "%.1f", n/1048576}')"
  done
} >> bench/REPORT.md
# The EST server: throughput, growth to 10^5 certificates, replicas on
# PostgreSQL. With LIBEST_SERVER_DIR naming a hand-built Cisco libest
# example server (set up by its createCA.sh; nothing here builds libest),
# its throughput is measured beside ours in the same run.
go run ./bench/estgrowth -bin build/iotsafe -sizes 1000,10000,100000 >> bench/REPORT.md
# What a host pays for loading the library, beside SoftHSM2 and OpenSC
# (with the size of this tree's amd64 package).
scripts/deb.sh amd64 >/dev/null
{
  echo
  echo "## Packages (amd64, scripts/deb.sh)"
  echo
  echo "| Package | .deb KiB | installed KiB |"
  echo "|---|---|---|"
  for d in build/deb/iotsafe_*_amd64.deb build/deb/iotsafe-est-server_*_amd64.deb; do
    printf '| %s | %d | %s |\n' "$(dpkg-deb -f "$d" Package)" "$(( $(stat -c %s "$d") / 1024 ))" "$(dpkg-deb -f "$d" Installed-Size)"
  done
} >> bench/REPORT.md
# Nine runs whatever COUNT: resident memory moves by a few hundred KiB between runs.
bench/footprint.sh 9 >> bench/REPORT.md
echo "wrote bench/REPORT.md"
