//go:build unix

package usock

import (
	"os"
	"syscall"
)

// Socket returns a new AF_UNIX socket of type typ (syscall.SOCK_STREAM or
// SOCK_DGRAM), close-on-exec (set under syscall.ForkLock, so that a
// concurrent fork and exec cannot inherit it) and non-blocking.
func Socket(typ int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_UNIX, typ, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return fd, nil
}
