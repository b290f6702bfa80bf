package estserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/pgtest"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// From the fleet-scale review: two servers creating the CA at once left a
// CA key that did not match the CA certificate in 1 of 10 tries. Replicas
// (goroutines here, each with its own connection pool) opening one store at
// once all get the same CA, whose key matches it.
func TestCACreatedOnceByReplicas(t *testing.T) {
	pg := pgtest.Start(t)
	for _, store := range []string{"sqlite:" + filepath.Join(t.TempDir(), "ca.db"), pg.URL} {
		const n = 8
		cas := make([]*estserver.CA, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cas[i], errs[i] = estserver.OpenCA(context.Background(), store, fmt.Sprintf("replica %d", i))
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%s: replica %d: %v", store, i, errs[i])
			}
			defer cas[i].Close()
			if !cas[i].Cert.Equal(cas[0].Cert) {
				t.Fatalf("%s: replica %d has CA %q, replica 0 %q", store, i, cas[i].Cert.Subject, cas[0].Cert.Subject)
			}
		}
		// The key matches: a certificate one replica issues verifies
		// with the CA every replica has.
		_, der := newCSR(t, "check-"+fmt.Sprint(len(store)))
		csr, _ := x509.ParseCertificateRequest(der)
		c, err := cas[n-1].Issue(csr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckSignatureFrom(cas[0].Cert); err != nil {
			t.Fatalf("%s: a certificate does not verify with the CA: %v", store, err)
		}
	}
}

// replicas starts n EST servers on one PostgreSQL database.
func replicas(t *testing.T, url string, n int) ([]*estserver.CA, []string, *x509.CertPool) {
	t.Helper()
	var cas []*estserver.CA
	var urls []string
	for range n {
		ca, err := estserver.OpenCA(context.Background(), url, "replicated CA")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ca.Close() })
		srv := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap"})
		cas, urls = append(cas, ca), append(urls, srv.URL)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0].Cert)
	return cas, urls, roots
}

// From the fleet-scale review: two processes on one store lost half the
// records and delivered 200 names to two different keys. Two replicas on
// one PostgreSQL, each name asked for by two keys at once, one through
// each replica: exactly one key gets it, the other 409, and every
// certificate delivered is in the database.
func TestReplicasGiveANameToOneKey(t *testing.T) {
	pg := pgtest.Start(t)
	cas, urls, roots := replicas(t, pg.URL, 2)
	const names = 30
	type result struct {
		cert *x509.Certificate
		err  error
	}
	res := make([][2]result, names)
	var wg sync.WaitGroup
	for i := range names {
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &est.Client{Server: urls[r], Roots: roots, Username: "device", Password: "bootstrap"}
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("contested-%d", i)}}, key)
				certs, err := c.SimpleEnroll(context.Background(), der)
				if err == nil {
					res[i][r].cert = certs[0]
				}
				res[i][r].err = err
			}()
		}
	}
	wg.Wait()
	for i, pair := range res {
		won := 0
		for r, x := range pair {
			var he *est.HTTPError
			switch {
			case x.err == nil:
				won++
				if cas[1-r].Issued(x.cert.SerialNumber) == nil {
					t.Errorf("name %d: certificate %s delivered by replica %d is not in the database", i, x.cert.SerialNumber, r)
				}
			case errors.As(x.err, &he) && he.Status == http.StatusConflict:
			default:
				t.Errorf("name %d, replica %d: %v", i, r, x.err)
			}
		}
		if won != 1 {
			t.Errorf("name contested-%d went to %d keys", i, won)
		}
	}
}

// From the fleet-scale review: CRL numbers regressed across restarts and
// under load, and a revoked serial disappeared from a later CRL. Two
// replicas revoking and serving CRLs in turn: every CRL a client fetches,
// from either, has a number at least the last one's, a new number after
// each revocation, and every serial revoked so far.
func TestCRLNumbersAcrossReplicas(t *testing.T) {
	pg := pgtest.Start(t)
	cas, _, _ := replicas(t, pg.URL, 2)
	var last int64
	var revoked []*big.Int
	check := func(who int, changed bool) {
		t.Helper()
		der, err := cas[who].CRL()
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		n := crl.Number.Int64()
		if n < last || changed && n == last {
			t.Fatalf("replica %d served CRL number %d after %d (a revocation in between: %v)", who, n, last, changed)
		}
		last = n
		on := map[string]bool{}
		for _, e := range crl.RevokedCertificateEntries {
			on[e.SerialNumber.String()] = true
		}
		for _, s := range revoked {
			if !on[s.String()] {
				t.Fatalf("revoked serial %s is missing from CRL %d of replica %d", s, n, who)
			}
		}
	}
	for i := range 10 {
		_, der := newCSR(t, fmt.Sprintf("crl-%d", i))
		csr, _ := x509.ParseCertificateRequest(der)
		c, err := cas[i%2].Issue(csr)
		if err != nil {
			t.Fatal(err)
		}
		check(0, false)
		check(1, false)
		if err := cas[(i+1)%2].Revoke(c.SerialNumber); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, c.SerialNumber)
		check(i%2, true)
		check((i+1)%2, false)
	}
}

