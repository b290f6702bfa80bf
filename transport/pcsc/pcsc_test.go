//go:build cgo

package pcsc_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/emulator/vpcd"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/transport"
	"github.com/go-iotsafe/iotsafe/transport/modem"
	"github.com/go-iotsafe/iotsafe/transport/pcsc"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

const reader = "Virtual PCD 00 00"

// insert serves card to pcscd's vpcd reader until the returned function is
// called, and waits until PC/SC sees it.
func insert(t *testing.T, card vpcd.Card) func() {
	t.Helper()
	if _, err := pcsc.Readers(context.Background()); err != nil {
		if os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("pcscd is required (IOTSAFE_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("pcscd not available: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		vpcd.Serve(ctx, "127.0.0.1:35963", card, vpcd.Options{})
		close(done)
	}()
	// Removal is complete when PC/SC no longer sees a card (pcscd polls
	// vpcd about twice a second): a connection fails, not only an APDU.
	stop := func() {
		cancel()
		<-done
		for i := 0; i < 100 && present(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		// pcscd must have seen this card's power-up (its ATR), not kept the
		// previous card's when the socket came back between two polls.
		if answers() && bytes.Equal(readerATR(), card.ATR()) {
			return stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	t.Fatalf("the emulator did not appear in %q", reader)
	return nil
}

// present reports whether PC/SC connects to a card in the reader.
func present() bool {
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		return false
	}
	tr.Close()
	return true
}

// readerATR is the ATR pcscd reports for the reader's card (nil without
// one).
func readerATR() []byte {
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		return nil
	}
	defer tr.Close()
	return tr.ATR()
}

// answers reports whether the reader's card answers SELECT of the applet
// through a fresh connection.
func answers() bool {
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		return false
	}
	defer tr.Close()
	resp, err := tr.Transmit(context.Background(), []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10})
	return err == nil && len(resp) >= 2 && (resp[len(resp)-2] == 0x90 || resp[len(resp)-2] == 0x61)
}

func TestTransportKit(t *testing.T) {
	for _, t0 := range []bool{false, true} {
		t.Run(map[bool]string{false: "T1", true: "T0"}[t0], func(t *testing.T) {
			card, _ := emulator.New(emulator.Options{T0: t0})
			defer insert(t, card)()
			transporttest.Run(t, func(t *testing.T) transport.Transport {
				tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
				if err != nil {
					t.Fatal(err)
				}
				return tr
			})
		})
	}
}

// The whole stack through pcscd, the reader found by its applet; the tools
// see the virtual card; a removal mid-operation gives a clear error, and
// after re-insertion the next operation works and the state is intact.
func TestStackAndRemoval(t *testing.T) {
	card, _ := emulator.New(emulator.Options{})
	stop := insert(t, card)
	ctx := context.Background()
	u, _ := url.Parse("pcsc:")
	tr, err := pcsc.OpenURI(ctx, u)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	a, err := iotsafe.Open(ctx, tr, nil)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer a.Close()
	k, err := signer.New(ctx, a, iotsafe.ByID(1), nil)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("pcsc"))
	sig, err := k.SignContext(ctx, d[:], cryptoSHA256)
	if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		stop()
		t.Fatalf("signature through pcscd: %v", err)
	}
	if opensc, err := exec.LookPath("opensc-tool"); err == nil {
		out, err := exec.Command(opensc, "-r", "0", "-s", "00 A4 04 00 07 A0 00 00 05 59 00 10").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SW1=0x90, SW2=0x00") {
			t.Errorf("opensc-tool does not see the applet: %v\n%s", err, out)
		}
	} else if os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" {
		t.Error("opensc-tool is required")
	}

	// The card leaves the reader (the emulator disconnects from vpcd).
	stop()
	_, err = k.SignContext(ctx, d[:], cryptoSHA256)
	if !errors.Is(err, transport.ErrCardRemoved) && !errors.Is(err, transport.ErrCardReset) {
		t.Fatalf("signing with the card gone: %v", err)
	}
	// Back in: the next operations work (reconnect and re-select once).
	defer insert(t, card)()
	var lastErr error
	for i := 0; i < 50; i++ {
		if sig, lastErr = k.SignContext(ctx, d[:], cryptoSHA256); lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("after re-insertion: %v", lastErr)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := pcsc.Readers(context.Background()); err != nil {
		testtool.Missing(t, "pcscd: "+err.Error())
	}
	if _, err := pcsc.Open(context.Background(), pcsc.Options{Reader: "No Such Reader"}); err == nil {
		t.Fatal("an unknown reader was opened")
	}
}

