package signer_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
)

type fixture struct {
	card   *emulator.Card
	applet *iotsafe.Applet
	key    *signer.Key
	ca     *x509.Certificate // the SIM's factory CA (file 03)
}

func newFixture(t testing.TB, opts emulator.Options) *fixture {
	t.Helper()
	card, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	k, err := signer.New(context.Background(), a, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := a.ReadFile(context.Background(), iotsafe.ByLabel("ca-cert"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{card: card, applet: a, key: k, ca: ca}
}

func TestSignContract(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	pub := f.key.Public().(*ecdsa.PublicKey)
	msg := []byte("crypto.Signer contract")
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write(msg)
		d := hh.Sum(nil)
		sig, err := f.key.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatalf("%v: signature does not verify", h)
		}
		if _, err := f.key.Sign(rand.Reader, d[:len(d)-1], h); err == nil {
			t.Fatalf("%v: short digest accepted", h)
		}
	}
	d := sha256.Sum256(msg)
	for _, opts := range []crypto.SignerOpts{crypto.SHA1, crypto.MD5, crypto.Hash(0), nil} {
		if _, err := f.key.Sign(rand.Reader, d[:20], opts); err == nil {
			t.Fatalf("%v accepted", opts)
		}
	}
	full, err := f.key.SignMessage(context.Background(), msg, crypto.SHA384)
	d384 := sha512.Sum384(msg)
	if err != nil || !ecdsa.VerifyASN1(pub, d384[:], full) {
		t.Fatalf("full-text signature: %v", err)
	}
	if err := signer.VerifyOnCard(context.Background(), f.applet, iotsafe.ByID(1), crypto.SHA384, d384[:], full); err != nil {
		t.Fatalf("verify on card: %v", err)
	}
	full[len(full)-1] ^= 1
	if err := signer.VerifyOnCard(context.Background(), f.applet, iotsafe.ByID(1), crypto.SHA384, d384[:], full); !errors.Is(err, iotsafe.ErrSignatureMismatch) {
		t.Fatalf("tampered signature on card: %v", err)
	}
}

// A key that offers SHA-256 only still signs SHA-384 digests: the card is
// asked with the digest cut to 256 bits, as X9.62 specifies for P-256.
func TestSignTruncatesForSHA256OnlyKey(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	s, err := f.card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKeyPair([]byte{0x07}, "sha256-only", emulator.KeySpec{Functions: spec.FuncSignature, Hashes: spec.HashSHA256}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	f.applet.Refresh()
	k, err := signer.New(context.Background(), f.applet, iotsafe.ByLabel("sha256-only"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("x"))
		d := hh.Sum(nil)
		sig, err := k.Sign(nil, d, h)
		if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d, sig) {
			t.Fatalf("%v via truncation: %v", h, err)
		}
	}
}

func TestECDHRandCSR(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	ctx := context.Background()
	ka, err := signer.NewKeyAgreement(ctx, f.applet, iotsafe.ByLabel("ecdh-key"), iotsafe.ByLabel("peer-key"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		peer, _ := ecdh.P256().GenerateKey(rand.Reader)
		z, err := ka.ECDH(ctx, peer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := peer.ECDH(ka.PublicKey())
		if !bytes.Equal(z, want) {
			t.Fatal("card ECDH differs from crypto/ecdh")
		}
	}
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := ka.ECDH(ctx, x25519.PublicKey()); err == nil {
		t.Fatal("X25519 peer accepted")
	}

	buf := make([]byte, 600)
	if _, err := io.ReadFull(signer.Rand(f.applet), buf); err != nil || bytes.Equal(buf[:32], make([]byte, 32)) {
		t.Fatalf("card random: %v", err)
	}

	u, _ := url.Parse("urn:dev:imei:356938035643809")
	csrDER, err := signer.CreateCSR(f.key, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "meter-42", Organization: []string{"Example Utility"}},
		DNSNames: []string{"meter-42.example"}, URIs: []*url.URL{u}})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	if csr.Subject.CommonName != "meter-42" || csr.DNSNames[0] != "meter-42.example" || csr.URIs[0].String() != u.String() ||
		!csr.PublicKey.(*ecdsa.PublicKey).Equal(f.key.Public()) {
		t.Fatal("CSR content")
	}
}

// tlsServer runs a TLS server on 127.0.0.1 that requires a client
// certificate from clientCA and reports the subjects it saw.
type tlsServer struct {
	ln       net.Listener
	mu       sync.Mutex
	subjects []string
}

func newServerCert(t testing.TB) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cloud"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, c
}

