//go:build !unix

package pkcs11mod

import (
	"fmt"
	"os"
)

// openLogFile opens the configured log file for appending. A symbolic link
// is refused (checked just before opening: there is no O_NOFOLLOW here);
// owners and modes are the ACLs' business, which this package does not
// read.
func openLogFile(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link: refused", path)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}
