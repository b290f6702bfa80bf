package estserver_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// needTools skips (or, with IOTSAFE_REQUIRE_TOOLS=1, fails) without them.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testtool.Need(t, tool)
	}
}

func sh(t *testing.T, dir, script string) string {
	t.Helper()
	c := exec.Command("bash", "-c", "set -euo pipefail; "+script)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// The wire format as software nobody here wrote reads it: every body our
// server sends decodes with OpenSSL's default (line-oriented) base64 reader
// and parses as PKCS#7; a client that sends its request unauthenticated
// first (as libest's estclient does) gets a 401 whose challenge header is
// spelled WWW-Authenticate, then enrols with the credentials it asked for;
// and the CSR our client sends decodes the same way.
func TestWireFormatWithOpenSSLAndCurl(t *testing.T) {
	needTools(t, "openssl", "curl")
	dir := t.TempDir()
	ca, err := estserver.NewCA("wire CA")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap"})
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o600)
	_, csr := newCSR(t, "wire-1")
	os.WriteFile(filepath.Join(dir, "req.b64"), []byte(pemBody(csr)), 0o600)
	url := srv.URL + "/.well-known/est"

	// /cacerts
	sh(t, dir, `curl -sS --fail -D h1 --cacert ca.pem `+url+`/cacerts -o cacerts.b64`)
	out := sh(t, dir, `openssl base64 -d -in cacerts.b64 | openssl pkcs7 -inform DER -print_certs -noout`)
	if !strings.Contains(out, "wire CA") {
		t.Fatalf("/cacerts through openssl: %q", out)
	}
	// /simpleenroll, first without credentials: 401 and the challenge.
	code := sh(t, dir, `curl -sS -o /dev/null -w '%{http_code}' -D h2 --cacert ca.pem -H 'Content-Type: application/pkcs10' --data-binary @req.b64 `+url+`/simpleenroll`)
	hdr, _ := os.ReadFile(filepath.Join(dir, "h2"))
	if code != "401" || !bytes.Contains(hdr, []byte("\nWWW-Authenticate: Basic")) {
		t.Fatalf("unauthenticated enrolment: HTTP %s, headers:\n%s", code, hdr)
	}
	// ... then with the credentials the challenge asked for.
	sh(t, dir, `curl -sS --fail --basic -u device:bootstrap --cacert ca.pem -H 'Content-Type: application/pkcs10' --data-binary @req.b64 `+url+`/simpleenroll -o cert.b64`)
	out = sh(t, dir, `openssl base64 -d -in cert.b64 | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -subject`)
	if !strings.Contains(out, "wire-1") {
		t.Fatalf("/simpleenroll through openssl: %q", out)
	}
	// libest's --pem-output reads the body as a PEM PKCS7: lines needed.
	sh(t, dir, `{ echo '-----BEGIN PKCS7-----'; cat cert.b64; echo '-----END PKCS7-----'; } | openssl pkcs7 -print_certs -noout`)
	// /simplereenroll without a certificate: 401 with a challenge too.
	code = sh(t, dir, `curl -sS -o /dev/null -w '%{http_code}' -D h3 --cacert ca.pem -H 'Content-Type: application/pkcs10' --data-binary @req.b64 `+url+`/simplereenroll`)
	hdr, _ = os.ReadFile(filepath.Join(dir, "h3"))
	if code != "401" || !bytes.Contains(hdr, []byte("\nWWW-Authenticate: ")) {
		t.Fatalf("unauthenticated re-enrolment: HTTP %s, headers:\n%s", code, hdr)
	}

	// Our client's CSR, as a server decodes it with OpenSSL.
	var got []byte
	capture := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		http.Error(w, "captured", http.StatusServiceUnavailable)
	}))
	defer capture.Close()
	roots := x509.NewCertPool()
	roots.AddCert(capture.Certificate())
	c := &est.Client{Server: capture.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	c.SimpleEnroll(context.Background(), csr)
	if !bytes.HasSuffix(got, []byte("\n")) {
		t.Fatalf("the CSR body does not end with a newline: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "client.b64"), got, 0o600)
	out = sh(t, dir, `openssl base64 -d -in client.b64 | openssl req -inform DER -verify -noout -subject 2>&1`)
	if !strings.Contains(out, "wire-1") {
		t.Fatalf("our CSR through openssl: %q", out)
	}
}

// pemBody is the base64 of der in 64-character lines, as libest sends it.
func pemBody(der []byte) string {
	p := string(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: der}))
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return strings.Join(lines[1:len(lines)-1], "\n") + "\n"
}

// A brainpoolP256r1 request made by OpenSSL (not by our code) and sent with
// curl is certified; OpenSSL verifies the certificate against the CA and
// reads its key as the one it generated. The PoP-free bootstrap path.
func TestBrainpoolWithOpenSSLAndCurl(t *testing.T) {
	needTools(t, "openssl", "curl")
	dir := t.TempDir()
	ca, err := estserver.NewCA("bp CA")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap"})
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o600)
	url := srv.URL + "/.well-known/est"
	sh(t, dir, `openssl ecparam -name brainpoolP256r1 -genkey -noout -out key.pem
openssl req -new -key key.pem -subj /CN=bp-meter-1 -outform DER -out req.der
openssl base64 -in req.der -out req.b64
curl -sS --fail --basic -u device:bootstrap --cacert ca.pem -H 'Content-Type: application/pkcs10' --data-binary @req.b64 `+url+`/simpleenroll -o cert.b64
openssl base64 -d -in cert.b64 | openssl pkcs7 -inform DER -print_certs -out cert.pem`)
	out := sh(t, dir, `openssl verify -CAfile ca.pem -purpose sslclient cert.pem; openssl x509 -in cert.pem -noout -subject -text`)
	if !strings.Contains(out, "cert.pem: OK") || !strings.Contains(out, "bp-meter-1") || !strings.Contains(out, "brainpoolP256r1") {
		t.Fatalf("the brainpool certificate through openssl:\n%s", out)
	}
	if a, b := sh(t, dir, `openssl x509 -in cert.pem -noout -pubkey`), sh(t, dir, `openssl pkey -in key.pem -pubout`); a != b {
		t.Fatalf("certified key\n%s\nis not OpenSSL's\n%s", a, b)
	}
	// A request for a curve no IoT SAFE card holds is refused with a reason.
	sh(t, dir, `openssl ecparam -name brainpoolP384r1 -genkey -noout -out k384.pem
openssl req -new -key k384.pem -subj /CN=bp-meter-2 -outform DER | openssl base64 -out r384.b64`)
	code := sh(t, dir, `curl -sS -o body -w '%{http_code}' --basic -u device:bootstrap --cacert ca.pem -H 'Content-Type: application/pkcs10' --data-binary @r384.b64 `+url+`/simpleenroll`)
	body, _ := os.ReadFile(filepath.Join(dir, "body"))
	if code != "400" || !strings.Contains(string(body), "unsupported elliptic curve") {
		t.Fatalf("brainpoolP384r1 request: HTTP %s %s", code, body)
	}
}
