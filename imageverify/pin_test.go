package imageverify

import (
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

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

func TestPinFingerprintForms(t *testing.T) {
	const h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	colons := ""
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			colons += ":"
		}
		colons += strings.ToUpper(h[i : i+2])
	}
	for _, s := range []string{h, "sha256:" + h, "SHA256:" + strings.ToUpper(h), colons, " " + h + "\n"} {
		p, err := PinFingerprint(s)
		if err != nil || p.String() != "sha256:"+h {
			t.Errorf("PinFingerprint(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "sha256:", h[:62], h + "00", "sha1:" + h, strings.Replace(h, "9", "g", 1)} {
		if _, err := PinFingerprint(s); err == nil {
			t.Errorf("PinFingerprint(%q) accepted", s)
		}
	}
}

// The fingerprint of a key, a certificate of the same key and OpenSSL's
// SPKI digest of it are one pin.
func TestLoadPinForms(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	keyFile := filepath.Join(dir, "key.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vendor"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cder, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	certFile := filepath.Join(dir, "cert.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}), 0o644)
	spki, err := exec.Command(testtool.Need(t, "openssl"), "pkey", "-pubin", "-in", keyFile, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sha256sum")
	c.Stdin = strings.NewReader(string(spki))
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	fpFile := filepath.Join(dir, "fp")
	os.WriteFile(fpFile, []byte(strings.Fields(string(out))[0]+"\n"), 0o600)
	var first string
	for _, f := range []string{keyFile, certFile, fpFile} {
		p, err := LoadPin(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if first == "" {
			first = p.String()
		} else if p.String() != first {
			t.Fatalf("%s pins %s, the key file %s", f, p, first)
		}
	}
	if (&Pin{}).String() == first {
		t.Fatal("zero pin equals the key's")
	}
	// Files the user cannot vouch for.
	os.Chmod(keyFile, 0o664)
	if _, err := LoadPin(keyFile); !errors.Is(err, ErrPinFile) {
		t.Fatalf("group-writable anchor: %v", err)
	}
	os.Chmod(keyFile, 0o644)
	if os.Geteuid() == 0 {
		os.Chown(keyFile, 65534, 65534)
		if _, err := LoadPin(keyFile); !errors.Is(err, ErrPinFile) || !strings.Contains(err.Error(), "65534") {
			t.Fatalf("anchor owned by another user: %v", err)
		}
	}
	if _, err := LoadPin(dir); !errors.Is(err, ErrPinFile) {
		t.Fatalf("a directory: %v", err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, err := LoadPin(junk); !errors.Is(err, ErrPinFile) {
		t.Fatalf("a private key file: %v", err)
	}
}
