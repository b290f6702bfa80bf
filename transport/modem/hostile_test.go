package modem_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/internal/hostseq"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport/modem"
)

// The attack of the security review: a link that delays, repeats, drops or
// reorders answers, one case at a time, on the instructions that decide a
// verification or carry a signature. Whatever the fault, an operation
// either fails or gives the true answer: a tampered image never verifies,
// a signature always checks out in software, and once the fault stops the
// next operation works (the line was resynchronized).
func TestHostileModem(t *testing.T) {
	vendor, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	image := []byte("genuine firmware image")
	good := sha256.Sum256(image)
	bad := sha256.Sum256([]byte("tampered firmware image"))
	sig, err := ecdsa.SignASN1(rand.Reader, vendor, good[:])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := spec.SignatureFromDER(sig, 32)
	if err != nil {
		t.Fatal(err)
	}
	point, _ := vendor.PublicKey.Bytes()

	kinds := map[string]atmodem.FaultKind{"repeat": atmodem.FaultRepeat, "late": atmodem.FaultLate,
		"drop": atmodem.FaultDrop, "reorder": atmodem.FaultReorder}
	targets := map[string][]byte{
		"verify-init": {spec.InsVerifySigInit}, "verify-update": {spec.InsVerifySigUpdate},
		"sign-init": {spec.InsComputeSigInit}, "sign-update": {spec.InsComputeSigUpdate},
	}
	for _, mode := range []modem.Mode{modem.ModeCSIM, modem.ModeCGLA} {
		for kn, kind := range kinds {
			for tn, ins := range targets {
				t.Run(fmt.Sprintf("mode%d/%s/%s", mode, kn, tn), func(t *testing.T) {
					t.Parallel()
					r := newRig(t, emulator.Options{}, atmodem.Quirks{}, modem.Options{Mode: mode})
					adm, err := r.card.BeginAdmin()
					if err != nil {
						t.Fatal(err)
					}
					if err := adm.PutPublicKey([]byte{0x30}, "vendor", point); err != nil {
						t.Fatal(err)
					}
					if err := adm.Commit(); err != nil {
						t.Fatal(err)
					}
					ctx := context.Background()
					a, err := iotsafe.Open(ctx, r.m, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer a.Close()
					// Warm the caches and learn the device key.
					dev, err := a.ReadPublicKey(ctx, iotsafe.ByID(1))
					if err != nil {
						t.Fatal(err)
					}
					devKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), dev)
					if err != nil {
						t.Fatal(err)
					}
					if err := a.Verify(ctx, iotsafe.ByLabel("vendor"), iotsafe.HashSHA256, good[:], raw); err != nil {
						t.Fatalf("the genuine image does not verify on a sane line: %v", err)
					}
					r.pty.Modem.SetHostile([]atmodem.Hostile{{Kind: kind, INS: ins[0]}}, 700*time.Millisecond)
					for i := 0; i < 3; i++ {
						c, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
						err := a.Verify(c, iotsafe.ByLabel("vendor"), iotsafe.HashSHA256, bad[:], raw)
						cancel()
						if err == nil {
							t.Fatalf("try %d: a tampered image verified through a %s link", i, kn)
						}
						c, cancel = context.WithTimeout(ctx, 400*time.Millisecond)
						s, err := a.Sign(c, iotsafe.ByID(1), iotsafe.HashSHA256, good[:])
						cancel()
						if err == nil && !ecdsa.VerifyASN1(devKey, good[:], mustDER(t, s)) {
							t.Fatalf("try %d: a wrong signature was handed up through a %s link", i, kn)
						}
					}
					r.pty.Modem.SetHostile(nil, 0)
					time.Sleep(800 * time.Millisecond) // let a late answer arrive
					c, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					if err := a.Verify(c, iotsafe.ByLabel("vendor"), iotsafe.HashSHA256, bad[:], raw); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
						t.Fatalf("after the fault, a tampered image: %v (want a mismatch)", err)
					}
					if err := a.Verify(c, iotsafe.ByLabel("vendor"), iotsafe.HashSHA256, good[:], raw); err != nil {
						t.Fatalf("after the fault, the genuine image: %v", err)
					}
				})
			}
		}
	}
}

func mustDER(t *testing.T, raw []byte) []byte {
	t.Helper()
	der, err := spec.SignatureToDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// rawExchange sends the foreign hosts' APDUs through the modem transport
// on the rig's pty, as they are.
func rawExchange(r *rig) hostseq.Exchange {
	return func(t testing.TB, apduHex string) ([]byte, string) {
		t.Helper()
		b, err := hex.DecodeString(strings.ReplaceAll(apduHex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.m.Transmit(context.Background(), b)
		if err != nil {
			t.Fatalf("%s: %v", apduHex, err)
		}
		return resp[:len(resp)-2], strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:]))
	}
}

// A SIM without the IoT SAFE applet, as a published trace of a 1NCE SIM
// shows it (internal/hostseq.NoApplet), byte for byte through the fake
// modem on a real pty.
func TestSIMWithoutTheApplet(t *testing.T) {
	hostseq.NoApplet(t, rawExchange(newRig(t, emulator.Options{}, atmodem.Quirks{}, modem.Options{})))
}

// Orange's IoT-SAFE-APDU-library flow (internal/hostseq.Orange: class 0X
// on channel 1 under the GSMA AID, 33 40 signatures, 50-byte file reads)
// against the orange profile, through the pty. The GSMA profile (class 8X
// only) answers the same commands 6E00.
func TestOrangeLibraryFlow(t *testing.T) {
	for _, p := range []emulator.Profile{emulator.ProfileOrange, emulator.ProfileGSMA} {
		t.Run(string(p), func(t *testing.T) {
			r := newRig(t, emulator.Options{Profile: p}, atmodem.Quirks{}, modem.Options{})
			if refused := hostseq.Orange(t, rawExchange(r)); refused != (p == emulator.ProfileGSMA) {
				t.Fatalf("profile %s: class 0X refused %v", p, refused)
			}
		})
	}
}

// The published ZARIOT T=0 trace's pattern (internal/hostseq.ZARIOTT0)
// through the fake modem on a real pty (transport/pcsc has the same
// through pcscd).
func TestZARIOTT0OverPTY(t *testing.T) {
	hostseq.ZARIOTT0(t, rawExchange(newRig(t, emulator.Options{T0: true}, atmodem.Quirks{}, modem.Options{})))
}
