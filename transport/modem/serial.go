package modem

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"

	"go.bug.st/serial"

	"github.com/go-iotsafe/iotsafe/transport"
)

// Open opens a serial port (8N1 at baud) and speaks AT on it.
//
// Several processes may share the port: each takes its advisory lock
// (flock on the device) around every operation and reads the line only
// while it holds it. The serial library's exclusive mode (TIOCEXCL) is
// turned off again for that reason; the lock, not exclusivity, keeps
// processes apart.
func Open(ctx context.Context, path string, baud int, opts Options) (*Modem, error) {
	if baud <= 0 {
		baud = 115200
	}
	lock, err := openLock(path)
	if err != nil {
		return nil, err
	}
	if lock != nil {
		if err := flockCtx(ctx, lock); err != nil {
			lock.Close()
			return nil, err
		}
	}
	port, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("modem: opening %s: %w (is ModemManager holding it? see ID_MM_DEVICE_IGNORE)", path, err)
	}
	if lock != nil {
		shareTTY(lock)
	}
	// Resynchronizing talks to the modem: it runs under the port lock.
	m, err := New(ctx, port, opts)
	if lock != nil {
		unflock(lock)
	}
	if err != nil {
		port.Close()
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("modem %s: %w", path, err)
	}
	m.lock = lock
	return m, nil
}

// OpenURI opens modem:/dev/ttyUSB2?baud=115200&mode=csim|cgla&maxcmd=N.
func OpenURI(ctx context.Context, u *url.URL) (transport.Transport, error) {
	path := u.Opaque
	if path == "" {
		path = u.Path
	}
	if path == "" {
		return nil, fmt.Errorf("SIM URI %q names no serial device (modem:/dev/ttyUSB2)", u.String())
	}
	q := u.Query()
	var opts Options
	baud := 115200
	for k, v := range q {
		var err error
		switch k {
		case "baud":
			if baud, err = strconv.Atoi(v[0]); err != nil || baud <= 0 {
				err = fmt.Errorf("baud=%q is not a positive number of bits per second (e.g. baud=115200)", v[0])
			}
		case "mode":
			switch v[0] {
			case "csim":
				opts.Mode = ModeCSIM
			case "cgla":
				opts.Mode = ModeCGLA
			default:
				err = fmt.Errorf("mode %q (csim or cgla)", v[0])
			}
		case "maxcmd":
			if opts.MaxCommandLen, err = strconv.Atoi(v[0]); err != nil || opts.MaxCommandLen < 0 {
				err = fmt.Errorf("maxcmd=%q is not a number of bytes", v[0])
			}
		case "aid":
			_, err = hex.DecodeString(v[0]) // the applet client chooses the AID; accepted for compatibility
		default:
			err = fmt.Errorf("unknown parameter %q (baud, mode, maxcmd)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("SIM URI %q: %v", u.String(), err)
		}
	}
	return Open(ctx, path, baud, opts)
}
