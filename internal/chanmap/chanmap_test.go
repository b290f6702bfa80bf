package chanmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-iotsafe/iotsafe/transport"
)

// modem is a fake channel service: channel numbers of its own (from 5, as
// a real modem picks them), a log of what reached it, and switches for a
// lost channel and a gone proxy.
type modem struct {
	next   int
	open   map[int][]byte // modem channel -> AID
	sent   []string
	lost   map[int]bool
	gone   bool
	closed []int
}

func newModem() *modem { return &modem{next: 5, open: map[int][]byte{}, lost: map[int]bool{}} }

func (m *modem) Open(_ context.Context, aid []byte, p2 byte) (int, []byte, error) {
	if m.gone {
		return 0, nil, transport.ErrCardRemoved
	}
	if bytes.Equal(aid, []byte{0xBA, 0xD0}) {
		return 0, []byte{0x6A, 0x82}, nil // not found: no channel
	}
	ch := m.next
	m.next++
	m.open[ch] = append([]byte(nil), aid...)
	return ch, []byte{0x90, 0x00}, nil
}

func (m *modem) Close(_ context.Context, ch int) error {
	if m.gone {
		return transport.ErrCardRemoved
	}
	m.closed = append(m.closed, ch)
	delete(m.open, ch)
	return nil
}

func (m *modem) Send(_ context.Context, ch int, cmd []byte) ([]byte, error) {
	if m.gone {
		return nil, fmt.Errorf("proxy: %w", transport.ErrCardRemoved)
	}
	if m.lost[ch] {
		return nil, fmt.Errorf("modem: %w", ErrLost)
	}
	m.sent = append(m.sent, fmt.Sprintf("%d:% X", ch, cmd))
	return []byte{0x90, 0x00}, nil
}

func tx(t *testing.T, mp *Mapper, cmd ...byte) []byte {
	t.Helper()
	resp, err := mp.Transmit(context.Background(), cmd)
	if err != nil {
		t.Fatalf("% X: %v", cmd, err)
	}
	return resp
}

var aid = []byte{0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10}

// The host's channel management (ISO 7816-4 §11.1: MANAGE CHANNEL, the
// channel number in the class byte, status words 6881 and 6A86) over a
// modem that opens channels by AID.
func TestMapping(t *testing.T) {
	md := newModem()
	mp := New(md)
	if r := tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01); !bytes.Equal(r, []byte{0x01, 0x90, 0x00}) {
		t.Fatalf("MANAGE CHANNEL open: % X", r)
	}
	sel := append([]byte{0x01, 0xA4, 0x04, 0x00, byte(len(aid))}, aid...)
	if r := tx(t, mp, sel...); !bytes.Equal(r, []byte{0x90, 0x00}) || !bytes.Equal(md.open[5], aid) {
		t.Fatalf("SELECT: % X, modem channels %v", r, md.open)
	}
	// A command on host channel 1 goes to modem channel 5, channel bits
	// cleared (the modem writes them); one on the basic channel as it is.
	tx(t, mp, 0x81, 0xCB, 0x00, 0x00, 0x00)
	tx(t, mp, 0x00, 0xB0, 0x00, 0x00, 0x00)
	if want := []string{"5:80 CB 00 00 00", "0:00 B0 00 00 00"}; fmt.Sprint(md.sent) != fmt.Sprint(want) {
		t.Fatalf("sent %q, want %q", md.sent, want)
	}
	// Channels not opened, or opened and never selected: 6881.
	if r := tx(t, mp, 0x82, 0xCB, 0x00, 0x00, 0x00); !bytes.Equal(r, []byte{0x68, 0x81}) {
		t.Fatalf("unopened channel: % X", r)
	}
	// A refused SELECT opens no modem channel and its status word passes.
	tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01)
	if r := tx(t, mp, 0x02, 0xA4, 0x04, 0x00, 0x02, 0xBA, 0xD0); !bytes.Equal(r, []byte{0x6A, 0x82}) {
		t.Fatalf("refused SELECT: % X", r)
	}
	if r := tx(t, mp, 0x82, 0xCB, 0x00, 0x00, 0x00); !bytes.Equal(r, []byte{0x68, 0x81}) {
		t.Fatalf("channel with a refused SELECT: % X", r)
	}
	// Closing a channel never opened: 6A86; closing channel 1 closes
	// modem channel 5.
	if r := tx(t, mp, 0x00, 0x70, 0x80, 0x07); !bytes.Equal(r, []byte{0x6A, 0x86}) {
		t.Fatalf("close of channel 7: % X", r)
	}
	tx(t, mp, 0x00, 0x70, 0x80, 0x01)
	if fmt.Sprint(md.closed) != "[5]" {
		t.Fatalf("modem channels closed: %v", md.closed)
	}
	// Channels 1 to 19, then none: 6A81. Channel 4 and up use the further
	// interindustry class byte (0x40 + channel - 4).
	for i := 0; i < 18; i++ {
		tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01)
	}
	if r := tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01); !bytes.Equal(r, []byte{0x6A, 0x81}) {
		t.Fatalf("20th channel: % X", r)
	}
	tx(t, mp, append([]byte{0x4F, 0xA4, 0x04, 0x00, byte(len(aid))}, aid...)...)
	tx(t, mp, 0xCF, 0xCB, 0x00, 0x00, 0x00)
	if last := md.sent[len(md.sent)-1]; last != "6:80 CB 00 00 00" {
		t.Fatalf("channel 19 sent %q", last)
	}
	// Malformed commands are errors, not panics.
	for _, bad := range [][]byte{nil, {0x00}, {0x81, 0xCB, 0x00}, {0x01, 0xA4, 0x04, 0x00, 0x09, 0xA0}} {
		if _, err := mp.Transmit(context.Background(), bad); err == nil {
			t.Fatalf("% X accepted", bad)
		}
	}
}

