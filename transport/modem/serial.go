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
func Open(ctx context.Context, path string, baud int, opts Options) (*Modem, error) {
	if baud <= 0 {
		baud = 115200
	}
	port, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("modem: opening %s: %w (is ModemManager holding it? see ID_MM_DEVICE_IGNORE)", path, err)
	}
	m, err := New(ctx, port, opts)
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("modem %s: %w", path, err)
	}
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
			baud, err = strconv.Atoi(v[0])
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
			opts.MaxCommandLen, err = strconv.Atoi(v[0])
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