func startTLS(t testing.TB, clientCA *x509.Certificate, cfgMod func(*tls.Config)) (*tlsServer, *x509.CertPool) {
	t.Helper()
	cert, self := newServerCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	s := &tlsServer{}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			s.mu.Lock()
			s.subjects = append(s.subjects, cs.PeerCertificates[0].Subject.CommonName)
			s.mu.Unlock()
			return nil
		}}
	if cfgMod != nil {
		cfgMod(cfg)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				c.Write([]byte("hello device\n"))
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(self)
	return s, roots
}

func dial(addr string, roots *x509.CertPool, cc *signer.ClientCertificates, mod func(*tls.Config)) (string, error) {
	cfg := &tls.Config{RootCAs: roots, GetClientCertificate: cc.GetClientCertificate}
	if mod != nil {
		mod(cfg)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

func TestMutualTLS(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	srv, roots := startTLS(t, f.ca, nil)
	cc := signer.NewClientCertificates(f.applet)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		got, err := dial(srv.ln.Addr().String(), roots, cc, func(c *tls.Config) { c.MinVersion, c.MaxVersion = v, v })
		if err != nil || got != "hello device\n" {
			t.Fatalf("TLS %x: %q %v", v, got, err)
		}
	}
	tc, err := f.key.TLSCertificate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tc.Leaf.Subject.CommonName
	if len(srv.subjects) != 2 || srv.subjects[0] != want || !strings.HasPrefix(want, "go-iotsafe emulator device") {
		t.Fatalf("server saw %v, want %q", srv.subjects, want)
	}
}

func TestServerTrustingAnotherCA(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	_, other := newServerCert(t)
	srv, roots := startTLS(t, other, nil)
	_, err := dial(srv.ln.Addr().String(), roots, signer.NewClientCertificates(f.applet), nil)
	if err == nil || !strings.Contains(err.Error(), "accepts none of the SIM's credentials") || !strings.Contains(err.Error(), "cloud") {
		t.Fatalf("handshake with a server trusting another CA: %v", err)
	}
}

func TestConcurrentHandshakes(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	srv, roots := startTLS(t, f.ca, nil)
	cc := signer.NewClientCertificates(f.applet)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := dial(srv.ln.Addr().String(), roots, cc, nil); err != nil || got != "hello device\n" {
				errs <- fmt.Errorf("%q %v", got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(srv.subjects) != 32 {
		t.Fatalf("server verified %d client certificates, want 32", len(srv.subjects))
	}
}

// After the operator replaces the certificate file over the air, the next
// handshake presents the new certificate; after the key is deactivated, the
// client says the credential was removed.
func TestCertificateReplacedAndKeyRemoved(t *testing.T) {
	dir := t.TempDir()
	card, err := emulator.Create(dir+"/sim.json", emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	k, err := signer.New(ctx, a, iotsafe.ByID(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A new CA issues the device a new certificate.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	fleetCA, _ := x509.ParseCertificate(caDER)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "renewed device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, fleetCA, k.Public(), caKey)

	srv, roots := startTLS(t, fleetCA, func(c *tls.Config) {
		old, _ := a.ReadFile(ctx, iotsafe.ByID(3))
		oc, _ := x509.ParseCertificate(old)
		c.ClientCAs.AddCert(oc)
	})
	cc := signer.NewClientCertificates(a)
	if _, err := dial(srv.ln.Addr().String(), roots, cc, nil); err != nil {
		t.Fatal(err)
	}
	operator, err := emulator.Open(dir+"/sim.json", emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	s, _ := operator.BeginAdmin()
	if err := s.PutFile([]byte{0x02}, "device-cert", spec.FileUsageCertificate, spec.AccessRead, leafDER); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(srv.ln.Addr().String(), roots, cc, nil); err != nil {
		t.Fatal(err)
	}
	if last := srv.subjects[len(srv.subjects)-1]; last != "renewed device" {
		t.Fatalf("handshake after the replacement presented %q", last)
	}
	s, _ = operator.BeginAdmin()
	s.DeactivateKey(spec.KindPrivateKey, []byte{0x01})
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err = dial(srv.ln.Addr().String(), roots, cc, nil)
	if err == nil || !errors.Is(err, signer.ErrCredentialRemoved) || !strings.Contains(err.Error(), "deactivated") {
		t.Fatalf("after removal: %v", err)
	}
	if _, err := k.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, signer.ErrCredentialRemoved) {
		t.Fatalf("signing with the removed key: %v", err)
	}
}
