// Package qmi reaches a SIM through a modem's QMI control channel
// (/dev/cdc-wdm0 with the qmi_wwan driver, /dev/wwan0qmi0): it allocates a
// client of the UIM service, and maps the host's channel management onto
// the UIM service as the MBIM transport does: MANAGE CHANNEL open gives a
// channel number that the following SELECT by AID binds to a channel the
// modem opens (Open Logical Channel), commands on it go as Send APDU with
// that channel, MANAGE CHANNEL close sends Logical Channel (close).
//
// When libqmi's qmi-proxy runs (ModemManager starts it and reaches the
// device through it), the transport goes through it by default, so that
// ModemManager keeps working: it connects to the proxy's socket and asks
// it for the device (Internal Proxy Open); the proxy shares the device
// between its clients, each with its own UIM client and logical channel.
package qmi

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/internal/ctlchan"
	"github.com/go-iotsafe/iotsafe/internal/ctldev"
	"github.com/go-iotsafe/iotsafe/internal/qmimsg"
	"github.com/go-iotsafe/iotsafe/transport"
)

// ErrQMI is matched by errors the device reports (a failed request) and by
// messages that break the protocol.
var ErrQMI = errors.New("qmi")

// ErrNoChannel means the modem has no logical channel left.
var ErrNoChannel = errors.New("qmi: the modem has no free logical channel")

const slot = 1 // the first SIM slot

// ProxySocket is the abstract Unix socket libqmi's qmi-proxy listens on.
const ProxySocket = "@qmi-proxy"

// ctlProxyOpen is the control service's Internal Proxy Open.
const ctlProxyOpen uint16 = 0xFF00

// Proxy says whether to go through qmi-proxy.
type Proxy = ctlchan.Mode

// The proxy choices.
const (
	// ProxyAuto goes through qmi-proxy when it runs, else opens the device
	// directly.
	ProxyAuto = ctlchan.Auto
	// ProxyOff always opens the device directly (nothing else may use it).
	ProxyOff = ctlchan.Direct
	// ProxyOn requires qmi-proxy.
	ProxyOn = ctlchan.Proxied
)

// Options configure Open.
type Options struct {
	Proxy Proxy
}

// Device is an open QMI device with a UIM client. It implements
// transport.Transport.
type Device struct {
	dev *ctldev.Device // control channel, channel mapping, lock, reconnection

	// under dev's lock
	client byte
	ctlTID uint8
	tid    uint16
}

var (
	_ transport.Transport  = (*Device)(nil)
	_ transport.Transactor = (*Device)(nil)
)

// Begin holds the SIM for one multi-command operation against the other
// processes using the device through go-iotsafe (an advisory lock on the
// device node, directly or through the proxy alike).
func (d *Device) Begin(ctx context.Context) (func(), error) { return d.dev.Begin(ctx) }

// Open opens the QMI device at path, directly or through qmi-proxy (opts
// nil: ProxyAuto), and allocates a UIM client on it.
func Open(ctx context.Context, path string, opts *Options) (*Device, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &Device{}
	d.dev = ctldev.New(path, ctldev.Protocol{Socket: ProxySocket, Err: ErrQMI, Split: qmimsg.Frame,
		Session: d.session, Channels: backend{d},
		Goodbye: func(ctx context.Context) {
			_, _ = d.request(ctx, qmimsg.ServiceCTL, qmimsg.CTLReleaseCID, []qmimsg.TLV{{Type: 0x01, Value: []byte{qmimsg.ServiceUIM, d.client}}})
		}})
	if err := d.dev.Open(ctx, o.Proxy); err != nil {
		return nil, err
	}
	return d, nil
}

// session asks the proxy for the device (when going through it) and
// allocates the UIM client.
func (d *Device) session(ctx context.Context) error {
	path := d.dev.Path()
	if d.dev.Proxied() {
		_, err := d.request(ctx, qmimsg.ServiceCTL, ctlProxyOpen, []qmimsg.TLV{{Type: 0x01, Value: []byte(path)}})
		if errors.Is(err, transport.ErrCardRemoved) || errors.Is(err, context.DeadlineExceeded) {
			// The proxy hangs up on, or waits forever for, a device it
			// cannot open as QMI.
			return fmt.Errorf("qmi-proxy could not open %s as a QMI device (no answer; is it the modem's QMI control device, e.g. /dev/cdc-wdm0?): %w", path, err)
		}
		if err != nil {
			return fmt.Errorf("%s through qmi-proxy: %w", path, err)
		}
	}
	resp, err := d.request(ctx, qmimsg.ServiceCTL, qmimsg.CTLAllocateCID, []qmimsg.TLV{{Type: 0x01, Value: []byte{qmimsg.ServiceUIM}}})
	if err == nil {
		v, ok := resp.Get(0x01)
		if !ok || len(v) != 2 || v[0] != qmimsg.ServiceUIM || v[1] == 0 {
			err = fmt.Errorf("%w: client allocation answer without the UIM client", ErrQMI)
		} else {
			d.client = v[1]
		}
	}
	if errors.Is(err, transport.ErrCardRemoved) || errors.Is(err, context.DeadlineExceeded) {
		// The very first request: a device that closes the exchange at
		// once, or never answers, does not speak QMI (a wrong path, not a
		// lost card).
		via := ""
		if d.dev.Proxied() {
			via = " through qmi-proxy"
		}
		return fmt.Errorf("%s gave no QMI answer to the first request%s (is it the modem's QMI control device, e.g. /dev/cdc-wdm0?): %w", path, via, err)
	}
	if err != nil {
		return fmt.Errorf("%s: allocating a UIM client: %w", path, err)
	}
	return nil
}

// Proxied reports whether the device is reached through qmi-proxy.
func (d *Device) Proxied() bool { return d.dev.Proxied() }