// The bridge: a SIM behind a (fake) modem exposed through pcscd; two
// clients, as two processes would, sign at once through pcscd.
func TestBridgeModemToPCSC(t *testing.T) {
	if _, err := pcsc.Readers(context.Background()); err != nil {
		if os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	card, _ := emulator.New(emulator.Options{T0: true})
	p, err := atmodem.NewPTY(card, atmodem.AllQuirks())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := modem.Open(ctx, p.Path(), 115200, modem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan struct{})
	go func() { vpcd.Serve(ctx, "127.0.0.1:35963", vpcd.FromTransport(m, nil), vpcd.Options{}); close(done) }()
	defer func() {
		cancel()
		<-done
		for i := 0; i < 100 && answers(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for i := 0; i < 150 && !answers(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	d := sha256.Sum256([]byte("bridge"))
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
			if err != nil {
				errs <- err
				return
			}
			a, err := iotsafe.Open(context.Background(), tr, nil)
			if err != nil {
				tr.Close()
				errs <- err
				return
			}
			defer a.Close()
			k, err := signer.New(context.Background(), a, iotsafe.ByID(1), nil)
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < 5; i++ {
				sig, err := k.SignContext(context.Background(), d[:], cryptoSHA256)
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
					errs <- errors.New("signature does not verify")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 2; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Extended-length APDUs through the real pcscd: the transport reports the
// ATR of the card in vpcd's reader, which says extended lengths, and an
// RSA-2048 signature crosses libpcsclite, pcscd and vpcd as two APDUs
// (the final Update with Le 00 00, answered with all 261 bytes), counted
// at the card; crypto/rsa checks it. The same card without the option:
// three APDUs.
func TestExtendedLengthThroughPCSCD(t *testing.T) {
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "short", true: "extended"}[ext], func(t *testing.T) {
			card, _ := emulator.New(emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: ext})
			defer insert(t, card)()
			ctx := context.Background()
			tr, err := pcsc.Open(ctx, pcsc.Options{Reader: reader})
			if err != nil {
				t.Fatal(err)
			}
			if got := apdu.ExtendedLengthInATR(tr.ATR()); got != ext {
				t.Fatalf("ATR %X through pcscd says extended %v", tr.ATR(), got)
			}
			// pcscd chose T=1 for the emulator's ATR (T=0 and T=1 offered).
			if !tr.CarriesExtended() {
				t.Fatal("T=1 is not the active protocol")
			}
			a, err := iotsafe.Open(ctx, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			pk, err := a.PublicKey(ctx, iotsafe.ByID(7))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.ApplicationInfo(ctx); err != nil {
				t.Fatal(err)
			}
			d := sha256.Sum256([]byte("pcsc extended"))
			for range 2 {
				before := card.APDUCount()
				sig, err := a.SignWith(ctx, iotsafe.ByID(7), iotsafe.SigRSAPKCS1, iotsafe.HashSHA256, d[:])
				if err != nil {
					t.Fatal(err)
				}
				want := map[bool]uint64{false: 3, true: 2}[ext]
				if n := card.APDUCount() - before; n != want {
					t.Fatalf("%d APDUs per RSA signature through pcscd, want %d", n, want)
				}
				if err := rsa.VerifyPKCS1v15(pk.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// countingCard counts the APDUs that reach the card.
type countingCard struct {
	*emulator.Card
	n atomic.Int64
}

func (c *countingCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c.n.Add(1)
	return c.Card.Transmit(ctx, cmd)
}

// CardPresent asks pcscd, not the card: no APDU reaches the card while it
// answers that the card is there, and after the card left the reader it
// says so (ErrCardRemoved). The PKCS#11 module's C_WaitForSlotEvent rests
// on this to cost nothing while a host waits.
func TestCardPresentWithoutAPDU(t *testing.T) {
	card, _ := emulator.New(emulator.Options{})
	cc := &countingCard{Card: card}
	stop := insert(t, cc)
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer tr.Close()
	var _ transport.PresenceReporter = tr
	before := cc.n.Load()
	for i := 0; i < 20; i++ {
		if err := tr.CardPresent(); err != nil {
			stop()
			t.Fatalf("CardPresent with the card in the reader: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := cc.n.Load() - before; n != 0 {
		stop()
		t.Fatalf("20 presence checks sent %d APDUs to the card", n)
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := tr.CardPresent()
		if errors.Is(err, transport.ErrCardRemoved) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CardPresent after the card left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
