//go:build unix

package imageverify

import (
	"fmt"
	"os"
	"syscall"
)

// checkPinOwner refuses an anchor file that someone else could have
// chosen: writable by group or others, or owned by a user who is neither
// root nor this one.
func checkPinOwner(path string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by group or others (mode %04o): whoever can write it chooses the anchor", ErrPinFile, path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to user %d, neither root nor this user", ErrPinFile, path, st.Uid)
	}
	return nil
}
