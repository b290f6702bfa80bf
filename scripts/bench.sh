#!/usr/bin/env bash
# Runs every benchmark five times and writes bench/REPORT.md (figures and the
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
go test -run '^$' -bench . -benchmem -count "$COUNT" -benchtime "$BENCHTIME" ./... | tee "$out"
# The PKCS#11 library against SoftHSM2 from one C harness.
make -s pkcs11
conformance/bench.sh "$COUNT" 2 | tee -a "$out"
go run ./bench/report < "$out" > bench/REPORT.md
make -s build pkcs11
bench/startup.sh "$COUNT" >> bench/REPORT.md
{
  echo
  echo "## Sizes of the release builds (stripped: -s -w, -trimpath)"
  echo
  echo "| File | Bytes | MiB |"
  echo "|---|---|---|"
  for f in build/iotsafe build/libiotsafe-pkcs11.so; do
    n=$(stat -c %s "$f")
    printf '| `%s` | %d | %s |\n' "$f" "$n" "$(awk -v n="$n" 'BEGIN{printf "%.1f", n/1048576}')"
  done
} >> bench/REPORT.md
echo "wrote bench/REPORT.md"
