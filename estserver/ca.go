// Package estserver is an EST server (RFC 7030) with its own X.509
// certificate authority: it issues certificates for PKCS#10 requests,
// re-issues them for the holder of a current certificate, revokes them, and
// publishes a CRL that relying parties (the "cloud" TLS servers) check. Its
// records are in SQLite (one process, the default) or PostgreSQL (replicas
// sharing one database); see db.go.
//
// Devices do not depend on it: they speak plain RFC 7030 (package
// provision/est), so a fleet that outgrows it points them at an enterprise
// EST/CA service instead.
package estserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// CA is a certificate authority with an ECDSA P-256 key whose records
// (what it issued, revoked and renewed, its CRL) are kept in a SQL database
// (see db.go): an in-memory SQLite database for NewCA, a SQLite file for
// LoadOrCreateCA, PostgreSQL through OpenCA for replicas.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
	db   *db

	issueMu sync.Mutex // one enrolment decision at a time in this process (fewer retries)
	crlMu   sync.Mutex // one CRL signed at a time in this process
	crl     []byte     // the stored CRL last read, and its number
	crlNum  int64
	// Validity of issued certificates; default 1 year.
	Validity time.Duration
	// SupersedeGrace is how long the certificate a renewal replaced stays
	// valid when its successor is not used (default 24 h). As soon as the
	// successor authenticates (to this server or to a relying party that
	// calls VerifyPeer), the predecessor is revoked.
	SupersedeGrace time.Duration
}

// NewCA creates a CA with a fresh P-256 key and a self-signed certificate
// named commonName, valid for ten years, keeping its records in memory.
func NewCA(commonName string) (*CA, error) {
	return OpenCA(context.Background(), "sqlite::memory:", commonName)
}

// newCAMaterial makes a CA key and its self-signed certificate.
func newCAMaterial(commonName string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// OpenCA opens the CA kept in store: "sqlite:PATH" (or a path), or a
// PostgreSQL URL ("postgres://USER@HOST/DB") that several est-server
// replicas share. The CA's key and certificate are created, named
// commonName, when the store holds none, exactly once even when replicas
// start together (the first one's stay, the others use them).
func OpenCA(ctx context.Context, store, commonName string) (*CA, error) {
	d, err := openDB(ctx, store)
	if err != nil {
		return nil, err
	}
	ca, err := loadCA(ctx, d, commonName, nil)
	if err != nil {
		d.sql.Close()
		return nil, err
	}
	return ca, nil
}

// loadCA reads the CA from d, creating it (with the given material, or
// new) when d holds none.
func loadCA(ctx context.Context, d *db, commonName string, mat *caMaterial) (*CA, error) {
	var certDER, keyDER []byte
	err := d.sql.QueryRowContext(ctx, "SELECT ca_cert, ca_key FROM meta WHERE id = 1").Scan(&certDER, &keyDER)
	if errors.Is(err, sql.ErrNoRows) {
		if mat == nil {
			key, cert, err := newCAMaterial(commonName)
			if err != nil {
				return nil, err
			}
			mat = &caMaterial{cert: cert, key: key}
		}
		kd, merr := x509.MarshalECPrivateKey(mat.key)
		if merr != nil {
			return nil, merr
		}
		// Whoever inserts first wins; the others read its row.
		err = d.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, d.q("INSERT INTO meta (id, schema_version, ca_cert, ca_key, crl_number, rev_gen) VALUES (1, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING"),
				schemaVersion, mat.cert.Raw, kd, mat.crlNumber)
			if err != nil {
				return err
			}
			return mat.load(ctx, d, tx)
		})
		if err != nil {
			return nil, err
		}
		err = d.sql.QueryRowContext(ctx, "SELECT ca_cert, ca_key FROM meta WHERE id = 1").Scan(&certDER, &keyDER)
	}
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("estserver: the stored CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("estserver: the stored CA key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("estserver: the stored CA key is not the key of the stored CA certificate")
	}
	return &CA{Cert: cert, key: key, db: d, Validity: 365 * 24 * time.Hour}, nil
}

// Close closes the CA's database.
func (ca *CA) Close() error { return ca.db.sql.Close() }

// CertPEM returns the CA certificate in PEM form.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Issue checks a PKCS#10 request's signature and issues a client
// certificate for its key, with the request's subject and SANs. It applies
// no policy (Server does): the certificate takes its names from whoever
// held them.
func (ca *CA) Issue(csr *x509.CertificateRequest) (*x509.Certificate, error) {
	var cert *x509.Certificate
	err := ca.db.tx(context.Background(), func(tx *sql.Tx) error {
		var err error
		cert, err = ca.records(tx).issue(csr, "", nil)
		return err
	})
	return cert, err
}

// sign makes the certificate for a request (not yet recorded).
func (ca *CA) sign(csr *x509.CertificateRequest) (*x509.Certificate, error) {
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
	return bpx509.ParseCertificate(der)
}

