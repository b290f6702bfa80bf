// Package mbimdev puts the emulator behind a fake MBIM function: a
// pseudo-terminal in raw mode that speaks MBIM control messages as a
// cdc-wdm device does, with Microsoft's "UICC low level access" service
// (ATR, OPEN_CHANNEL with the AID, APDU, CLOSE_CHANNEL) in front of the
// card. Hosts open its path as they would /dev/cdc-wdm0: go-iotsafe's
// mbim: transport, and libmbim's mbimcli.
package mbimdev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/ctlframe"
	"github.com/go-iotsafe/iotsafe/internal/mbimmsg"
	"github.com/go-iotsafe/iotsafe/internal/rawpty"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Card is what the device sits in front of (an *emulator.Card).
type Card interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
	ATR() []byte
}

// Fault is a misbehaviour of the device, for tests.
type Fault uint8

// The faults.
const (
	// FaultWrongTID answers with another transaction ID first (then the
	// right answer).
	FaultWrongTID Fault = iota + 1
	// FaultTruncate sends only the first half of the answer.
	FaultTruncate
	// FaultCloseChannel closes the logical channel on the card before
	// answering the APDU (an application or the modem closed it).
	FaultCloseChannel
	// FaultIndication sends an unsolicited INDICATE_STATUS before the answer.
	FaultIndication
	// FaultGarbage sends, before the answer, a header whose length field
	// says 4 GiB (a modem answering garbage).
	FaultGarbage
	// FaultSilent makes the device answer nothing from this command on,
	// OPEN and CLOSE included: a modem whose firmware hung.
	FaultSilent
)

// Device is the fake MBIM function.
type Device struct {
	card Card
	log  *slog.Logger

	mu       sync.Mutex
	opened   bool
	channels map[uint32]bool // logical channels opened through OPEN_CHANNEL
	// MaxChannels bounds the channels OPEN_CHANNEL opens (0: as many as
	// the card has; negative: none, MBIM_STATUS_MS_NO_LOGICAL_CHANNELS).
	MaxChannels int
	faults      map[int]Fault
	silent      bool
	count       int
	bytesIn     atomic.Int64 // bytes read from the host
	bytesOut    atomic.Int64 // bytes written to the host
}

// Bytes returns the bytes the device has read from and written to the
// control channel.
func (d *Device) Bytes() (in, out int64) { return d.bytesIn.Load(), d.bytesOut.Load() }

// New returns a device in front of card; log may be nil.
func New(card Card, log *slog.Logger) *Device {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Device{card: card, log: log, channels: map[uint32]bool{}, faults: map[int]Fault{}}
}

// Fault makes the device misbehave on the n-th command from now on (1 is
// the next one).
func (d *Device) Fault(n int, f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults[d.count+n] = f
}

// Serve answers MBIM messages read from rw until ctx ends or rw fails.
// Messages may arrive split or joined (a terminal is a byte stream): they
// are cut by their length field.
func (d *Device) Serve(ctx context.Context, rw io.ReadWriter) error {
	return ctlframe.Serve(ctx, rw, mbimmsg.Frame, d.handle, d.log, &d.bytesIn, &d.bytesOut)
}

// handle returns what the device writes for one message.
func (d *Device) handle(ctx context.Context, msg []byte) [][]byte {
	d.mu.Lock()
	hung := d.silent
	d.mu.Unlock()
	if hung {
		return nil
	}
	h, _ := mbimmsg.ReadHeader(msg)
	d.mu.Lock()
	switch h.Type {
	case mbimmsg.TypeOpen:
		d.opened = true
		d.mu.Unlock()
		return [][]byte{mbimmsg.Status(mbimmsg.TypeOpenDone, h.TID, mbimmsg.StatusNone)}
	case mbimmsg.TypeClose:
		d.opened = false
		d.mu.Unlock()
		return [][]byte{mbimmsg.Status(mbimmsg.TypeCloseDone, h.TID, mbimmsg.StatusNone)}
	case mbimmsg.TypeCommand:
	default:
		d.mu.Unlock()
		return [][]byte{mbimmsg.Status(mbimmsg.TypeFunctionError, h.TID, mbimmsg.ErrorUnknown)}
	}
	if !d.opened {
		d.mu.Unlock()
		return [][]byte{mbimmsg.Status(mbimmsg.TypeFunctionError, h.TID, mbimmsg.ErrorNotOpened)}
	}
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
	c, err := mbimmsg.ParseCommand(msg, false)
	if err != nil {
		return [][]byte{mbimmsg.Status(mbimmsg.TypeFunctionError, h.TID, mbimmsg.ErrorLengthMismatch)}
	}
	done := mbimmsg.Command{TID: c.TID, Service: c.Service, CID: c.CID}
	if c.Service != mbimmsg.ServiceUICC {
		done.Status = mbimmsg.StatusNoDeviceSupport
	} else {
		done.Status, done.Info = d.uicc(ctx, c, fault)
	}
	out := mbimmsg.MarshalDone(done)
	switch fault {
	case FaultWrongTID:
		other := done
		other.TID++
		return [][]byte{mbimmsg.MarshalDone(other), out}
	case FaultTruncate:
		return [][]byte{out[:len(out)/2]}
	case FaultIndication:
		ind := mbimmsg.MarshalDone(mbimmsg.Command{Service: c.Service, CID: c.CID})
		copy(ind[0:4], []byte{0x07, 0x00, 0x00, 0x80}) // INDICATE_STATUS
		return [][]byte{ind, out}
	case FaultGarbage:
		return [][]byte{{0x03, 0x00, 0x00, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF}, out}
	}
	return [][]byte{out}
}

