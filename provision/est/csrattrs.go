package est

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"mime"
	"net/http"
)

// Object identifiers a CSR attributes answer (RFC 7030 §4.5, RFC 8951 §4)
// commonly carries.
var (
	OIDChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}
	OIDExtensionRequest  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	OIDECPublicKey       = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDP256              = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	OIDECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	OIDECDSAWithSHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	OIDSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDSHA384            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	OIDSHA512            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	OIDP384              = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	OIDP521              = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	OIDBrainpoolP256r1   = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
)

// CSRAttr is one entry of a CSR attributes answer: an OID alone, or an
// attribute (an OID with values).
type CSRAttr struct {
	OID    asn1.ObjectIdentifier
	Values []asn1.RawValue // nil for an OID alone
}

// CSRAttrs is what an EST server asks CSRs to contain (GET /csrattrs).
type CSRAttrs []CSRAttr

type attrASN1 struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// ParseCSRAttrs decodes the DER of a CsrAttrs SEQUENCE.
func ParseCSRAttrs(der []byte) (CSRAttrs, error) {
	var seq []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: csrattrs: not a DER SEQUENCE: %v", ErrMalformed, err)
	}
	out := make(CSRAttrs, 0, len(seq))
	for _, e := range seq {
		switch {
		case e.Class == asn1.ClassUniversal && e.Tag == asn1.TagOID:
			var oid asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(e.FullBytes, &oid); err != nil {
				return nil, fmt.Errorf("%w: csrattrs: %v", ErrMalformed, err)
			}
			out = append(out, CSRAttr{OID: oid})
		case e.Class == asn1.ClassUniversal && e.Tag == asn1.TagSequence:
			var a attrASN1
			if _, err := asn1.Unmarshal(e.FullBytes, &a); err != nil {
				return nil, fmt.Errorf("%w: csrattrs: attribute: %v", ErrMalformed, err)
			}
			if a.Values == nil {
				a.Values = []asn1.RawValue{}
			}
			out = append(out, CSRAttr{OID: a.Type, Values: a.Values})
		default:
			return nil, fmt.Errorf("%w: csrattrs: entry of class %d tag %d", ErrMalformed, e.Class, e.Tag)
		}
	}
	return out, nil
}

// Marshal encodes the attributes as a CsrAttrs SEQUENCE.
func (a CSRAttrs) Marshal() ([]byte, error) {
	var entries []asn1.RawValue
	for _, e := range a {
		var b []byte
		var err error
		if e.Values == nil {
			b, err = asn1.Marshal(e.OID)
		} else {
			b, err = asn1.Marshal(attrASN1{Type: e.OID, Values: e.Values})
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, asn1.RawValue{FullBytes: b})
	}
	return asn1.Marshal(entries)
}

// Has reports whether the answer names oid (alone or as an attribute).
func (a CSRAttrs) Has(oid asn1.ObjectIdentifier) bool {
	for _, e := range a {
		if e.OID.Equal(oid) {
			return true
		}
	}
	return false
}

// Curve returns the curve OID an id-ecPublicKey attribute asks for, if any.
func (a CSRAttrs) Curve() asn1.ObjectIdentifier {
	for _, e := range a {
		if e.OID.Equal(OIDECPublicKey) && len(e.Values) > 0 {
			var c asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(e.Values[0].FullBytes, &c); err == nil {
				return c
			}
		}
	}
	return nil
}

// SignatureAlgorithm returns the ECDSA signature algorithm the answer asks
// for, named as a signature algorithm or as a bare hash (as Cisco libest's
// example server does); x509.UnknownSignatureAlgorithm when it names none.
func (a CSRAttrs) SignatureAlgorithm() x509.SignatureAlgorithm {
	switch {
	case a.Has(OIDECDSAWithSHA512), a.Has(OIDSHA512):
		return x509.ECDSAWithSHA512
	case a.Has(OIDECDSAWithSHA384), a.Has(OIDSHA384):
		return x509.ECDSAWithSHA384
	case a.Has(OIDECDSAWithSHA256), a.Has(OIDSHA256):
		return x509.ECDSAWithSHA256
	}
	return x509.UnknownSignatureAlgorithm
}

// BareCurve returns a named curve the answer lists as an OID alone (not in
// the id-ecPublicKey attribute RFC 7030 §4.5.2 uses), if any: a hint of
// uncertain meaning (libest's example server lists secp384r1 so).
func (a CSRAttrs) BareCurve() asn1.ObjectIdentifier {
	for _, e := range a {
		if e.Values == nil && (e.OID.Equal(OIDP384) || e.OID.Equal(OIDP521) || e.OID.Equal(OIDP256)) {
			return e.OID
		}
	}
	return nil
}

// CSRAttrs asks the server what CSRs should contain (GET /csrattrs, RFC
// 7030 §4.5). A server that has nothing to ask answers 204 (or, for older
// servers, 404): then the answer is empty and the error nil. The request
// also proves, over verified TLS, that the server is the one the client
// trusts, before anything else is done.
func (c *Client) CSRAttrs(ctx context.Context) (CSRAttrs, error) {
	resp, data, err := c.do(ctx, "csrattrs", http.MethodGet, "/csrattrs", "", nil)
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusNoContent) {
		return CSRAttrs{}, nil
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent || len(data) == 0 {
		return CSRAttrs{}, nil
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/csrattrs" {
		return nil, fmt.Errorf("%w: csrattrs answered %q, want application/csrattrs", ErrContentType, resp.Header.Get("Content-Type"))
	}
	der, err := decodeBase64(data)
	if err != nil {
		return nil, fmt.Errorf("%w: csrattrs: body is not base64: %v", ErrMalformed, err)
	}
	return ParseCSRAttrs(der)
}
