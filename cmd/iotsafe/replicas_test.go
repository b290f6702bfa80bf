package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/go-iotsafe/iotsafe/internal/pgtest"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// replica is one `iotsafe est-server` process on the shared database.
type replica struct {
	t          *testing.T
	addr, dir  string
	store      string
	cmd        *exec.Cmd
	ready      string
	starts     int
	exited     chan struct{}
	outputTail *strings.Builder
}

func (r *replica) start() {
	r.t.Helper()
	os.Remove(r.ready)
	args := []string{"est-server", "--dir", r.dir, "--listen", r.addr, "--user", "device", "--password", "bootstrap", "--ready-file", r.ready}
	if r.store != "" {
		args = append(args, "--store", r.store)
	}
	r.cmd = exec.Command(os.Args[0], args...)
	r.cmd.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1")
	r.outputTail = &strings.Builder{}
	r.cmd.Stderr = r.outputTail
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.starts++
	r.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(r.cmd, r.exited)
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(r.ready); err == nil {
			return
		}
		select {
		case <-r.exited:
			r.t.Fatalf("est-server on %s exited at start: %s", r.addr, r.outputTail)
		case <-time.After(25 * time.Millisecond):
		}
	}
	r.t.Fatalf("est-server on %s did not start", r.addr)
}

func (r *replica) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// From the fleet-scale review: two est-server processes on one store lost
// half the records, gave names to two keys, and CRL numbers went back. Two
// est-server processes on one real PostgreSQL, enrolled through at random
// by concurrent clients while one of them is killed (SIGKILL) and restarted
// at random: every certificate a client received is in the database and
// verifies with the CA, no serial twice, no name held by two live keys, no
// client ever sees a CRL number lower than one it saw before.
//
// The same with the two processes sharing one directory and its SQLite
// database (the review's setup): SQLite serializes them.
func TestESTReplicasSurviveKill9(t *testing.T) {
	t.Run("postgresql", func(t *testing.T) { replicaKill(t, pgtest.Start(t).URL) })
	t.Run("sqlite-shared-dir", func(t *testing.T) { replicaKill(t, "") })
}

// replicaKill runs the attack with two replicas on store ("": both on the
// SQLite database of one shared --dir).
func replicaKill(t *testing.T, store string) {
	base := t.TempDir()
	dbURL := store
	if store == "" {
		dbURL = filepath.Join(base, "shared", "ca.db")
	}
	var reps []*replica
	for i := range 2 {
		dir := filepath.Join(base, fmt.Sprint("r", i))
		if store == "" {
			dir = filepath.Join(base, "shared")
		}
		r := &replica{t: t, addr: freeAddr(t), dir: dir, store: store, ready: filepath.Join(base, fmt.Sprint("ready", i))}
		r.start()
		defer r.kill()
		reps = append(reps, r)
	}
	caPEM, err := os.ReadFile(filepath.Join(reps[0].dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if other, _ := os.ReadFile(filepath.Join(reps[1].dir, "ca.pem")); string(other) != string(caPEM) {
		t.Fatal("the two replicas have different CAs")
	}
	blk, _ := pem.Decode(caPEM)
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)

	var mu sync.Mutex // guards reps' processes (the killer restarts them)
	url := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return "https://" + reps[i].addr
	}
	const workers = 6
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var delivered sync.Map // serial -> *x509.Certificate
	var enrolled, conflicts, failures, regressions, crlsSeen atomic.Int64
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lastCRL int64
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := mrand.IntN(2)
				cn := fmt.Sprintf("w%d-%d", w, i)
				if i%3 == 0 {
					cn = fmt.Sprintf("shared-%d", i%7) // contested by every worker
				}
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				c := &est.Client{Server: url(r), Roots: roots, Username: "device", Password: "bootstrap"}
				certs, err := c.SimpleEnroll(ctx, der)
				cancel()
				if err == nil {
					delivered.Store(certs[0].SerialNumber.String(), certs[0])
					enrolled.Add(1)
				} else if he := (*est.HTTPError)(nil); errors.As(err, &he) && he.Status == http.StatusConflict {
					conflicts.Add(1)
				} else {
					failures.Add(1) // mostly the replica being killed
					time.Sleep(20 * time.Millisecond)
				}
				if i%4 == 0 {
					resp, err := hc.Get(url(mrand.IntN(2)) + "/crl")
					if err != nil {
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					crl, err := x509.ParseRevocationList(b)
					if err != nil || crl.CheckSignatureFrom(caCert) != nil {
						continue
					}
					crlsSeen.Add(1)
					if n := crl.Number.Int64(); n < lastCRL {
						regressions.Add(1)
					} else {
						lastCRL = n
					}
				}
			}
		}()
	}
	// The killer: SIGKILL a replica at random, restart it.
	kills := 0
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(300+mrand.IntN(700)) * time.Millisecond)
		i := mrand.IntN(2)
		mu.Lock()
		reps[i].kill()
		reps[i].start()
		mu.Unlock()
		kills++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d enrolments delivered, %d refused (409: a contested name), %d failed (a killed replica), %d kills, %d CRLs fetched",
		enrolled.Load(), conflicts.Load(), failures.Load(), kills, crlsSeen.Load())
	if enrolled.Load() < 20 || kills < 4 || crlsSeen.Load() < 10 {
		t.Fatalf("too little happened to judge: %d enrolments, %d kills, %d CRLs", enrolled.Load(), kills, crlsSeen.Load())
	}
	if n := regressions.Load(); n != 0 {
		t.Errorf("%d CRL number regressions seen by clients", n)
	}

	driver := "pgx"
	if store == "" {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lost := 0
	delivered.Range(func(k, v any) bool {
		var der []byte
		if err := db.QueryRow("SELECT der FROM certs WHERE serial = $1", k).Scan(&der); err != nil {
			t.Logf("serial %s: %v", k, err)
			lost++
			return true
		}
		c := v.(*x509.Certificate)
		if string(der) != string(c.Raw) {
			t.Errorf("serial %s: the database holds another certificate than the one delivered", k)
		}
		if err := c.CheckSignatureFrom(caCert); err != nil {
			t.Errorf("serial %s does not verify with the CA: %v", k, err)
		}
		return true
	})
	if lost != 0 {
		t.Errorf("%d certificates that clients received are missing from the database", lost)
	}
	var rows, serials int
	db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT serial) FROM certs").Scan(&rows, &serials)
	if rows != serials {
		t.Errorf("%d certificates, %d distinct serials", rows, serials)
	}
	var twice int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT n.name FROM cert_names n JOIN certs c ON c.serial = n.serial
		WHERE c.revoked_at IS NULL GROUP BY n.name HAVING COUNT(DISTINCT c.spki) > 1) AS x`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d names are held by two live keys", twice)
	}
}