// uicc runs a command of the UICC low level access service.
func (d *Device) uicc(ctx context.Context, c mbimmsg.Command, fault Fault) (uint32, []byte) {
	r := mbimmsg.NewReader(c.Info)
	switch {
	case c.CID == mbimmsg.CIDATR && c.CommandType == mbimmsg.CommandQuery:
		return mbimmsg.StatusNone, new(mbimmsg.Info).Bytes(d.card.ATR()).Build()
	case c.CID == mbimmsg.CIDOpenChannel && c.CommandType == mbimmsg.CommandSet:
		aid, p2, _ := r.Bytes(), r.Uint32(), r.Uint32()
		if r.Err() != nil || len(aid) < 5 || len(aid) > 16 {
			return mbimmsg.StatusFailure, nil
		}
		return d.openChannel(ctx, aid, byte(p2))
	case c.CID == mbimmsg.CIDAPDU && c.CommandType == mbimmsg.CommandSet:
		// Channel, secure messaging, class byte type (inter-industry or
		// extended: the channel is written into the class byte either
		// way), command.
		ch, _, _, cmd := r.Uint32(), r.Uint32(), r.Uint32(), r.Bytes()
		if r.Err() != nil || len(cmd) < 4 {
			return mbimmsg.StatusFailure, nil
		}
		return d.apdu(ctx, ch, cmd, fault)
	case c.CID == mbimmsg.CIDCloseChannel && c.CommandType == mbimmsg.CommandSet:
		ch, _ := r.Uint32(), r.Uint32()
		if r.Err() != nil {
			return mbimmsg.StatusFailure, nil
		}
		d.mu.Lock()
		open := d.channels[ch]
		delete(d.channels, ch)
		d.mu.Unlock()
		if !open {
			return mbimmsg.StatusMSInvalidLogicalChannel, new(mbimmsg.Info).Uint32(0).Build()
		}
		resp, err := d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, byte(ch)})
		if err != nil || len(resp) < 2 {
			return mbimmsg.StatusFailure, nil
		}
		return mbimmsg.StatusNone, new(mbimmsg.Info).Uint32(mbimmsg.SW(resp[len(resp)-2], resp[len(resp)-1])).Build()
	}
	return mbimmsg.StatusNoDeviceSupport, nil
}

func (d *Device) openChannel(ctx context.Context, aid []byte, p2 byte) (uint32, []byte) {
	d.mu.Lock()
	full := d.MaxChannels < 0 || (d.MaxChannels > 0 && len(d.channels) >= d.MaxChannels)
	d.mu.Unlock()
	if full {
		return mbimmsg.StatusMSNoLogicalChannels, nil
	}
	resp, err := d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x00, 0x00, 0x01})
	if err != nil || len(resp) != 3 || resp[1] != 0x90 {
		return mbimmsg.StatusMSNoLogicalChannels, nil
	}
	ch := resp[0]
	cla, _ := apdu.CLA(apdu.Interindustry, int(ch))
	sel := append([]byte{cla, spec.InsSelect, 0x04, p2, byte(len(aid))}, aid...)
	resp, err = d.transmitAll(ctx, sel)
	if err != nil || len(resp) < 2 {
		return mbimmsg.StatusFailure, nil
	}
	sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
	info := new(mbimmsg.Info).Uint32(mbimmsg.SW(sw1, sw2))
	if sw1 != 0x90 {
		_, _ = d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, ch})
		return mbimmsg.StatusMSSelectFailed, info.Uint32(0).Bytes(nil).Build()
	}
	d.mu.Lock()
	d.channels[uint32(ch)] = true
	d.mu.Unlock()
	return mbimmsg.StatusNone, info.Uint32(uint32(ch)).Bytes(resp[:len(resp)-2]).Build()
}

func (d *Device) apdu(ctx context.Context, ch uint32, cmd []byte, fault Fault) (uint32, []byte) {
	d.mu.Lock()
	open := d.channels[ch]
	d.mu.Unlock()
	if fault == FaultCloseChannel && open {
		_, _ = d.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, byte(ch)})
		d.mu.Lock()
		delete(d.channels, ch)
		d.mu.Unlock()
		open = false
	}
	if ch != 0 && !open {
		return mbimmsg.StatusMSInvalidLogicalChannel, nil
	}
	out := append([]byte(nil), cmd...)
	// The function owns the channel bits of the class byte.
	cla, err := apdu.WithChannel(out[0], int(ch))
	if err != nil {
		return mbimmsg.StatusFailure, nil
	}
	out[0] = cla
	resp, err := d.card.Transmit(ctx, out)
	if err != nil || len(resp) < 2 {
		d.log.Debug("mbimdev: the card failed", "err", err)
		return mbimmsg.StatusFailure, nil
	}
	return mbimmsg.StatusNone, new(mbimmsg.Info).Uint32(mbimmsg.SW(resp[len(resp)-2], resp[len(resp)-1])).Bytes(resp[:len(resp)-2]).Build()
}

// transmitAll follows 61xx for the SELECT the device sends itself.
func (d *Device) transmitAll(ctx context.Context, c []byte) ([]byte, error) {
	resp, err := d.card.Transmit(ctx, c)
	var data []byte
	for i := 0; err == nil && len(resp) >= 2 && resp[len(resp)-2] == 0x61 && i < 16; i++ {
		data = append(data, resp[:len(resp)-2]...)
		resp, err = d.card.Transmit(ctx, []byte{c[0] & 0x03, spec.InsGetResponse, 0x00, 0x00, resp[len(resp)-1]})
	}
	return append(data, resp...), err
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
		return nil, fmt.Errorf("mbimdev: %w", err)
	}
	return &PTY{Device: d, Served: s}, nil
}