// From the fleet-scale review's lost records: a database refuses what the
// rules forbid even when a program does not ask first. A second successor
// of one certificate is refused by the database itself.
func TestDatabaseRefusesASecondSuccessor(t *testing.T) {
	ca, err := estserver.OpenCA(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "ca.db"), "successor CA")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	issue := func(cn string) *x509.Certificate {
		_, der := newCSR(t, cn)
		csr, _ := x509.ParseCertificateRequest(der)
		c, err := ca.Issue(csr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old, a, b := issue("s-1"), issue("s-1"), issue("s-1")
	if err := ca.Renewed(a.SerialNumber, old.SerialNumber); err != nil {
		t.Fatal(err)
	}
	if err := ca.Renewed(b.SerialNumber, old.SerialNumber); err == nil {
		t.Fatal("the database recorded a second successor of one certificate")
	}
}

// A store the server does not support is refused with the ones it does.
func TestUnsupportedStoreRefused(t *testing.T) {
	_, err := estserver.OpenCA(context.Background(), "mysql://ca@db.example/est", "x")
	if !errors.Is(err, estserver.ErrUnsupportedStore) {
		t.Fatalf("mysql:// store: %v", err)
	}
}

// The file store of earlier versions (ca.pem, ca-key.pem, ca-state.json)
// is migrated into the database once: the certificates issued, the
// revocations (still on the CRL), the CRL number (continued above it) and
// the enrolment records.
func TestMigrationFromFileStore(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "old file CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, caCert, k.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	state, _ := json.Marshal(map[string]any{
		"issued":      map[string][]byte{"1001": leaf(1001, "kept"), "1002": leaf(1002, "revoked")},
		"revoked":     map[string]time.Time{"1002": time.Now().Add(-time.Minute)},
		"crl_number":  7,
		"enrolled_by": map[string]string{"1001": "user:device"},
	})
	os.WriteFile(filepath.Join(dir, "ca-state.json"), state, 0o600)

	ca, err := estserver.LoadOrCreateCA(dir, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if !ca.Cert.Equal(caCert) || ca.Issued(big.NewInt(1001)) == nil || !ca.IsRevoked(big.NewInt(1002)) || ca.IsRevoked(big.NewInt(1001)) {
		t.Fatal("the migrated CA lacks its certificate, an issued certificate or a revocation")
	}
	der, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, _ := x509.ParseRevocationList(der)
	if crl.Number.Int64() <= 7 || len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Int64() != 1002 {
		t.Fatalf("CRL after migration: number %v, entries %v", crl.Number, crl.RevokedCertificateEntries)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca-state.json.migrated")); err != nil {
		t.Fatalf("the file store was not set aside: %v", err)
	}
	// The database is private: it holds the CA key.
	if fi, err := os.Stat(filepath.Join(dir, "ca.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.db: %v %v", fi.Mode(), err)
	}
	// Open again: nothing migrated twice, same CA.
	ca.Close()
	again, err := estserver.LoadOrCreateCA(dir, "ignored")
	if err != nil || !again.Cert.Equal(caCert) {
		t.Fatalf("reopening: %v", err)
	}
	again.Close()
	var n int
	db, _ := sql.Open("sqlite", filepath.Join(dir, "ca.db"))
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FROM certs").Scan(&n); err != nil || n != 2 {
		t.Fatalf("certificates in the database: %d %v", n, err)
	}
}

// A file store that revokes a certificate it never issued is not migrated
// (the revocation would be lost without a word): the error names it and
// the file store stays as it was.
func TestMigrationRefusesAnUnknownRevocation(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	state, _ := json.Marshal(map[string]any{"revoked": map[string]time.Time{"4242": time.Now()}, "crl_number": 3})
	os.WriteFile(filepath.Join(dir, "ca-state.json"), state, 0o600)
	for try := range 2 { // the second start must not make a new CA beside the file store
		if _, err := estserver.LoadOrCreateCA(dir, "x"); err == nil || !strings.Contains(err.Error(), "revokes serial 4242") {
			t.Fatalf("start %d, migration with an unknown revocation: %v", try, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ca-state.json")); err != nil {
		t.Fatalf("the file store was moved although nothing was migrated: %v", err)
	}
}

// The database holds the CA's private key. A symlink planted as ca.db in
// the server's directory would have the key written where it points (a
// file another user can read); a readable database leaks it. Both are
// refused before anything is written, and the target is left untouched.
func TestDatabaseFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "readable")
	if err := os.WriteFile(elsewhere, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "ca.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(dir, "x"); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("ca.db as a symlink: %v", err)
	}
	if fi, err := os.Stat(elsewhere); err != nil || fi.Size() != 0 {
		t.Fatalf("the symlink's target was written: %v %v", fi, err)
	}

	dir = t.TempDir()
	ca, err := estserver.LoadOrCreateCA(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	ca.Close()
	db := filepath.Join(dir, "ca.db")
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new ca.db: %v %v (want mode 0600)", fi, err)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(dir, "x"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("ca.db readable by others: %v", err)
	}
}

