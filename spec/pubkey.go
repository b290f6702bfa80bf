package spec

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// Tags of an RSA public key inside the public key template 49, as in
// ISO/IEC 7816-8 (the template the IoT SAFE EC encoding 49 { 86 point }
// follows): 81 modulus, 82 public exponent. The IoT SAFE public sources
// never show an RSA key on the wire (protocol notes §6.2, "gap"); this is
// the encoding the emulator answers with, see docs/design-notes.md.
const (
	TagRSAModulus  apdu.Tag = 0x81
	TagRSAExponent apdu.Tag = 0x82
)

// KeyTypeKind groups the IoT SAFE key types (tag 4B) by algorithm.
type KeyTypeKind uint8

// The algorithm families of key types.
const (
	KeyKindUnknown KeyTypeKind = iota
	KeyKindP256
	KeyKindBrainpoolP256
	KeyKindRSA2048
)

// KindOfKeyType returns the algorithm family of an IoT SAFE key type.
func KindOfKeyType(t byte) KeyTypeKind {
	switch t {
	case KeyTypeP256Persistent, KeyTypeP256Volatile:
		return KeyKindP256
	case KeyTypeBrainpoolPersistent, KeyTypeBrainpoolVolatile:
		return KeyKindBrainpoolP256
	case KeyTypeRSA2048:
		return KeyKindRSA2048
	}
	return KeyKindUnknown
}

// KeyType returns the IoT SAFE key type code of the family: the persistent
// variant for the EC curves (13, 23), 03 for RSA-2048; 0 for unknown.
func (k KeyTypeKind) KeyType() byte {
	switch k {
	case KeyKindP256:
		return KeyTypeP256Persistent
	case KeyKindBrainpoolP256:
		return KeyTypeBrainpoolPersistent
	case KeyKindRSA2048:
		return KeyTypeRSA2048
	}
	return 0
}

// String names the family: "NIST P-256", "brainpoolP256r1" or "RSA-2048".
func (k KeyTypeKind) String() string {
	switch k {
	case KeyKindP256:
		return "NIST P-256"
	case KeyKindBrainpoolP256:
		return "brainpoolP256r1"
	case KeyKindRSA2048:
		return "RSA-2048"
	}
	return "unknown key type"
}

// SigAlgsFor returns the signature algorithms (tag 92 bits) a key of this
// family can do.
func (k KeyTypeKind) SigAlgsFor() byte {
	switch k {
	case KeyKindP256, KeyKindBrainpoolP256:
		return SigECDSA
	case KeyKindRSA2048:
		return SigRSAPKCS1 | SigRSAPSS
	}
	return 0
}

// RSA2048Bytes is the size of an RSA-2048 modulus and signature.
const RSA2048Bytes = 256

// PublicKeyData is a decoded public key of any IoT SAFE key type: an
// uncompressed EC point, or an RSA modulus and exponent (big-endian, no
// leading zeros).
type PublicKeyData struct {
	Point []byte // EC: 04||X||Y
	N, E  []byte // RSA
}

// IsRSA reports whether the key is an RSA key.
func (p PublicKeyData) IsRSA() bool { return len(p.N) > 0 }

// EncodeRSAPublicKeyData returns the public key data (value of tag 34) of
// an RSA key: 49 L { 81 L modulus, 82 L exponent }.
func EncodeRSAPublicKeyData(n, e []byte) []byte {
	inner := apdu.AppendTLV(nil, TagRSAModulus, n)
	inner = apdu.AppendTLV(inner, TagRSAExponent, e)
	return apdu.AppendTLV(nil, TagPublicKeyTmpl, inner)
}

// AppendPublicKeyDataTLV appends 34 L <data> for already encoded public
// key data (EncodePublicKeyData or EncodeRSAPublicKeyData).
func AppendPublicKeyDataTLV(dst, data []byte) []byte {
	return apdu.AppendTLV(dst, TagPublicKeyData, data)
}

