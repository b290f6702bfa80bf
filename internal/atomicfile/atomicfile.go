// Package atomicfile writes files so that readers see the old content or the
// new one, never a mix: a temporary file in the same directory, synced, then
// renamed over the target, then the directory synced.
package atomicfile

import (
	"os"
	"path/filepath"
)

// RemoveStale removes the temporary files that Write leaves behind when its
// process is killed between creating and renaming one (they may hold an
// older copy of secrets). Call it only while no other Write to path can be
// under way, e.g. under the lock that serializes writers.
func RemoveStale(path string) error {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	if err != nil {
		return err
	}
	var first error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && first == nil && !os.IsNotExist(err) {
			first = err
		}
	}
	return first
}

// Write replaces path with data, created with mode (before any byte is
// written, so a private file is never readable by others, even briefly).
func Write(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
