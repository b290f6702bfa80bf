#!/usr/bin/env bash
# The README cannot rot: every shell block from its "Quick start" on runs,
# as written, in a scratch copy of the working tree (with a temporary HOME),
# and the suite fails if one fails. The block with the `go get` line is left
# out: it belongs in a user's module, where scripts/goget-test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
work=$(mktemp -d /tmp/iotsafe-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/repo" "$work/home"
git ls-files -z | xargs -0 cp --parents -t "$work/repo"
python3 - "$ROOT/README.md" >"$work/blocks.sh" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
blocks = re.findall(r'```sh\n(.*?)```', s[s.index('## Quick start'):], re.S)
print('set -euo pipefail')
blocks = [b for b in blocks if not any(l.startswith('go get ') for l in b.splitlines())]
for b in blocks:
    print(b)
print('echo "README blocks: %d ran"' % len(blocks))
PY
cd "$work/repo"
env -u IOTSAFE_SIM -u IOTSAFE_PKCS11_CONF HOME="$work/home" IOTSAFE_PKCS11_STORE="$work/store" \
  bash "$work/blocks.sh" >"$work/out.log" 2>&1 || { cat "$work/out.log"; echo "a README block failed"; exit 1; }
grep -c "Verified OK" "$work/out.log" | grep -qx 2 || { cat "$work/out.log"; echo "the README's signatures did not verify"; exit 1; }
tail -1 "$work/out.log"
