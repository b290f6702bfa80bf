package estserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// records are the CA's records as one transaction sees them: every
// enrolment decision (who holds a name, what a certificate renewed) and the
// changes it makes happen in one transaction of the database.
type records struct {
	ca  *CA
	tx  *sql.Tx
	ctx context.Context
}

func (ca *CA) records(tx *sql.Tx) *records {
	return &records{ca: ca, tx: tx, ctx: context.Background()}
}

func (r *records) q(query string) string { return r.ca.db.q(query) }

// keyID names a public key by its value (curve and point, or modulus and
// exponent), whatever its encoding: two certificates certify the same key
// exactly when their keyIDs are equal.
func keyID(pub crypto.PublicKey) (string, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		fmt.Fprintf(h, "ec:%s:%x:%x", k.Curve.Params().Name, k.X.Bytes(), k.Y.Bytes())
	case *rsa.PublicKey:
		fmt.Fprintf(h, "rsa:%x:%d", k.N.Bytes(), k.E)
	default:
		return "", fmt.Errorf("estserver: key type %T", pub)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// namesOf is the certificate's names in the form they are compared:
// the common name and the DNS SANs, normalized, once each.
func namesOf(c *x509.Certificate) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append([]string{c.Subject.CommonName}, c.DNSNames...) {
		if n = normName(n); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// lockNames makes the enrolments that decide about the same names (and
// the same certificate's renewal) wait for each other, on PostgreSQL, where
// replicas run transactions at once: a transaction-scoped advisory lock per
// name, taken in one order. SQLite runs one writing transaction at a time.
func (r *records) lockNames(names []string, renewing *x509.Certificate) error {
	if r.ca.db.d != dialectPostgres {
		return nil
	}
	keys := map[string]bool{}
	for _, n := range names {
		keys["name:"+normName(n)] = true
	}
	if renewing != nil {
		keys["renew:"+renewing.SerialNumber.String()] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if _, err := r.tx.ExecContext(r.ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7030))", k); err != nil {
			return err
		}
	}
	return nil
}

// issue signs and records a certificate for csr; renews is the
// certificate a renewal replaces (nil otherwise).
func (r *records) issue(csr *x509.CertificateRequest, enrolledBy string, renews *x509.Certificate) (*x509.Certificate, error) {
	cert, err := r.ca.sign(csr)
	if err != nil {
		return nil, err
	}
	old := ""
	if renews != nil {
		old = renews.SerialNumber.String()
	}
	if err := r.insert(cert, enrolledBy, old); err != nil {
		return nil, fmt.Errorf("issued, but recording it failed: %w", err)
	}
	return cert, nil
}

