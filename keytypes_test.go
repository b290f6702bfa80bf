package iotsafe_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// keyTypeSetups are the card variants the RSA-2048 and brainpoolP256r1
// round trips run against: the key-types profile as it is, over T=0
// (every RSA answer comes by GET RESPONSE), taking extended-length APDUs
// (an RSA signature in one answer), with the Thales one-byte
// signature length (an RSA signature still needs 33 01 00), with 3-byte
// IDs and keys that get new IDs at generation.
var keyTypeSetups = []setup{
	{"gsma-keytypes", emulator.Options{Profile: emulator.ProfileKeyTypes}},
	{"gsma-keytypes-T0", emulator.Options{Profile: emulator.ProfileKeyTypes, T0: true}},
	{"gsma-keytypes, extended-length APDUs", emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: true}},
	{"one-byte signature length, class 0X", emulator.Options{Profile: emulator.ProfileKeyTypes, Variant: variant(emulator.ProfileKeyTypes, func(v *emulator.Variant) {
		v.SigStyle, v.Family = spec.SigLenOneByte, apdu.Interindustry
	})}},
	{"3-byte IDs, new keygen IDs, DER ECDSA", emulator.Options{Profile: emulator.ProfileKeyTypes, Variant: variant(emulator.ProfileKeyTypes, func(v *emulator.Variant) {
		v.IDLen, v.KeygenNewIDs, v.DERSignatures = 3, true, true
	})}},
	{"RSA public keys as PKCS#1 DER", emulator.Options{Profile: emulator.ProfileKeyTypes, Variant: variant(emulator.ProfileKeyTypes, func(v *emulator.Variant) {
		v.RSAPublicKeyDER = true
	})}},
}

var rsaHashes = []struct {
	h  iotsafe.Hash
	ch crypto.Hash
	fn func() hash.Hash
}{
	{iotsafe.HashSHA256, crypto.SHA256, sha256.New},
	{iotsafe.HashSHA384, crypto.SHA384, sha512.New384},
	{iotsafe.HashSHA512, crypto.SHA512, sha512.New},
}

