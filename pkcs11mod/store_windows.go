//go:build windows

package pkcs11mod

import (
	"fmt"
	"os"
)

// openNoFollow opens a store file for reading, refusing a symbolic link
// (checked just before: Windows has no O_NOFOLLOW).
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link", path)
	}
	return os.Open(path)
}

// checkOwner checks nothing on Windows: files there have no Unix owner or
// mode, and access is decided by ACLs, which this package does not read.
// Keep the store in the user's profile, whose ACL admits only that user.
func checkOwner(string, os.FileInfo) error { return nil }
