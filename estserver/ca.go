// Package estserver is a small, real EST server (RFC 7030) with its own X.509
// certificate authority, for tests, demos and small fleets: it issues
// certificates for PKCS#10 requests, re-issues them for the holder of a
// current certificate, revokes them, and publishes a CRL that relying parties
// (the "cloud" TLS servers) check.
//
// Devices do not depend on it: they speak plain RFC 7030 (package
// provision/est), so a fleet that outgrows it points them at an enterprise
// EST/CA service instead.
package estserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// CA is an in-memory certificate authority with an ECDSA P-256 key.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer

	mu      sync.Mutex
	issueMu sync.Mutex           // serializes policy check + issuance (Server)
	crlMu   sync.Mutex           // one CRL signed at a time
	revoked map[string]time.Time // serial (decimal) -> revocation time
	issued  map[string]*x509.Certificate
	crlNum  int64
	// The CRL is signed once per change of revoked (revGen) or per
	// crlRefresh, and served from crl until then.
	revGen   uint64
	crl      []byte
	crlGen   uint64
	crlUntil time.Time
	dir      string // where LoadOrCreateCA keeps it; "" for an in-memory CA
	// supersedes maps a renewed certificate's serial to its predecessor's,
	// until the predecessor is revoked.
	supersedes map[string]string
	// enrolledBy maps a serial to the enrolment identity that obtained
	// it (renewals inherit it), for lost-reply recovery.
	enrolledBy map[string]string
	// Validity of issued certificates; default 1 year.
	Validity time.Duration
	// SupersedeGrace is how long the certificate a renewal replaced stays
	// valid when its successor is not used (default 24 h). As soon as the
	// successor authenticates (to this server or to a relying party that
	// calls VerifyPeer), the predecessor is revoked.
	SupersedeGrace time.Duration
}

// NewCA creates a CA with a fresh P-256 key and a self-signed certificate
// named commonName, valid for ten years.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"go-iotsafe"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, revoked: map[string]time.Time{}, issued: map[string]*x509.Certificate{},
		supersedes: map[string]string{}, enrolledBy: map[string]string{}, Validity: 365 * 24 * time.Hour}, nil
}

// CertPEM returns the CA certificate in PEM form.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Issue checks a PKCS#10 request's signature and issues a client
// certificate for its key, with the request's subject and SANs.
func (ca *CA) Issue(csr *x509.CertificateRequest) (*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature does not verify: %w", err)
	}
	if csr.Subject.CommonName == "" && len(csr.DNSNames) == 0 && len(csr.URIs) == 0 {
		return nil, errors.New("certificate request names nobody: give a common name or a SAN")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        csr.Subject,
		DNSNames:       csr.DNSNames,
		URIs:           csr.URIs,
		EmailAddresses: csr.EmailAddresses,
		IPAddresses:    csr.IPAddresses,
		NotBefore:      now.Add(-5 * time.Minute),
		NotAfter:       now.Add(ca.Validity),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := bpx509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := bpx509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca.mu.Lock()
	ca.issued[cert.SerialNumber.String()] = cert
	ca.mu.Unlock()
	if err := ca.Save(); err != nil {
		return nil, fmt.Errorf("issued, but saving the CA records failed: %w", err)
	}
	return cert, nil
}

// IssueServer issues a TLS server certificate for the given DNS names and
// IP addresses (for the local EST server and the demo "cloud").
func (ca *CA) IssueServer(key crypto.PublicKey, names ...string) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(ca.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := parseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key, ca.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Revoke marks the certificate with this serial number as revoked.
func (ca *CA) Revoke(serial *big.Int) error {
	ca.mu.Lock()
	if _, ok := ca.issued[serial.String()]; !ok {
		ca.mu.Unlock()
		return fmt.Errorf("no certificate with serial %s was issued by this CA", serial)
	}
	ca.revoked[serial.String()] = time.Now()
	ca.revGen++
	ca.mu.Unlock()
	return ca.Save()
}

// IsRevoked reports whether the certificate with this serial is revoked.
func (ca *CA) IsRevoked(serial *big.Int) bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.expireSuperseded(time.Now())
	_, ok := ca.revoked[serial.String()]
	return ok
}

// Renewed records that a re-enrolment replaced certificate old with new:
// old is revoked once new is seen in use (Used), or when the grace period
// ends, so that revoking the new certificate leaves no older one of the
// same device trusted.
func (ca *CA) Renewed(newSerial, oldSerial *big.Int) error {
	ca.mu.Lock()
	if ca.supersedes == nil {
		ca.supersedes = map[string]string{}
	}
	ca.supersedes[newSerial.String()] = oldSerial.String()
	if k, ok := ca.enrolledBy[oldSerial.String()]; ok {
		ca.enrolledBy[newSerial.String()] = k
	}
	ca.mu.Unlock()
	return ca.Save()
}

