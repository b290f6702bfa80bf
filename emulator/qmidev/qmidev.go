// Package qmidev puts the emulator behind a fake QMI device: a
// pseudo-terminal in raw mode that speaks QMUX as a qmi_wwan cdc-wdm
// device does, with the control service's client allocation and the UIM
// service's Open Logical Channel (with the AID), Send APDU, Logical Channel
// (close) and Get Card Status in front of the card. Hosts open its path as
// they would /dev/cdc-wdm0: go-iotsafe's qmi: transport, and libqmi's
// qmicli.
package qmidev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/ctlframe"
	"github.com/go-iotsafe/iotsafe/internal/qmimsg"
	"github.com/go-iotsafe/iotsafe/internal/rawpty"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Card is what the device sits in front of (an *emulator.Card).
type Card interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// Fault is a misbehaviour of the device, for tests.
type Fault uint8

// The faults.
const (
	// FaultWrongTID answers with another transaction ID first.
	FaultWrongTID Fault = iota + 1
	// FaultTruncate sends only the first half of the answer.
	FaultTruncate
	// FaultCloseChannel closes the logical channel on the card before
	// answering a Send APDU (closed underneath the host).
	FaultCloseChannel
	// FaultGarbage sends, before the answer, bytes that start no QMUX
	// message (a modem answering garbage).
	FaultGarbage
	// FaultSilent makes the device answer nothing from this request on,
	// control messages included: a modem whose firmware hung.
	FaultSilent
)

// Device is the fake QMI device.
type Device struct {
	card Card
	log  *slog.Logger

	mu       sync.Mutex
	clients  map[[2]byte]bool // allocated (service, client) pairs
	next     byte
	channels map[byte]bool
	// MaxChannels bounds the channels Open Logical Channel opens (0: as
	// many as the card has; negative: none).
	MaxChannels int
	faults      map[int]Fault
	silent      bool
	count       int
	bytesIn     atomic.Int64
	bytesOut    atomic.Int64
}

// Bytes returns the bytes the device has read from and written to the
// control channel.
func (d *Device) Bytes() (in, out int64) { return d.bytesIn.Load(), d.bytesOut.Load() }

// New returns a device in front of card; log may be nil.
func New(card Card, log *slog.Logger) *Device {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Device{card: card, log: log, clients: map[[2]byte]bool{}, channels: map[byte]bool{}, faults: map[int]Fault{}}
}

// Fault makes the device misbehave on the n-th UIM request from now on.
func (d *Device) Fault(n int, f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults[d.count+n] = f
}

// Serve answers QMUX messages read from rw until ctx ends or rw fails.
func (d *Device) Serve(ctx context.Context, rw io.ReadWriter) error {
	return ctlframe.Serve(ctx, rw, qmimsg.Frame, d.handle, d.log, &d.bytesIn, &d.bytesOut)
}

func (d *Device) handle(ctx context.Context, b []byte) [][]byte {
	d.mu.Lock()
	hung := d.silent
	d.mu.Unlock()
	if hung {
		return nil
	}
	m, err := qmimsg.Parse(b)
	if err != nil || m.FromService || m.Flags != qmimsg.FlagRequest {
		d.log.Debug("qmidev: message dropped", "err", err)
		return nil
	}
	resp := qmimsg.Message{FromService: true, Service: m.Service, Client: m.Client, TID: m.TID, ID: m.ID, Flags: qmimsg.ServiceResponse}
	if m.Service == qmimsg.ServiceCTL {
		resp.Flags = qmimsg.CTLResponse
		resp.TLVs = d.ctl(m)
		return [][]byte{qmimsg.Marshal(resp)}
	}
	d.mu.Lock()
	known := d.clients[[2]byte{m.Service, m.Client}]
	d.count++
	fault := d.faults[d.count]
	delete(d.faults, d.count)
	if fault == FaultSilent {
		d.silent = true
	}
	silent := d.silent
	d.mu.Unlock()
	if silent {
		return nil
	}
	switch {
	case !known:
		resp.TLVs = []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInvalidClientID)}
	case m.Service != qmimsg.ServiceUIM:
		resp.TLVs = []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInvalidQMICommand)}
	default:
		if fault == FaultCloseChannel && m.ID == qmimsg.UIMSendAPDU {
			if c, ok := m.Get(0x10); ok && len(c) == 1 {
				d.mu.Lock()
				delete(d.channels, c[0])
				d.mu.Unlock()
				_, _ = d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, c[0]})
			}
		}
		resp.TLVs = d.uim(ctx, m)
	}
	out := qmimsg.Marshal(resp)
	switch fault {
	case FaultWrongTID:
		other := resp
		other.TID++
		return [][]byte{qmimsg.Marshal(other), out}
	case FaultTruncate:
		return [][]byte{out[:len(out)/2]}
	case FaultGarbage:
		return [][]byte{[]byte("\r\nERROR\r\n"), out}
	}
	return [][]byte{out}
}

