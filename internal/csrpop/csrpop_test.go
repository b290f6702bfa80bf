package csrpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// The request carries the challengePassword in the RFC 2985 form: OpenSSL,
// which EST servers such as libest use to read it, shows it as such.
func TestChallengePasswordAsOpenSSLReadsIt(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pop"}}, key)
	out, err := AddChallengePassword(der, "q2Zl7xV+/w==", key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(out)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("parse: %v", err)
	}
	if pw, ok := ChallengePassword(csr); !ok || pw != "q2Zl7xV+/w==" {
		t.Fatalf("challengePassword %q %v", pw, ok)
	}
	if _, ok := ChallengePassword(mustParse(t, der)); ok {
		t.Fatal("a request without one has a challengePassword")
	}
	testtool.Need(t, "openssl")
	f := filepath.Join(t.TempDir(), "req.der")
	os.WriteFile(f, out, 0o600)
	o, err := exec.Command("openssl", "req", "-inform", "DER", "-in", f, "-noout", "-text", "-verify").CombinedOutput()
	if err != nil || !strings.Contains(string(o), "challengePassword") || !strings.Contains(string(o), "q2Zl7xV+/w==") {
		t.Fatalf("openssl: %v\n%s", err, o)
	}
}

func mustParse(t *testing.T, der []byte) *x509.CertificateRequest {
	c, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
