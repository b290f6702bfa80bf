//go:build unix

package estserver

import "syscall"

// maxOpenFiles is the process's descriptor limit (0 when unknown).
func maxOpenFiles() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return uint64(rl.Cur)
}
