package iotsafe_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/keys"
)

// BenchmarkSign measures a steady-state signature through the client and
// the in-process emulator (timing model off): two APDUs, their encoding and
// parsing, the applet's checks, and the ECDSA signature itself.
// Compare with BenchmarkECDSASign (bench/REPORT.md).
func BenchmarkSign(b *testing.B) {
	a, _ := open(b, emulator.Options{})
	ctx := context.Background()
	d := sha256.Sum256([]byte("benchmark"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSASign is the baseline: crypto/ecdsa signing a digest with a
// P-256 key in memory (the emulator's keys never leave it, so the baseline
// uses a key of the same curve).
func BenchmarkECDSASign(b *testing.B) { benchECDSA(b, elliptic.P256()) }

// benchECDSA signs a SHA-256 digest with crypto/ecdsa and an in-memory key
// on curve.
func benchECDSA(b *testing.B, curve elliptic.Curve) {
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, key, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignT0 is BenchmarkSign on a T=0 card: each signature also
// costs a GET RESPONSE.
func BenchmarkSignT0(b *testing.B) {
	a, _ := open(b, emulator.Options{T0: true})
	ctx := context.Background()
	d := sha256.Sum256([]byte("benchmark"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignPersistent signs through a card backed by a state file, so
// each APDU also checks whether another process changed the file.
func BenchmarkSignPersistent(b *testing.B) {
	card, err := emulator.Create(b.TempDir()+"/sim.json", emulator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	d := sha256.Sum256([]byte("benchmark"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSignKeyType signs steadily with one key of the gsma-keytypes
// emulator (made with opts) and reports the APDUs each signature costs.
func benchSignKeyType(b *testing.B, opts emulator.Options, id byte, alg iotsafe.SigAlg) {
	opts.Profile = emulator.ProfileKeyTypes
	a, card := open(b, opts)
	ctx := context.Background()
	d := sha256.Sum256([]byte("benchmark"))
	if _, err := a.SignWith(ctx, iotsafe.ByID(id), alg, iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	before := card.APDUCount()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := a.SignWith(ctx, iotsafe.ByID(id), alg, iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(card.APDUCount()-before)/float64(n), "apdus/op")
}

// BenchmarkSignRSA: an RSA-2048 PKCS#1 v1.5 signature through the client
// and the in-process emulator, short APDUs (the 259-byte answer takes a
// GET RESPONSE). Compare with BenchmarkRSASign.
func BenchmarkSignRSA(b *testing.B) { benchSignKeyType(b, emulator.Options{}, 7, iotsafe.SigRSAPKCS1) }

// BenchmarkSignRSAExtended: the same with a card that takes extended-length
// APDUs (its ATR says so): the signature comes in one answer.
func BenchmarkSignRSAExtended(b *testing.B) {
	benchSignKeyType(b, emulator.Options{ExtendedLength: true}, 7, iotsafe.SigRSAPKCS1)
}

// BenchmarkSignRSAPSS: the same with RSA-PSS, short APDUs.
func BenchmarkSignRSAPSS(b *testing.B) { benchSignKeyType(b, emulator.Options{}, 7, iotsafe.SigRSAPSS) }

// BenchmarkSignBrainpool: a brainpoolP256r1 ECDSA signature through the
// client and the emulator. Compare with BenchmarkBrainpoolSign.
func BenchmarkSignBrainpool(b *testing.B) {
	benchSignKeyType(b, emulator.Options{}, 8, iotsafe.SigECDSA)
}

// BenchmarkSignKeyTypeP256: the P-256 key of the same card, for its APDU
// count.
func BenchmarkSignKeyTypeP256(b *testing.B) {
	benchSignKeyType(b, emulator.Options{}, 1, iotsafe.SigECDSA)
}

// BenchmarkRSASign is the baseline: crypto/rsa PKCS#1 v1.5 with a 2048-bit
// key in memory.
func BenchmarkRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrainpoolSign is the baseline: crypto/ecdsa on the brainpool
// curve of github.com/ProtonMail/go-crypto (the library the emulator and
// the signer use), key in memory.
func BenchmarkBrainpoolSign(b *testing.B) { benchECDSA(b, keys.BrainpoolP256r1()) }
