// Package chanmap maps the host's logical channel management onto a modem
// that opens channels itself with an AID (MBIM OPEN_CHANNEL, QMI Open
// Logical Channel): MANAGE CHANNEL open gives a host channel number at
// once; the SELECT by AID on it makes the modem open its channel with that
// AID; commands on the host channel go to the modem's channel with the
// class byte's channel bits cleared (the modem writes them); MANAGE CHANNEL
// close closes the modem's channel. Commands on the basic channel go as
// they are, on channel 0.
package chanmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// ErrLost is what Backend.Send returns (wrapped) when the modem no longer
// knows the channel: every later command on that host channel fails so,
// until the host closes it.
var ErrLost = errors.New("the logical channel was closed underneath")

// Backend is the modem's channel service.
type Backend interface {
	// Open makes the modem open a channel and select aid on it; resp is
	// the card's select response with its status word (a status word
	// alone when the applet is refused, and then ch is 0).
	Open(ctx context.Context, aid []byte, p2 byte) (ch int, resp []byte, err error)
	// Close closes a modem channel.
	Close(ctx context.Context, ch int) error
	// Send sends a command on a modem channel (0: basic) and returns the
	// answer with its status word.
	Send(ctx context.Context, ch int, cmd []byte) ([]byte, error)
}

// lost marks a host channel whose modem channel is gone.
const lost = -1

// Mapper keeps the host-to-modem channel map. It is not safe for
// concurrent use: the transport serializes calls.
type Mapper struct {
	b        Backend
	channels map[int]int       // host channel -> modem channel (0: not yet bound)
	selected map[int]selection // host channel -> what was selected on it
}

type selection struct {
	aid []byte
	p2  byte
}

// New returns a mapper over b.
func New(b Backend) *Mapper {
	return &Mapper{b: b, channels: map[int]int{}, selected: map[int]selection{}}
}

// Reopen opens again, with the same AIDs, the modem channels behind every
// host channel that had one (after the modem side lost them all: a proxy
// that restarted), keeping the host's channel numbers. The old modem
// channels are closed first, at best. A channel that cannot be opened
// again is marked lost.
func (m *Mapper) Reopen(ctx context.Context) error {
	for _, mch := range m.Open() {
		_ = m.b.Close(ctx, mch)
	}
	for host, sel := range m.selected {
		mch, _, err := m.b.Open(ctx, sel.aid, sel.p2)
		if err != nil {
			m.channels[host] = lost
			return err
		}
		if mch <= 0 {
			m.channels[host] = lost
			continue
		}
		m.channels[host] = mch
	}
	return nil
}

// TransmitReconnecting is Transmit for a modem reached through a proxy
// that may restart: when the command finds the proxy gone
// (transport.ErrCardRemoved) and ctx is still live, reconnect connects
// again and opens the session, the channels are opened again (Reopen) and
// the command is sent once more. An operation in flight on the applet
// fails; the next one works.
func (m *Mapper) TransmitReconnecting(ctx context.Context, cmd []byte, reconnect func(context.Context) error) ([]byte, error) {
	resp, err := m.Transmit(ctx, cmd)
	if err == nil || !errors.Is(err, transport.ErrCardRemoved) || ctx.Err() != nil {
		return resp, err
	}
	if rerr := reconnect(ctx); rerr != nil {
		return resp, err
	}
	if rerr := m.Reopen(ctx); rerr != nil {
		return resp, err
	}
	return m.Transmit(ctx, cmd)
}

// Transmit handles one command APDU.
func (m *Mapper) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c, err := apdu.ParseCommand(cmd)
	if err != nil {
		return nil, err
	}
	sw := func(s apdu.StatusWord) []byte { return []byte{s.SW1(), s.SW2()} }
	ci, claErr := apdu.ParseCLA(c.CLA)
	switch {
	case claErr == nil && c.INS == spec.InsManageChannel && c.P1 == 0x00:
		for ch := 1; ch <= 19; ch++ {
			if _, used := m.channels[ch]; !used {
				m.channels[ch] = 0
				return []byte{byte(ch), 0x90, 0x00}, nil
			}
		}
		return sw(apdu.SWFunctionNotSupported), nil
	case claErr == nil && c.INS == spec.InsManageChannel && c.P1 == 0x80:
		ch := int(c.P2)
		if ch == 0 {
			ch = ci.Channel
		}
		mch, ok := m.channels[ch]
		if !ok {
			return sw(apdu.SWIncorrectP1P2), nil
		}
		delete(m.channels, ch)
		delete(m.selected, ch)
		if mch > 0 {
			if err := m.b.Close(ctx, mch); err != nil {
				return nil, err
			}
		}
		return sw(apdu.SWSuccess), nil
	case claErr == nil && c.INS == spec.InsSelect && c.P1 == 0x04 && ci.Channel != 0:
		old, ok := m.channels[ci.Channel]
		if !ok {
			return sw(apdu.SWLogicalChannelNotSupp), nil
		}
		if old > 0 {
			if err := m.b.Close(ctx, old); err != nil {
				return nil, err
			}
		}
		m.channels[ci.Channel] = 0
		delete(m.selected, ci.Channel)
		mch, resp, err := m.b.Open(ctx, c.Data, c.P2)
		if err != nil {
			return nil, err
		}
		if mch > 0 {
			m.channels[ci.Channel] = mch
			m.selected[ci.Channel] = selection{append([]byte(nil), c.Data...), c.P2}
		}
		return resp, nil
	}
	mch := 0
	out := cmd
	if claErr == nil && ci.Channel != 0 {
		var ok bool
		if mch, ok = m.channels[ci.Channel]; !ok || mch == 0 {
			return sw(apdu.SWLogicalChannelNotSupp), nil
		}
		if mch == lost {
			return nil, fmt.Errorf("%w (host channel %d): close it and open another", ErrLost, ci.Channel)
		}
		out = append([]byte(nil), cmd...)
		if out[0], err = apdu.WithChannel(out[0], 0); err != nil {
			return nil, err
		}
	}
	resp, err := m.b.Send(ctx, mch, out)
	if errors.Is(err, ErrLost) {
		m.channels[ci.Channel] = lost
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if err := transport.CheckAnswer(cmd, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Open returns the modem channels the mapper holds open.
func (m *Mapper) Open() []int {
	var out []int
	for _, mch := range m.channels {
		if mch > 0 {
			out = append(out, mch)
		}
	}
	return out
}
