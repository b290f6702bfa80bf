// Package rawpty opens a pseudo-terminal in raw mode: what the emulator's
// fake devices (a modem, an MBIM function) present to hosts, which open
// the terminal's path as they would a serial port or a cdc-wdm device.
package rawpty

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Open returns a new pseudo-terminal's master and terminal ends, the
// terminal in raw mode: no echo, no line editing, no character
// translation, 8-bit bytes, so that binary messages cross unchanged.
func Open() (master, tty *os.File, err error) {
	master, tty, err = pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
	}
	t, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		master.Close()
		tty.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal attributes: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, t); err != nil {
		master.Close()
		tty.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal raw mode: %w", err)
	}
	// The master end in non-blocking mode, so that Go's poller serves it:
	// closing it then ends a Read in progress (a device that disappears
	// while a host still holds the terminal open).
	fd, err := unix.Dup(int(master.Fd()))
	name := master.Name()
	master.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal master: %w", err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), tty, nil
}
