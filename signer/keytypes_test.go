package signer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
)

// keyTypesCard opens the gsma-keytypes emulator through t's transport
// wrapper (nil: none) and the signer for label.
func keyTypesCard(t testing.TB, wrap func(iotsafeTransport) iotsafeTransport, label string) (*iotsafe.Applet, *signer.Key) {
	t.Helper()
	card, err := emulator.New(emulator.Options{Profile: emulator.ProfileKeyTypes})
	if err != nil {
		t.Fatal(err)
	}
	var tr iotsafeTransport = card
	if wrap != nil {
		tr = wrap(card)
	}
	a, err := iotsafe.Open(context.Background(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	k, err := signer.New(context.Background(), a, iotsafe.ByLabel(label), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, k
}

type iotsafeTransport interface {
	Transmit(ctx context.Context, command []byte) ([]byte, error)
	Close() error
}

// newClientCA returns a CA for client certificates (no extended key
// usage, so that chains verify for client authentication).
func newClientCA(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}

// issue makes a client certificate for pub, signed by ca.
func issue(t testing.TB, ca tls.Certificate, pub crypto.PublicKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, pub, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestRSASigner(t *testing.T) {
	_, k := keyTypesCard(t, nil, "rsa-key")
	pub, ok := k.Public().(*rsa.PublicKey)
	if !ok || k.KeyKind() != spec.KeyKindRSA2048 {
		t.Fatalf("Public() = %T", k.Public())
	}
	d := sha256.Sum256([]byte("m"))
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) != nil {
		t.Fatalf("PKCS#1 v1.5: %v", err)
	}
	sig, err = k.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	if err != nil || rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32}) != nil {
		t.Fatalf("PSS: %v", err)
	}
	if _, err := k.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}); err != nil {
		t.Fatalf("PSS with an explicit salt of the hash length: %v", err)
	}
	// What the card cannot honour is refused before any APDU, clearly.
	for name, opts := range map[string]crypto.SignerOpts{
		"PSS salt auto (maximal)": &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
		"PSS salt 20":             &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256},
		"SHA-1":                   crypto.SHA1,
	} {
		dg := d[:]
		if opts.HashFunc() == crypto.SHA1 {
			dg = d[:20]
		}
		if _, err := k.Sign(rand.Reader, dg, opts); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	// A PKCS#1 input of the wrong length.
	if _, err := k.Sign(rand.Reader, d[:31], crypto.SHA256); err == nil {
		t.Error("31-byte SHA-256 digest signed")
	}
	// CSR with the RSA key, checked by crypto/x509.
	der, err := signer.CreateCSR(k, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rsa-device"}})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil || csr.CheckSignature() != nil || csr.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Fatalf("CSR: %v", err)
	}
	if !pub.Equal(csr.PublicKey) {
		t.Fatal("CSR carries another key")
	}
	pssCSR, err := signer.CreateCSR(k, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rsa-device"}, SignatureAlgorithm: x509.SHA384WithRSAPSS})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := x509.ParseCertificateRequest(pssCSR); err != nil || c.CheckSignature() != nil {
		t.Fatalf("RSA-PSS CSR: %v", err)
	}
}

// shortRSASignature rewrites the card's 33 01 00 header to 33 00 FF: the
// card answers with a 255-byte RSA signature.
type shortRSASignature struct{ iotsafeTransport }

func (s shortRSASignature) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	r, err := s.iotsafeTransport.Transmit(ctx, cmd)
	if err == nil && len(cmd) > 1 && cmd[1] == spec.InsComputeSigUpdate && bytes.HasPrefix(r, []byte{0x33, 0x01, 0x00}) {
		r = append([]byte{0x33, 0x00, 0xFF}, r[3:]...)
	}
	return r, err
}

func TestRSASignatureOfWrongSize(t *testing.T) {
	_, k := keyTypesCard(t, func(tr iotsafeTransport) iotsafeTransport { return shortRSASignature{tr} }, "rsa-key")
	d := sha256.Sum256([]byte("m"))
	_, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if !errors.Is(err, iotsafe.ErrMalformedResponse) || !strings.Contains(err.Error(), "255 bytes") {
		t.Fatalf("a 255-byte RSA signature gave %v", err)
	}
}

// Mutual TLS 1.3 and 1.2 with the SIM's RSA key against crypto/tls.
func TestRSAMutualTLS(t *testing.T) {
	_, k := keyTypesCard(t, nil, "rsa-key")
	ca := newClientCA(t)
	leaf := issue(t, ca, k.Public(), "rsa-device")
	srv, roots := startTLS(t, ca.Leaf, nil)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cfg := &tls.Config{RootCAs: roots, MinVersion: v, MaxVersion: v,
			Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: k, Leaf: leaf}}}
		conn, err := tls.Dial("tcp", srv.ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("TLS %x: %v", v, err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if b != "hello device\n" {
			t.Fatalf("TLS %x: %q", v, b)
		}
	}
	if len(srv.subjects) != 2 || srv.subjects[0] != "rsa-device" {
		t.Fatalf("server saw %v", srv.subjects)
	}
}

