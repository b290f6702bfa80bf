package transporttest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Applet drives the applet client over tr, a transport to the emulator
// with the gsma-keytypes profile (emulator.ProfileKeyTypes): an ECDSA
// signature with key 01 checked by crypto/ecdsa, the steady-state cost of
// one (2 APDUs at the card, counted by apdus), an RSA signature with key
// 07 (its 259-byte answer longer than a short APDU's) checked by
// crypto/rsa, with pss choosing RSASSA-PSS over PKCS#1 v1.5, and Close.
func Applet(t *testing.T, tr transport.Transport, apdus func() uint64, pss bool) {
	t.Helper()
	ctx := context.Background()
	a, err := iotsafe.Open(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("over the transport"))
	sig, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	pk, err := a.PublicKey(ctx, iotsafe.ByID(1))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := spec.SignatureToDER(sig)
	if !ecdsa.VerifyASN1(pk.(*ecdsa.PublicKey), d[:], der) {
		t.Fatal("signature rejected by crypto/ecdsa")
	}
	before := apdus()
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		t.Fatal(err)
	}
	if n := apdus() - before; n != 2 {
		t.Fatalf("a signature cost %d APDUs at the card, want 2", n)
	}
	alg := iotsafe.SigRSAPKCS1
	if pss {
		alg = iotsafe.SigRSAPSS
	}
	rsig, err := a.SignWith(ctx, iotsafe.ByID(7), alg, iotsafe.HashSHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	rpk, err := a.PublicKey(ctx, iotsafe.ByID(7))
	if err != nil {
		t.Fatal(err)
	}
	if pss {
		err = rsa.VerifyPSS(rpk.(*rsa.PublicKey), crypto.SHA256, d[:], rsig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		err = rsa.VerifyPKCS1v15(rpk.(*rsa.PublicKey), crypto.SHA256, d[:], rsig)
	}
	if err != nil {
		t.Fatalf("RSA signature of %d bytes rejected by crypto/rsa: %v", len(rsig), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchRoundTrip measures one APDU (Get Random, 8 bytes) through tr.
func BenchRoundTrip(b *testing.B, tr transport.Transport) {
	a := benchApplet(b, tr)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.GetRandom(ctx, 8); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchSign measures steady-state signatures with key 01 through tr and,
// when count is set, reports what it counts per signature under unit (the
// bytes on the line, say).
func BenchSign(b *testing.B, tr transport.Transport, count func() int64, unit string) {
	a := benchApplet(b, tr)
	ctx := context.Background()
	d := sha256.Sum256([]byte("bench"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	var c0 int64
	if count != nil {
		c0 = count()
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if count != nil {
		b.ReportMetric(float64(count()-c0)/float64(n), unit)
	}
}

func benchApplet(b *testing.B, tr transport.Transport) *iotsafe.Applet {
	a, err := iotsafe.Open(context.Background(), tr, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}
