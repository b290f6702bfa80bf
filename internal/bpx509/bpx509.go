// Package bpx509 carries brainpoolP256r1 keys through crypto/x509, which
// knows no brainpool curve (it can neither write nor parse a request or a
// certificate for such a key). Every other key goes straight to crypto/x509.
//
// crypto/x509 still does all the work on names, extensions and attributes;
// only the SubjectPublicKeyInfo (RFC 5480: id-ecPublicKey with the named
// curve 1.3.36.3.3.2.8.1.1.7) is handled here:
//
//   - writing: crypto/x509 writes the request or certificate for a stand-in
//     P-256 key made for the call (its private half is dropped at once, so
//     nobody can use anything signed for it, and nothing signed for it
//     leaves this package); the stand-in SubjectPublicKeyInfo is replaced by
//     the brainpool one and the result is signed again with the real key,
//     then parsed back and its signature checked;
//   - parsing: the brainpool SubjectPublicKeyInfo is replaced by a stand-in
//     before crypto/x509 parses, and the parsed value gets the original
//     bytes (Raw, RawTBS…, RawSubjectPublicKeyInfo) and the brainpool
//     *ecdsa.PublicKey back, so CheckSignature, CheckSignatureFrom, Verify
//     and Equal work on exactly what was received.
//
// The brainpool key is the curve of internal/keys (crypto/ecdsa verifies on
// it through its generic-curve path). Only DER is accepted, as crypto/x509
// does.
package bpx509

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// IsBrainpool reports whether pub is a brainpoolP256r1 key.
func IsBrainpool(pub crypto.PublicKey) bool {
	return keys.KindOf(pub) == spec.KeyKindBrainpoolP256
}

// CreateCertificateRequest is x509.CreateCertificateRequest for keys of
// every IoT SAFE type. For a brainpool key the signature algorithm is ECDSA
// with SHA-256 (the default), SHA-384 or SHA-512.
func CreateCertificateRequest(rnd io.Reader, tmpl *x509.CertificateRequest, key crypto.Signer) ([]byte, error) {
	pub := key.Public()
	if !IsBrainpool(pub) {
		return x509.CreateCertificateRequest(rnd, tmpl, key)
	}
	t := *tmpl
	if t.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
		t.SignatureAlgorithm = x509.ECDSAWithSHA256
	}
	switch t.SignatureAlgorithm {
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return nil, fmt.Errorf("bpx509: a brainpoolP256r1 key cannot sign with %v", t.SignatureAlgorithm)
	}
	stand, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &t, stand)
	if err != nil {
		return nil, err
	}
	outer, err := elements(der)
	if err != nil || len(outer) != 3 {
		return nil, fmt.Errorf("bpx509: crypto/x509 wrote a request of an unexpected shape: %v", err)
	}
	info, err := elements(outer[0])
	if err != nil || len(info) != 4 {
		return nil, fmt.Errorf("bpx509: crypto/x509 wrote request information of an unexpected shape: %v", err)
	}
	if info[2], err = keys.MarshalPKIX(pub); err != nil {
		return nil, err
	}
	tbs, err := sequence(info)
	if err != nil {
		return nil, err
	}
	sig, err := Sign(rnd, key, t.SignatureAlgorithm, tbs)
	if err != nil {
		return nil, err
	}
	out, err := signed(tbs, outer[1], sig)
	if err != nil {
		return nil, err
	}
	back, err := ParseCertificateRequest(out)
	if err != nil {
		return nil, fmt.Errorf("bpx509: the request built does not parse: %w", err)
	}
	if err := back.CheckSignature(); err != nil {
		return nil, fmt.Errorf("bpx509: the request's signature does not verify with its key: %w", err)
	}
	return out, nil
}

// ParseCertificateRequest is x509.ParseCertificateRequest that also
// parses requests for brainpoolP256r1 keys.
func ParseCertificateRequest(der []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err == nil {
		return csr, nil
	}
	outer, e := elements(der)
	if e != nil || len(outer) != 3 {
		return nil, err
	}
	info, e := elements(outer[0])
	if e != nil || len(info) < 3 {
		return nil, err
	}
	pub, ok, e := brainpoolKey(info[2])
	if !ok {
		return nil, err
	}
	if e != nil {
		return nil, e
	}
	swapped, e := swap(outer, info, 2)
	if e != nil {
		return nil, e
	}
	csr, err = x509.ParseCertificateRequest(swapped)
	if err != nil {
		return nil, err
	}
	csr.Raw, csr.RawTBSCertificateRequest, csr.RawSubjectPublicKeyInfo = der, outer[0], info[2]
	csr.PublicKey = pub
	return csr, nil
}

