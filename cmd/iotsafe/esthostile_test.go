package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// From the fleet-scale review: about a thousand idle TCP connections (no
// credentials needed) stopped every enrolment for as long as they were
// held, and slow request bodies were held forever. The server runs here as
// its own process with the file-descriptor limit of a typical service
// (1024); one address (127.0.0.2) opens 2,000 idle connections and a few
// TLS connections that send a body a byte at a time; another client (from
// 127.0.0.1) must still enrol, each time within a second.
func TestESTServerHostileClients(t *testing.T) {
	prlimit := testtool.Need(t, "prlimit")
	dir := t.TempDir()
	ready := filepath.Join(dir, "url")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, prlimit, "--nofile=1024:1024", os.Args[0], "est-server", "--dir", filepath.Join(dir, "ca"),
		"--listen", "127.0.0.1:0", "--user", "device", "--ready-file", ready)
	c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1", "IOTSAFE_EST_PASSWORD=bootstrap")
	var serverLog bytes.Buffer
	c.Stderr = &serverLog
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Process.Kill(); c.Wait() }()
	server := testtool.WaitLine(ready, 10*time.Second)
	if server == "" {
		t.Fatalf("EST server did not start: %s", serverLog.String())
	}
	addr := strings.TrimPrefix(server, "https://")
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	// The attacker, from 127.0.0.2.
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 5; i++ {
		raw, err := attacker.Dial("tcp", addr)
		if err != nil {
			continue
		}
		tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		raw.SetDeadline(time.Now().Add(2 * time.Second))
		if tc.Handshake() != nil {
			raw.Close()
			continue
		}
		fmt.Fprintf(tc, "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nContent-Type: application/pkcs10\r\n\r\nM")
		raw.SetDeadline(time.Time{})
		held = append(held, tc)
	}
	// Quickly (50 dialers at once), so that all are held before the
	// server's header timeout could free any.
	conns := make(chan net.Conn, 2000)
	var wg sync.WaitGroup
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if conn, err := attacker.Dial("tcp", addr); err == nil {
					conns <- conn
				}
			}
		}()
	}
	wg.Wait()
	close(conns)
	for conn := range conns {
		held = append(held, conn)
	}
	t.Logf("the attacker opened %d connections", len(held))

	// Another device enrols, three times.
	client := &est.Client{Server: server, Roots: roots, Username: "device", Password: "bootstrap"}
	for i := 0; i < 3; i++ {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("meter-%d", i)}}, key)
		ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := client.SimpleEnroll(ectx, csr)
		took := time.Since(start)
		ecancel()
		if err != nil || took > time.Second {
			t.Fatalf("enrolment %d while the attacker holds %d connections: %v after %v (want success within 1 s)", i, len(held), err, took.Round(time.Millisecond))
		}
	}
}

// From the fleet-scale review: revocation existed only in the Go API. The
// est-server opens admin endpoints with --admin-token-file, and est-admin
// lists, revokes and has a new CRL signed; the CRL the server publishes
// then lists the serial. A wrong token gets 401 and changes nothing.
func TestESTAdminRevokes(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "url")
	token := filepath.Join(dir, "admin.token")
	os.WriteFile(token, []byte("0123456789abcdef-admin\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newRootCmdTo(io.Discard)
	srv.SetArgs([]string{"est-server", "--dir", filepath.Join(dir, "ca"), "--listen", "127.0.0.1:0", "--user", "device",
		"--password-file", writeTemp(t, dir, "pw", "bootstrap"), "--admin-token-file", token, "--ready-file", ready})
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	server := testtool.WaitLine(ready, 5*time.Second)
	if server == "" {
		t.Fatal("EST server did not start")
	}
	caFile := filepath.Join(dir, "ca", "ca.pem")
	caPEM, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-admin"}}, key)
	certs, err := (&est.Client{Server: server, Roots: roots, Username: "device", Password: "bootstrap"}).SimpleEnroll(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	serial := certs[0].SerialNumber
	admin := []string{"est-admin", "--server", server, "--ca", caFile, "--token-file", token}
	if out := mustRun(t, append(admin, "list")...); !strings.Contains(out, serial.String()) || !strings.Contains(out, "meter-admin\t") || !strings.Contains(out, "valid") {
		t.Fatalf("est-admin list: %q", out)
	}
	bad := filepath.Join(dir, "bad.token")
	os.WriteFile(bad, []byte("not-the-admin-token"), 0o600)
	if out, err := run(t, "est-admin", "--server", server, "--ca", caFile, "--token-file", bad, "revoke", serial.String()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoke with a wrong token: %q %v", out, err)
	}
	mustRun(t, append(admin, "revoke", "0x"+serial.Text(16))...)
	// The CRL the server publishes lists it.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Get(server + "/crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Cmp(serial) == 0
	}
	if !listed {
		t.Fatal("the revoked serial is not on the published CRL")
	}
	if out := mustRun(t, append(admin, "list")...); !strings.Contains(out, "revoked") {
		t.Fatalf("est-admin list after the revocation: %q", out)
	}
	// A fresh CRL on demand carries a higher number.
	out := mustRun(t, append(admin, "crl")...)
	fresh, err := x509.ParseRevocationList([]byte(out))
	if err != nil || fresh.Number.Cmp(crl.Number) <= 0 {
		t.Fatalf("est-admin crl: %v, number %v after %v", err, fresh.Number, crl.Number)
	}
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
