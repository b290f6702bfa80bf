//go:build unix

package pkcs11mod

import (
	"fmt"
	"os"
	"syscall"
)

// openNoFollow opens a store file for reading, refusing a symbolic link
// and not blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// checkOwner refuses a store path of another user, or one that group or
// others can write to.
func checkOwner(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("host object store: %s belongs to another user: refused", path)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("host object store: others can write to %s (mode %v): refused", path, fi.Mode().Perm())
	}
	return nil
}
