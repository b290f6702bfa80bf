package estserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// The files a persistent CA keeps in its directory: the database, and the
// CA certificate for clients to trust. ca-key.pem and ca-state.json are
// the file store of earlier versions, imported once into the database
// (ca-state.json is then renamed ca-state.json.migrated).
const (
	caDBFile    = "ca.db"
	caCertFile  = "ca.pem"
	caKeyFile   = "ca-key.pem"
	caStateFile = "ca-state.json"
)

// caState is the file store's record of earlier versions.
type caState struct {
	Revoked    map[string]time.Time `json:"revoked"`
	Issued     map[string][]byte    `json:"issued"` // serial -> DER
	CRLNum     int64                `json:"crl_number"`
	Supersedes map[string]string    `json:"supersedes,omitempty"`
	EnrolledBy map[string]string    `json:"enrolled_by,omitempty"`
}

// caMaterial is what a new database starts with: a CA key and certificate
// and, migrated from a file store, its records.
type caMaterial struct {
	cert      *x509.Certificate
	key       *ecdsa.PrivateKey
	crlNumber int64
	state     *caState
}

// load imports the file store's records into a database that has just
// received this material. Called in the transaction that inserted it.
func (m *caMaterial) load(ctx context.Context, d *db, tx *sql.Tx) error {
	if m.state == nil {
		return nil
	}
	var cur []byte
	if err := tx.QueryRowContext(ctx, "SELECT ca_cert FROM meta WHERE id = 1").Scan(&cur); err != nil {
		return err
	}
	if string(cur) != string(m.cert.Raw) {
		return errors.New("the database already holds another CA; nothing migrated")
	}
	r := (&CA{Cert: m.cert, key: m.key, db: d}).records(tx)
	renews := map[string]string{}
	for n, o := range m.state.Supersedes {
		renews[n] = o
	}
	for s, der := range m.state.Issued {
		c, err := bpx509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%s: issued certificate %s: %w", caStateFile, s, err)
		}
		if err := r.insert(c, m.state.EnrolledBy[s], renews[s]); err != nil {
			return fmt.Errorf("migrating certificate %s: %w", s, err)
		}
	}
	for s, t := range m.state.Revoked {
		res, err := tx.ExecContext(ctx, d.q("UPDATE certs SET revoked_at = ? WHERE serial = ?"), t.UnixNano(), s)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// A revocation of a certificate the store does not hold
			// would be lost without a word: refuse the migration.
			return fmt.Errorf("%s revokes serial %s, which it never issued: fix the file, nothing was migrated", caStateFile, s)
		}
	}
	_, err := tx.ExecContext(ctx, "UPDATE meta SET rev_gen = rev_gen + 1 WHERE id = 1")
	return err
}

// readFileStore reads a file store (ca.pem, ca-key.pem, ca-state.json) in
// dir; nil when there is none.
func readFileStore(dir string) (*caMaterial, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		// A ca.pem alone (written for clients by a database store that
		// was then removed) is no CA to migrate.
		return nil, fmt.Errorf("%s has %s but no %s and no %s: restore the database, or move %s away to start a new CA", dir, caCertFile, caKeyFile, caDBFile, caCertFile)
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, caCertFile))
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caCertFile), err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", filepath.Join(dir, caKeyFile))
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caKeyFile), err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not hold the key of %s", caKeyFile, caCertFile)
	}
	m := &caMaterial{cert: cert, key: key}
	sb, err := os.ReadFile(filepath.Join(dir, caStateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		var st caState
		if err := json.Unmarshal(sb, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caStateFile), err)
		}
		m.state, m.crlNumber = &st, st.CRLNum
	}
	return m, nil
}

// LoadOrCreateCA opens the CA kept in dir: its records in a SQLite
// database (ca.db, mode 0600: it holds the CA's key) and its certificate
// in ca.pem for clients. A directory with the file store of earlier
// versions (ca.pem, ca-key.pem, ca-state.json) is migrated into the
// database the first time; an empty one gets a new CA named commonName.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	ctx := context.Background()
	dbPath := filepath.Join(dir, caDBFile)
	// Nothing in dir is read before it is known to be ours alone: a file
	// store planted there by another user would be migrated.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	var mat *caMaterial
	_, err := os.Stat(dbPath)
	fresh := errors.Is(err, os.ErrNotExist)
	if fresh {
		if mat, err = readFileStore(dir); err != nil {
			return nil, err
		}
	}
	d, err := openDB(ctx, "sqlite:"+dbPath)
	if err != nil {
		return nil, err
	}
	ca, err := loadCA(ctx, d, commonName, mat)
	if err != nil {
		d.sql.Close()
		if fresh {
			// The database this call created holds nothing: without it
			// the next start tries the migration again, instead of
			// starting a new CA beside the file store.
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dbPath + suffix)
			}
		}
		return nil, err
	}
	if mat != nil && mat.state != nil {
		if err := os.Rename(filepath.Join(dir, caStateFile), filepath.Join(dir, caStateFile+".migrated")); err != nil {
			return nil, err
		}
	}
	if err := ca.WriteCertPEM(filepath.Join(dir, caCertFile)); err != nil {
		return nil, err
	}
	return ca, nil
}

// WriteCertPEM writes the CA certificate (PEM) to path, for clients, when
// the file does not hold it already.
func (ca *CA) WriteCertPEM(path string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == string(ca.CertPEM()) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, ca.CertPEM(), 0o644)
}

// Save does nothing: every change is in the database when the call that
// made it returns. It is kept for callers of the file store's API.
func (ca *CA) Save() error { return nil }
