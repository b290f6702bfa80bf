package iotsafe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
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
func BenchmarkECDSASign(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
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
