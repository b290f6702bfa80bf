// Package ctldev is what the MBIM and QMI transports share around their
// protocols: the control channel (the device node, or libmbim's/libqmi's
// proxy), the message stream cut into messages, the mapping of the host's
// logical channels onto the modem's channel service, the device lock for
// multi-command operations, the reconnection after the proxy restarted,
// and the guards of Transmit and Close. A transport gives its Protocol:
// the session to open on a new channel, its channel service and what it
// sends at Close.
package ctldev

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/chanmap"
	"github.com/go-iotsafe/iotsafe/internal/ctlchan"
	"github.com/go-iotsafe/iotsafe/internal/ctlframe"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Protocol is a transport's part.
type Protocol struct {
	// Socket is the proxy's abstract Unix socket ("@mbim-proxy").
	Socket string
	// Err is the protocol's sentinel error, wrapped by every error here.
	Err error
	// Split cuts the stream into the protocol's messages.
	Split ctlframe.Split
	// Session opens the protocol's session on a new control channel
	// (through the proxy, the proxy's configuration first). It runs with
	// the device's lock held, at Open and after a reconnection.
	Session func(ctx context.Context) error
	// Channels is the modem's logical channel service.
	Channels chanmap.Backend
	// Goodbye, when set, ends the session at Close (after the channels the
	// transport opened are closed), with the lock held.
	Goodbye func(ctx context.Context)
}

// Device is an open control channel with a protocol session on it. It is
// safe for concurrent use: Transmit and Close take its lock, and so must
// the protocol's own use of Send and Next (they run inside Transmit,
// Session and Goodbye).
type Device struct {
	path    string
	p       Protocol
	conn    ctlchan.Conn
	proxied bool
	rd      *ctlframe.Reader
	chans   *chanmap.Mapper

	mu     sync.Mutex
	closed bool
}

// New returns a device for path that is not open yet: the protocol's
// functions may refer to it before Open runs them.
func New(path string, p Protocol) *Device {
	return &Device{path: path, p: p, rd: ctlframe.NewReader(p.Split), chans: chanmap.New(p.Channels)}
}

// Open opens the control channel, directly or through the proxy as mode
// says, and the protocol's session on it.
func (d *Device) Open(ctx context.Context, mode ctlchan.Mode) error {
	conn, proxied, err := ctlchan.Open(ctx, d.path, d.p.Socket, mode, d.p.Err)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn, d.proxied = conn, proxied
	if err := d.p.Session(ctx); err != nil {
		d.conn.Close()
		return err
	}
	return nil
}

// Path is the device node.
func (d *Device) Path() string { return d.path }

// Proxied reports whether the device is reached through the proxy.
func (d *Device) Proxied() bool { return d.proxied }

// Begin holds the SIM for one multi-command operation against the other
// processes using the device through go-iotsafe (an advisory lock on the
// device node, directly or through the proxy alike).
func (d *Device) Begin(ctx context.Context) (func(), error) {
	return ctlchan.Begin(ctx, d.path, d.p.Err)
}

// Transmit sends one APDU through the channel mapping; through the proxy,
// a proxy that went away (restarted) is reconnected and the applet's
// channels opened again.
func (d *Device) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: %s is closed", transport.ErrClosed, d.path)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.proxied {
		return d.chans.TransmitReconnecting(ctx, cmd, d.reconnect)
	}
	return d.chans.Transmit(ctx, cmd)
}

// reconnect connects to the proxy again and opens the session again.
func (d *Device) reconnect(ctx context.Context) error {
	d.conn.Close()
	conn, _, err := ctlchan.Open(ctx, d.path, d.p.Socket, ctlchan.Proxied, d.p.Err)
	if err != nil {
		d.conn = ctlchan.Closed{}
		return err
	}
	d.conn = conn
	d.rd.Drop()
	return d.p.Session(ctx)
}

// Send writes one message, with the context's deadline (30 s without one)
// on the exchange it starts. The caller holds the lock.
func (d *Device) Send(ctx context.Context, msg []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = d.conn.SetDeadline(deadline)
	if _, err := d.conn.Write(msg); err != nil {
		return ctlchan.IOError(ctx, d.path, d.p.Err, err)
	}
	return nil
}

// Next reads the next whole message, naming what a failure means (see
// ctlframe.Reader.Err). The caller holds the lock.
func (d *Device) Next(ctx context.Context) ([]byte, error) {
	msg, err := d.rd.Next(d.conn)
	if err != nil {
		return nil, d.rd.Err(ctx, err, d.path, d.p.Err)
	}
	return msg, nil
}

// CloseTimeout bounds what Close sends (closing channels, ending the
// session) when the caller gives no context.
const CloseTimeout = 5 * time.Second

// Close closes the channels the transport opened, ends the session and
// closes the control channel; the talk is bounded by CloseTimeout.
func (d *Device) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return d.CloseContext(ctx)
}

// CloseContext is Close with the talk bounded by ctx: when ctx ends (or
// has ended), nothing more is sent and the control channel is closed at
// once.
func (d *Device) CloseContext(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for _, ch := range d.chans.Open() {
		if ctx.Err() != nil {
			break
		}
		_ = d.p.Channels.Close(ctx, ch)
	}
	if d.p.Goodbye != nil && ctx.Err() == nil {
		d.p.Goodbye(ctx)
	}
	return d.conn.Close()
}
