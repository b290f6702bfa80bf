package iotsafe_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
)

// sharedReader is the emulator as a shared PC/SC reader would present it:
// transactions, and a log of the commands.
type sharedReader struct {
	*emulator.Card
	mu   sync.Mutex
	cmds [][]byte
}

func (s *sharedReader) Begin(context.Context) (func(), error) { return func() {}, nil }

func (s *sharedReader) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	s.mu.Lock()
	s.cmds = append(s.cmds, bytes.Clone(cmd))
	s.mu.Unlock()
	return s.Card.Transmit(ctx, cmd)
}

func (s *sharedReader) Close() error { return nil }

// When every logical channel is taken (processes that died without closing
// theirs), the client works on the basic channel and selects the applet
// again in each transaction, since other applications share that channel.
func TestNoLogicalChannelLeft(t *testing.T) {
	ctx := context.Background()
	card, err := emulator.New(emulator.Options{Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	r := &sharedReader{Card: card}
	first, err := iotsafe.Open(ctx, r, nil) // takes channel 1, never closed
	if err != nil {
		t.Fatal(err)
	}
	_ = first
	a, err := iotsafe.Open(ctx, r, nil)
	if err != nil {
		t.Fatalf("open with no logical channel left: %v", err)
	}
	d := sha256.Sum256([]byte("basic channel"))
	// Another application selects something else on the basic channel.
	if _, err := card.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x00, 0x87}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.cmds = nil
	r.mu.Unlock()
	sig, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
	if err != nil {
		t.Fatalf("sign on the basic channel after another application's SELECT: %v", err)
	}
	if len(sig) != 64 {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cmds) == 0 || r.cmds[0][1] != 0xA4 || r.cmds[0][0]&0x03 != 0 {
		t.Fatalf("the operation did not start by selecting the applet on the basic channel: % X", r.cmds)
	}
	for _, c := range r.cmds {
		if c[0]&0x03 != 0 {
			t.Fatalf("command on channel %d: % X", c[0]&0x03, c)
		}
	}
}

func TestAppInfoName(t *testing.T) {
	for _, c := range []struct {
		id   []byte
		want string
	}{
		{[]byte("Thales IoT SAFE\x00\x00"), "Thales IoT SAFE"},
		{[]byte("orange  "), "orange"},
		{[]byte{0x01, 0xAB, 0x7F}, "01AB7F"},
		{nil, ""},
	} {
		if got := (&iotsafe.AppInfo{AppletID: c.id}).Name(); got != c.want {
			t.Errorf("Name(%q) = %q, want %q", c.id, got, c.want)
		}
	}
}