// IssueServer issues a TLS server certificate for the given DNS names and
// IP addresses (for the local EST server and the demo "cloud"). It is not
// recorded: relying parties trust it, devices never present it.
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
	return ca.db.tx(context.Background(), func(tx *sql.Tx) error {
		r := ca.records(tx)
		if c, err := r.issued(serial.String()); err != nil {
			return err
		} else if c == nil {
			return fmt.Errorf("no certificate with serial %s was issued by this CA", serial)
		}
		return r.revoke(serial.String(), time.Now())
	})
}

// IsRevoked reports whether the certificate with this serial is revoked.
// A database error counts as revoked (fail closed).
func (ca *CA) IsRevoked(serial *big.Int) bool {
	ctx := context.Background()
	if err := ca.expireSuperseded(ctx, time.Now()); err != nil {
		return true
	}
	var at sql.NullInt64
	err := ca.db.sql.QueryRowContext(ctx, ca.db.q("SELECT revoked_at FROM certs WHERE serial = ?"), serial.String()).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false
	case err != nil:
		return true
	}
	return at.Valid
}

// Renewed records that a re-enrolment replaced certificate old with new:
// old is revoked once new is seen in use (Used), or when the grace period
// ends, so that revoking the new certificate leaves no older one of the
// same device trusted. A certificate is renewed at most once (the database
// refuses a second successor).
func (ca *CA) Renewed(newSerial, oldSerial *big.Int) error {
	return ca.db.tx(context.Background(), func(tx *sql.Tx) error {
		return ca.records(tx).renewed(newSerial.String(), oldSerial.String())
	})
}

// Issued returns the certificate issued with this serial, if any.
func (ca *CA) Issued(serial *big.Int) *x509.Certificate {
	var der []byte
	err := ca.db.sql.QueryRowContext(context.Background(), ca.db.q("SELECT der FROM certs WHERE serial = ?"), serial.String()).Scan(&der)
	c, _ := scanCert(der, err)
	return c
}

// Used tells the CA that the certificate with this serial authenticated
// someone: the certificate it superseded, if any, is revoked now.
func (ca *CA) Used(serial *big.Int) error {
	ctx := context.Background()
	var renews sql.NullString
	var settled int
	err := ca.db.sql.QueryRowContext(ctx, ca.db.q("SELECT renews, settled FROM certs WHERE serial = ?"), serial.String()).Scan(&renews, &settled)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (!renews.Valid || settled != 0) {
		return nil
	}
	if err != nil {
		return err
	}
	return ca.db.tx(ctx, func(tx *sql.Tx) error {
		return ca.records(tx).settle(serial.String(), renews.String, time.Now())
	})
}

// expireSuperseded revokes predecessors whose grace period is over.
func (ca *CA) expireSuperseded(ctx context.Context, now time.Time) error {
	grace := ca.SupersedeGrace
	if grace == 0 {
		grace = 24 * time.Hour
	}
	cutoff := now.Add(-grace).UnixNano()
	var n int
	if err := ca.db.sql.QueryRowContext(ctx, ca.db.q("SELECT COUNT(*) FROM certs WHERE settled = 0 AND not_before < ?"), cutoff).Scan(&n); err != nil || n == 0 {
		return err
	}
	return ca.db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, ca.db.q("SELECT serial, renews FROM certs WHERE settled = 0 AND not_before < ?"), cutoff)
		if err != nil {
			return err
		}
		var pairs [][2]string
		for rows.Next() {
			var s, o string
			if err := rows.Scan(&s, &o); err != nil {
				rows.Close()
				return err
			}
			pairs = append(pairs, [2]string{s, o})
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
		r := ca.records(tx)
		for _, p := range pairs {
			if err := r.settle(p[0], p[1], now); err != nil {
				return err
			}
		}
		return nil
	})
}

// CRL returns the DER certificate revocation list: the one stored in the
// database while nothing was revoked since it was signed and it is younger
// than crlRefresh, otherwise a new one, signed with the next number of the
// database's counter and stored, so that every replica serves the same
// newest CRL and numbers never go back. A revoked certificate stays on it
// until it expires.
func (ca *CA) CRL() ([]byte, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	ctx := context.Background()
	now := time.Now()
	if err := ca.expireSuperseded(ctx, now); err != nil {
		return nil, fmt.Errorf("estserver: CRL: %w", err)
	}
	var num, revGen, crlGen, until int64
	if err := ca.db.sql.QueryRowContext(ctx, "SELECT crl_number, rev_gen, crl_gen, crl_until FROM meta WHERE id = 1").Scan(&num, &revGen, &crlGen, &until); err != nil {
		return nil, fmt.Errorf("estserver: CRL: %w", err)
	}
	if crlGen == revGen && now.UnixNano() < until {
		if ca.crl != nil && ca.crlNum == num {
			return ca.crl, nil
		}
		var der []byte
		if err := ca.db.sql.QueryRowContext(ctx, ca.db.q("SELECT crl_der FROM meta WHERE id = 1 AND crl_number = ?"), num).Scan(&der); err == nil && der != nil {
			ca.crl, ca.crlNum = der, num
			return der, nil
		}
	}
	var der []byte
	err := ca.db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		der, num, err = ca.records(tx).signCRL(now, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("estserver: CRL: %w", err)
	}
	ca.crl, ca.crlNum = der, num
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
