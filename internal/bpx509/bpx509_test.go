package bpx509

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// openssl finds the openssl program (testtool.Need).
func openssl(t *testing.T) string { t.Helper(); return testtool.Need(t, "openssl") }

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readPEM(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bp test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

// A request and a certificate made by OpenSSL for a brainpoolP256r1 key
// (a peer's encoding, not ours) parse: the key is the one OpenSSL
// exported, the subject and SANs are there, OpenSSL's signatures verify.
func TestParseOpenSSLBrainpool(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "key.pem")
	run(t, dir, "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der")
	run(t, dir, "req", "-new", "-key", "key.pem", "-subj", "/CN=meter-7/O=Fleet", "-addext", "subjectAltName=DNS:meter-7.devices.example", "-sha256", "-out", "req.pem")
	run(t, dir, "req", "-x509", "-key", "key.pem", "-subj", "/CN=bp-self", "-days", "1", "-sha256", "-out", "self.pem")
	spki, err := os.ReadFile(filepath.Join(dir, "pub.der"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificateRequest(readPEM(t, filepath.Join(dir, "req.pem"))); err == nil {
		t.Fatal("crypto/x509 parsed a brainpool request: this package may no longer be needed")
	}
	csr, err := ParseCertificateRequest(readPEM(t, filepath.Join(dir, "req.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !IsBrainpool(csr.PublicKey) || !bytes.Equal(csr.RawSubjectPublicKeyInfo, spki) {
		t.Fatalf("request key %T, SPKI %X, OpenSSL's %X", csr.PublicKey, csr.RawSubjectPublicKeyInfo, spki)
	}
	if csr.Subject.CommonName != "meter-7" || len(csr.Subject.Organization) != 1 || csr.Subject.Organization[0] != "Fleet" ||
		len(csr.DNSNames) != 1 || csr.DNSNames[0] != "meter-7.devices.example" {
		t.Fatalf("request subject %v, DNS %v", csr.Subject, csr.DNSNames)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("OpenSSL's request signature: %v", err)
	}
	if !bytes.Equal(csr.Raw, readPEM(t, filepath.Join(dir, "req.pem"))) {
		t.Fatal("Raw is not the request received")
	}
	self, err := ParseCertificate(readPEM(t, filepath.Join(dir, "self.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(self.RawSubjectPublicKeyInfo, spki) || self.Subject.CommonName != "bp-self" {
		t.Fatalf("certificate key %X subject %v", self.RawSubjectPublicKeyInfo, self.Subject)
	}
	if err := self.CheckSignatureFrom(self); err != nil {
		t.Fatalf("OpenSSL's self-signed brainpool certificate: %v", err)
	}

	// Tampered: one bit of OpenSSL's signature flipped fails.
	bad := bytes.Clone(csr.Raw)
	bad[len(bad)-5] ^= 1
	if c, err := ParseCertificateRequest(bad); err == nil && c.CheckSignature() == nil {
		t.Fatal("a request with a flipped signature bit verifies")
	}
}

// What this package writes is read by OpenSSL (an independent parser): the
// request's self-signature verifies and names brainpoolP256r1, and the
// certificate a P-256 CA issues for the key verifies against the CA.
func TestOpenSSLReadsWhatIsWritten(t *testing.T) {
	dir := t.TempDir()
	openssl(t)
	key, err := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "meter-8"}, DNSNames: []string{"meter-8.devices.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "req.pem"), "CERTIFICATE REQUEST", csrDER)
	out := run(t, dir, "req", "-in", "req.pem", "-verify", "-noout", "-text")
	if !strings.Contains(out, "verify OK") || !strings.Contains(out, "brainpoolP256r1") || !strings.Contains(out, "meter-8.devices.example") {
		t.Fatalf("openssl req -verify -text:\n%s", out)
	}

	ca, caKey := testCA(t)
	csr, err := ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: csr.Subject, DNSNames: csr.DNSNames,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	certDER, err := CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", certDER)
	if out := run(t, dir, "verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "cert.pem"); !strings.Contains(out, "cert.pem: OK") {
		t.Fatalf("openssl verify:\n%s", out)
	}
	text := run(t, dir, "x509", "-in", "cert.pem", "-noout", "-text")
	if !strings.Contains(text, "brainpoolP256r1") || !strings.Contains(text, "CN = meter-8") || !strings.Contains(text, "TLS Web Client Authentication") {
		t.Fatalf("openssl x509 -text:\n%s", text)
	}
	// OpenSSL's own export of the certificate's key is the key itself.
	run(t, dir, "x509", "-in", "cert.pem", "-noout", "-pubkey", "-out", "pub.pem")
	want, _ := keys.MarshalPKIX(&key.PublicKey)
	if got := readPEM(t, filepath.Join(dir, "pub.pem")); !bytes.Equal(got, want) {
		t.Fatalf("OpenSSL reads the key as %X, want %X", got, want)
	}

	// And crypto/x509 verifies the chain of the parsed certificate.
	cert, err := ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Fatal("parsed key is not the subject key")
	}
	// A CA certificate for a brainpool key gets a subject key identifier.
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "bp sub CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	subDER, err := CreateCertificate(rand.Reader, caTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ParseCertificate(subDER)
	if err != nil || len(sub.SubjectKeyId) != 20 {
		t.Fatalf("brainpool CA certificate: %v, SKI %X", err, sub.SubjectKeyId)
	}
}

// Hostile input: a brainpool point off the curve, a key of the wrong size,
// truncations and trailing bytes are errors, never a panic; keys of other
// types still go to crypto/x509 and get its error.
func TestHostileInput(t *testing.T) {
	key, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	csrDER, err := CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := testCA(t)
	certDER, err := CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	point, _ := keys.MarshalPKIX(&key.PublicKey)
	point = point[len(point)-64:] // X||Y
	for name, der := range map[string][]byte{"request": csrDER, "certificate": certDER} {
		parse := func(b []byte) error {
			if name == "request" {
				_, err := ParseCertificateRequest(b)
				return err
			}
			_, err := ParseCertificate(b)
			return err
		}
		off := bytes.Clone(der)
		i := bytes.Index(off, point)
		off[i+63] ^= 1 // Y changed: not on the curve
		if err := parse(off); !errors.Is(err, keys.ErrKey) {
			t.Errorf("%s with a point off the curve: %v", name, err)
		}
		if err := parse(append(bytes.Clone(der), 0)); err == nil {
			t.Errorf("%s with a trailing byte parsed", name)
		}
		for n := range len(der) {
			if parse(der[:n]) == nil {
				t.Errorf("%s cut to %d bytes parsed", name, n)
			}
		}
	}
	// Not brainpool: crypto/x509's own error comes back.
	if _, err := ParseCertificate([]byte{0x30, 0x03, 0x02, 0x01, 0x01}); err == nil {
		t.Error("garbage parsed")
	}
	// A brainpool issuer key is refused, not mis-signed.
	if _, err := CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(3)}, ca, &key.PublicKey, key); err == nil {
		t.Error("a brainpool issuer key was accepted")
	}
	// RSA-PSS or PKCS#1 algorithms cannot be asked of a brainpool key.
	if _, err := CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{SignatureAlgorithm: x509.SHA256WithRSA}, key); err == nil {
		t.Error("SHA256WithRSA with a brainpool key accepted")
	}
}

// FuzzParse: no input makes the parsers panic, and what parses as a
// brainpool certificate keeps exactly the bytes received.
func FuzzParse(f *testing.F) {
	key, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	csrDER, _ := CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	f.Add(csrDER)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	certDER, _ := CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, ca, &key.PublicKey, caKey)
	f.Add(certDER)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseCertificate(b); err == nil && !bytes.Equal(c.Raw, b) {
			t.Fatal("Raw differs from the input")
		}
		if c, err := ParseCertificateRequest(b); err == nil && !bytes.Equal(c.Raw, b) {
			t.Fatal("Raw differs from the input")
		}
	})
}

