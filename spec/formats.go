package spec

import (
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// P256PointLen is the length of an uncompressed P-256 (or brainpoolP256r1)
// point 04||X||Y.
const P256PointLen = 65

// EncodePublicKeyData returns public key data for an uncompressed EC point,
// the value of tag 34: 49 L { 86 L <point> } (§6.2). For a 65-byte point this
// is the 69-byte 49 43 86 41 04 X Y.
func EncodePublicKeyData(point []byte) []byte {
	inner := apdu.AppendTLV(nil, TagECPoint, point)
	return apdu.AppendTLV(nil, TagPublicKeyTmpl, inner)
}

// AppendPublicKeyTLV appends the complete tag-34 TLV for point
// (34 45 49 43 86 41 04 X Y for P-256).
func AppendPublicKeyTLV(dst, point []byte) []byte {
	return apdu.AppendTLV(dst, TagPublicKeyData, EncodePublicKeyData(point))
}

// ParsePublicKey extracts the EC point from what a card returns for a public
// key. It accepts the full TLV 34 L 49 L 86 L <point>, the template
// 49 L 86 L <point> (the value of tag 34), and, as some applets and hosts do,
// a bare uncompressed point 04||X||Y. The point is returned as given; callers
// check that it lies on their curve.
func ParsePublicKey(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty public key data", apdu.ErrMalformed)
	}
	if b[0] == 0x04 && len(b) == P256PointLen {
		return b, nil
	}
	t, rest, err := apdu.ReadTLV(b)
	if err != nil {
		return nil, fmt.Errorf("public key data: %w", err)
	}
	if t.Tag == TagPublicKeyData {
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after public key data", apdu.ErrMalformed, len(rest))
		}
		if t, rest, err = apdu.ReadTLV(t.Value); err != nil {
			return nil, fmt.Errorf("public key template: %w", err)
		}
	}
	if t.Tag != TagPublicKeyTmpl || len(rest) != 0 {
		return nil, fmt.Errorf("%w: public key data must hold one template (tag 49), found tag %X", apdu.ErrMalformed, uint32(t.Tag))
	}
	p, rest, err := apdu.ReadTLV(t.Value)
	if err != nil {
		return nil, fmt.Errorf("public key point: %w", err)
	}
	if p.Tag != TagECPoint || len(rest) != 0 {
		return nil, fmt.Errorf("%w: public key template must hold one EC point (tag 86), found tag %X", apdu.ErrMalformed, uint32(p.Tag))
	}
	if len(p.Value) == 0 || p.Value[0] != 0x04 {
		return nil, fmt.Errorf("%w: EC point is not in uncompressed form", apdu.ErrMalformed)
	}
	return p.Value, nil
}

// SigLenStyle is how a card writes the length of a signature TLV (tag 33).
type SigLenStyle uint8

const (
	// SigLenTwoByte writes a raw two-byte big-endian length: 33 00 40
	// (real GSMA cards, wolfSSL, Thales since 2024).
	SigLenTwoByte SigLenStyle = iota
	// SigLenOneByte writes one length byte: 33 40 (the Thales MVP applet).
	SigLenOneByte
	// SigLenBER writes a BER length: 33 40, or 33 81 xx above 127.
	SigLenBER
)

// AppendSignatureTLV appends 33 <len> sig with the given length style
// (two bytes whatever the style for signatures over 255 bytes).
func AppendSignatureTLV(dst, sig []byte, style SigLenStyle) []byte {
	dst = append(dst, byte(TagSignature))
	if style == SigLenOneByte && len(sig) > 0xFF {
		// One byte cannot say 256: applets of that style write an RSA-2048
		// signature as 33 01 00 (the Thales PKCS#11 module strips three
		// header bytes from it).
		style = SigLenTwoByte
	}
	switch style {
	case SigLenTwoByte:
		dst = append(dst, byte(len(sig)>>8), byte(len(sig)))
	case SigLenOneByte:
		dst = append(dst, byte(len(sig)))
	default:
		dst = apdu.AppendLength(dst, len(sig))
	}
	return append(dst, sig...)
}

// ReadSignatureTLV decodes a signature TLV at the start of b, whichever
// length style the card used, and returns the signature value and the bytes
// after it. The styles are told apart by the total length: a two-byte raw
// length 00 LL is chosen when it makes the TLV end exactly at the end of b
// (or of the expected length), a BER/one-byte length otherwise.
func ReadSignatureTLV(b []byte) (sig, rest []byte, err error) {
	if len(b) < 2 || apdu.Tag(b[0]) != TagSignature {
		return nil, nil, fmt.Errorf("%w: expected a signature (tag 33)", apdu.ErrMalformed)
	}
	body := b[1:]
	// Raw two-byte length, 33 HH LL: HH is 00 for every signature a
	// P-256/384/521 or RSA-2048 key makes (at most 256 bytes: 01 00).
	if len(body) >= 2 && body[0] <= 0x01 {
		n := int(body[0])<<8 | int(body[1])
		if n > 0 && 2+n <= len(body) && !(body[0] == 0x00 && oneByteFits(body)) {
			return body[2 : 2+n : 2+n], body[2+n:], nil
		}
	}
	t, rest, err := apdu.ReadTLV(b)
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	if len(t.Value) == 0 {
		return nil, nil, fmt.Errorf("%w: empty signature", apdu.ErrMalformed)
	}
	return t.Value, rest, nil
}

// oneByteFits reports whether body (what follows tag 33) also reads as a
// one-byte length whose value ends exactly at the end of body: 33 00 ... with
// a leading 00 can only be a zero length in that reading, so this is true
// only for the degenerate body "00".
func oneByteFits(body []byte) bool {
	return int(body[0])+1 == len(body)
}

// SignatureToDER encodes a raw ECDSA signature r||s (two halves of equal
// size) as the ASN.1 DER SEQUENCE of two INTEGERs that crypto/ecdsa,
// X.509 and TLS use.
func SignatureToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("%w: raw ECDSA signature of %d bytes", apdu.ErrMalformed, len(raw))
	}
	n := len(raw) / 2
	return asn1.Marshal(ecdsaSignature{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
}

// SignatureFromDER decodes a DER ECDSA signature into fixed-size r||s:
// halves of size bytes, or, with size 0, of the smallest of 32, 48 and 66
// bytes that holds both integers.
func SignatureFromDER(der []byte, size int) ([]byte, error) {
	var s ecdsaSignature
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) != 0 || s.R == nil || s.S == nil || s.R.Sign() <= 0 || s.S.Sign() <= 0 {
		return nil, fmt.Errorf("%w: not a DER ECDSA signature", apdu.ErrMalformed)
	}
	bits := max(s.R.BitLen(), s.S.BitLen())
	if size == 0 {
		switch {
		case bits <= 256:
			size = 32
		case bits <= 384:
			size = 48
		default:
			size = 66
		}
	}
	if bits > 8*size {
		return nil, fmt.Errorf("%w: ECDSA signature integers longer than %d bytes", apdu.ErrMalformed, size)
	}
	out := make([]byte, 2*size)
	s.R.FillBytes(out[:size])
	s.S.FillBytes(out[size:])
	return out, nil
}

type ecdsaSignature struct{ R, S *big.Int }
