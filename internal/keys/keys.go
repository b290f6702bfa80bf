// Package keys turns the key material of every IoT SAFE key type into Go
// keys, for both ends of the wire: NIST P-256 (crypto/ecdsa, crypto/ecdh),
// brainpoolP256r1 (the curve of github.com/ProtonMail/go-crypto/brainpool
// used through crypto/ecdsa's generic-curve path; Go's standard library
// has no brainpool curve) and RSA-2048 (crypto/rsa).
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/ProtonMail/go-crypto/brainpool"

	"github.com/go-iotsafe/iotsafe/spec"
)

// ErrKey is matched by errors about key material that is not a valid key
// of its type (a point off the curve, a short modulus, an unknown type).
var ErrKey = errors.New("invalid key")

// BrainpoolP256r1 returns the brainpoolP256r1 curve (RFC 5639).
func BrainpoolP256r1() elliptic.Curve { return brainpool.P256r1() }

// Curve returns the curve of an EC key family, nil for others.
func Curve(k spec.KeyTypeKind) elliptic.Curve {
	switch k {
	case spec.KeyKindP256:
		return elliptic.P256()
	case spec.KeyKindBrainpoolP256:
		return brainpool.P256r1()
	}
	return nil
}

// ECPublic returns the ECDSA public key of an uncompressed point on the
// curve of family k, checking that the point is on the curve.
func ECPublic(k spec.KeyTypeKind, point []byte) (*ecdsa.PublicKey, error) {
	switch k {
	case spec.KeyKindP256:
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("%w: not a P-256 point: %v", ErrKey, err)
		}
		return pub, nil
	case spec.KeyKindBrainpoolP256:
		c := brainpool.P256r1()
		if len(point) != spec.P256PointLen || point[0] != 0x04 {
			return nil, fmt.Errorf("%w: a brainpoolP256r1 point is 65 bytes 04||X||Y, got %d bytes", ErrKey, len(point))
		}
		x, y := new(big.Int).SetBytes(point[1:33]), new(big.Int).SetBytes(point[33:])
		p := c.Params().P
		if x.Cmp(p) >= 0 || y.Cmp(p) >= 0 || !c.IsOnCurve(x, y) {
			return nil, fmt.Errorf("%w: point is not on brainpoolP256r1", ErrKey)
		}
		return &ecdsa.PublicKey{Curve: c, X: x, Y: y}, nil
	}
	return nil, fmt.Errorf("%w: %s is not an EC key type", ErrKey, k)
}

// RSAPublic returns the RSA public key of a modulus and exponent.
func RSAPublic(n, e []byte) (*rsa.PublicKey, error) {
	if len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("%w: RSA exponent of %d bytes", ErrKey, len(e))
	}
	ev := 0
	for _, b := range e {
		ev = ev<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
	if pub.N.BitLen() != 2048 || ev < 3 || ev&1 == 0 {
		return nil, fmt.Errorf("%w: RSA key of %d bits with exponent %d (RSA-2048, odd exponent >= 3)", ErrKey, pub.N.BitLen(), ev)
	}
	return pub, nil
}

// Public returns the Go public key (*ecdsa.PublicKey or *rsa.PublicKey) of
// decoded public key data, for a key of IoT SAFE key type keyType. A key
// type of 0 (unknown to the caller) is taken from the data: RSA when it
// holds a modulus, else P-256.
func Public(keyType byte, d spec.PublicKeyData) (crypto.PublicKey, error) {
	k := spec.KindOfKeyType(keyType)
	if keyType == 0 {
		k = spec.KeyKindP256
		if d.IsRSA() {
			k = spec.KeyKindRSA2048
		}
	}
	switch k {
	case spec.KeyKindRSA2048:
		if !d.IsRSA() {
			return nil, fmt.Errorf("%w: key type %02X is RSA-2048 but the card sent an EC point", ErrKey, keyType)
		}
		return RSAPublic(d.N, d.E)
	case spec.KeyKindP256, spec.KeyKindBrainpoolP256:
		if d.IsRSA() {
			return nil, fmt.Errorf("%w: key type %02X is %s but the card sent an RSA key", ErrKey, keyType, k)
		}
		return ECPublic(k, d.Point)
	}
	return nil, fmt.Errorf("%w: key type %02X is none IoT SAFE signs with", ErrKey, keyType)
}

// KindOf returns the key family of a Go public key, KeyKindUnknown for
// keys of other sizes and curves.
func KindOf(pub crypto.PublicKey) spec.KeyTypeKind {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return spec.KeyKindP256
		case brainpool.P256r1():
			return spec.KeyKindBrainpoolP256
		}
	case *rsa.PublicKey:
		if k.N.BitLen() == 2048 {
			return spec.KeyKindRSA2048
		}
	}
	return spec.KeyKindUnknown
}

