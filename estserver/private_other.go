//go:build !unix

package estserver

import (
	"errors"
	"fmt"
	"os"
)

// checkPrivateDir checks nothing where files have no Unix owner and modes:
// the directory's access list is the administrator's to set.
func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("estserver: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("estserver: %s is not a directory", dir)
	}
	return nil
}

// createPrivateFile creates the SQLite database file, refusing one that
// is a symbolic link or not a regular file.
func createPrivateFile(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("estserver: store %s is a symbolic link: the database holds the CA's key; give the real file", path)
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("estserver: store %s is not a regular file", path)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("estserver: store %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("estserver: store %s: %w", path, err)
	}
	return f.Close()
}
