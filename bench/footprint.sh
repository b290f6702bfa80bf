#!/usr/bin/env bash
# Footprint of the PKCS#11 library in its host, side by side with SoftHSM2
# and OpenSC in one run: what a program gains by loading each module,
# initializing it and using its slots (bench/footprint.c: resident memory,
# threads and address space from /proc/self/status, C_Initialize time),
# median of N runs; library and package sizes. Prints a Markdown section
# for bench/REPORT.md.
#
# Usage: bench/footprint.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
DIR=$(mktemp -d /tmp/iotsafe-footprint.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cc -O2 -Wall -o "$DIR/footprint" bench/footprint.c $(pkg-config --cflags p11-kit-1) -ldl
[ -f build/libiotsafe-pkcs11.so ] || make -s pkcs11
build/iotsafe emulator init --state "$DIR/sim.json" >/dev/null
printf '# no SIM\n' >"$DIR/none.conf"
printf '[slot]\nsim: emulator:%s\n' "$DIR/sim.json" >"$DIR/emu.conf"
mkdir "$DIR/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$DIR/tokens" >"$DIR/softhsm2.conf"
SOFTHSM2_CONF=$DIR/softhsm2.conf softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 1234 >/dev/null
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
OPENSC=$(ls /usr/lib/*/opensc-pkcs11.so | head -1)

# run NAME ENV... MODULE: N runs; the median of each figure.
run() {
  local name=$1 mod=${*: -1} i
  local envs=("${@:2:$#-2}")
  for ((i = 0; i < N; i++)); do
    env -u IOTSAFE_SIM HOME="$DIR" IOTSAFE_PKCS11_STORE="$DIR/store" "${envs[@]}" "$DIR/footprint" "$mod"
  done >"$DIR/$name.runs"
}
median() { # median NAME KEY
  tr ' ' '\n' <"$DIR/$1.runs" | sed -n "s/^$2=//p" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
run ours-none IOTSAFE_PKCS11_CONF="$DIR/none.conf" build/libiotsafe-pkcs11.so
run ours-sim IOTSAFE_PKCS11_CONF="$DIR/emu.conf" build/libiotsafe-pkcs11.so
run softhsm2 SOFTHSM2_CONF="$DIR/softhsm2.conf" "$SOFTHSM"
run opensc OPENSC_CONF=/etc/opensc/opensc.conf "$OPENSC"

mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
installed() { dpkg-query -W -f '${Installed-Size}' "$1" 2>/dev/null || echo -; }
ours_pkg=-
deb=$(ls build/deb/iotsafe_*_amd64.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] && ours_pkg=$(dpkg-deb -f "$deb" Installed-Size)
echo
echo "## Footprint in a host (bench/footprint.sh, median of $N runs, one run for all three)"
echo
echo "What a program gains by loading the module, C_Initialize, then C_GetSlotList and C_GetTokenInfo"
echo "on every slot (what p11-kit's proxy does in every program that loads it), from /proc/self/status."
echo
echo "| Module | RSS after use (MiB) | RSS after C_Initialize (MiB) | threads | address space (MiB) | C_Initialize (ms) | library (MiB) | package installed (KiB) |"
echo "|---|---|---|---|---|---|---|---|"
row() { # row LABEL NAME FILE PKGSIZE
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(mib "$(median "$2" used_rss_kb)")" \
    "$(mib "$(median "$2" initialized_rss_kb)")" "$(median "$2" used_threads)" "$(mib "$(median "$2" used_vm_kb)")" \
    "$(median "$2" init_ms)" "$(mib $(($(stat -L -c %s "$3") / 1024)))" "$4"
}
row "go-iotsafe, no SIM configured" ours-none build/libiotsafe-pkcs11.so "$ours_pkg"
row "go-iotsafe, software SIM configured" ours-sim build/libiotsafe-pkcs11.so "$ours_pkg"
row "SoftHSM2 $(dpkg-query -W -f '${Version}' softhsm2), one token" softhsm2 "$SOFTHSM" "$(installed softhsm2) (softhsm2) + $(installed libsofthsm2)"
row "OpenSC $(dpkg-query -W -f '${Version}' opensc-pkcs11), no reader" opensc "$OPENSC" "$(installed opensc-pkcs11)"
ours=$(median ours-sim used_rss_kb)
soft=$(median softhsm2 used_rss_kb)
echo
awk -v o="$ours" -v s="$soft" 'BEGIN{ printf "Goal: RSS at most SoftHSM2'"'"'s plus 10%% (%.1f MiB): %.1f MiB, %s.\n", s*1.1/1024, o/1024, (o <= s*1.1) ? "met" : "NOT met" }'
echo "Our threads are the Go runtime's: C_Initialize opens no SIM and starts no goroutine (pkcs11mod TestInitializeTouchesNoSIM); the package's installed size is of the amd64 .deb iotsafe (the device CLI and the library)."
