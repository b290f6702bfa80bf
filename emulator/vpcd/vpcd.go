// Package vpcd connects a card (the emulator, or any transport through a
// small adapter) to pcscd's vpcd driver from vsmartcard, so that it appears
// as a card in the PC/SC reader "Virtual PCD 00 00" and every PC/SC
// application (pcsc_scan, opensc-tool, the project's pcsc transport) can use
// it, several processes at once through pcscd.
//
// The protocol, both directions: a 2-byte big-endian length, then the
// payload. A 1-byte payload from the driver is a control byte: 00 power
// off, 01 power on, 02 reset (no reply), 04 get ATR (reply: the ATR). Any
// longer payload is a command APDU; the reply is one response APDU.
package vpcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/go-iotsafe/iotsafe/transport"
)

// Card is what vpcd serves; *emulator.Card satisfies it.
type Card interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
	ATR() []byte
	Reset() []byte
}

// Options configure Serve.
type Options struct {
	// AllowRemote permits a non-loopback address (pcscd's vpcd listens on
	// all interfaces; connect to 127.0.0.1 unless you mean otherwise).
	AllowRemote bool
	// Logger receives connection events; nil discards.
	Logger *slog.Logger
	// OnConnect is called each time the card is (re)inserted into pcscd.
	OnConnect func()
}

// Control bytes from the driver.
const (
	ctlPowerOff = 0x00
	ctlPowerOn  = 0x01
	ctlReset    = 0x02
	ctlATR      = 0x04
)

// Serve keeps card inserted in the vpcd reader at addr (e.g.
// 127.0.0.1:35963) until ctx ends: it reconnects, with a bounded backoff,
// when pcscd restarts or the connection drops, and returns nil when ctx is
// done.
func Serve(ctx context.Context, addr string, card Card, opts Options) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("vpcd: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !opts.AllowRemote && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("vpcd: %s is not a loopback address (set AllowRemote to connect elsewhere)", addr)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			log.Debug("vpcd: cannot reach pcscd yet", "addr", addr, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		log.Info("vpcd: card inserted", "addr", addr)
		if opts.OnConnect != nil {
			opts.OnConnect()
		}
		err = serveConn(ctx, conn, card)
		conn.Close()
		card.Reset() // removal is a power cycle
		if ctx.Err() != nil {
			return nil
		}
		log.Info("vpcd: connection lost; reconnecting", "err", err)
	}
	return nil
}

// ServeConn speaks the protocol on one established connection until it
// fails or ctx ends. Closing the connection is a card removal for pcscd.
func ServeConn(ctx context.Context, conn net.Conn, card Card) error {
	return serveConn(ctx, conn, card)
}

func serveConn(ctx context.Context, conn net.Conn, card Card) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hdr := make([]byte, 2)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr))
		if n == 0 {
			continue
		}
		msg := make([]byte, n)
		quickAck(conn)
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		var reply []byte
		if n == 1 {
			switch msg[0] {
			case ctlPowerOff, ctlPowerOn, ctlReset:
				card.Reset()
				continue
			case ctlATR:
				reply = card.ATR()
			default:
				continue
			}
		} else {
			resp, err := card.Transmit(ctx, msg)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				// The card is gone (a fault, a closed emulator): remove it.
				return fmt.Errorf("vpcd: card: %w", err)
			}
			reply = resp
		}
		frame := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(frame, uint16(len(reply)))
		copy(frame[2:], reply)
		if _, err := conn.Write(frame); err != nil {
			return err
		}
	}
}

// FromTransport adapts a transport (a SIM behind a modem, say) to Card, so
// that Serve can put it into pcscd: every PC/SC application, and several
// processes at once, then share the SIM that the modem port would give to
// one process. The SIM cannot be power-cycled through the transport, so
// pcscd's power-off and reset requests leave it as it is; atr is what PC/SC
// applications see (nil: a generic UICC ATR).
func FromTransport(t transport.Transport, atr []byte) Card {
	if atr == nil {
		atr = []byte{0x3B, 0x9F, 0x96, 0x80, 0x81, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x1B, 0x63, 0xF1,
			0x00, 0x83, 0x83, 0x00, 0x90, 0x00}
		var tck byte
		for _, b := range atr[1:] {
			tck ^= b
		}
		atr = append(atr, tck)
	}
	return transportCard{t: t, atr: atr}
}

type transportCard struct {
	t   transport.Transport
	atr []byte
}

func (c transportCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	return c.t.Transmit(ctx, cmd)
}

func (c transportCard) ATR() []byte   { return append([]byte(nil), c.atr...) }
func (c transportCard) Reset() []byte { return c.ATR() }