// insert records an issued certificate, and makes its key the owner of
// its names. The owners table's primary key lets one key own a name: two
// transactions taking a free name at once cannot both succeed.
func (r *records) insert(cert *x509.Certificate, enrolledBy, renews string) error {
	kid, err := keyID(cert.PublicKey)
	if err != nil {
		return err
	}
	serial := cert.SerialNumber.String()
	var by, ren sql.NullString
	if enrolledBy != "" {
		by = sql.NullString{String: enrolledBy, Valid: true}
	}
	settled := 1
	if renews != "" {
		ren, settled = sql.NullString{String: renews, Valid: true}, 0
	}
	if _, err := r.tx.ExecContext(r.ctx, r.q(`INSERT INTO certs (serial, der, cn, spki, not_before, not_after, enrolled_by, renews, settled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		serial, cert.Raw, cert.Subject.CommonName, kid, cert.NotBefore.UnixNano(), cert.NotAfter.UnixNano(), by, ren, settled); err != nil {
		return err
	}
	if renews != "" && enrolledBy == "" {
		if _, err := r.tx.ExecContext(r.ctx, r.q("UPDATE certs SET enrolled_by = (SELECT enrolled_by FROM certs WHERE serial = ?) WHERE serial = ?"), renews, serial); err != nil {
			return err
		}
	}
	for _, n := range namesOf(cert) {
		if _, err := r.tx.ExecContext(r.ctx, r.q("INSERT INTO cert_names (name, serial) VALUES (?, ?)"), n, serial); err != nil {
			return err
		}
		var owner string
		err := r.tx.QueryRowContext(r.ctx, r.q("SELECT spki FROM owners WHERE name = ?"), n).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = r.tx.ExecContext(r.ctx, r.q("INSERT INTO owners (name, spki, serial) VALUES (?, ?, ?)"), n, kid, serial)
		case err == nil:
			// Taken from the owner read, and only from it: a
			// concurrent change makes this update miss, and the
			// transaction fails and is tried again.
			var res sql.Result
			res, err = r.tx.ExecContext(r.ctx, r.q("UPDATE owners SET spki = ?, serial = ? WHERE name = ? AND spki = ?"), kid, serial, n, owner)
			if err == nil {
				if k, _ := res.RowsAffected(); k != 1 {
					err = errConflict
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errConflict is a concurrent change of what a transaction read.
var errConflict = errors.New("estserver: a concurrent enrolment changed the same records")

func scanCert(der []byte, err error) (*x509.Certificate, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return bpx509.ParseCertificate(der)
}

// issued returns the certificate with this serial (nil when none).
func (r *records) issued(serial string) (*x509.Certificate, error) {
	var der []byte
	err := r.tx.QueryRowContext(r.ctx, r.q("SELECT der FROM certs WHERE serial = ?"), serial).Scan(&der)
	return scanCert(der, err)
}

// revoke revokes the certificate with this serial (if it is not already).
func (r *records) revoke(serial string, now time.Time) error {
	res, err := r.tx.ExecContext(r.ctx, r.q("UPDATE certs SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL"), now.UnixNano(), serial)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		_, err = r.tx.ExecContext(r.ctx, "UPDATE meta SET rev_gen = rev_gen + 1 WHERE id = 1")
	}
	return err
}

// renewed records that newSerial renews oldSerial (see CA.Renewed).
func (r *records) renewed(newSerial, oldSerial string) error {
	_, err := r.tx.ExecContext(r.ctx, r.q(`UPDATE certs SET renews = ?, settled = 0,
		enrolled_by = COALESCE(enrolled_by, (SELECT enrolled_by FROM certs WHERE serial = ?)) WHERE serial = ?`), oldSerial, oldSerial, newSerial)
	return err
}

// settle ends a renewal: the predecessor is revoked.
func (r *records) settle(serial, old string, now time.Time) error {
	if err := r.revoke(old, now); err != nil {
		return err
	}
	_, err := r.tx.ExecContext(r.ctx, r.q("UPDATE certs SET settled = 1 WHERE serial = ?"), serial)
	return err
}

// setEnrolledBy records who enrolled the certificate with this serial.
func (r *records) setEnrolledBy(serial, key string) error {
	_, err := r.tx.ExecContext(r.ctx, r.q("UPDATE certs SET enrolled_by = ? WHERE serial = ?"), key, serial)
	return err
}

// enrolledByOf returns who enrolled the certificate with this serial ("" if
// unknown).
func (r *records) enrolledByOf(serial *big.Int) (string, error) {
	var by sql.NullString
	err := r.tx.QueryRowContext(r.ctx, r.q("SELECT enrolled_by FROM certs WHERE serial = ?"), serial.String()).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return by.String, err
}

// successor returns the certificate that renewed the certificate with
// serial old, nil when it was not renewed.
func (r *records) successor(old *big.Int) (*x509.Certificate, error) {
	var der []byte
	err := r.tx.QueryRowContext(r.ctx, r.q("SELECT der FROM certs WHERE renews = ?"), old.String()).Scan(&der)
	return scanCert(der, err)
}

// liveWithKey returns the newest live certificate of this CA for pub with
// this common name, nil when there is none.
func (r *records) liveWithKey(pub crypto.PublicKey, cn string) (*x509.Certificate, error) {
	kid, err := keyID(pub)
	if err != nil {
		return nil, nil
	}
	var der []byte
	err = r.tx.QueryRowContext(r.ctx, r.q(`SELECT der FROM certs WHERE spki = ? AND cn = ? AND revoked_at IS NULL AND not_after > ?
		ORDER BY not_before DESC LIMIT 1`), kid, cn, time.Now().UnixNano()).Scan(&der)
	return scanCert(der, err)
}

// liveHolder returns a certificate the CA issued for one of names that is
// neither revoked nor expired and certifies another key than pub, other
// than except (the certificate a re-enrolment presents), and the name it
// holds.
func (r *records) liveHolder(names []string, pub crypto.PublicKey, except *x509.Certificate) (*x509.Certificate, string, error) {
	kid, err := keyID(pub)
	if err != nil {
		return nil, "", err
	}
	ex := ""
	if except != nil {
		ex = except.SerialNumber.String()
	}
	now := time.Now().UnixNano()
	for _, asked := range names {
		var der []byte
		err := r.tx.QueryRowContext(r.ctx, r.q(`SELECT c.der FROM cert_names n JOIN certs c ON c.serial = n.serial
			WHERE n.name = ? AND c.revoked_at IS NULL AND c.not_after > ? AND c.spki <> ? AND c.serial <> ? LIMIT 1`),
			normName(asked), now, kid, ex).Scan(&der)
		c, err := scanCert(der, err)
		if err != nil {
			return nil, "", err
		}
		if c != nil {
			return c, asked, nil
		}
	}
	return nil, "", nil
}

// signCRL signs the next CRL and stores it, unless (without force) the
// stored one is still current; it returns the CRL and its number.
func (r *records) signCRL(now time.Time, force bool) ([]byte, int64, error) {
	forUpdate := ""
	if r.ca.db.d == dialectPostgres {
		forUpdate = " FOR UPDATE"
	}
	var num, revGen, crlGen, until int64
	var stored []byte
	if err := r.tx.QueryRowContext(r.ctx, "SELECT crl_number, rev_gen, crl_gen, crl_until, crl_der FROM meta WHERE id = 1"+forUpdate).
		Scan(&num, &revGen, &crlGen, &until, &stored); err != nil {
		return nil, 0, err
	}
	if !force && stored != nil && crlGen == revGen && now.UnixNano() < until {
		return stored, num, nil // another process signed it meanwhile
	}
	rows, err := r.tx.QueryContext(r.ctx, r.q("SELECT serial, revoked_at FROM certs WHERE revoked_at IS NOT NULL AND not_after > ?"), now.UnixNano())
	if err != nil {
		return nil, 0, err
	}
	var entries []x509.RevocationListEntry
	for rows.Next() {
		var s string
		var at int64
		if err := rows.Scan(&s, &at); err != nil {
			rows.Close()
			return nil, 0, err
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			rows.Close()
			return nil, 0, fmt.Errorf("estserver: stored serial %q is not a number", s)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: time.Unix(0, at)})
	}
	// A read that failed part way must not sign a CRL without the rest.
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, 0, err
	}
	if err := rows.Close(); err != nil {
		return nil, 0, err
	}
	num++
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(num),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, r.ca.Cert, r.ca.key)
	if err != nil {
		return nil, 0, err
	}
	if _, err := r.tx.ExecContext(r.ctx, r.q("UPDATE meta SET crl_number = ?, crl_der = ?, crl_gen = ?, crl_until = ? WHERE id = 1"),
		num, der, revGen, now.Add(crlRefresh).UnixNano()); err != nil {
		return nil, 0, err
	}
	return der, num, nil
}
