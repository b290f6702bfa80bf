// Package mbim reaches a SIM through a modem's MBIM control channel
// (/dev/cdc-wdm0, /dev/wwan0mbim0) with Microsoft's "UICC low level
// access" service: OPEN_CHANNEL with the applet's AID, APDU on that
// channel, CLOSE_CHANNEL. It is what a gateway whose modem ModemManager
// drives over MBIM offers instead of an AT port.
//
// The transport maps the host's channel management onto the service, as
// the modem transport's CGLA mode does: MANAGE CHANNEL open gives a
// channel number that the following SELECT by AID binds to a channel the
// modem opens (OPEN_CHANNEL); commands on that channel go as APDU with the
// class byte's channel bits left to the modem; MANAGE CHANNEL close sends
// CLOSE_CHANNEL. Messages are matched to commands by transaction ID;
// unsolicited indications are skipped.
//
// When libmbim's mbim-proxy runs (ModemManager starts it and keeps the
// device open through it), the transport goes through the proxy by default,
// so that ModemManager keeps working: it connects to the proxy's socket and
// asks it for the device (proxy control Configuration), and the proxy
// shares the device between its clients, each on its own logical channel.
package mbim

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/internal/chanmap"
	"github.com/go-iotsafe/iotsafe/internal/ctlchan"
	"github.com/go-iotsafe/iotsafe/internal/ctldev"
	"github.com/go-iotsafe/iotsafe/internal/mbimmsg"
	"github.com/go-iotsafe/iotsafe/transport"
)

// ErrMBIM is matched by errors the MBIM function reports (a failed
// command, FUNCTION_ERROR) and by messages that break the protocol.
var ErrMBIM = errors.New("mbim")

// ErrNoChannel means the modem has no logical channel left
// (MBIM_STATUS_MS_NO_LOGICAL_CHANNELS).
var ErrNoChannel = errors.New("mbim: the modem has no free logical channel")

// ErrChannelLost means the modem no longer knows a channel the transport
// opened (MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL): it was closed
// underneath us, or the modem or SIM was reset. Every later command on that
// channel fails so until the host closes it and opens another.
var ErrChannelLost = chanmap.ErrLost

// maxControlTransfer is the largest message the transport announces.
const maxControlTransfer = 4096

// ProxySocket is the abstract Unix socket libmbim's mbim-proxy listens on.
const ProxySocket = "@mbim-proxy"

// Proxy says whether to go through mbim-proxy.
type Proxy = ctlchan.Mode

// The proxy choices.
const (
	// ProxyAuto goes through mbim-proxy when it runs, else opens the device
	// directly.
	ProxyAuto = ctlchan.Auto
	// ProxyOff always opens the device directly (nothing else may use it).
	ProxyOff = ctlchan.Direct
	// ProxyOn requires mbim-proxy.
	ProxyOn = ctlchan.Proxied
)

// Options configure Open.
type Options struct {
	Proxy Proxy
}

// Device is an open MBIM function. It implements transport.Transport.
type Device struct {
	dev *ctldev.Device // control channel, channel mapping, lock, reconnection
	tid uint32         // under dev's lock
}

var (
	_ transport.Transport  = (*Device)(nil)
	_ transport.Transactor = (*Device)(nil)
)

// Begin holds the SIM for one multi-command operation against the other
// processes using the device through go-iotsafe (an advisory lock on the
// device node, directly or through the proxy alike).
func (d *Device) Begin(ctx context.Context) (func(), error) { return d.dev.Begin(ctx) }

// Open opens the MBIM device at path, directly or through mbim-proxy
// (opts nil: ProxyAuto), and the MBIM session on it (OPEN).
func Open(ctx context.Context, path string, opts *Options) (*Device, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &Device{}
	d.dev = ctldev.New(path, ctldev.Protocol{Socket: ProxySocket, Err: ErrMBIM, Split: mbimmsg.Frame,
		Session: d.session, Channels: backend{d},
		Goodbye: func(ctx context.Context) { _, _ = d.exchange(ctx, mbimmsg.Close, mbimmsg.TypeCloseDone) }})
	if err := d.dev.Open(ctx, o.Proxy); err != nil {
		return nil, err
	}
	return d, nil
}