// CreateCertificate is x509.CreateCertificate for a subject key of every
// IoT SAFE type. The issuer key (priv) must be one crypto/x509 signs with;
// a brainpool issuer is refused. The certificate is parsed back and its
// signature checked with parent's key.
func CreateCertificate(rnd io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, error) {
	if !IsBrainpool(pub) {
		return x509.CreateCertificate(rnd, tmpl, parent, pub, priv)
	}
	if IsBrainpool(priv.Public()) {
		return nil, errors.New("bpx509: certificates signed by a brainpoolP256r1 issuer key are not supported")
	}
	spki, err := keys.MarshalPKIX(pub)
	if err != nil {
		return nil, err
	}
	t := *tmpl
	if len(t.SubjectKeyId) == 0 && t.IsCA {
		// What crypto/x509 would put there for a key it knows: the first
		// 160 bits of the SHA-256 of the subjectPublicKey bits (RFC 7093 §2).
		var s struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(spki, &s); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(s.PublicKey.Bytes)
		t.SubjectKeyId = sum[:20]
	}
	stand, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	standSPKI, err := x509.MarshalPKIXPublicKey(&stand.PublicKey)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rnd, &t, parent, &stand.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	first, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	outer, err := elements(der)
	if err != nil || len(outer) != 3 {
		return nil, fmt.Errorf("bpx509: crypto/x509 wrote a certificate of an unexpected shape: %v", err)
	}
	tbsElems, err := elements(outer[0])
	if err != nil {
		return nil, err
	}
	i := spkiIndex(tbsElems)
	if i < 0 || !bytes.Equal(tbsElems[i], standSPKI) {
		return nil, errors.New("bpx509: the key of the certificate crypto/x509 wrote is not where RFC 5280 puts it")
	}
	tbsElems[i] = spki
	tbs, err := sequence(tbsElems)
	if err != nil {
		return nil, err
	}
	sig, err := Sign(rnd, priv, first.SignatureAlgorithm, tbs)
	if err != nil {
		return nil, err
	}
	out, err := signed(tbs, outer[1], sig)
	if err != nil {
		return nil, err
	}
	back, err := ParseCertificate(out)
	if err != nil {
		return nil, fmt.Errorf("bpx509: the certificate built does not parse: %w", err)
	}
	if err := parent.CheckSignature(back.SignatureAlgorithm, back.RawTBSCertificate, back.Signature); err != nil {
		return nil, fmt.Errorf("bpx509: the certificate's signature does not verify with the issuer's key: %w", err)
	}
	return out, nil
}

// ParseCertificate is x509.ParseCertificate that also parses
// certificates of brainpoolP256r1 keys.
func ParseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	outer, e := elements(der)
	if e != nil || len(outer) != 3 {
		return nil, err
	}
	tbsElems, e := elements(outer[0])
	if e != nil {
		return nil, err
	}
	i := spkiIndex(tbsElems)
	if i < 0 {
		return nil, err
	}
	pub, ok, e := brainpoolKey(tbsElems[i])
	if !ok {
		return nil, err
	}
	if e != nil {
		return nil, e
	}
	spki := tbsElems[i]
	swapped, e := swap(outer, tbsElems, i)
	if e != nil {
		return nil, e
	}
	c, err = x509.ParseCertificate(swapped)
	if err != nil {
		return nil, err
	}
	c.Raw, c.RawTBSCertificate, c.RawSubjectPublicKeyInfo = der, outer[0], spki
	c.PublicKey = pub
	return c, nil
}

// ParseCertificates parses concatenated DER certificates, as
// x509.ParseCertificates does.
func ParseCertificates(der []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil, fmt.Errorf("x509: malformed certificate: %w", err)
		}
		c, err := ParseCertificate(v.FullBytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		der = rest
	}
	return out, nil
}

