package modem_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
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

// A SIM without the IoT SAFE applet, as a published trace of a 1NCE SIM
// shows it (Orange IoT-SAFE-APDU-library issue 7, a MKR1500 modem): after
// the failed SELECT, the library's commands on channel 1 reach the UICC,
// which answers Get Data and Compute Signature with 6D00 and takes INS 2C
// (Verify Signature Init for IoT SAFE) as UNBLOCK PIN. Byte for byte,
// through the fake modem on a real pty.
func TestSIMWithoutTheApplet(t *testing.T) {
	r := newRig(t, emulator.Options{}, atmodem.Quirks{}, modem.Options{})
	ctx := context.Background()
	for _, step := range []struct{ cmd, want string }{
		{"0070000001", "019000"},
		{"01A4040007A0000005590099", "6A82"}, // an AID the card does not hold
		{"01CB010000", "6D00"},
		{"012A010100", "6D00"},
		{"012A00010E84021234A1010191020001920104", "6D00"},
		{"012C010100", "6A86"},
		{"012C00010E8502ABCDA1010191020001920104", "6700"},
		{"0070800100", "9000"},
	} {
		cmd, _ := hex.DecodeString(step.cmd)
		resp, err := r.m.Transmit(ctx, cmd)
		if err != nil {
			t.Fatalf("%s: %v", step.cmd, err)
		}
		if got := strings.ToUpper(hex.EncodeToString(resp)); got != step.want {
			t.Errorf("%s: card answered %s, the real SIM %s", step.cmd, got, step.want)
		}
	}
}

// Orange's IoT-SAFE-APDU-library flow (vectors A2: class 0X on channel 1
// under the GSMA AID, Read File in 50-byte pieces, signatures it can parse
// only as 33 40) against the orange profile, through the pty. The GSMA
// profile (class 8X only) answers the same commands 6E00.
func TestOrangeLibraryFlow(t *testing.T) {
	for _, p := range []emulator.Profile{emulator.ProfileOrange, emulator.ProfileGSMA} {
		t.Run(string(p), func(t *testing.T) {
			r := newRig(t, emulator.Options{Profile: p}, atmodem.Quirks{}, modem.Options{})
			ctx := context.Background()
			x := func(cmd string) []byte {
				t.Helper()
				b, _ := hex.DecodeString(strings.ReplaceAll(cmd, " ", ""))
				resp, err := r.m.Transmit(ctx, b)
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				return resp
			}
			sw := func(resp []byte) string { return strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:])) }
			if got := x("00 70 00 00 01"); sw(got) != "9000" || got[0] != 1 {
				t.Fatalf("open: %X", got)
			}
			if got := x("01 A4 04 00 07 A0 00 00 05 59 00 10"); sw(got) != "9000" {
				t.Fatalf("select: %X", got)
			}
			rnd := x("01 84 00 00 20")
			if p == emulator.ProfileGSMA {
				if sw(rnd) != "6E00" {
					t.Fatalf("the GSMA profile took class 0X: %X", rnd)
				}
				return
			}
			if sw(rnd) != "9000" || len(rnd) != 34 {
				t.Fatalf("Get Random 32: %X", rnd)
			}
			pub := x("01 CD 00 00 03 85 01 01 00") // the device key's public key
			if sw(pub) != "9000" {
				t.Fatalf("read public key: %X", pub)
			}
			point := pub[len(pub)-2-65 : len(pub)-2]
			key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
			if err != nil {
				t.Fatal(err)
			}
			hash := sha256.Sum256([]byte("orange"))
			if got := x("01 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04"); sw(got) != "9000" {
				t.Fatalf("sign init: %X", got)
			}
			sig := x("01 2B 80 01 22 9E 20" + hex.EncodeToString(hash[:]) + "00")
			if sw(sig) != "9000" || len(sig) != 2+2+64 || sig[0] != 0x33 || sig[1] != 0x40 {
				t.Fatalf("sign update: %X (the library parses 33 40 only)", sig)
			}
			if !ecdsa.VerifyASN1(key, hash[:], mustDER(t, sig[2:66])) {
				t.Fatal("the signature does not verify")
			}
			var file []byte
			for off := 0; ; off += 50 {
				got := x(fmt.Sprintf("01 B0 %04X 03 83 01 02 32", off))
				if sw(got) != "9000" {
					t.Fatalf("read file at %d: %X", off, got)
				}
				file = append(file, got[:len(got)-2]...)
				if len(got)-2 < 50 {
					break
				}
			}
			if _, err := x509.ParseCertificate(file); err != nil {
				t.Fatalf("the certificate read in 50-byte pieces: %v", err)
			}
			if got := x("00 70 80 01"); sw(got) != "9000" {
				t.Fatalf("close: %X", got)
			}
		})
	}
}

// The published ZARIOT T=0 trace's pattern (Atsign's host behind AT+CSIM)
// through the fake modem on a real pty: case-2 commands with Le answered at
// once, 61xx only for a case-4 command with data, GET RESPONSE taken in the
// applet's class 81 (transport/pcsc has the same through pcscd).
func TestZARIOTT0OverPTY(t *testing.T) {
	r := newRig(t, emulator.Options{T0: true}, atmodem.Quirks{}, modem.Options{})
	ctx := context.Background()
	x := func(cmd string) (string, string) {
		t.Helper()
		b, _ := hex.DecodeString(strings.ReplaceAll(cmd, " ", ""))
		resp, err := r.m.Transmit(ctx, b)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return strings.ToUpper(hex.EncodeToString(resp[:len(resp)-2])), strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:]))
	}
	if d, sw := x("00 70 00 00 00"); d != "01" || sw != "9000" {
		t.Fatalf("MANAGE CHANNEL open with Le 00: %s %s, the real card 01 9000", d, sw)
	}
	if _, sw := x("01 A4 04 00 07 A0000005590010"); sw != "9000" {
		t.Fatalf("select: %s", sw)
	}
	if d, sw := x("81 84 00 00 10"); len(d) != 32 || sw != "9000" {
		t.Fatalf("Get Random with Le (case 2): %s %s, the real card answers at once", d, sw)
	}
	if _, sw := x("81 CD 00 00 03 85 01 01 00"); sw != "6147" {
		t.Fatalf("Read Public Key (case 4): %s, want 6147", sw)
	}
	if d, sw := x("81 C0 00 00 47"); len(d) != 2*0x47 || !strings.HasPrefix(d, "34") || sw != "9000" {
		t.Fatalf("GET RESPONSE in class 81: %s %s", d, sw)
	}
	if _, sw := x("00 70 80 01"); sw != "9000" {
		t.Fatalf("close: %s", sw)
	}
}
