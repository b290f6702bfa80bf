// Package csrpop puts a challengePassword into a PKCS#10 request, and reads
// it back, in the form RFC 2985 §5.4.1 defines (an attribute whose value is
// a DirectoryString) and EST servers read for proof of possession (RFC 7030
// §3.5). Go's crypto/x509 writes CSR attributes only in a nested form of
// its own, which such servers do not recognize.
package csrpop

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// OIDChallengePassword is pkcs-9-at-challengePassword.
var OIDChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

type certificationRequest struct {
	TBS       asn1.RawValue
	Algorithm asn1.RawValue
	Signature asn1.BitString
}

type requestInfo struct {
	Version    int
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Attributes asn1.RawValue
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// AddChallengePassword returns csrDER with a challengePassword attribute
// holding pw (a PrintableString, as base64 is), signed again with key
// (whose public key the request holds) and the request's own algorithm.
func AddChallengePassword(csrDER []byte, pw string, key crypto.Signer) ([]byte, error) {
	csr, err := bpx509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	var outer certificationRequest
	if _, err := asn1.Unmarshal(csrDER, &outer); err != nil {
		return nil, err
	}
	var info requestInfo
	if _, err := asn1.Unmarshal(outer.TBS.FullBytes, &info); err != nil {
		return nil, err
	}
	if info.Attributes.Class != asn1.ClassContextSpecific || info.Attributes.Tag != 0 {
		return nil, errors.New("csrpop: the request has no attributes field")
	}
	value, err := asn1.MarshalWithParams(pw, "printable")
	if err != nil {
		return nil, fmt.Errorf("csrpop: the challenge is not printable: %w", err)
	}
	attr, err := asn1.Marshal(attribute{Type: OIDChallengePassword, Values: []asn1.RawValue{{FullBytes: value}}})
	if err != nil {
		return nil, err
	}
	info.Attributes = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
		Bytes: append(append([]byte(nil), info.Attributes.Bytes...), attr...)}
	tbs, err := asn1.Marshal(info)
	if err != nil {
		return nil, err
	}
	sig, err := bpx509.Sign(rand.Reader, key, csr.SignatureAlgorithm, tbs)
	if err != nil {
		return nil, fmt.Errorf("csrpop: %w", err)
	}
	out, err := asn1.Marshal(certificationRequest{TBS: asn1.RawValue{FullBytes: tbs}, Algorithm: outer.Algorithm,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return nil, err
	}
	// Check what was built: it parses and its signature verifies.
	back, err := bpx509.ParseCertificateRequest(out)
	if err != nil {
		return nil, err
	}
	if err := back.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csrpop: the re-signed request does not verify: %w", err)
	}
	return out, nil
}

// ChallengePassword returns the challengePassword of a request, in the RFC
// 2985 form (a string value), and whether it has one.
func ChallengePassword(csr *x509.CertificateRequest) (string, bool) {
	var info requestInfo
	if _, err := asn1.Unmarshal(csr.RawTBSCertificateRequest, &info); err != nil {
		return "", false
	}
	rest := info.Attributes.Bytes
	for len(rest) > 0 {
		var a attribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return "", false
		}
		if !a.Type.Equal(OIDChallengePassword) || len(a.Values) == 0 {
			continue
		}
		var s string
		if _, err := asn1.Unmarshal(a.Values[0].FullBytes, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}
