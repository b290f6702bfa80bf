package est

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// The attack of the security review: a server (or anything that answers in
// its name) redirects the enrolment elsewhere, and the client re-sends the
// bootstrap password and the CSR there. Plain http and other hosts must
// receive nothing.
func TestNoCredentialsFollowARedirect(t *testing.T) {
	var leaked atomic.Int32
	sink := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.ContentLength > 0 {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusNotFound)
	}
	plain := httptest.NewServer(http.HandlerFunc(sink))
	defer plain.Close()
	other := httptest.NewTLSServer(http.HandlerFunc(sink))
	defer other.Close()
	// The same TLS server reached by another name ("localhost" instead of
	// 127.0.0.1) is another host for the client.
	_, otherPort, _ := net.SplitHostPort(other.Listener.Addr().String())
	targets := map[string]string{
		"plain http":   plain.URL + "/.well-known/est/simpleenroll",
		"another host": "https://localhost:" + otherPort + "/.well-known/est/simpleenroll",
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target, code)
				}))
				roots := x509.NewCertPool()
				roots.AddCert(srv.Certificate())
				roots.AddCert(other.Certificate())
				c := &Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap-secret", Timeout: 5 * time.Second}
				_, err := c.SimpleEnroll(context.Background(), csr)
				srv.Close()
				if err == nil || !strings.Contains(err.Error(), "refused") {
					t.Fatalf("redirect %d to %s: %v", code, name, err)
				}
			}
			if n := leaked.Load(); n != 0 {
				t.Fatalf("%d requests with credentials or a body reached the redirect target", n)
			}
		})
	}
}

// A server that answers 202 with Retry-After (manual approval) is asked
// again after the wait it names, within the bound the caller set; past the
// bound the client gives up with ErrRetryLater.
func TestPendingEnrolmentIsRetried(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-P"}}, key)
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := &Client{Server: srv.URL, Roots: roots, Username: "d", Password: "p", WaitPending: 2500 * time.Millisecond}
	start := time.Now()
	_, err := c.SimpleEnroll(context.Background(), csr)
	if !errors.Is(err, ErrRetryLater) {
		t.Fatalf("err %v, want ErrRetryLater", err)
	}
	if n := calls.Load(); n != 4 || time.Since(start) < 2500*time.Millisecond {
		t.Fatalf("%d requests in %v, want 4 (at 0, 1, 2 and 2.5 s, the bound)", n, time.Since(start))
	}
	c.WaitPending = 0
	calls.Store(0)
	if _, err := c.SimpleEnroll(context.Background(), csr); !errors.Is(err, ErrRetryLater) || calls.Load() != 1 {
		t.Fatalf("without a wait: %v after %d requests", err, calls.Load())
	}
}

// Cisco libest's estserver (3.2.0) answers /csrattrs with its base64 body
// followed by a NUL byte, counted in Content-Length (seen on the wire,
// against its example server): the client takes it.
func TestCSRAttrsFromLibest(t *testing.T) {
	body := "MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg==\x00"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/csrattrs")
		w.Header().Set("Content-Transfer-Encoding", "base64")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	attrs, err := (&Client{Server: srv.URL, Roots: roots}).CSRAttrs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// libest's example asks for: 1.3.6.1.1.1.1.22 (macAddress),
	// emailAddress, secp384r1 and sha384, each as an OID alone.
	for _, oid := range []asn1.ObjectIdentifier{{1, 3, 6, 1, 1, 1, 1, 22}, {1, 2, 840, 113549, 1, 9, 1}, {1, 3, 132, 0, 34}, {2, 16, 840, 1, 101, 3, 4, 2, 2}} {
		if !attrs.Has(oid) {
			t.Errorf("attribute %v missing from %v", oid, attrs)
		}
	}
}

// A certs-only answer holding a brainpoolP256r1 certificate, as OpenSSL
// writes one (crl2pkcs7, what Cisco libest's server sends): pkcs7.Parse
// refuses it (crypto/x509 knows no brainpool curve); the answer still
// yields the certificate, with OpenSSL's key. Hostile variants are errors.
func TestCertsOnlyBrainpoolFromOpenSSL(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "key.pem"},
		{"req", "-x509", "-key", "key.pem", "-subj", "/CN=bp-device", "-days", "1", "-out", "cert.pem"},
		{"pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"},
		{"crl2pkcs7", "-nocrl", "-certfile", "cert.pem", "-outform", "DER", "-out", "p7.der"},
	} {
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	p7, _ := os.ReadFile(filepath.Join(dir, "p7.der"))
	spki, _ := os.ReadFile(filepath.Join(dir, "pub.der"))
	body := []byte(base64.StdEncoding.EncodeToString(p7))
	certs, err := parseCertsOnly("simpleenroll", "application/pkcs7-mime; smime-type=certs-only", body)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || certs[0].Subject.CommonName != "bp-device" || !bytes.Equal(certs[0].RawSubjectPublicKeyInfo, spki) {
		t.Fatalf("got %d certificates", len(certs))
	}
	for name, der := range map[string][]byte{
		"truncated":      p7[:len(p7)-10],
		"trailing bytes": append(bytes.Clone(p7), 0),
		"not signedData": bytes.Replace(p7, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}, 1),
	} {
		_, err := parseCertsOnly("simpleenroll", "application/pkcs7-mime; smime-type=certs-only", []byte(base64.StdEncoding.EncodeToString(der)))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Found by the EST growth benchmark: each operation made its own HTTP
// transport and left its connection open and idle, so a program that
// enrols many times (a gateway for its devices) held one connection per
// operation until the server timed it out, and the server's per-client
// cap closed its next ones. After 30 operations the server holds no open
// connection from this client.
func TestOperationsLeaveNoIdleConnections(t *testing.T) {
	body := "MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg=="
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/csrattrs")
		w.Header().Set("Content-Transfer-Encoding", "base64")
		io.WriteString(w, body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := &Client{Server: srv.URL, Roots: roots}
	for i := 0; i < 30; i++ {
		if _, err := c.CSRAttrs(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n > 0 {
		t.Fatalf("%d connections still open after 30 operations", n)
	}
}
