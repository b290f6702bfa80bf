package transport

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// maxGetResponse bounds how many GET RESPONSE rounds one command may take,
// so a card that keeps answering 61xx cannot loop forever. 64 rounds of 256
// bytes is 16 KiB, far above any IoT SAFE answer.
const maxGetResponse = 64

// Normalize wraps t so that callers see complete responses:
//
//   - 61xx: the card has xx more bytes (00 = 256); GET RESPONSE is sent on
//     the same logical channel in the interindustry class, and the data of
//     every round is concatenated, until a status word other than 61xx;
//   - 9Fxx (GSM SIMs): as 61xx, with GET RESPONSE in the GSM class A0 when
//     the command's class was A0, else as for 61xx;
//   - 6Cxx: the command is sent again once with Le = xx, keeping its header,
//     Lc and data (the Le byte is appended or replaced, never Lc).
//
// A command and the GET RESPONSE or re-send it calls for form one exchange:
// concurrent callers are serialized so that no other command can come in
// between and take (or discard) the card's pending answer.
//
// Normalizing an already normalized transport returns it unchanged.
func Normalize(t Transport) Transport {
	if n, ok := t.(*normalized); ok {
		return n
	}
	return &normalized{t: t}
}

type normalized struct {
	t  Transport
	mu sync.Mutex
}

// Unwrap returns the transport that Normalize wrapped.
func (n *normalized) Unwrap() Transport { return n.t }

func (n *normalized) Close() error { return n.t.Close() }

// CloseContext closes the wrapped transport, bounded by ctx where it
// supports that.
func (n *normalized) CloseContext(ctx context.Context) error { return CloseContext(ctx, n.t) }

// MaxCommandLen forwards the wrapped transport's limit (0 when it has none).
func (n *normalized) MaxCommandLen() int {
	if l, ok := n.t.(Limiter); ok {
		return l.MaxCommandLen()
	}
	return 0
}

// ATR forwards the wrapped transport's answer to reset (nil when it has
// none).
func (n *normalized) ATR() []byte {
	if r, ok := n.t.(AnswerToReset); ok {
		return r.ATR()
	}
	return nil
}

// CarriesExtended forwards the wrapped transport's answer; true when it
// does not say (the ATR decides alone).
func (n *normalized) CarriesExtended() bool {
	if c, ok := n.t.(ExtendedCarrier); ok {
		return c.CarriesExtended()
	}
	return true
}

// Begin forwards to the wrapped transport's transaction support, when it has
// one; otherwise it returns a no-op.
func (n *normalized) Begin(ctx context.Context) (func(), error) {
	if tr, ok := n.t.(Transactor); ok {
		return tr.Begin(ctx)
	}
	return func() {}, nil
}

func (n *normalized) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	resp, err := n.t.Transmit(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if len(resp) < 2 {
		return nil, fmt.Errorf("%w: response of %d bytes has no status word", ErrProtocol, len(resp))
	}
	sw := apdu.StatusWord(uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]))
	if sw.WrongLe() {
		again, err := withLe(cmd, sw.SW2())
		if err != nil {
			return nil, err
		}
		resp, err = n.t.Transmit(ctx, again)
		if err != nil {
			return nil, err
		}
		if len(resp) < 2 {
			return nil, fmt.Errorf("%w: response of %d bytes has no status word", ErrProtocol, len(resp))
		}
	}
	return n.getResponses(ctx, cmd, resp)
}

// getResponses follows 61xx/9Fxx chains starting from resp.
func (n *normalized) getResponses(ctx context.Context, cmd, resp []byte) ([]byte, error) {
	var acc []byte
	for round := 0; ; round++ {
		sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
		if sw1 != 0x61 && sw1 != 0x9F {
			if acc == nil {
				return resp, nil
			}
			return append(acc, resp...), nil
		}
		if round >= maxGetResponse {
			return nil, fmt.Errorf("%w: card still answers %02X%02X after %d GET RESPONSE rounds", ErrProtocol, sw1, sw2, round)
		}
		acc = append(acc, resp[:len(resp)-2]...)
		gr, err := getResponseFor(cmd[0], sw1, sw2)
		if err != nil {
			return nil, err
		}
		next, err := n.t.Transmit(ctx, gr)
		if err != nil {
			return nil, err
		}
		if len(next) < 2 {
			return nil, fmt.Errorf("%w: GET RESPONSE answer of %d bytes has no status word", ErrProtocol, len(next))
		}
		resp = next
	}
}

// getResponseFor builds GET RESPONSE for a command of class cla.
func getResponseFor(cla, sw1, sw2 byte) ([]byte, error) {
	if sw1 == 0x9F && cla == 0xA0 {
		return []byte{0xA0, 0xC0, 0x00, 0x00, sw2}, nil
	}
	ci, err := apdu.ParseCLA(cla)
	if err != nil {
		// Not an ISO class: answer on the basic channel.
		return []byte{0x00, 0xC0, 0x00, 0x00, sw2}, nil
	}
	grCLA, err := apdu.CLA(apdu.Interindustry, ci.Channel)
	if err != nil {
		return nil, err
	}
	return []byte{grCLA, 0xC0, 0x00, 0x00, sw2}, nil
}

// withLe returns cmd with its Le byte set to le: appended to a case 1 or 3
// command, replaced in a case 2 or 4 command. Lc and data are never touched.
func withLe(cmd []byte, le byte) ([]byte, error) {
	c, err := apdu.ParseCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("transport: card answered 6C%02X to a command that cannot be re-sent: %w", le, err)
	}
	if le == 0 {
		c.Ne = apdu.MaxShortNe
	} else {
		c.Ne = int(le)
	}
	return c.Bytes()
}

// Func adapts a function to the Transport interface; Close does nothing.
// It is meant for tests and small in-process bridges.
type Func func(ctx context.Context, command []byte) ([]byte, error)

// Transmit calls f.
func (f Func) Transmit(ctx context.Context, command []byte) ([]byte, error) { return f(ctx, command) }

// Close does nothing.
func (f Func) Close() error { return nil }