func (d *Device) ctl(m qmimsg.Message) []qmimsg.TLV {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m.ID {
	case qmimsg.CTLAllocateCID:
		v, ok := m.Get(0x01)
		if !ok || len(v) != 1 {
			return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInvalidArgument)}
		}
		for i := 0; i < 254; i++ {
			d.next++
			if d.next == 0 || d.next == 0xFF {
				d.next = 1
			}
			if !d.clients[[2]byte{v[0], d.next}] {
				d.clients[[2]byte{v[0], d.next}] = true
				return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x01, Value: []byte{v[0], d.next}}}
			}
		}
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrClientIDsExhausted)}
	case qmimsg.CTLReleaseCID:
		v, ok := m.Get(0x01)
		if !ok || len(v) != 2 || !d.clients[[2]byte{v[0], v[1]}] {
			return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInvalidClientID)}
		}
		delete(d.clients, [2]byte{v[0], v[1]})
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x01, Value: []byte{v[0], v[1]}}}
	case qmimsg.CTLGetVersionInfo:
		// CTL 1.5 and UIM 1.46: the services this device offers.
		list := []byte{2, qmimsg.ServiceCTL, 1, 0, 5, 0, qmimsg.ServiceUIM, 1, 0, 46, 0}
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x01, Value: list}}
	case qmimsg.CTLSync:
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone)}
	}
	return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInvalidQMICommand)}
}

func (d *Device) uim(ctx context.Context, m qmimsg.Message) []qmimsg.TLV {
	fail := func(e uint16) []qmimsg.TLV { return []qmimsg.TLV{qmimsg.ResultTLV(e)} }
	if m.ID != qmimsg.UIMGetCardStatus {
		if slot, ok := m.Get(0x01); !ok || len(slot) != 1 || slot[0] != 1 {
			return fail(qmimsg.ErrInvalidArgument)
		}
	}
	switch m.ID {
	case qmimsg.UIMGetCardStatus:
		// One card, present, PIN disabled, no application listed.
		st := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0, 0, 0, 0, 0}
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x10, Value: st}}
	case qmimsg.UIMOpenLogicalChannel:
		v, ok := m.Get(0x10)
		aid, err := qmimsg.ReadU8Array(v)
		if !ok || err != nil || len(aid) < 5 || len(aid) > 16 {
			return fail(qmimsg.ErrInvalidArgument)
		}
		return d.open(ctx, aid)
	case qmimsg.UIMSendAPDU:
		v, ok := m.Get(0x02)
		cmd, err := qmimsg.ReadU16Array(v)
		if !ok || err != nil || len(cmd) < 4 {
			return fail(qmimsg.ErrInvalidArgument)
		}
		ch := byte(0)
		if c, ok := m.Get(0x10); ok {
			if len(c) != 1 {
				return fail(qmimsg.ErrInvalidArgument)
			}
			ch = c[0]
		}
		d.mu.Lock()
		open := d.channels[ch]
		d.mu.Unlock()
		if ch != 0 && !open {
			return fail(qmimsg.ErrInvalidArgument)
		}
		out := append([]byte(nil), cmd...)
		cla, err := apdu.WithChannel(out[0], int(ch))
		if err != nil {
			return fail(qmimsg.ErrInvalidArgument)
		}
		out[0] = cla
		resp, err := d.card.Transmit(ctx, out)
		if err != nil || len(resp) < 2 {
			return fail(qmimsg.ErrInternal)
		}
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x10, Value: qmimsg.U16Array(resp)}}
	case qmimsg.UIMLogicalChannel:
		c, ok := m.Get(0x11)
		if !ok || len(c) != 1 {
			return fail(qmimsg.ErrInvalidArgument)
		}
		d.mu.Lock()
		open := d.channels[c[0]]
		delete(d.channels, c[0])
		d.mu.Unlock()
		if !open {
			return fail(qmimsg.ErrInvalidArgument)
		}
		if _, err := d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, c[0]}); err != nil {
			return fail(qmimsg.ErrInternal)
		}
		return fail(qmimsg.ErrNone)
	}
	return fail(qmimsg.ErrInvalidQMICommand)
}

func (d *Device) open(ctx context.Context, aid []byte) []qmimsg.TLV {
	d.mu.Lock()
	full := d.MaxChannels < 0 || (d.MaxChannels > 0 && len(d.channels) >= d.MaxChannels)
	d.mu.Unlock()
	if full {
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInsufficientResources)}
	}
	resp, err := d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x00, 0x00, 0x01})
	if err != nil || len(resp) != 3 || resp[1] != 0x90 {
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInsufficientResources)}
	}
	ch := resp[0]
	cla, _ := apdu.CLA(apdu.Interindustry, int(ch))
	sel := append([]byte{cla, spec.InsSelect, 0x04, 0x00, byte(len(aid))}, aid...)
	resp, err = d.card.Transmit(ctx, sel)
	if err != nil || len(resp) < 2 {
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInternal)}
	}
	sw := resp[len(resp)-2:]
	if sw[0] != 0x90 {
		_, _ = d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, ch})
		return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrInternal), {Type: 0x11, Value: []byte{sw[0], sw[1]}}}
	}
	d.mu.Lock()
	d.channels[ch] = true
	d.mu.Unlock()
	return []qmimsg.TLV{qmimsg.ResultTLV(qmimsg.ErrNone), {Type: 0x10, Value: []byte{ch}},
		{Type: 0x11, Value: []byte{sw[0], sw[1]}}, {Type: 0x12, Value: qmimsg.U8Array(resp[:len(resp)-2])}}
}

// PTY is the device on a pseudo-terminal.
type PTY struct {
	Device *Device
	*rawpty.Served
}

// NewPTY starts the device for card on a new raw pseudo-terminal; Path
// names it, Close stops it (closing again does nothing).
func NewPTY(card Card, log *slog.Logger) (*PTY, error) {
	d := New(card, log)
	s, err := rawpty.Serve(d.Serve)
	if err != nil {
		return nil, fmt.Errorf("qmidev: %w", err)
	}
	return &PTY{Device: d, Served: s}, nil
}
