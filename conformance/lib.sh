# Helpers of the conformance scripts (run.sh, keytypes.sh, consumers.sh):
# sourced with ROOT the checkout; workdir makes the work directory, the
# current one from then on.

# workdir NAME: a fresh work directory /tmp/iotsafe-NAME.XXXXXX (WORK),
# entered; on exit the processes in PIDS are stopped, the commands in
# CLEANUP run and the directory removed (kept with KEEP=1).
workdir() {
  WORK=$(mktemp -d "/tmp/iotsafe-$1.XXXXXX")
  PIDS=()
  CLEANUP=()
  trap lib_cleanup EXIT
  cd "$WORK" || exit 1
}
lib_cleanup() {
  local p c
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}

# pcsc_sim STATE: the emulator holding STATE inserted into pcscd through
# vpcd (127.0.0.1:35963). A pcscd that runs already is used and left
# alone; else scripts/pcscd.sh starts one, stopped on exit.
pcsc_sim() {
  if ! (cd "$ROOT" && scripts/pcscd.sh status >/dev/null 2>&1); then
    (cd "$ROOT" && scripts/pcscd.sh start) || exit 1
    CLEANUP+=("cd '$ROOT' && scripts/pcscd.sh stop")
  fi
  "$ROOT/build/iotsafe" emulator serve --state "$1" --vpcd 127.0.0.1:35963 >"$WORK/vpcd.log" 2>&1 &
  PIDS+=($!)
}

pass=0
fail=0
failed=()
T() { # T name command...: one check; its output is kept in $WORK/log/
  local name=$1; shift
  mkdir -p log
  local f="log/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log"
  if ( "$@" ) >"$f" 2>&1; then
    pass=$((pass + 1)); printf '  ok    %s\n' "$name"
  else
    fail=$((fail + 1)); failed+=("$name"); printf '  FAIL  %s\n' "$name"
    sed 's/^/        | /' "$f" | tail -25
  fi
}
na=0
nas=()
NA() { # NA name reason: a check that does not apply to this token, with why
  na=$((na + 1)); nas+=("$1: $2"); printf '  n/a   %s (%s)\n' "$1" "$2"
}
has() { grep -q -- "$1" "$2" || { echo "expected '$1' in $2:"; cat "$2"; return 1; }; }
pct() { local s=$1 o= i c; for ((i = 0; i < ${#s}; i += 2)); do o+="%${s:i:2}"; done; printf '%s' "$o"; }


# serve LOG ARGS...: openssl s_server for one connection on a free port
# (sets PORT); bounded wait until it accepts.
serve() {
  local log=$1; shift
  local try
  for try in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 20000))
    timeout 60 openssl s_server -accept "127.0.0.1:$PORT" -naccept 1 -www -cert srv.pem -key srv.key \
      -Verify 1 -verify_return_error -CAfile "${CAFILE:-ca.pem}" "$@" >"$log" 2>&1 &
    SERVER=$!
    PIDS+=("$SERVER")
    local i
    for i in $(seq 1 50); do
      grep -q ACCEPT "$log" 2>/dev/null && return 0
      kill -0 "$SERVER" 2>/dev/null || break
      sleep 0.1
    done
    kill "$SERVER" 2>/dev/null
  done
  echo "s_server did not start: $(cat "$log")"
  return 1
}
# served LOG: the server accepted the device certificate and ended.
served() {
  wait "$SERVER" 2>/dev/null
  has "$DEV_CN" "$1"
}

# summary NAME: the counts, what did not apply, what failed (with the
# module log); exits 1 when a check failed.
summary() {
  echo "== $1: $pass passed, $fail failed, $na not applicable"
  [ $na -gt 0 ] && printf '   not applicable: %s\n' "${nas[@]}"
  if [ $fail -gt 0 ]; then
    printf '   failed: %s\n' "${failed[@]}"
    [ -f "$WORK/module.log" ] && { echo "-- module log"; tail -30 "$WORK/module.log"; }
    exit 1
  fi
}
