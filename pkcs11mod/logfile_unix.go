//go:build unix

package pkcs11mod

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openLogFile opens the configured log file for appending, creating it with
// mode 0600. Whoever can write the file's directory must not be able to
// hang the host or redirect its writes: a symbolic link is not followed, a
// FIFO or device is refused without waiting for a reader (O_NONBLOCK) or
// becoming the host's controlling terminal (O_NOCTTY), and
// a file of another user, or one that group or others can write to, is not
// used. The checks are made on the open descriptor, so that nothing can be
// swapped in between.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o600)
	switch {
	case errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK):
		return nil, fmt.Errorf("%s is a symbolic link: refused", path)
	case errors.Is(err, syscall.ENXIO):
		return nil, fmt.Errorf("%s is a FIFO or device, not a regular file: refused", path)
	case err != nil:
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file (%v): refused", path, fi.Mode().Type())
	case !ok || int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("%s belongs to another user: refused", path)
	case fi.Mode().Perm()&0o022 != 0:
		err = fmt.Errorf("others can write to %s (mode %v): refused", path, fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
