package csrpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
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

// Every signature algorithm a SIM key signs a request with takes a
// challengePassword: RSA PKCS#1 v1.5 and RSA-PSS (an EST server that asks
// for PSS and proof of possession got "not supported" before), ECDSA with
// P-256 and with brainpoolP256r1; OpenSSL verifies each re-signed request.
func TestChallengePasswordEveryAlgorithm(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	bp, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		key crypto.Signer
		alg x509.SignatureAlgorithm
	}{
		"RSA PKCS#1 SHA-384": {r, x509.SHA384WithRSA},
		"RSA-PSS SHA-256":    {r, x509.SHA256WithRSAPSS},
		"ECDSA P-256":        {p256, x509.ECDSAWithSHA256},
		"ECDSA brainpool":    {bp, x509.ECDSAWithSHA256},
	} {
		der, err := bpx509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pop"}, SignatureAlgorithm: tc.alg}, tc.key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := AddChallengePassword(der, "cGFzcw==", tc.key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := filepath.Join(t.TempDir(), "req.der")
		os.WriteFile(f, out, 0o600)
		o, err := exec.Command(openssl, "req", "-inform", "DER", "-in", f, "-noout", "-text", "-verify").CombinedOutput()
		if err != nil || !strings.Contains(string(o), "verify OK") || !strings.Contains(string(o), "cGFzcw==") {
			t.Fatalf("%s: openssl: %v\n%s", name, err, o)
		}
	}
}
