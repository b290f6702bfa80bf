//go:build unix

package emulator

import (
	"os"
	"syscall"
)

// processExists reports whether a process with this PID exists (a zombie
// included: see procStat).
func processExists(pid int) bool { return syscall.Kill(pid, 0) != syscall.ESRCH }

// inode is the file's inode number, which tells a replaced state file from
// one rewritten in place.
func inode(fi os.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