// session configures the proxy (when going through it: the proxy opens
// the device) and opens the MBIM session (OPEN).
func (d *Device) session(ctx context.Context) error {
	path := d.dev.Path()
	if d.dev.Proxied() {
		info := new(mbimmsg.Info).String(path).Uint32(30).Build()
		resp, err := d.exchange(ctx, func(tid uint32) []byte {
			return mbimmsg.MarshalCommand(mbimmsg.Command{TID: tid, Service: mbimmsg.ServiceProxyControl,
				CID: mbimmsg.CIDProxyConfiguration, CommandType: mbimmsg.CommandSet, Info: info})
		}, mbimmsg.TypeCommandDone)
		if err == nil {
			var c mbimmsg.Command
			if c, err = mbimmsg.ParseCommand(resp, true); err == nil && c.Status != mbimmsg.StatusNone {
				err = fmt.Errorf("%w: mbim-proxy could not open %s (status %#x)", ErrMBIM, path, c.Status)
			}
		}
		if errors.Is(err, transport.ErrCardRemoved) || errors.Is(err, context.DeadlineExceeded) {
			// The proxy hangs up on, or waits forever for, a device it
			// cannot open as MBIM.
			return fmt.Errorf("mbim-proxy could not open %s as an MBIM device (no answer; is it the modem's MBIM control device, e.g. /dev/cdc-wdm0?): %w", path, err)
		}
		if err != nil {
			return fmt.Errorf("%s through mbim-proxy: %w", path, err)
		}
	}
	resp, err := d.exchange(ctx, func(tid uint32) []byte { return mbimmsg.Open(tid, maxControlTransfer) }, mbimmsg.TypeOpenDone)
	if err == nil {
		var st uint32
		if st, err = mbimmsg.StatusOf(resp); err == nil && st != mbimmsg.StatusNone {
			err = fmt.Errorf("%w: OPEN answered status %#x", ErrMBIM, st)
		}
	}
	if errors.Is(err, transport.ErrCardRemoved) || errors.Is(err, context.DeadlineExceeded) {
		// The very first message: a device that closes the exchange at
		// once, or never answers, does not speak MBIM (a wrong path, not
		// a lost card).
		return fmt.Errorf("%s gave no MBIM answer to OPEN (is it the modem's MBIM control device, e.g. /dev/cdc-wdm0?): %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Proxied reports whether the device is reached through mbim-proxy.
func (d *Device) Proxied() bool { return d.dev.Proxied() }

// Transmit sends one APDU. See the package documentation for how channel
// management is mapped; through mbim-proxy, a proxy that restarted is
// reconnected and the session and the applet's channels opened again.
func (d *Device) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	return d.dev.Transmit(ctx, cmd)
}

// backend is the UICC low level access service as chanmap.Backend.
type backend struct{ d *Device }

func (b backend) Send(ctx context.Context, ch int, cmd []byte) ([]byte, error) {
	info := new(mbimmsg.Info).Uint32(uint32(ch)).Uint32(0).Uint32(0).Bytes(cmd).Build()
	st, r, err := b.d.command(ctx, mbimmsg.CIDAPDU, info)
	if err != nil {
		return nil, err
	}
	switch st {
	case mbimmsg.StatusNone:
	case mbimmsg.StatusMSInvalidLogicalChannel:
		return nil, fmt.Errorf("mbim: %w (modem channel %d)", ErrChannelLost, ch)
	default:
		return nil, fmt.Errorf("%w: APDU answered status %#x", ErrMBIM, st)
	}
	status, data := r.Uint32(), r.Bytes()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: APDU answer: %w", ErrMBIM, err)
	}
	sw1, sw2 := mbimmsg.SplitSW(status)
	return append(append([]byte(nil), data...), sw1, sw2), nil
}

func (b backend) Open(ctx context.Context, aid []byte, p2 byte) (int, []byte, error) {
	info := new(mbimmsg.Info).Bytes(aid).Uint32(uint32(p2)).Uint32(1).Build()
	st, r, err := b.d.command(ctx, mbimmsg.CIDOpenChannel, info)
	if err != nil {
		return 0, nil, err
	}
	status, mch, data := r.Uint32(), r.Uint32(), r.Bytes()
	switch {
	case st == mbimmsg.StatusMSNoLogicalChannels:
		return 0, nil, ErrNoChannel
	case st == mbimmsg.StatusMSSelectFailed:
		// The applet is not there: the card's own status word when the
		// modem gives one, else "not found".
		if sw1, sw2 := mbimmsg.SplitSW(status); r.Err() == nil && sw1 >= 0x62 {
			return 0, []byte{sw1, sw2}, nil
		}
		return 0, []byte{0x6A, 0x82}, nil
	case st != mbimmsg.StatusNone:
		return 0, nil, fmt.Errorf("%w: OPEN_CHANNEL answered status %#x", ErrMBIM, st)
	}
	if err := r.Err(); err != nil {
		return 0, nil, fmt.Errorf("%w: OPEN_CHANNEL answer: %w", ErrMBIM, err)
	}
	if mch == 0 || mch > 19 {
		return 0, nil, fmt.Errorf("%w: OPEN_CHANNEL gave channel %d", ErrMBIM, mch)
	}
	sw1, sw2 := mbimmsg.SplitSW(status)
	return int(mch), append(append([]byte(nil), data...), sw1, sw2), nil
}

func (b backend) Close(ctx context.Context, ch int) error {
	st, _, err := b.d.command(ctx, mbimmsg.CIDCloseChannel, new(mbimmsg.Info).Uint32(uint32(ch)).Uint32(1).Build())
	if err != nil {
		return err
	}
	if st != mbimmsg.StatusNone && st != mbimmsg.StatusMSInvalidLogicalChannel {
		return fmt.Errorf("%w: CLOSE_CHANNEL answered status %#x", ErrMBIM, st)
	}
	return nil
}

// command sends a set command of the UICC service and returns the status
// of its COMMAND_DONE and a reader on its information buffer.
func (d *Device) command(ctx context.Context, cid uint32, info []byte) (uint32, *mbimmsg.Reader, error) {
	resp, err := d.exchange(ctx, func(tid uint32) []byte {
		return mbimmsg.MarshalCommand(mbimmsg.Command{TID: tid, Service: mbimmsg.ServiceUICC, CID: cid, CommandType: mbimmsg.CommandSet, Info: info})
	}, mbimmsg.TypeCommandDone)
	if err != nil {
		return 0, nil, err
	}
	c, err := mbimmsg.ParseCommand(resp, true)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrMBIM, err)
	}
	if c.Service != mbimmsg.ServiceUICC || c.CID != cid {
		return 0, nil, fmt.Errorf("%w: COMMAND_DONE for service %X CID %d, not the UICC service's CID %d", ErrMBIM, c.Service, c.CID, cid)
	}
	return c.Status, mbimmsg.NewReader(c.Info), nil
}

