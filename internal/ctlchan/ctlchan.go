// Package ctlchan opens a modem's control channel the way the MBIM and QMI
// transports both do: through the libmbim/libqmi proxy's abstract Unix
// socket when it runs (so that ModemManager, which uses the proxy, keeps
// the device), else the device file itself, non-blocking so that reads end
// with deadlines and Close; and names I/O errors.
package ctlchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/flock"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Mode says whether to go through the proxy.
type Mode uint8

// The modes.
const (
	// Auto goes through the proxy when it runs, else opens the device.
	Auto Mode = iota
	// Direct always opens the device itself.
	Direct
	// Proxied requires the proxy.
	Proxied
)

// Conn is the control channel: the device file or the proxy's socket.
type Conn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// Open returns the control channel to the device at path and whether it
// goes through the proxy listening on socket (an abstract name, "@...").
// base is the error the transport's errors match.
func Open(ctx context.Context, path, socket string, mode Mode, base error) (Conn, bool, error) {
	if mode != Direct {
		c, err := dialUnix(ctx, socket)
		if err == nil {
			return c, true, nil
		}
		if mode == Proxied {
			return nil, false, fmt.Errorf("%w: the proxy is not running (its socket %s): %w", base, socket, err)
		}
	}
	f, err := openDevice(path, os.O_RDWR)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", base, err)
	}
	return f, false, nil
}

// ErrNotDevice is matched by the error of opening a path that is not a
// character device (a cdc-wdm node, or the emulator's pseudo-terminal): a
// regular file or a FIFO put in its place would take the messages meant for
// the modem, or play one.
var ErrNotDevice = errors.New("not a character device")

// openDevice opens path without making it the controlling terminal,
// non-blocking, and checks what it opened (the descriptor, not the path
// again) is a character device.
func openDevice(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNotDevice, st.Mode().Type())
	}
	return f, nil
}

// IOError names what a read or write error on the control channel of path
// means: the caller's context ending, no answer in time, the device (or
// the proxy) gone (transport.ErrCardRemoved), or another failure (base).
func IOError(ctx context.Context, path string, base, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s did not answer in time: %w", base, path, context.DeadlineExceeded)
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO), errors.Is(err, os.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("%w: %s: %w", transport.ErrCardRemoved, path, err)
	}
	return fmt.Errorf("%w: %s: %w", base, path, err)
}

// Begin takes the advisory lock (flock) on the device node at path, which
// every process using that modem through go-iotsafe takes for each
// multi-command card operation (Put Public Key then Compute DH share the
// peer-key container), whether it reaches the device directly or through
// the proxy: the same lock the modem transport takes on its port. It waits
// as long as ctx allows; the returned function releases the lock.
func Begin(ctx context.Context, path string, base error) (func(), error) {
	f, err := openDevice(path, os.O_RDONLY)
	if errors.Is(err, ErrNotDevice) {
		return nil, fmt.Errorf("%w: %w", base, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		// It was there when the transport opened it.
		return nil, fmt.Errorf("%w: %s is gone: %w", transport.ErrCardRemoved, path, err)
	}
	if err != nil {
		return nil, IOError(ctx, path, base, err)
	}
	if err := flock.Wait(ctx, f, flock.Exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: another process holds the SIM: %w", base, path, err)
	}
	return func() {
		_ = flock.Unlock(f)
		f.Close()
	}, nil
}

// Closed is a control channel that is gone (a proxy that could not be
// reached again): every use fails as a removed device.
type Closed struct{}

// Read fails.
func (Closed) Read([]byte) (int, error) { return 0, os.ErrClosed }

// Write fails.
func (Closed) Write([]byte) (int, error) { return 0, os.ErrClosed }

// Close does nothing.
func (Closed) Close() error { return nil }

// SetDeadline does nothing.
func (Closed) SetDeadline(time.Time) error { return nil }