// A second independent reader: Debian's python3-cryptography (OpenSSL
// underneath, but its own X.509 and PKCS#10 parsing in Rust) loads the
// request and the certificate this package writes, names the curve
// brainpoolP256r1, finds the request's self-signature valid and the
// certificate signed by the CA's key.
func TestPythonCryptographyReadsWhatIsWritten(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import cryptography.x509").Run(); err != nil {
		testtool.Missing(t, "python3-cryptography is not installed: "+err.Error())
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	csrDER, err := CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "py-meter"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := testCA(t)
	certDER, err := CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "py-meter"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"req.der": csrDER, "cert.der": certDER, "ca.der": ca.Raw} {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	script := `
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
d = sys.argv[1] + "/"
req = x509.load_der_x509_csr(open(d + "req.der", "rb").read())
cert = x509.load_der_x509_certificate(open(d + "cert.der", "rb").read())
ca = x509.load_der_x509_certificate(open(d + "ca.der", "rb").read())
assert req.is_signature_valid, "request signature"
assert req.public_key().curve.name == "brainpoolP256r1", req.public_key().curve.name
assert cert.public_key().curve.name == "brainpoolP256r1"
assert cert.public_key().public_numbers() == req.public_key().public_numbers()
ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
print("ok", cert.subject.rfc4514_string())
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok CN=py-meter") {
		t.Fatalf("python3-cryptography: %v\n%s", err, out)
	}
}
