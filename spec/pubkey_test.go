package spec

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// Every RSA public key encoding the public hosts imply is accepted: the
// ISO 7816-8 template the emulator sends (with and without 34, with a
// sign byte before the modulus), PKCS#1 and SubjectPublicKeyInfo DER.
func TestParseRSAPublicKeyData(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	n, e := k.N.Bytes(), []byte{0x01, 0x00, 0x01}
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	tmpl := EncodeRSAPublicKeyData(n, e)
	signed := apdu.AppendTLV(nil, TagPublicKeyTmpl, append(apdu.AppendTLV(nil, TagRSAModulus, append([]byte{0}, n...)), apdu.AppendTLV(nil, TagRSAExponent, e)...))
	for name, in := range map[string][]byte{
		"template":             tmpl,
		"34 template":          AppendPublicKeyDataTLV(nil, tmpl),
		"modulus with 00":      signed,
		"PKCS#1 DER":           x509.MarshalPKCS1PublicKey(&k.PublicKey),
		"34 PKCS#1 DER":        AppendPublicKeyDataTLV(nil, x509.MarshalPKCS1PublicKey(&k.PublicKey)),
		"SubjectPublicKeyInfo": spki,
	} {
		d, err := ParsePublicKeyData(in)
		if err != nil || !bytes.Equal(d.N, n) || !bytes.Equal(d.E, e) || d.Point != nil {
			t.Errorf("%s: %+v, %v", name, d, err)
		}
	}
	// The template starts 49 82 01 09 81 82 01 00: BER lengths above 255.
	if !bytes.HasPrefix(tmpl, []byte{0x49, 0x82, 0x01, 0x09, 0x81, 0x82, 0x01, 0x00}) {
		t.Fatalf("template %X", tmpl[:8])
	}
	even := append([]byte(nil), n...)
	even[255] &^= 1
	short := n[:128]
	for name, in := range map[string][]byte{
		"bare modulus":     n,
		"no exponent":      apdu.AppendTLV(nil, TagPublicKeyTmpl, apdu.AppendTLV(nil, TagRSAModulus, n)),
		"even exponent":    EncodeRSAPublicKeyData(n, []byte{0x01, 0x00, 0x02}),
		"exponent 1":       EncodeRSAPublicKeyData(n, []byte{0x01}),
		"even modulus":     EncodeRSAPublicKeyData(even, e),
		"1024-bit modulus": EncodeRSAPublicKeyData(short, e),
		"unknown tag":      apdu.AppendTLV(nil, TagPublicKeyTmpl, append(apdu.AppendTLV(nil, 0x83, n), apdu.AppendTLV(nil, TagRSAExponent, e)...)),
		"EC SPKI":          h("3059301306072A8648CE3D020106082A8648CE3D03010703420004" + thalesPoint[2:]),
	} {
		if _, err := ParsePublicKeyData(in); !errors.Is(err, apdu.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
	// EC data still parses as a point.
	if d, err := ParsePublicKeyData(h("3445 4943 8641" + thalesPoint)); err != nil || !bytes.Equal(d.Point, h(thalesPoint)) {
		t.Fatalf("EC point: %+v, %v", d, err)
	}
}

// The Thales PKCS#11 module (CardModuleAppletIoTSAFE.cpp, PrivateKeySignRSA)
// strips a three-byte header "Tag 0x33 Length ... 0x00" from an RSA
// signature: whatever the card's length style, 256 bytes go as 33 01 00.
func TestRSASignatureTLV(t *testing.T) {
	sig := bytes.Repeat([]byte{0xA5}, 256)
	for _, st := range []SigLenStyle{SigLenTwoByte, SigLenOneByte} {
		b := AppendSignatureTLV(nil, sig, st)
		if !bytes.Equal(b[:3], []byte{0x33, 0x01, 0x00}) || !bytes.Equal(b[3:], sig) {
			t.Fatalf("style %d: %X", st, b[:4])
		}
		v, rest, err := ReadSignatureTLV(b)
		if err != nil || !bytes.Equal(v, sig) || len(rest) != 0 {
			t.Fatalf("style %d: read back %d bytes, %v", st, len(v), err)
		}
	}
	b := AppendSignatureTLV(nil, sig, SigLenBER)
	if !bytes.Equal(b[:4], []byte{0x33, 0x82, 0x01, 0x00}) {
		t.Fatalf("BER: %X", b[:4])
	}
	if v, _, err := ReadSignatureTLV(b); err != nil || !bytes.Equal(v, sig) {
		t.Fatalf("BER read back: %v", err)
	}
}
