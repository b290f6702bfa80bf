package keys

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"testing"

	"github.com/go-iotsafe/iotsafe/spec"
)

func point(x, y *big.Int) []byte {
	p := make([]byte, 65)
	p[0] = 4
	x.FillBytes(p[1:33])
	y.FillBytes(p[33:])
	return p
}

// Points are checked against their curve: a P-256 point is not a
// brainpool point, a point moved off the curve is refused, coordinates
// must be below the field prime.
func TestECPublic(t *testing.T) {
	bp, _ := ecdsa.GenerateKey(BrainpoolP256r1(), rand.Reader)
	nist, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := ECPublic(spec.KeyKindBrainpoolP256, point(bp.X, bp.Y)); err != nil {
		t.Fatal(err)
	}
	off := point(bp.X, new(big.Int).Add(bp.Y, big.NewInt(1)))
	tooBig := point(new(big.Int).Set(BrainpoolP256r1().Params().P), bp.Y)
	for name, p := range map[string][]byte{
		"P-256 point as brainpool": point(nist.X, nist.Y),
		"off the curve":            off,
		"x above the prime":        tooBig,
		"compressed":               append([]byte{2}, point(bp.X, bp.Y)[1:33]...),
	} {
		if _, err := ECPublic(spec.KeyKindBrainpoolP256, p); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ECPublic(spec.KeyKindP256, point(bp.X, bp.Y)); !errors.Is(err, ErrKey) {
		t.Error("a brainpool point taken as P-256")
	}
}

// Brainpool ECDH agrees on both sides; P-256 ECDH equals crypto/ecdh.
func TestSharedSecret(t *testing.T) {
	a, _ := ecdsa.GenerateKey(BrainpoolP256r1(), rand.Reader)
	b, _ := ecdsa.GenerateKey(BrainpoolP256r1(), rand.Reader)
	z1, err := SharedSecret(spec.KeyKindBrainpoolP256, a.D.FillBytes(make([]byte, 32)), point(b.X, b.Y))
	if err != nil {
		t.Fatal(err)
	}
	z2, _ := SharedSecret(spec.KeyKindBrainpoolP256, b.D.FillBytes(make([]byte, 32)), point(a.X, a.Y))
	if string(z1) != string(z2) || len(z1) != 32 {
		t.Fatal("brainpool ECDH disagrees")
	}
	k1, _ := ecdh.P256().GenerateKey(rand.Reader)
	k2, _ := ecdh.P256().GenerateKey(rand.Reader)
	z, err := SharedSecret(spec.KeyKindP256, k1.Bytes(), k2.PublicKey().Bytes())
	want, _ := k1.ECDH(k2.PublicKey())
	if err != nil || string(z) != string(want) {
		t.Fatal("P-256 ECDH differs from crypto/ecdh")
	}
	if _, err := SharedSecret(spec.KeyKindBrainpoolP256, make([]byte, 32), point(b.X, b.Y)); !errors.Is(err, ErrKey) {
		t.Fatal("zero scalar accepted")
	}
}

func TestRSAPublic(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := RSAPublic(k.N.Bytes(), []byte{1, 0, 1}); err != nil {
		t.Fatal(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, c := range map[string][2][]byte{
		"1024 bits":       {small.N.Bytes(), {1, 0, 1}},
		"even exponent":   {k.N.Bytes(), {1, 0, 2}},
		"exponent 1":      {k.N.Bytes(), {1}},
		"5-byte exponent": {k.N.Bytes(), {1, 0, 0, 0, 1}},
	} {
		if _, err := RSAPublic(c[0], c[1]); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ParsePKIX round-trips MarshalPKIX for every IoT SAFE key type, and a
// brainpool SubjectPublicKeyInfo with its point moved off the curve is
// ErrKey (crypto/x509 would only say the curve is unsupported).
func TestParsePKIX(t *testing.T) {
	bp, _ := ecdsa.GenerateKey(BrainpoolP256r1(), rand.Reader)
	nist, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, pub := range []interface{ Equal(x crypto.PublicKey) bool }{&bp.PublicKey, &nist.PublicKey, &r.PublicKey} {
		der, err := MarshalPKIX(pub)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePKIX(der)
		if err != nil || !pub.Equal(back) {
			t.Fatalf("%T: %v", pub, err)
		}
	}
	der, _ := MarshalPKIX(&bp.PublicKey)
	der[len(der)-1] ^= 1
	if _, err := ParsePKIX(der); !errors.Is(err, ErrKey) {
		t.Fatalf("brainpool point off the curve: %v", err)
	}
	if _, err := ParsePKIX([]byte{0x30, 0x00}); err == nil {
		t.Fatal("empty SEQUENCE parsed")
	}
}
