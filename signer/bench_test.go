package signer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/signer"
)

// handshakes runs b.N TLS 1.3 mutual-TLS handshakes over in-memory pipes
// (no network noise) with the client credential from getCert.
func handshakes(b *testing.B, clientCA *x509.Certificate, getCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) {
	srvCert, self := newServerCert(b)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	scfg := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true}
	roots := x509.NewCertPool()
	roots.AddCert(self)
	ccfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", GetClientCertificate: getCert, MinVersion: tls.VersionTLS13}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c1, c2 := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- tls.Server(c2, scfg).Handshake() }()
		if err := tls.Client(c1, ccfg).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		// Close the pipes, not the TLS connections: close_notify on a
		// synchronous pipe nobody reads would wait for its timeout.
		c1.Close()
		c2.Close()
	}
}

// BenchmarkHandshakeSIM: TLS 1.3 mutual TLS with the SIM key, through the
// client and the in-process emulator (timing model off).
func BenchmarkHandshakeSIM(b *testing.B) {
	f := newFixture(b, emulator.Options{})
	handshakes(b, f.ca, signer.NewClientCertificates(f.applet).GetClientCertificate)
}

// BenchmarkHandshakeMemory: the same handshakes with an in-memory ECDSA key.
func BenchmarkHandshakeMemory(b *testing.B) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dev"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, key.Public(), caKey)
	cert := &tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	handshakes(b, ca, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil })
}

// BenchmarkHandshakeSIMTiming: the SIM handshake with the emulator's SIM
// timing model on (a SIM behind a 115200-baud modem); reports the share of
// the handshake spent signing on the card.
func BenchmarkHandshakeSIMTiming(b *testing.B) {
	f := newFixture(b, emulator.Options{Timing: emulator.DefaultTiming()})
	tc, err := f.key.TLSCertificate(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	var signNS atomic.Int64
	timed := *tc
	timed.PrivateKey = struct{ crypto.Signer }{timedWrap{f.key, &signNS}}
	start := time.Now()
	handshakes(b, f.ca, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &timed, nil })
	total := time.Since(start)
	b.ReportMetric(float64(signNS.Load())/float64(total)*100, "%sign")
}

type timedWrap struct {
	k  *signer.Key
	ns *atomic.Int64
}

func (t timedWrap) Public() crypto.PublicKey { return t.k.Public() }

func (t timedWrap) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	defer func() { t.ns.Add(int64(time.Since(start))) }()
	return t.k.Sign(r, d, o)
}

// BenchmarkSignerSign: signer.Key.Sign (card signature plus DER encoding).
func BenchmarkSignerSign(b *testing.B) {
	f := newFixture(b, emulator.Options{})
	d := sha256.Sum256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.key.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignerECDSASign: ecdsa.PrivateKey.Sign (DER) in memory.
func BenchmarkSignerECDSASign(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshakeSIMTimingResumed: reconnections with the SIM's session
// cache (signer.ClientCertificates.SessionCache), the SIM timing model on:
// a resumed TLS 1.3 handshake makes no SIM signature (only one poll of the
// card). Compare with BenchmarkHandshakeSIMTiming (full handshakes).
func BenchmarkHandshakeSIMTimingResumed(b *testing.B) {
	f := newFixture(b, emulator.Options{Timing: emulator.DefaultTiming()})
	srvCert, self := newServerCert(b)
	pool := x509.NewCertPool()
	pool.AddCert(f.ca)
	scfg := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS13}
	roots := x509.NewCertPool()
	roots.AddCert(self)
	creds := signer.NewClientCertificates(f.applet)
	ccfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", GetClientCertificate: creds.GetClientCertificate,
		ClientSessionCache: creds.SessionCache(0), MinVersion: tls.VersionTLS13}
	// Real loopback sockets: on a synchronous net.Pipe both ends of a
	// resumed TLS 1.3 handshake write at once and block each other.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte{1}) // after the handshake and the session ticket
			}()
		}
	}()
	conn := func() bool {
		c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var one [1]byte
		if _, err := io.ReadFull(c, one[:]); err != nil {
			b.Fatal(err)
		}
		return c.ConnectionState().DidResume
	}
	conn() // the full handshake that stores the session
	resumed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if conn() {
			resumed++
		}
	}
	b.ReportMetric(float64(resumed)/float64(b.N)*100, "%resumed")
}

// rsaHandshakes runs TLS 1.3 mutual-TLS handshakes with an RSA-2048 client
// key (rsa_pss_rsae_sha256) certified by a local CA.
func rsaHandshakes(b *testing.B, key crypto.Signer) {
	ca := newClientCA(b)
	leaf := issue(b, ca, key.Public(), "rsa device")
	cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	handshakes(b, ca.Leaf, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil })
}

// BenchmarkHandshakeSIMRSA: TLS 1.3 mutual TLS with the SIM's RSA-2048 key
// (gsma-keytypes emulator, in process, timing model off). Compare with
// BenchmarkHandshakeMemoryRSA.
func BenchmarkHandshakeSIMRSA(b *testing.B) {
	_, k := keyTypesCard(b, nil, "rsa-key")
	rsaHandshakes(b, k)
}

// BenchmarkHandshakeMemoryRSA: the same handshakes with an in-memory
// RSA-2048 key.
func BenchmarkHandshakeMemoryRSA(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	rsaHandshakes(b, key)
}