// Mutual TLS with the SIM's RSA key against openssl s_server: TLS 1.3
// (rsa_pss_rsae_sha256, the only RSA form TLS 1.3 has), TLS 1.2 asking
// PKCS#1 v1.5 with SHA-384 and TLS 1.2 asking RSA-PSS; s_server reports
// the signature type and digest the client used.
func TestRSAOpenSSLServer(t *testing.T) {
	openssl := requireTool(t, "openssl")
	_, k := keyTypesCard(t, nil, "rsa-key")
	dir := t.TempDir()
	srvCert, _ := newServerCert(t)
	ca := newClientCA(t)
	leaf := issue(t, ca, k.Public(), "rsa-device")
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate[0]}), 0o600)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvCert.PrivateKey)
	os.WriteFile(filepath.Join(dir, "srv.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvCert.Certificate[0]}), 0o600)
	os.WriteFile(filepath.Join(dir, "srv.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	roots := x509.NewCertPool()
	roots.AddCert(srvCert.Leaf)
	for _, tc := range []struct {
		name, version, sigalgs, wantType, wantDigest string
		max                                          uint16
	}{
		{"TLS1.3", "-tls1_3", "", "RSA-PSS", "SHA256", tls.VersionTLS13},
		{"TLS1.2 RSA+SHA384", "-tls1_2", "RSA+SHA384", "RSA", "SHA384", tls.VersionTLS12},
		{"TLS1.2 RSA-PSS+SHA256", "-tls1_2", "RSA-PSS+SHA256", "RSA-PSS", "SHA256", tls.VersionTLS12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{tc.version}
			if tc.sigalgs != "" {
				args = append(args, "-client_sigalgs", tc.sigalgs)
			}
			page := sServerPage(t, openssl, dir, &tls.Config{RootCAs: roots, MaxVersion: tc.max,
				Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: k, Leaf: leaf}}}, args...)
			for _, want := range []string{"Peer signature type: " + tc.wantType + "\n", "Peer signing digest: " + tc.wantDigest, "rsa-device"} {
				if !strings.Contains(page, want) {
					t.Fatalf("s_server page lacks %q:\n%s", want, page)
				}
			}
		})
	}
}

// A brainpool key signs through the same crypto.Signer; crypto/ecdsa on
// the brainpool curve checks the DER signature. crypto/x509 and crypto/tls
// know no brainpool curve: CreateCSR writes the request through
// internal/bpx509.
func TestBrainpoolSigner(t *testing.T) {
	_, k := keyTypesCard(t, nil, "brainpool-key")
	pub, ok := k.Public().(*ecdsa.PublicKey)
	if !ok || k.KeyKind() != spec.KeyKindBrainpoolP256 || pub.Curve.Params().Name != "brainpoolP256r1" {
		t.Fatalf("Public() = %T", k.Public())
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		w := h.New()
		w.Write([]byte("m"))
		d := w.Sum(nil)
		sig, err := k.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatalf("%v: brainpool signature rejected by crypto/ecdsa", h)
		}
	}
	d := sha256.Sum256([]byte("m"))
	if _, err := k.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}); err == nil {
		t.Fatal("RSA-PSS options accepted for a brainpool key")
	}
	// The CSR is signed on the card; OpenSSL (not our parser) checks its
	// self-signature and reads the curve.
	csr, err := signer.CreateCSR(k, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bp-device"}})
	if err != nil {
		t.Fatalf("brainpool CSR: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "req.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o600)
	out, err := exec.Command(requireTool(t, "openssl"), "req", "-in", filepath.Join(dir, "req.pem"), "-verify", "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") || !strings.Contains(string(out), "brainpoolP256r1") || !strings.Contains(string(out), "CN = bp-device") {
		t.Fatalf("openssl req -verify: %v\n%s", err, out)
	}
}

// A brainpool key cannot authenticate a Go TLS connection (crypto/tls has
// no brainpool signature scheme): TLSCertificate says so instead of
// handing crypto/tls a key it fails on, and ClientCertificates over the
// brainpool key ends a real handshake with the reason.
func TestBrainpoolKeyRefusedForGoTLS(t *testing.T) {
	a, k := keyTypesCard(t, nil, "brainpool-key")
	if _, err := k.TLSCertificate(context.Background()); err == nil || !strings.Contains(err.Error(), "brainpoolP256r1") {
		t.Fatalf("TLSCertificate: %v", err)
	}
	srv, srvLeaf := newServerCert(t)
	roots := x509.NewCertPool()
	roots.AddCert(srvLeaf)
	c1, c2 := net.Pipe()
	defer c1.Close()
	go func() {
		defer c2.Close()
		tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{srv}, ClientAuth: tls.RequireAnyClientCert}).Handshake()
	}()
	cc := signer.NewClientCertificates(a, iotsafe.ByLabel("brainpool-key"))
	err := tls.Client(c1, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", GetClientCertificate: cc.GetClientCertificate}).Handshake()
	if err == nil || !strings.Contains(err.Error(), "brainpoolP256r1") {
		t.Fatalf("handshake with the brainpool key: %v", err)
	}
}
