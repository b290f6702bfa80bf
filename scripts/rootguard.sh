# Sourced by the scripts that build throwaway Debian roots under $WORK (a
# tmpfs in their private mount namespace) and write into them from the host
# side: scripts/deb-install-test.sh and scripts/newcomer-test.sh. Needs
# WORK set, and set -e with inherit_errexit in the caller.

# inroot ROOT: every file the tests write or remove is under a throwaway
# root in $WORK (a tmpfs of this namespace); anything else, an empty
# variable included, stops the script before it touches the host.
inroot() {
  case "$1" in
    "$WORK"/?*) [ -d "$1" ] && return 0 ;;
  esac
  echo "${0##*/}: refusing to touch '$1', which is not a root under $WORK" >&2
  exit 1
}
# rp ROOT PATH: ROOT/PATH, for a file that this side (the host's, not the
# chroot's) writes, copies to or removes in a throwaway root. The host
# resolves a symlink inside the root against its own /: a root whose etc/,
# var/lib/ or usr/local/lib/ (or a file there) is an absolute symlink would
# have these writes land in the host's /etc or /var/lib, and a private mount
# namespace does not stop that. So the path, resolved as the host resolves
# it, must stay under $WORK; otherwise the script stops. Use it only in
# an assignment, `f=$(rp "$r" etc/x)`, which set -e and inherit_errexit
# stop when it refuses (inside a command's arguments a refusal would leave
# an empty path, and the command would run).
rp() {
  inroot "$1"
  local p=$1/${2#/} real
  real=$(realpath -m -- "$p")
  case "$real" in
    "$WORK"/?*) printf '%s' "$p" ;;
    *) echo "${0##*/}: refusing to touch '$p': it resolves to '$real', outside $WORK" >&2; exit 1 ;;
  esac
}