// SharedSecret computes the ECDH shared secret (the X coordinate, 32
// bytes) of a private scalar and a peer point on the curve of family k.
func SharedSecret(k spec.KeyTypeKind, scalar, peer []byte) ([]byte, error) {
	switch k {
	case spec.KeyKindP256:
		priv, err := ecdh.P256().NewPrivateKey(scalar)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		pub, err := ecdh.P256().NewPublicKey(peer)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		return priv.ECDH(pub)
	case spec.KeyKindBrainpoolP256:
		pub, err := ECPublic(k, peer)
		if err != nil {
			return nil, err
		}
		c := brainpool.P256r1()
		d := new(big.Int).SetBytes(scalar)
		if len(scalar) != 32 || d.Sign() == 0 || d.Cmp(c.Params().N) >= 0 {
			return nil, fmt.Errorf("%w: brainpoolP256r1 private scalar out of range", ErrKey)
		}
		x, y := c.ScalarMult(pub.X, pub.Y, scalar)
		if x.Sign() == 0 && y.Sign() == 0 {
			return nil, fmt.Errorf("%w: ECDH gave the point at infinity", ErrKey)
		}
		return x.FillBytes(make([]byte, 32)), nil
	}
	return nil, fmt.Errorf("%w: %s has no key agreement", ErrKey, k)
}

// ECPoint returns the uncompressed point 04||X||Y of a P-256 or
// brainpoolP256r1 key (65 bytes), nil for keys of other curves.
func ECPoint(k *ecdsa.PublicKey) []byte {
	switch KindOf(k) {
	case spec.KeyKindP256, spec.KeyKindBrainpoolP256:
	default:
		return nil
	}
	point := make([]byte, spec.P256PointLen)
	point[0] = 4
	k.X.FillBytes(point[1:33])
	k.Y.FillBytes(point[33:])
	return point
}

// oidBrainpoolP256r1 is 1.3.36.3.3.2.8.1.1.7 (RFC 5639).
var oidBrainpoolP256r1 = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}

// ParsePKIX parses a DER SubjectPublicKeyInfo of any IoT SAFE key type:
// crypto/x509 parses P-256 and RSA keys (and the others it knows); a
// brainpoolP256r1 key (id-ecPublicKey with the named curve, RFC 5480) is
// parsed here, its point checked to be on the curve (ErrKey otherwise).
func ParsePKIX(der []byte) (crypto.PublicKey, error) {
	pub, ok, err := parseBrainpoolPKIX(der)
	if ok {
		return pub, err
	}
	return x509.ParsePKIXPublicKey(der)
}

// parseBrainpoolPKIX returns the key of a SubjectPublicKeyInfo when it
// names brainpoolP256r1 (ok), with an error when its point is not a valid
// point of that curve.
func parseBrainpoolPKIX(der []byte) (pub *ecdsa.PublicKey, ok bool, err error) {
	var s struct {
		Algorithm struct {
			OID    asn1.ObjectIdentifier
			Params asn1.RawValue `asn1:"optional"`
		}
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) > 0 || !s.Algorithm.OID.Equal(oidECPublicKey) {
		return nil, false, nil
	}
	var curve asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(s.Algorithm.Params.FullBytes, &curve); err != nil || len(rest) > 0 || !curve.Equal(oidBrainpoolP256r1) {
		return nil, false, nil
	}
	if s.PublicKey.BitLength != 8*len(s.PublicKey.Bytes) {
		return nil, true, fmt.Errorf("%w: brainpoolP256r1 public key is not a whole number of bytes", ErrKey)
	}
	if pub, err = ECPublic(spec.KeyKindBrainpoolP256, s.PublicKey.Bytes); err != nil {
		return nil, true, err
	}
	// encoding/asn1 skips elements past the fields it knows: only the
	// canonical encoding of this key is accepted (what OpenSSL loads, and
	// what the signature over it means).
	if canon, err := MarshalPKIX(pub); err != nil || !bytes.Equal(canon, der) {
		return nil, true, fmt.Errorf("%w: brainpoolP256r1 SubjectPublicKeyInfo is not in canonical DER (extra or differently encoded elements)", ErrKey)
	}
	return pub, true, nil
}

// oidECPublicKey is id-ecPublicKey (RFC 5480).
var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// MarshalPKIX returns the DER SubjectPublicKeyInfo of a public key of any
// IoT SAFE type. crypto/x509 encodes P-256 and RSA keys; a brainpool key is
// encoded here (RFC 5480: id-ecPublicKey with the named curve).
func MarshalPKIX(pub crypto.PublicKey) ([]byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || KindOf(pub) != spec.KeyKindBrainpoolP256 {
		return x509.MarshalPKIXPublicKey(pub)
	}
	point := ECPoint(k)
	curve, _ := asn1.Marshal(oidBrainpoolP256r1)
	type algo struct {
		OID   asn1.ObjectIdentifier
		Curve asn1.RawValue
	}
	return asn1.Marshal(struct {
		Algo algo
		Key  asn1.BitString
	}{algo{oidECPublicKey, asn1.RawValue{FullBytes: curve}},
		asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
}
