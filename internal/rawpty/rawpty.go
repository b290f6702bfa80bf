//go:build linux || darwin || freebsd || netbsd || openbsd

// Package rawpty opens a pseudo-terminal in raw mode: what the emulator's
// fake devices (a modem, an MBIM function) present to hosts, which open
// the terminal's path as they would a serial port or a cdc-wdm device.
package rawpty

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

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
	t, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
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
	if err := unix.IoctlSetTermios(int(tty.Fd()), ioctlSetTermios, t); err != nil {
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

// Served is a fake device on a raw pseudo-terminal: Serve runs on the
// master end until Close, hosts open Path.
type Served struct {
	master, tty *os.File
	cancel      context.CancelFunc
	done        chan error
	once        sync.Once
	err         error
}

// Serve opens a raw pseudo-terminal and runs serve on its master end.
func Serve(serve func(ctx context.Context, rw io.ReadWriter) error) (*Served, error) {
	master, tty, err := Open()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Served{master: master, tty: tty, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx, master) }()
	return s, nil
}

// Path returns the device path hosts open (e.g. /dev/pts/3).
func (s *Served) Path() string { return s.tty.Name() }

// Close stops the device (hosts reading it see it disappear) and returns
// when serve has returned; closing again does nothing.
func (s *Served) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.tty.Close()
		s.err = s.master.Close()
		<-s.done // serve ends with the read error of the closed terminal

	})
	return s.err
}