// exchange writes the message build makes with the next transaction ID and
// reads until the answer of type want with that ID. Indications and
// answers to other transactions are skipped; FUNCTION_ERROR for this one
// is an error. The read ends with ctx (and within 30 s without a deadline).
// The caller holds the device's lock (Transmit, Open, Close).
func (d *Device) exchange(ctx context.Context, build func(tid uint32) []byte, want uint32) ([]byte, error) {
	d.tid++
	if d.tid == 0 {
		d.tid = 1
	}
	tid := d.tid
	if err := d.dev.Send(ctx, build(tid)); err != nil {
		return nil, err
	}
	for {
		msg, err := d.dev.Next(ctx)
		if err != nil {
			return nil, err
		}
		h, _ := mbimmsg.ReadHeader(msg)
		switch {
		case h.TID == tid && h.Type == want:
			return msg, nil
		case h.TID == tid && (h.Type == mbimmsg.TypeFunctionError || h.Type == mbimmsg.TypeHostError):
			st, _ := mbimmsg.StatusOf(msg)
			return nil, fmt.Errorf("%w: the function answered FUNCTION_ERROR %d", ErrMBIM, st)
		}
		// An indication, or an answer to another transaction (another
		// program on the same device, a late answer): not ours.
	}
}

// Close closes the channels the transport opened, the MBIM session, and
// the device.
func (d *Device) Close() error { return d.dev.Close() }

// CloseContext is Close with what it sends to the modem (closing the
// channels it opened, ending the session) bounded by ctx.
func (d *Device) CloseContext(ctx context.Context) error { return d.dev.CloseContext(ctx) }
