//go:build darwin || freebsd || netbsd || openbsd

package rawpty

import "golang.org/x/sys/unix"

// The termios ioctls of the BSDs and macOS.
const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
)
