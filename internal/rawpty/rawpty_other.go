//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package rawpty

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
)

// ErrUnsupported is returned where the system has no pseudo-terminals:
// the emulator's fake devices need Linux, macOS or a BSD.
var ErrUnsupported = errors.New("rawpty: the emulator's fake devices need pseudo-terminals, which " + runtime.GOOS + " does not have")

// Open fails with ErrUnsupported.
func Open() (master, tty *os.File, err error) { return nil, nil, ErrUnsupported }

// Served is a fake device on a raw pseudo-terminal (not on this system).
type Served struct{}

// Serve fails with ErrUnsupported.
func Serve(func(ctx context.Context, rw io.ReadWriter) error) (*Served, error) {
	return nil, ErrUnsupported
}

// Path returns "".
func (s *Served) Path() string { return "" }

// Close does nothing.
func (s *Served) Close() error { return nil }