// ParsePublicKeyData decodes what a card returns for a public key of any
// type. Besides the EC forms ParsePublicKey takes, it accepts for RSA:
// the template 49 { 81 modulus, 82 exponent } with or without the outer
// 34 (the emulator's encoding, ISO/IEC 7816-8 tags), the same template
// whose modulus carries a leading 00, a DER PKCS#1 RSAPublicKey, and a DER
// SubjectPublicKeyInfo (applets that return ASN.1, as Orange's notes say
// some do for signatures), each also inside 34. A bare 256-byte modulus
// is refused: its exponent is not known.
func ParsePublicKeyData(b []byte) (PublicKeyData, error) {
	if len(b) == 0 {
		return PublicKeyData{}, fmt.Errorf("%w: empty public key data", apdu.ErrMalformed)
	}
	if p, err := ParsePublicKey(b); err == nil {
		return PublicKeyData{Point: p}, nil
	}
	v := b
	if apdu.Tag(b[0]) == TagPublicKeyData {
		t, rest, err := apdu.ReadTLV(b)
		if err != nil {
			return PublicKeyData{}, fmt.Errorf("public key data: %w", err)
		}
		if len(rest) != 0 {
			return PublicKeyData{}, fmt.Errorf("%w: %d bytes after public key data", apdu.ErrMalformed, len(rest))
		}
		v = t.Value
	}
	if len(v) > 0 && v[0] == 0x30 {
		return parseRSADER(v)
	}
	t, rest, err := apdu.ReadTLV(v)
	if err != nil {
		return PublicKeyData{}, fmt.Errorf("public key template: %w", err)
	}
	if t.Tag != TagPublicKeyTmpl || len(rest) != 0 {
		return PublicKeyData{}, fmt.Errorf("%w: public key data must hold one template (tag 49), found tag %X", apdu.ErrMalformed, uint32(t.Tag))
	}
	var n, e []byte
	for in := t.Value; len(in) > 0; {
		var f apdu.TLV
		if f, in, err = apdu.ReadTLV(in); err != nil {
			return PublicKeyData{}, fmt.Errorf("public key template: %w", err)
		}
		switch f.Tag {
		case TagRSAModulus:
			n = f.Value
		case TagRSAExponent:
			e = f.Value
		case TagECPoint:
			return PublicKeyData{}, fmt.Errorf("%w: EC point is not in uncompressed form or of the wrong size", apdu.ErrMalformed)
		default:
			return PublicKeyData{}, fmt.Errorf("%w: unknown tag %X in a public key template", apdu.ErrMalformed, uint32(f.Tag))
		}
	}
	return rsaData(n, e)
}

func parseRSADER(der []byte) (PublicKeyData, error) {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return rsaData(k.N.Bytes(), big.NewInt(int64(k.E)).Bytes())
	}
	// SubjectPublicKeyInfo, parsed by hand so that the exponent limits are
	// ours and the error names the problem.
	var spki struct {
		Algo struct {
			OID    asn1.ObjectIdentifier
			Params asn1.RawValue `asn1:"optional"`
		}
		Key asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) != 0 {
		return PublicKeyData{}, fmt.Errorf("%w: DER public key is neither PKCS#1 nor SubjectPublicKeyInfo", apdu.ErrMalformed)
	}
	if !spki.Algo.OID.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}) {
		return PublicKeyData{}, fmt.Errorf("%w: DER public key of algorithm %v, not RSA", apdu.ErrMalformed, spki.Algo.OID)
	}
	var k struct{ N, E *big.Int }
	if rest, err := asn1.Unmarshal(spki.Key.Bytes, &k); err != nil || len(rest) != 0 || k.N == nil || k.E == nil {
		return PublicKeyData{}, fmt.Errorf("%w: RSA SubjectPublicKeyInfo holds no RSAPublicKey", apdu.ErrMalformed)
	}
	return rsaData(k.N.Bytes(), k.E.Bytes())
}

// rsaData checks an RSA-2048 modulus and exponent and trims leading zeros.
func rsaData(n, e []byte) (PublicKeyData, error) {
	n, e = bytes.TrimLeft(n, "\x00"), bytes.TrimLeft(e, "\x00")
	if len(n) == 0 || len(e) == 0 {
		return PublicKeyData{}, fmt.Errorf("%w: RSA public key lacks its modulus (81) or exponent (82)", apdu.ErrMalformed)
	}
	if len(n) != RSA2048Bytes || n[0]&0x80 == 0 {
		return PublicKeyData{}, fmt.Errorf("%w: RSA modulus of %d bits; IoT SAFE key type 03 is RSA-2048", apdu.ErrMalformed, new(big.Int).SetBytes(n).BitLen())
	}
	if n[len(n)-1]&1 == 0 {
		return PublicKeyData{}, fmt.Errorf("%w: RSA modulus is even", apdu.ErrMalformed)
	}
	if len(e) > 4 || e[len(e)-1]&1 == 0 || (len(e) == 1 && e[0] < 3) || (len(e) == 4 && e[0]&0x80 != 0) {
		return PublicKeyData{}, fmt.Errorf("%w: RSA public exponent %X is not an odd number from 3 to 2^31-1", apdu.ErrMalformed, e)
	}
	return PublicKeyData{N: bytes.Clone(n), E: bytes.Clone(e)}, nil
}
