package mbim_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/internal/ctlframe"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/mbim"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

// rig is the emulator behind the fake MBIM function on a pseudo-terminal.
type rig struct {
	card *emulator.Card
	pty  *mbimdev.PTY
}

func newRig(t *testing.T, opts emulator.Options) *rig {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mbimdev.NewPTY(card, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &rig{card: card, pty: p}
}

func (r *rig) open(t *testing.T) *mbim.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mbim.Open(ctx, r.pty.Path(), &mbim.Options{Proxy: mbim.ProxyOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestKit(t *testing.T) {
	r := newRig(t, emulator.Options{})
	transporttest.Run(t, func(t *testing.T) transport.Transport { return r.open(t) })
}

// The applet client over MBIM: the logical channel is opened by the modem
// with the applet's AID (OPEN_CHANNEL), signatures take two APDUs, an RSA
// signature's 259-byte answer comes back whole through 61xx, and the
// channel is closed at the end.
func TestClientOverMBIM(t *testing.T) {
	r := newRig(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	transporttest.Applet(t, r.open(t), r.card.APDUCount, true)
}

// Faults: an answer with another transaction ID and an unsolicited
// indication are skipped; a truncated answer, garbage, a channel closed
// underneath, no free channel, and the device disappearing are clear
// errors, never a hang, and after a truncated answer or garbage the next
// command works.
func TestFaults(t *testing.T) {
	r := newRig(t, emulator.Options{})
	ctx := context.Background()
	a, err := iotsafe.Open(ctx, r.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("faults"))
	for _, f := range []mbimdev.Fault{mbimdev.FaultWrongTID, mbimdev.FaultIndication} {
		r.pty.Device.Fault(1, f)
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			t.Fatalf("fault %d: %v", f, err)
		}
	}
	// Truncated: the read ends with the caller's deadline, with a reason.
	r.pty.Device.Fault(1, mbimdev.FaultTruncate)
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = a.GetRandom(tctx, 8)
	cancel()
	if err == nil {
		t.Fatal("a truncated answer was taken")
	}
	// and the stream is in step again for the next command.
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatalf("after a truncated answer: %v", err)
	}
	// Garbage before the answer: a clear error, no hang, and the next
	// command works.
	r.pty.Device.Fault(1, mbimdev.FaultGarbage)
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	_, err = a.GetRandom(tctx, 8)
	cancel()
	if !errors.Is(err, mbim.ErrMBIM) || !errors.Is(err, ctlframe.ErrGarbage) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	// A channel closed underneath.
	r2 := newRig(t, emulator.Options{})
	a2, err := iotsafe.Open(ctx, r2.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.pty.Device.Fault(1, mbimdev.FaultCloseChannel)
	if _, err := a2.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); !errors.Is(err, mbim.ErrChannelLost) {
		t.Fatalf("channel closed underneath: %v", err)
	}
	// No logical channel left.
	r3 := newRig(t, emulator.Options{})
	r3.pty.Device.MaxChannels = -1
	if _, err := iotsafe.Open(ctx, r3.open(t), nil); !errors.Is(err, mbim.ErrNoChannel) {
		t.Fatalf("no channel: %v", err)
	}
	// The device disappears.
	r4 := newRig(t, emulator.Options{})
	a4, err := iotsafe.Open(ctx, r4.open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r4.pty.Close()
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = a4.Sign(tctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
	if !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatalf("device gone: %v", err)
	}
}
