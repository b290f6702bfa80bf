//go:build unix

package estserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkPrivateDir refuses a directory for the CA's files that another
// user could write to or swap: one of another user (root's excepted), one
// that group or others may write to, sticky or not, or one whose parent
// another user owns or may write to without the sticky bit. Whoever can write there can
// plant a file store to be migrated (a CA key of their own) or swap the
// database for a symbolic link after it was checked.
func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("estserver: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("estserver: %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok || int(st.Uid) != os.Geteuid() && st.Uid != 0:
		return fmt.Errorf("estserver: directory %s belongs to another user: it holds the CA's key; give a directory of the user the server runs as", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("estserver: others can write to directory %s (mode %04o): it holds the CA's key; make it private (chmod go-w %s)", dir, fi.Mode().Perm(), dir)
	}
	// Whoever can write to its parent can rename it away and put another
	// directory (of theirs, or a link to one) in its place after this
	// check, unless the parent is sticky (as /tmp is).
	// Both the parent of the path given and, when that path is a symbolic
	// link, the parent of the directory it leads to.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("estserver: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("estserver: %w", err)
	}
	for _, parent := range []string{filepath.Dir(abs), filepath.Dir(real)} {
		pfi, err := os.Stat(parent)
		if err != nil {
			return fmt.Errorf("estserver: %w", err)
		}
		pst, ok := pfi.Sys().(*syscall.Stat_t)
		switch {
		case !ok || int(pst.Uid) != os.Geteuid() && pst.Uid != 0:
			return fmt.Errorf("estserver: the parent of %s (%s) belongs to another user, who could swap the directory: move it", dir, parent)
		case pfi.Mode().Perm()&0o022 != 0 && pfi.Mode()&os.ModeSticky == 0:
			return fmt.Errorf("estserver: others can write to %s, the parent of %s (mode %04o), and could swap the directory: move it, or chmod go-w %s", parent, dir, pfi.Mode().Perm(), parent)
		}
	}
	return nil
}

// createPrivateFile creates the SQLite database file, or checks the one
// there, on its descriptor: never through a symbolic link (O_NOFOLLOW),
// never blocking on a FIFO, a regular file of this user that nobody else
// may read or write. It holds the CA's private key.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("estserver: store %s is a symbolic link: the database holds the CA's key; give the real file", path)
	}
	if err != nil {
		return fmt.Errorf("estserver: store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("estserver: store %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("estserver: store %s is not a regular file", path)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("estserver: store %s belongs to another user: the database holds the CA's key; give a file of the user the server runs as", path)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("estserver: store %s has mode %04o: the database holds the CA's key; make it private (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