// Transmit sends one APDU; see the package documentation. Through
// qmi-proxy, a proxy that restarted is reconnected, a UIM client allocated
// again and the applet's channels opened again.
func (d *Device) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	return d.dev.Transmit(ctx, cmd)
}

// backend is the UIM service as chanmap.Backend.
type backend struct{ d *Device }

func (b backend) Send(ctx context.Context, ch int, cmd []byte) ([]byte, error) {
	tlvs := []qmimsg.TLV{{Type: 0x01, Value: []byte{slot}}, {Type: 0x02, Value: qmimsg.U16Array(cmd)}}
	if ch != 0 {
		tlvs = append(tlvs, qmimsg.TLV{Type: 0x10, Value: []byte{byte(ch)}})
	}
	resp, err := b.d.request(ctx, qmimsg.ServiceUIM, qmimsg.UIMSendAPDU, tlvs)
	if err != nil {
		return nil, err
	}
	v, ok := resp.Get(0x10)
	r, err := qmimsg.ReadU16Array(v)
	if !ok || err != nil || len(r) < 2 {
		return nil, fmt.Errorf("%w: Send APDU answer without an APDU response", ErrQMI)
	}
	return append([]byte(nil), r...), nil
}

func (b backend) Open(ctx context.Context, aid []byte, _ byte) (int, []byte, error) {
	resp, err := b.d.request(ctx, qmimsg.ServiceUIM, qmimsg.UIMOpenLogicalChannel,
		[]qmimsg.TLV{{Type: 0x01, Value: []byte{slot}}, {Type: 0x10, Value: qmimsg.U8Array(aid)}})
	var qe *ResultError
	if errors.As(err, &qe) {
		if card, ok := resp.Get(0x11); ok && len(card) == 2 && card[0] >= 0x62 {
			return 0, card, nil // the card refused the SELECT (not found...)
		}
		if qe.Code == qmimsg.ErrInsufficientResources {
			return 0, nil, ErrNoChannel
		}
	}
	if err != nil {
		return 0, nil, err
	}
	ch, ok := resp.Get(0x10)
	card, ok2 := resp.Get(0x11)
	if !ok || !ok2 || len(ch) != 1 || len(card) != 2 || ch[0] == 0 || ch[0] > 19 {
		return 0, nil, fmt.Errorf("%w: Open Logical Channel answer without channel and card result", ErrQMI)
	}
	var sel []byte
	if v, ok := resp.Get(0x12); ok {
		if sel, err = qmimsg.ReadU8Array(v); err != nil {
			return 0, nil, fmt.Errorf("%w: select response: %w", ErrQMI, err)
		}
	}
	return int(ch[0]), append(append([]byte(nil), sel...), card...), nil
}

func (b backend) Close(ctx context.Context, ch int) error {
	_, err := b.d.request(ctx, qmimsg.ServiceUIM, qmimsg.UIMLogicalChannel,
		[]qmimsg.TLV{{Type: 0x01, Value: []byte{slot}}, {Type: 0x11, Value: []byte{byte(ch)}}})
	return err
}

// ResultError is a request the device answered with a protocol error.
type ResultError struct {
	Message uint16
	Code    uint16
}

// Error names the message and the protocol error.
func (e *ResultError) Error() string {
	return fmt.Sprintf("qmi: message %#04x failed with protocol error %#04x", e.Message, e.Code)
}

// Unwrap makes ResultError match ErrQMI.
func (e *ResultError) Unwrap() error { return ErrQMI }

// request sends a request and reads until its response (same service,
// client, transaction and message). Indications and responses to other
// transactions are skipped. A response with an error result returns it
// with a *ResultError.
func (d *Device) request(ctx context.Context, svc byte, id uint16, tlvs []qmimsg.TLV) (qmimsg.Message, error) {
	m := qmimsg.Message{Service: svc, ID: id, TLVs: tlvs, Flags: qmimsg.FlagRequest}
	if svc == qmimsg.ServiceCTL {
		d.ctlTID++
		if d.ctlTID == 0 {
			d.ctlTID = 1
		}
		m.TID = uint16(d.ctlTID)
	} else {
		d.tid++
		if d.tid == 0 {
			d.tid = 1
		}
		m.TID, m.Client = d.tid, d.client
	}
	if err := d.dev.Send(ctx, qmimsg.Marshal(m)); err != nil {
		return qmimsg.Message{}, err
	}
	for {
		b, err := d.dev.Next(ctx)
		if err != nil {
			return qmimsg.Message{}, err
		}
		msg, err := qmimsg.Parse(b)
		if err != nil {
			return qmimsg.Message{}, fmt.Errorf("%w: %w", ErrQMI, err)
		}
		if !msg.FromService || msg.Service != svc || msg.TID != m.TID || msg.ID != id ||
			(svc != qmimsg.ServiceCTL && msg.Client != d.client) {
			continue // an indication, or another transaction's
		}
		if (svc == qmimsg.ServiceCTL && msg.Flags != qmimsg.CTLResponse) || (svc != qmimsg.ServiceCTL && msg.Flags != qmimsg.ServiceResponse) {
			continue
		}
		code, err := msg.Result()
		if err != nil {
			return msg, fmt.Errorf("%w: %w", ErrQMI, err)
		}
		if code != qmimsg.ErrNone {
			return msg, &ResultError{Message: id, Code: code}
		}
		return msg, nil
	}
}

// Close closes the channels the transport opened, releases the UIM client
// and closes the device.
func (d *Device) Close() error { return d.dev.Close() }

// CloseContext is Close with what it sends to the modem (closing the
// channels it opened, ending the session) bounded by ctx.
func (d *Device) CloseContext(ctx context.Context) error { return d.dev.CloseContext(ctx) }