// brainpoolKey returns the key of a DER SubjectPublicKeyInfo when it is a
// brainpoolP256r1 one (ok), with an error when its point is not a valid
// point of that curve.
func brainpoolKey(der []byte) (pub *ecdsa.PublicKey, ok bool, err error) {
	k, err := keys.ParsePKIX(der)
	if bp, isEC := k.(*ecdsa.PublicKey); err == nil && isEC && IsBrainpool(bp) {
		return bp, true, nil
	}
	if errors.Is(err, keys.ErrKey) {
		return nil, true, fmt.Errorf("x509: brainpoolP256r1 public key: %w", err)
	}
	return nil, false, nil
}

// standInSPKI is a P-256 SubjectPublicKeyInfo put in place of a brainpool
// one for crypto/x509 to parse around (its private half is discarded).
var standInSPKI = sync.OnceValues(func() ([]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(&k.PublicKey)
})

// swap returns outer (TBS, algorithm, signature) with element i of the TBS
// elements tbs replaced by the stand-in key.
func swap(outer, tbs [][]byte, i int) ([]byte, error) {
	stand, err := standInSPKI()
	if err != nil {
		return nil, err
	}
	t := append([][]byte(nil), tbs...)
	t[i] = stand
	b, err := sequence(t)
	if err != nil {
		return nil, err
	}
	return sequence([][]byte{b, outer[1], outer[2]})
}

// spkiIndex is the position of subjectPublicKeyInfo in the elements of a
// TBSCertificate (RFC 5280 §4.1: after version [0] when present, serial,
// signature, issuer, validity and subject), -1 when there are too few.
func spkiIndex(tbs [][]byte) int {
	i := 5
	if len(tbs) > 0 && len(tbs[0]) > 0 && tbs[0][0] == 0xA0 {
		i = 6
	}
	if i >= len(tbs) {
		return -1
	}
	return i
}

// elements returns the DER encodings of the elements of a DER SEQUENCE
// (which must be all of der).
func elements(der []byte) ([][]byte, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errors.New("bpx509: not a DER SEQUENCE")
	}
	var out [][]byte
	for b := seq.Bytes; len(b) > 0; {
		var e asn1.RawValue
		if b, err = asn1.Unmarshal(b, &e); err != nil {
			return nil, err
		}
		out = append(out, e.FullBytes)
	}
	return out, nil
}

// sequence returns the DER SEQUENCE of the given element encodings.
func sequence(elems [][]byte) ([]byte, error) {
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(elems, nil)})
}

// signed returns SEQUENCE { tbs, algorithm, BIT STRING sig }.
func signed(tbs, algorithm, sig []byte) ([]byte, error) {
	bits, err := asn1.Marshal(asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)})
	if err != nil {
		return nil, err
	}
	return sequence([][]byte{tbs, algorithm, bits})
}

// Sign signs msg (a TBS structure) with key as X.509 signature algorithm
// alg asks: the hash of msg for ECDSA and RSA PKCS#1 v1.5, with PSS options
// (salt as long as the hash, as crypto/x509 writes them) for RSA-PSS, msg
// itself for Ed25519.
func Sign(rnd io.Reader, key crypto.Signer, alg x509.SignatureAlgorithm, msg []byte) ([]byte, error) {
	var h crypto.Hash
	pss := false
	switch alg {
	case x509.PureEd25519:
		return key.Sign(rnd, msg, crypto.Hash(0))
	case x509.ECDSAWithSHA256, x509.SHA256WithRSA:
		h = crypto.SHA256
	case x509.ECDSAWithSHA384, x509.SHA384WithRSA:
		h = crypto.SHA384
	case x509.ECDSAWithSHA512, x509.SHA512WithRSA:
		h = crypto.SHA512
	case x509.SHA256WithRSAPSS:
		h, pss = crypto.SHA256, true
	case x509.SHA384WithRSAPSS:
		h, pss = crypto.SHA384, true
	case x509.SHA512WithRSAPSS:
		h, pss = crypto.SHA512, true
	default:
		return nil, fmt.Errorf("bpx509: signature algorithm %v not supported", alg)
	}
	d := h.New()
	d.Write(msg)
	var opts crypto.SignerOpts = h
	if pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return key.Sign(rnd, d.Sum(nil), opts)
}