// The admin listing said "no certificates" (an empty list) when the
// database failed; it is an error now.
func TestCertificatesListingReportsADatabaseFailure(t *testing.T) {
	ca, err := estserver.LoadOrCreateCA(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if list, err := ca.Certificates(); err != nil || len(list) != 0 {
		t.Fatalf("a new CA lists %v, %v", list, err)
	}
	ca.Close()
	if list, err := ca.Certificates(); err == nil {
		t.Fatalf("a closed database listed %v without an error", list)
	}
}

// The directory of the CA's database must be the server's alone: another
// user who can write to it can plant a file store (ca.pem and ca-key.pem
// of a CA whose key the attacker holds) that a first start would migrate
// and then issue device certificates under, or swap the database for a
// symbolic link between the server's check and SQLite's open. A directory
// that group or others can write to, sticky or not, is refused before
// anything in it is read or written.
func TestCADirectoryMustBePrivate(t *testing.T) {
	attackerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, attackerKey.Public(), attackerKey)
	keyDER, _ := x509.MarshalECPrivateKey(attackerKey)
	for _, mode := range []os.FileMode{0o777, 0o1777, 0o770, 0o702} {
		dir := filepath.Join(t.TempDir(), "ca")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// What another user with write access plants before the first start.
		os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
		os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		ca, err := estserver.LoadOrCreateCA(dir, "x")
		if err == nil {
			adopted := ca.Cert.Subject.CommonName == "attacker CA"
			ca.Close()
			t.Fatalf("--dir with mode %v accepted (the planted CA adopted: %v)", mode, adopted)
		}
		if !strings.Contains(err.Error(), "others can write") || !strings.Contains(err.Error(), "chmod go-w") {
			t.Fatalf("--dir with mode %v: %v (want a refusal that names the fix)", mode, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "ca.db")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("--dir with mode %v: ca.db was created although the directory was refused: %v", mode, err)
		}
		// The same directory named through --store sqlite:PATH.
		if _, err := estserver.OpenCA(context.Background(), "sqlite:"+filepath.Join(dir, "other.db"), "x"); err == nil || !strings.Contains(err.Error(), "others can write") {
			t.Fatalf("sqlite:PATH in a directory of mode %v: %v", mode, err)
		}
	}

	// A private directory in a parent others can write to (not sticky):
	// they could rename it and put their own in its place after the check.
	open := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(filepath.Join(open, "ca"), "x"); err == nil || !strings.Contains(err.Error(), "could swap the directory") {
		t.Fatalf("--dir in a world-writable, non-sticky parent: %v", err)
	}
	// A link from a private place to that directory: the link's parent is
	// fine, the real directory's is not.
	linked := filepath.Join(t.TempDir(), "ca-link")
	if err := os.Mkdir(filepath.Join(open, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(open, "real"), linked); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(linked, "x"); err == nil || !strings.Contains(err.Error(), "could swap the directory") {
		t.Fatalf("--dir linked into a world-writable, non-sticky parent: %v", err)
	}
	// The same parent made sticky (as /tmp is): nobody else can rename it.
	if err := os.Chmod(open, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if ca, err := estserver.LoadOrCreateCA(filepath.Join(open, "ca2"), "x"); err != nil {
		t.Fatalf("--dir in a sticky parent: %v", err)
	} else {
		ca.Close()
	}

	// A private directory works, and the file store in it is migrated.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	ca, err := estserver.LoadOrCreateCA(dir, "x")
	if err != nil {
		t.Fatalf("private directory: %v", err)
	}
	ca.Close()

	if os.Geteuid() != 0 {
		return // what follows needs files of another user
	}
	// Run as root: a directory, or a database file, that belongs to
	// another user is refused too (its owner could swap or read it).
	other := t.TempDir()
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(other, "x"); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Fatalf("--dir of another user: %v", err)
	}
	dir = t.TempDir()
	db := filepath.Join(dir, "ca.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(db, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := estserver.LoadOrCreateCA(dir, "x"); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Fatalf("ca.db of another user: %v", err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Fatalf("the other user's ca.db was written: %v %v", fi, err)
	}
}
