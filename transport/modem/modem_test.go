package modem_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/modem"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

type rig struct {
	card *emulator.Card
	pty  *atmodem.PTY
	m    *modem.Modem
}

// newRig puts an emulator behind the fake modem on a real pseudo-terminal
// and opens it as a serial port.
func newRig(t testing.TB, eopts emulator.Options, q atmodem.Quirks, mopts modem.Options) *rig {
	t.Helper()
	card, err := emulator.New(eopts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := atmodem.NewPTY(card, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := modem.Open(ctx, p.Path(), 115200, mopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &rig{card: card, pty: p, m: m}
}

var variants = []struct {
	name string
	q    atmodem.Quirks
	mode modem.Mode
}{
	{"csim", atmodem.Quirks{}, modem.ModeCSIM},
	{"csim-all-quirks", atmodem.AllQuirks(), modem.ModeCSIM},
	{"csim-tight-lengths", atmodem.Quirks{LengthStyle: atmodem.LengthTight, Echo: true}, modem.ModeCSIM},
	{"cgla", atmodem.Quirks{}, modem.ModeCGLA},
	{"cgla-all-quirks", atmodem.AllQuirks(), modem.ModeCGLA},
	{"cgla-spaced-lengths", atmodem.Quirks{LengthStyle: atmodem.LengthSpacedComma, URCs: true}, modem.ModeCGLA},
}

func TestTransportKit(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) transport.Transport {
				return newRig(t, emulator.Options{}, v.q, modem.Options{Mode: v.mode}).m
			})
		})
	}
}

// The whole stack over the modem: the applet client and the signer, in
// both modes, with every quirk, a T=0 card and a short command limit.
func TestClientOverModem(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			r := newRig(t, emulator.Options{T0: true}, v.q, modem.Options{Mode: v.mode, MaxCommandLen: 200})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, err := iotsafe.Open(ctx, r.m, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			k, err := signer.New(ctx, a, iotsafe.ByID(1), nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(strings.Repeat("firmware ", 100))
			d := sha256.Sum256(msg)
			sig, err := k.Sign(nil, d[:], cryptoSHA256)
			if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
				t.Fatalf("signature over the modem: %v", err)
			}
			full, err := k.SignMessage(ctx, msg, cryptoSHA256)
			if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], full) {
				t.Fatalf("full-text signature in short blocks: %v", err)
			}
			if _, err := a.ReadFile(ctx, iotsafe.ByLabel("device-cert")); err != nil {
				t.Fatal(err)
			}
			kp, err := a.GenerateKeyPair(ctx, iotsafe.ByID(2))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kp.Point); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Faults: garbage, ERROR, silence and a truncated line each give a clear
// error; the next operation works; the card's state is intact.
func TestFaults(t *testing.T) {
	r := newRig(t, emulator.Options{}, atmodem.Quirks{}, modem.Options{})
	ctx := context.Background()
	a, err := iotsafe.Open(ctx, r.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d := sha256.Sum256([]byte("x"))
	sign := func(timeout time.Duration) error {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := a.Sign(c, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
		return err
	}
	if err := sign(5 * time.Second); err != nil { // warm up (application info)
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind atmodem.FaultKind
		want func(error) bool
	}{
		{atmodem.FaultGarbage, func(err error) bool { return errors.Is(err, transport.ErrProtocol) }},
		{atmodem.FaultError, func(err error) bool { return errors.Is(err, modem.ErrModem) }},
		{atmodem.FaultSilent, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{atmodem.FaultTruncate, func(err error) bool { return errors.Is(err, transport.ErrProtocol) }},
	} {
		r.pty.Modem.Fault(2, tc.kind) // the Update of the next signature
		err := sign(500 * time.Millisecond)
		if err == nil || !tc.want(err) {
			t.Fatalf("fault %d: %v", tc.kind, err)
		}
		if err := sign(5 * time.Second); err != nil {
			t.Fatalf("after fault %d the next signature failed: %v", tc.kind, err)
		}
	}
	// The card's state is intact: its key still matches its certificate.
	k, err := signer.New(ctx, a, iotsafe.ByID(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.TLSCertificate(ctx); err != nil {
		t.Fatal(err)
	}
}

// A modem that answers nothing at all is reported, bounded.
func TestDeadModem(t *testing.T) {
	p1, p2 := pipe()
	defer p1.Close()
	defer p2.Close()
	go io.Copy(io.Discard, p2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := modem.New(ctx, p1, modem.Options{}); err == nil {
		t.Fatal("a silent line was taken for a modem")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("not bounded")
	}
}

func TestOpenURI(t *testing.T) {
	card, _ := emulator.New(emulator.Options{})
	p, err := atmodem.NewPTY(card, atmodem.Quirks{Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	u, _ := url.Parse("modem:" + p.Path() + "?baud=115200&mode=cgla")
	tr, err := modem.OpenURI(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetRandom(ctx, 16); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, bad := range []string{"modem:", "modem:/dev/x?mode=fast", "modem:/dev/x?speed=1", "modem:/nonexistent/tty"} {
		u, _ := url.Parse(bad)
		if _, err := modem.OpenURI(ctx, u); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// A bad number names the parameter, not strconv (the newcomer's review
	// got `strconv.Atoi: parsing "abc"`).
	for bad, param := range map[string]string{"modem:/dev/x?baud=abc": "baud=", "modem:/dev/x?baud=-5": "baud=", "modem:/dev/x?maxcmd=x": "maxcmd="} {
		u, _ := url.Parse(bad)
		_, err := modem.OpenURI(ctx, u)
		if err == nil || !strings.Contains(err.Error(), param) || strings.Contains(err.Error(), "strconv") {
			t.Errorf("%s: %v (want an error naming %s)", bad, err, param)
		}
	}
}