// A modem channel closed underneath fails every later command on that
// host channel, without reaching the modem, until the host closes it.
func TestLost(t *testing.T) {
	md := newModem()
	mp := New(md)
	tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01)
	tx(t, mp, append([]byte{0x01, 0xA4, 0x04, 0x00, byte(len(aid))}, aid...)...)
	md.lost[5] = true
	for i := 0; i < 2; i++ {
		if _, err := mp.Transmit(context.Background(), []byte{0x81, 0xCB, 0x00, 0x00, 0x00}); !errors.Is(err, ErrLost) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if len(md.sent) != 0 {
		t.Fatalf("reached the modem: %q", md.sent)
	}
	tx(t, mp, 0x00, 0x70, 0x80, 0x01)
	if r := tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01); r[0] != 0x01 {
		t.Fatalf("channel 1 not free again: % X", r)
	}
}

// A proxy that restarted: the command fails as a removed card; reconnect
// is called, the applet's channel is opened again with the same AID under
// the same host number and the command sent once more. When reconnecting
// fails the first error stands.
func TestTransmitReconnecting(t *testing.T) {
	md := newModem()
	mp := New(md)
	tx(t, mp, 0x00, 0x70, 0x00, 0x00, 0x01)
	tx(t, mp, append([]byte{0x01, 0xA4, 0x04, 0x00, byte(len(aid))}, aid...)...)
	ctx := context.Background()
	cmd := []byte{0x81, 0xCB, 0x00, 0x00, 0x00}

	md.gone = true
	calls := 0
	if _, err := mp.TransmitReconnecting(ctx, cmd, func(context.Context) error { calls++; return errors.New("still down") }); !errors.Is(err, transport.ErrCardRemoved) || calls != 1 {
		t.Fatalf("proxy down: %v after %d reconnects", err, calls)
	}
	resp, err := mp.TransmitReconnecting(ctx, cmd, func(context.Context) error { md.gone = false; return nil })
	if err != nil || !bytes.Equal(resp, []byte{0x90, 0x00}) {
		t.Fatalf("proxy back: % X %v", resp, err)
	}
	if !bytes.Equal(md.open[6], aid) || fmt.Sprint(md.sent) != "[6:80 CB 00 00 00]" || fmt.Sprint(md.closed) != "[5]" {
		t.Fatalf("modem channels %v, closed %v, sent %q", md.open, md.closed, md.sent)
	}
	// A card error is not a reason to reconnect.
	md.lost[6] = true
	calls = 0
	if _, err := mp.TransmitReconnecting(ctx, cmd, func(context.Context) error { calls++; return nil }); !errors.Is(err, ErrLost) || calls != 0 {
		t.Fatalf("lost channel: %v, %d reconnects", err, calls)
	}
}