// setEnrolledBy records who enrolled the certificate with this serial.
func (ca *CA) setEnrolledBy(serial *big.Int, key string) error {
	ca.mu.Lock()
	if ca.enrolledBy == nil {
		ca.enrolledBy = map[string]string{}
	}
	ca.enrolledBy[serial.String()] = key
	ca.mu.Unlock()
	return ca.Save()
}

// enrolledByOf returns who enrolled the certificate with this serial ("" if
// unknown).
func (ca *CA) enrolledByOf(serial *big.Int) string {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.enrolledBy[serial.String()]
}

// successor returns the certificate that renewed the certificate with
// serial old, nil when it was not renewed (or its renewal is settled: then
// old is revoked).
func (ca *CA) successor(old *big.Int) *x509.Certificate {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for n, o := range ca.supersedes {
		if o == old.String() {
			return ca.issued[n]
		}
	}
	return nil
}

// liveWithKey returns a live certificate of this CA for pub with this
// common name, nil when there is none.
func (ca *CA) liveWithKey(pub crypto.PublicKey, cn string) *x509.Certificate {
	k, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := time.Now()
	var best *x509.Certificate
	for s, c := range ca.issued {
		if _, revoked := ca.revoked[s]; revoked || now.After(c.NotAfter) || c.Subject.CommonName != cn || !k.Equal(c.PublicKey) {
			continue
		}
		if best == nil || c.NotBefore.After(best.NotBefore) {
			best = c
		}
	}
	return best
}

// Used tells the CA that the certificate with this serial authenticated
// someone: the certificate it superseded, if any, is revoked now.
func (ca *CA) Used(serial *big.Int) error {
	ca.mu.Lock()
	old, ok := ca.supersedes[serial.String()]
	if ok {
		delete(ca.supersedes, serial.String())
		if _, done := ca.revoked[old]; !done {
			ca.revoked[old] = time.Now()
			ca.revGen++
		}
	}
	ca.mu.Unlock()
	if !ok {
		return nil
	}
	return ca.Save()
}

// expireSuperseded revokes predecessors whose grace period is over.
// Called with ca.mu held.
func (ca *CA) expireSuperseded(now time.Time) {
	grace := ca.SupersedeGrace
	if grace == 0 {
		grace = 24 * time.Hour
	}
	for n, old := range ca.supersedes {
		c := ca.issued[n]
		if c == nil || now.Sub(c.NotBefore) > grace {
			if _, done := ca.revoked[old]; !done {
				ca.revoked[old] = now
				ca.revGen++
			}
			delete(ca.supersedes, n)
		}
	}
}

// CRL returns the DER certificate revocation list: signed anew when a
// certificate was revoked since the last one, or every crlRefresh, and
// cached otherwise; its number, saved before it is published, only grows.
func (ca *CA) CRL() ([]byte, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	now := time.Now()
	ca.mu.Lock()
	ca.expireSuperseded(now)
	if ca.crl != nil && ca.crlGen == ca.revGen && now.Before(ca.crlUntil) {
		crl := ca.crl
		ca.mu.Unlock()
		return crl, nil
	}
	ca.crlNum++
	num, gen := ca.crlNum, ca.revGen
	entries := make([]x509.RevocationListEntry, 0, len(ca.revoked))
	for s, t := range ca.revoked {
		n, _ := new(big.Int).SetString(s, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: t})
	}
	ca.mu.Unlock()
	// The number is saved before the CRL is published: a restart then
	// continues above it.
	if err := ca.Save(); err != nil {
		return nil, fmt.Errorf("estserver: saving the CRL number: %w", err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(num),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.key)
	if err != nil {
		return nil, err
	}
	ca.mu.Lock()
	ca.crl, ca.crlGen, ca.crlUntil = der, gen, now.Add(crlRefresh)
	ca.mu.Unlock()
	return der, nil
}

// crlRefresh is how long a signed CRL is served unchanged when nothing was
// revoked (its NextUpdate is an hour after).
const crlRefresh = 30 * time.Minute

// ErrRevoked is returned by VerifyPeer for a revoked client certificate.
var ErrRevoked = errors.New("client certificate has been revoked")

// VerifyPeer is a tls.Config.VerifyPeerCertificate function for relying
// parties: after the normal chain verification it refuses certificates this
// CA has revoked, and reports the others as used (a renewed certificate in
// use gets its predecessor revoked).
func (ca *CA) VerifyPeer(_ [][]byte, chains [][]*x509.Certificate) error {
	for _, chain := range chains {
		if len(chain) > 0 && ca.IsRevoked(chain[0].SerialNumber) {
			return fmt.Errorf("%w (serial %s, subject %q)", ErrRevoked, chain[0].SerialNumber, chain[0].Subject.CommonName)
		}
	}
	for _, chain := range chains {
		if len(chain) > 0 {
			if err := ca.Used(chain[0].SerialNumber); err != nil {
				return err
			}
		}
	}
	return nil
}