// The card's RSA signatures are checked by crypto/rsa (not by the card
// or by our client), PKCS#1 v1.5 and PSS with the salt length TLS 1.3
// demands (equal to the hash) and with the verifier's automatic salt
// detection.
func TestRSAKeyRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, s := range keyTypeSetups {
		t.Run(s.name, func(t *testing.T) {
			a, card := open(t, s.opts)
			v := card.Variant()
			key := id(v, 7)
			pk, err := a.PublicKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			pub, ok := pk.(*rsa.PublicKey)
			if !ok || pub.N.BitLen() != 2048 {
				t.Fatalf("public key of container 07 is %T", pk)
			}
			if _, err := a.ReadPublicKey(ctx, key); err == nil {
				t.Fatal("ReadPublicKey (EC points only) took an RSA key")
			}
			for _, hh := range rsaHashes {
				w := hh.fn()
				w.Write([]byte("go-iotsafe RSA"))
				d := w.Sum(nil)
				sig, err := a.SignWith(ctx, key, iotsafe.SigRSAPKCS1, hh.h, d)
				if err != nil {
					t.Fatalf("%s PKCS#1: %v", hh.h, err)
				}
				if err := rsa.VerifyPKCS1v15(pub, hh.ch, d, sig); err != nil {
					t.Fatalf("%s PKCS#1 signature rejected by crypto/rsa: %v", hh.h, err)
				}
				if err := a.VerifyWith(ctx, key, iotsafe.SigRSAPKCS1, hh.h, d, sig); err != nil {
					t.Fatalf("%s PKCS#1: card rejects its own signature: %v", hh.h, err)
				}
				pss, err := a.SignWith(ctx, key, iotsafe.SigRSAPSS, hh.h, d)
				if err != nil {
					t.Fatalf("%s PSS: %v", hh.h, err)
				}
				for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto} {
					if err := rsa.VerifyPSS(pub, hh.ch, d, pss, &rsa.PSSOptions{SaltLength: salt, Hash: hh.ch}); err != nil {
						t.Fatalf("%s PSS signature rejected by crypto/rsa (salt %d): %v", hh.h, salt, err)
					}
				}
				// A PSS signature verified as PKCS#1 and the reverse fail.
				if err := a.VerifyWith(ctx, key, iotsafe.SigRSAPKCS1, hh.h, d, pss); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
					t.Fatalf("PSS signature verified as PKCS#1: %v", err)
				}
				bad := append([]byte(nil), sig...)
				bad[100] ^= 0x01
				if err := a.VerifyWith(ctx, key, iotsafe.SigRSAPKCS1, hh.h, d, bad); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
					t.Fatalf("tampered RSA signature: %v", err)
				}
			}
			d := sha256.Sum256([]byte("x"))
			// ECDSA with the RSA key, RSA with the P-256 key: refused by the card.
			if _, err := a.SignWith(ctx, key, iotsafe.SigECDSA, iotsafe.HashSHA256, d[:]); !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
				t.Fatalf("ECDSA with an RSA key: %v", err)
			}
			if _, err := a.SignWith(ctx, id(v, 1), iotsafe.SigRSAPSS, iotsafe.HashSHA256, d[:]); !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
				t.Fatalf("RSA-PSS with a P-256 key: %v", err)
			}
			if err := a.VerifyWith(ctx, key, iotsafe.SigRSAPKCS1, iotsafe.HashSHA256, d[:], make([]byte, 255)); err == nil {
				t.Fatal("a 255-byte RSA signature was sent")
			}

			// Key generation in the RSA container, then a signature with the new key.
			kp, err := a.GenerateKeyPair(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if !kp.Data.IsRSA() || kp.Point != nil {
				t.Fatalf("generated key pair %+v is not RSA", kp)
			}
			newPub, err := a.PublicKey(ctx, iotsafe.ByID(kp.PublicID...))
			if err != nil {
				t.Fatal(err)
			}
			if newPub.(*rsa.PublicKey).Equal(pub) {
				t.Fatal("key generation kept the old key")
			}
			if new(big.Int).SetBytes(kp.Data.N).Cmp(newPub.(*rsa.PublicKey).N) != 0 {
				t.Fatal("Generate Key Pair and Read Public Key disagree")
			}
			sig, err := a.SignWith(ctx, iotsafe.ByID(kp.PrivateID...), iotsafe.SigRSAPSS, iotsafe.HashSHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPSS(newPub.(*rsa.PublicKey), crypto.SHA256, d[:], sig, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Brainpool signatures are checked by crypto/ecdsa on the brainpool curve
// and the card's ECDH against a software ECDH on the same curve.
func TestBrainpoolKeyRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, s := range keyTypeSetups {
		t.Run(s.name, func(t *testing.T) {
			a, card := open(t, s.opts)
			v := card.Variant()
			key := id(v, 8)
			pk, err := a.PublicKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			pub, ok := pk.(*ecdsa.PublicKey)
			if !ok || pub.Curve != keys.BrainpoolP256r1() {
				t.Fatalf("public key of container 08 is %T", pk)
			}
			for _, hh := range rsaHashes {
				w := hh.fn()
				w.Write([]byte("go-iotsafe brainpool"))
				d := w.Sum(nil)
				sig, err := a.Sign(ctx, key, hh.h, d)
				if err != nil {
					t.Fatal(err)
				}
				if !ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
					t.Fatalf("%s: brainpool signature rejected by crypto/ecdsa", hh.h)
				}
				if err := a.Verify(ctx, key, hh.h, d, sig); err != nil {
					t.Fatal(err)
				}
			}
			// ECDH: the card's secret equals the software one.
			peer, err := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			point := make([]byte, 65)
			point[0] = 4
			peer.X.FillBytes(point[1:33])
			peer.Y.FillBytes(point[33:])
			z, err := a.ECDH(ctx, key, id(v, 9), point)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := keys.BrainpoolP256r1().ScalarMult(pub.X, pub.Y, peer.D.FillBytes(make([]byte, 32)))
			if want := x.FillBytes(make([]byte, 32)); string(z) != string(want) {
				t.Fatalf("card ECDH %X, software %X", z, want)
			}
			// A P-256 point put into the brainpool peer container is refused
			// (it is not on brainpoolP256r1), and so is brainpool ECDH
			// with the P-256 peer container.
			p256, _ := ecdsa.GenerateKey(ellipticP256(), rand.Reader)
			pp, _ := p256.PublicKey.Bytes()
			if _, err := a.ECDH(ctx, key, id(v, 9), pp); err == nil {
				t.Fatal("a P-256 point was taken for a brainpool key")
			}
			if _, err := a.ECDH(ctx, key, id(v, 5), pp); !errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
				t.Fatalf("brainpool ECDH with a P-256 peer: %v", err)
			}
			// Key generation on the brainpool curve.
			kp, err := a.GenerateKeyPair(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.ECPublic(spec.KeyKindBrainpoolP256, kp.Point); err != nil {
				t.Fatalf("generated point: %v", err)
			}
		})
	}
}

func ellipticP256() elliptic.Curve { return elliptic.P256() }

// The timing model prices RSA operations with their own figures: an RSA
// signature costs Timing.RSASign in the model (read from the card's stats
// line), an ECDSA one Timing.Sign.
func TestRSATimingModel(t *testing.T) {
	for _, tc := range []struct {
		id      byte
		alg     iotsafe.SigAlg
		wantMin float64
		wantMax float64
	}{{7, iotsafe.SigRSAPKCS1, 250, 260}, {8, iotsafe.SigECDSA, 5, 15}} {
		stats := t.TempDir() + "/stats"
		card, err := emulator.New(emulator.Options{Profile: emulator.ProfileKeyTypes, StatsFile: stats,
			Timing: &emulator.Timing{Sign: 10 * time.Millisecond, RSASign: 250 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := iotsafe.Open(context.Background(), card, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256([]byte("t"))
		if _, err := a.SignWith(context.Background(), iotsafe.ByID(tc.id), tc.alg, iotsafe.HashSHA256, d[:]); err != nil {
			t.Fatal(err)
		}
		a.Close()
		b, _ := os.ReadFile(stats)
		var apdus int
		var all, sig float64
		if _, err := fmt.Sscanf(string(b), "apdus=%d model_ms=%f sign_ms=%f", &apdus, &all, &sig); err != nil {
			t.Fatalf("stats %q: %v", b, err)
		}
		if sig < tc.wantMin || sig > tc.wantMax {
			t.Fatalf("%s: signature model time %.1f ms, want %.0f..%.0f", tc.alg, sig, tc.wantMin, tc.wantMax)
		}
	}
}

// atrCard is a software SIM behind a transport that reports another ATR
// (a card that announces extended lengths whose applet refuses them), and,
// with noExtended, says it cannot carry extended APDUs (PC/SC over T=0).
type atrCard struct {
	*emulator.Card
	atr        []byte
	noExtended bool
}

func (c atrCard) ATR() []byte {
	if c.atr == nil {
		return c.Card.ATR()
	}
	return c.atr
}

func (c atrCard) CarriesExtended() bool { return !c.noExtended }

// APDUs per RSA signature, counted at the card: three with short APDUs
// (256 bytes + 6103, GET RESPONSE), two when the card's ATR says it takes
// extended lengths (the final Update carries Le 00 00 and the 259 bytes
// come at once; the trace shows the command's bytes), three again when the
// caller asks for short APDUs or the transport says it cannot carry
// extended ones (PC/SC over T=0). A card that announces extended lengths
// (here with a YubiKey 5's ATR, from pcsc-tools' ATR_analysis) but whose
// applet refuses them with 6700 costs one refused APDU once, then signs
// with short APDUs; the signatures verify with crypto/rsa throughout.
func TestRSASignatureAPDUs(t *testing.T) {
	ctx := context.Background()
	d := sha256.Sum256([]byte("count"))
	yubikeyATR := []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}
	for _, tc := range []struct {
		name        string
		opts        emulator.Options
		atr         []byte // replaces the card's own
		noExtended  bool   // the transport cannot carry extended APDUs
		short       bool
		first, then int
	}{
		{"short APDUs", emulator.Options{Profile: emulator.ProfileKeyTypes}, nil, false, false, 3, 3},
		{"extended", emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: true}, nil, false, false, 2, 2},
		{"extended card, ShortAPDUs", emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: true}, nil, false, true, 3, 3},
		{"extended card, transport cannot carry them", emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: true}, nil, true, false, 3, 3},
		{"announced but refused", emulator.Options{Profile: emulator.ProfileKeyTypes}, yubikeyATR, false, false, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card, err := emulator.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var tr transport.Transport = card
			if tc.atr != nil || tc.noExtended {
				tr = atrCard{card, tc.atr, tc.noExtended}
			}
			var trace strings.Builder
			a, err := iotsafe.Open(ctx, tr, &iotsafe.Options{ShortAPDUs: tc.short, Trace: &trace})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			pk, err := a.PublicKey(ctx, iotsafe.ByID(7))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.ApplicationInfo(ctx); err != nil { // read once, cached
				t.Fatal(err)
			}
			for i, want := range []int{tc.first, tc.then, tc.then} {
				before := card.APDUCount()
				sig, err := a.SignWith(ctx, iotsafe.ByID(7), iotsafe.SigRSAPKCS1, iotsafe.HashSHA256, d[:])
				if err != nil {
					t.Fatal(err)
				}
				if n := int(card.APDUCount() - before); n != want {
					t.Fatalf("signature %d: %d APDUs, want %d\n%s", i+1, n, want, trace.String())
				}
				if err := rsa.VerifyPKCS1v15(pk.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
					t.Fatal(err)
				}
			}
			// The extended final Update: 2B 80 <s> 00 00 22 9E 20 <hash> 00 00.
			ext := strings.Contains(trace.String(), fmt.Sprintf("2B8001000022%X%X0000", []byte{0x9E, 0x20}, d))
			if ext != (tc.first == 2 || tc.first == 4) {
				t.Fatalf("extended command in the trace: %v\n%s", ext, trace.String())
			}
		})
	}
}
