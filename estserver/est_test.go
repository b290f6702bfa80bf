package estserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/csrpop"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// startTLS serves h over TLS on 127.0.0.1 with a certificate from ca.
// bootstrapServer starts an EST server on 127.0.0.1 with a new CA, the
// bootstrap credential device/bootstrap and policy pol; roots trusts it.
func bootstrapServer(t *testing.T, name string, pol estserver.Policy) (*estserver.CA, *httptest.Server, *x509.CertPool) {
	t.Helper()
	ca, err := estserver.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap", Policy: pol})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return ca, srv, roots
}

func startTLS(t *testing.T, ca *estserver.CA, h http.Handler) *httptest.Server {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.IssueServer(key.Public(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
		ClientAuth:   tls.RequestClientCert,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newCSR(t *testing.T, cn string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn + ".devices.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func TestEnrollReenrollRevoke(t *testing.T) {
	ca, srv, roots := bootstrapServer(t, "test CA", estserver.Policy{})
	ctx := context.Background()

	c := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	cacerts, err := c.CACerts(ctx)
	if err != nil || len(cacerts) != 1 || !cacerts[0].Equal(ca.Cert) {
		t.Fatalf("CACerts = %v, %v", cacerts, err)
	}
	key, csr := newCSR(t, "dev-1")
	certs, err := c.SimpleEnroll(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	if leaf.Subject.CommonName != "dev-1" || !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("issued %v", leaf.Subject)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not chain: %v", err)
	}

	// Wrong bootstrap password: 401, clearly.
	bad := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "nope"}
	var he *est.HTTPError
	if _, err := bad.SimpleEnroll(ctx, csr); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v", err)
	}

	// Re-enrollment with the current credential as TLS client certificate.
	key2, csr2 := newCSR(t, "dev-1")
	re := &est.Client{Server: srv.URL, Roots: roots,
		Certificate: &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}
	certs2, err := re.SimpleReenroll(ctx, csr2)
	if err != nil {
		t.Fatal(err)
	}
	if !certs2[0].PublicKey.(*ecdsa.PublicKey).Equal(&key2.PublicKey) || certs2[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("re-enrollment did not issue a new certificate for the new key")
	}
	// Re-enrollment without a client certificate is refused.
	if _, err := c.SimpleReenroll(ctx, csr2); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("reenroll without credential: %v", err)
	}

	// Revocation: the CRL lists it, relying parties refuse it, re-enrollment refuses it.
	if err := ca.Revoke(leaf.SerialNumber); err != nil {
		t.Fatal(err)
	}
	crlDER, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil || crl.CheckSignatureFrom(ca.Cert) != nil {
		t.Fatalf("CRL: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatal("CRL does not list the revoked certificate")
	}
	if err := ca.VerifyPeer(nil, [][]*x509.Certificate{{leaf, ca.Cert}}); !errors.Is(err, estserver.ErrRevoked) {
		t.Fatalf("VerifyPeer(revoked) = %v", err)
	}
	if err := ca.VerifyPeer(nil, [][]*x509.Certificate{{certs2[0], ca.Cert}}); err != nil {
		t.Fatalf("VerifyPeer(valid) = %v", err)
	}
	if _, err := re.SimpleReenroll(ctx, csr2); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("reenroll with a revoked credential: %v", err)
	}
	resp, err := srv.Client().Get(srv.URL + "/crl")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, perr := x509.ParseRevocationList(b); perr != nil {
			t.Fatalf("/crl: %v", perr)
		}
	}
}

func TestClientRejectsBadAnswers(t *testing.T) {
	ca, _ := estserver.NewCA("test CA")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, csr := newCSR(t, "dev-2")
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCSRDer, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, otherKey)
	otherCSR, _ := x509.ParseCertificateRequest(otherCSRDer)
	otherCert, _ := ca.Issue(otherCSR)
	emptyP7, _ := pkcs7.DegenerateCertificate(nil)
	otherP7, _ := pkcs7.DegenerateCertificate(otherCert.Raw)

	tests := []struct {
		name string
		ct   string
		body string
		want error
	}{
		{"wrong content type", "text/html", "<html>", est.ErrContentType},
		{"wrong smime-type", "application/pkcs7-mime; smime-type=signed-data", base64.StdEncoding.EncodeToString(otherP7), est.ErrContentType},
		{"bad base64", "application/pkcs7-mime; smime-type=certs-only", "!!!not base64!!!", est.ErrMalformed},
		{"not PKCS#7", "application/pkcs7-mime", base64.StdEncoding.EncodeToString([]byte("hello")), est.ErrMalformed},
		{"PKCS#7 without certificates", "application/pkcs7-mime; smime-type=certs-only", base64.StdEncoding.EncodeToString(emptyP7), est.ErrNoCertificate},
		{"certificate for another key", "application/pkcs7-mime; smime-type=certs-only", base64.StdEncoding.EncodeToString(otherP7), est.ErrWrongKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				io.WriteString(w, tc.body)
			}))
			c := &est.Client{Server: srv.URL, Roots: roots, Timeout: 5 * time.Second}
			_, err := c.SimpleEnroll(context.Background(), csr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// RFC 8951: base64 with line breaks is fine.
	srv := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
		b := base64.StdEncoding.EncodeToString(otherP7)
		for len(b) > 64 {
			io.WriteString(w, b[:64]+"\r\n")
			b = b[64:]
		}
		io.WriteString(w, b)
	}))
	c := &est.Client{Server: srv.URL, Roots: roots}
	if certs, err := c.CACerts(context.Background()); err != nil || len(certs) != 1 {
		t.Fatalf("line-wrapped base64: %v", err)
	}
	// An untrusted server is refused: the client never uses system roots.
	c2 := &est.Client{Server: srv.URL, Roots: x509.NewCertPool()}
	if _, err := c2.CACerts(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted server accepted: %v", err)
	}
	if _, err := (&est.Client{Server: "http://127.0.0.1:1", Roots: roots}).CACerts(context.Background()); err == nil {
		t.Fatal("plain http accepted")
	}
}

func TestPersistentCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := estserver.LoadOrCreateCA(dir, "persistent CA")
	if err != nil {
		t.Fatal(err)
	}
	_, csrDER := newCSR(t, "dev-3")
	csr, _ := x509.ParseCertificateRequest(csrDER)
	cert, err := ca.Issue(csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Revoke(cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
	again, err := estserver.LoadOrCreateCA(dir, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) || !again.IsRevoked(cert.SerialNumber) || again.Issued(cert.SerialNumber) == nil {
		t.Fatal("reloaded CA lost its certificate, issuance or revocation records")
	}
	// A brainpool certificate in the records survives a reload (crypto/x509
	// alone cannot parse it).
	bpKey, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	bpDER, err := bpx509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-bp"}}, bpKey)
	if err != nil {
		t.Fatal(err)
	}
	bpCSR, _ := bpx509.ParseCertificateRequest(bpDER)
	bpCert, err := again.Issue(bpCSR)
	if err != nil {
		t.Fatal(err)
	}
	third, err := estserver.LoadOrCreateCA(dir, "ignored")
	if err != nil {
		t.Fatalf("reloading a CA that issued a brainpool certificate: %v", err)
	}
	if c := third.Issued(bpCert.SerialNumber); c == nil || !bpKey.PublicKey.Equal(c.PublicKey) {
		t.Fatal("the brainpool certificate was lost at reload")
	}
	if err := again.Revoke(big.NewInt(12345)); err == nil {
		t.Fatal("revoking an unknown serial succeeded")
	}
}

// The attacks of the security review on bootstrap authentication: online
// password guessing at full speed, and a server configured without a
// password that accepted an empty one.
func TestBootstrapGuessingIsThrottled(t *testing.T) {
	ca, srv, roots := bootstrapServer(t, "test CA", estserver.Policy{})
	ctx := context.Background()
	_, csr := newCSR(t, "dev-guess")
	var throttled int
	for i := 0; i < 30; i++ {
		bad := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: fmt.Sprintf("guess-%d", i)}
		_, err := bad.SimpleEnroll(ctx, csr)
		if err == nil {
			t.Fatal("a wrong password enrolled")
		}
		if strings.Contains(err.Error(), "429") {
			throttled++
		}
	}
	if throttled < 20 {
		t.Fatalf("only %d of 30 guesses were throttled", throttled)
	}
	// While throttled, even the right password waits: guessing gains nothing.
	good := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	if _, err := good.SimpleEnroll(ctx, csr); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("the right password during the back-off: %v", err)
	}

	for _, bad := range []*estserver.Server{{CA: ca, Username: "device"}, {CA: ca}} {
		if bad.Check() == nil {
			t.Fatalf("%+v: a server that lets anybody enrol passed Check", bad)
		}
		s := startTLS(t, ca, bad)
		c := &est.Client{Server: s.URL, Roots: roots, Username: "device", Password: ""}
		if _, err := c.SimpleEnroll(ctx, csr); err == nil {
			t.Fatal("an empty password enrolled")
		}
	}
}

// The attacks of the security review on issuance, over TLS with the real
// client: names and keys the CA must not certify, a name already held by
// another device, names added at renewal. Each refusal is a 4xx whose body
// says why.
func TestIssuancePolicy(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "test CA", estserver.Policy{Organization: []string{"Fleet"}})
	ctx := context.Background()
	boot := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	p256 := func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	csrFor := func(key any, tmpl *x509.CertificateRequest) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	refused := func(what string, c *est.Client, csr []byte, reenroll bool, status int, reason string) {
		t.Helper()
		var err error
		if reenroll {
			_, err = c.SimpleReenroll(ctx, csr)
		} else {
			_, err = c.SimpleEnroll(ctx, csr)
		}
		var he *est.HTTPError
		if !errors.As(err, &he) || he.Status != status || !strings.Contains(he.Body, reason) {
			t.Fatalf("%s: %v (want HTTP %d saying %q)", what, err, status, reason)
		}
	}
	uri, _ := url.Parse("spiffe://fleet/meter-B")
	for _, bad := range []struct {
		what   string
		tmpl   x509.CertificateRequest
		reason string
	}{
		{"control characters", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A", Organization: []string{"Evil\nInjected"}}}, "organization"},
		{"control characters in CN", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter\nA"}}, "control characters"},
		{"wildcard CN", x509.CertificateRequest{Subject: pkix.Name{CommonName: "*.fleet"}}, "not allowed"},
		{"wildcard DNS", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}, DNSNames: []string{"*.meter-A.example"}}, "not allowed"},
		{"foreign DNS", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}, DNSNames: []string{"cloud.example"}}, "not allowed"},
		{"IP SAN", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, "IP address"},
		{"e-mail SAN", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}, EmailAddresses: []string{"ceo@example.com"}}, "e-mail"},
		{"URI SAN", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}, URIs: []*url.URL{uri}}, "URI"},
		{"other subject attribute", x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A", Country: []string{"ZZ"}}}, "subject attribute"},
	} {
		refused(bad.what, boot, csrFor(p256(), &bad.tmpl), false, http.StatusBadRequest, bad.reason)
	}
	// Keys IoT SAFE cards do not hold.
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaHuge, _ := rsa.GenerateKey(rand.Reader, 4160) // over the 4096-bit default cap
	for name, k := range map[string]any{"RSA-1024": rsa1024, "P-224": p224, "Ed25519": ed, "RSA-4160": rsaHuge} {
		refused(name, boot, csrFor(k, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-" + name}}), false, http.StatusBadRequest, "key")
	}

	// Device A enrols; another key cannot take A's name while A's certificate lives.
	keyA := p256()
	good := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A", Organization: []string{"Fleet"}}, DNSNames: []string{"meter-A.devices.example"}}
	certs, err := boot.SimpleEnroll(ctx, csrFor(keyA, good))
	if err != nil {
		t.Fatal(err)
	}
	leafA := certs[0]
	if leafA.Subject.CommonName != "meter-A" || !slices.Equal(leafA.Subject.Organization, []string{"Fleet"}) || len(leafA.Subject.Names) != 2 {
		t.Fatalf("issued subject %v", leafA.Subject)
	}
	refused("impersonation", boot, csrFor(p256(), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-A"}}), false, http.StatusConflict, "held by a live certificate")

	// Renewal keeps the names exactly: adding a SAN is refused; the same names with a new key pass.
	re := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{leafA.Raw}, PrivateKey: keyA}}
	withURI := *good
	withURI.URIs = []*url.URL{uri}
	refused("SAN added at renewal", re, csrFor(keyA, &withURI), true, http.StatusBadRequest, "exactly")
	renamed := *good
	renamed.Subject.CommonName = "meter-B"
	refused("renamed at renewal", re, csrFor(keyA, &renamed), true, http.StatusBadRequest, "exactly")
	if _, err := re.SimpleReenroll(ctx, csrFor(p256(), good)); err != nil {
		t.Fatalf("renewal with the same names and a new key: %v", err)
	}
}

// The attack of the security review: renewal keeps the key and left the old
// certificate valid, so after the operator revoked the new one, the old one
// still authenticated the same key. Once the renewed certificate is in use
// (or its grace period is over), the old one is revoked.
func TestRenewalRetiresThePreviousCertificate(t *testing.T) {
	ca, srv, roots := bootstrapServer(t, "test CA", estserver.Policy{})
	ctx := context.Background()
	key, csr := newCSR(t, "dev-r")
	boot := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	c1, err := boot.SimpleEnroll(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	re := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{c1[0].Raw}, PrivateKey: key}}
	c2, err := re.SimpleReenroll(ctx, csr) // same key
	if err != nil {
		t.Fatal(err)
	}
	old, cur := c1[0], c2[0]
	chain := func(c *x509.Certificate) [][]*x509.Certificate { return [][]*x509.Certificate{{c, ca.Cert}} }
	// Until the new certificate is used, the old one keeps working (the
	// device switches only once the new one is in place).
	if err := ca.VerifyPeer(nil, chain(old)); err != nil {
		t.Fatalf("old certificate before the new one was used: %v", err)
	}
	if err := ca.VerifyPeer(nil, chain(cur)); err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyPeer(nil, chain(old)); !errors.Is(err, estserver.ErrRevoked) {
		t.Fatalf("old certificate after the new one was used: %v", err)
	}
	if err := ca.Revoke(cur.SerialNumber); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*x509.Certificate{old, cur} {
		if err := ca.VerifyPeer(nil, chain(c)); !errors.Is(err, estserver.ErrRevoked) {
			t.Fatalf("serial %s trusted after the operator revoked the current one: %v", c.SerialNumber, err)
		}
	}
	crlDER, _ := ca.CRL()
	crl, _ := x509.ParseRevocationList(crlDER)
	if len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("CRL lists %d certificates, want both", len(crl.RevokedCertificateEntries))
	}

	// A renewed certificate never used: the old one is revoked when the
	// grace period ends (the CRL says so).
	ca.SupersedeGrace = time.Nanosecond
	key3, csr3 := newCSR(t, "dev-s")
	c3, err := boot.SimpleEnroll(ctx, csr3)
	if err != nil {
		t.Fatal(err)
	}
	re3 := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{c3[0].Raw}, PrivateKey: key3}}
	if _, err := re3.SimpleReenroll(ctx, csr3); err != nil {
		t.Fatal(err)
	}
	if !ca.IsRevoked(c3[0].SerialNumber) {
		t.Fatal("the superseded certificate outlived its grace period")
	}
}

// Proof of possession by tls-unique (RFC 7030 §3.5): a server that wants it
// says so in its CSR attributes and takes only a CSR whose challengePassword
// is the channel binding of the TLS 1.2 connection it came over.
func TestProofOfPossession(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "pop CA", estserver.Policy{RequirePoP: true})
	ctx := context.Background()
	c := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	attrs, err := c.CSRAttrs(ctx)
	if err != nil || !attrs.Has(est.OIDChallengePassword) {
		t.Fatalf("csrattrs do not ask for the challengePassword: %v %v", attrs, err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	build := func(challenge string) ([]byte, error) {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pop-1"}}, key)
		if err != nil || challenge == "" {
			return der, err
		}
		return csrpop.AddChallengePassword(der, challenge, key)
	}
	var he *est.HTTPError
	plain, _ := build("")
	if _, err := c.SimpleEnroll(ctx, plain); !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.Contains(he.Body, "proof of possession") {
		t.Fatalf("without proof of possession: %v", err)
	}
	// A challenge from another connection (or made up) does not do.
	stale, _ := build("c3RhbGUgY2hhbm5lbCBiaW5kaW5n")
	if _, err := c.SimpleEnroll(ctx, stale); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("with another connection's binding: %v", err)
	}
	certs, err := c.SimpleEnrollPoP(ctx, build)
	if err != nil || certs[0].Subject.CommonName != "pop-1" {
		t.Fatalf("with proof of possession: %v", err)
	}
}

// Policy.KeyType is what GET /csrattrs asks for, read back by the EST
// client as RFC 7030 §4.5.2 encodes it: id-ecPublicKey with the named
// curve (P-256 by default, brainpoolP256r1), or rsaEncryption with SHA-256.
// An unknown key type keeps the server from passing Check.
func TestCSRAttrsKeyType(t *testing.T) {
	ctx := context.Background()
	for kt, want := range map[string]func(est.CSRAttrs) bool{
		"":     func(a est.CSRAttrs) bool { return a.Curve().Equal(est.OIDP256) && a.Has(est.OIDECDSAWithSHA256) },
		"p256": func(a est.CSRAttrs) bool { return a.Curve().Equal(est.OIDP256) },
		"brainpoolP256r1": func(a est.CSRAttrs) bool {
			return a.Curve().Equal(est.OIDBrainpoolP256r1) && a.Has(est.OIDECDSAWithSHA256)
		},
		"rsa2048": func(a est.CSRAttrs) bool {
			return a.Has(est.OIDRSAEncryption) && a.Has(est.OIDSHA256) && a.Curve() == nil
		},
	} {
		_, srv, roots := bootstrapServer(t, "attrs CA", estserver.Policy{KeyType: kt})
		attrs, err := (&est.Client{Server: srv.URL, Roots: roots}).CSRAttrs(ctx)
		if err != nil || !want(attrs) {
			t.Errorf("KeyType %q: csrattrs %v, %v", kt, attrs, err)
		}
	}
	s := &estserver.Server{Username: "u", Password: "p", Policy: estserver.Policy{KeyType: "secp384r1"}}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "secp384r1") {
		t.Fatalf("Check with key type secp384r1: %v", err)
	}
}

// Malicious brainpool requests (the server parses them with internal/
// bpx509, around crypto/x509): one bit of the signature flipped, the
// subject changed after signing, the point moved off the curve, each posted
// as is (our client would not send some of them). Each is refused with a
// 400; the untouched request is certified.
func TestMaliciousBrainpoolRequests(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "bp CA", estserver.Policy{})
	ctx := context.Background()
	c := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	key, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	good, err := bpx509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-bp1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	point := keys.ECPoint(&key.PublicKey)
	for name, tc := range map[string]struct {
		tamper func([]byte) []byte
		reason string
	}{
		"signature bit": {func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, "does not verify"},
		"subject after signing": {func(b []byte) []byte {
			i := bytes.Index(b, []byte("meter-bp1"))
			b[i+8] = '2'
			return b
		}, "does not verify"},
		"point off the curve": {func(b []byte) []byte { i := bytes.Index(b, point); b[i+64] ^= 1; return b }, "not on brainpoolP256r1"},
	} {
		// Posted as is (our client would refuse to send some of them).
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/.well-known/est/simpleenroll",
			strings.NewReader(base64.StdEncoding.EncodeToString(tc.tamper(bytes.Clone(good)))))
		req.Header.Set("Content-Type", "application/pkcs10")
		req.SetBasicAuth("device", "bootstrap")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte(tc.reason)) {
			t.Errorf("%s: HTTP %d %s (want 400 saying %q)", name, resp.StatusCode, body, tc.reason)
		}
	}
	certs, err := c.SimpleEnroll(ctx, good)
	if err != nil || !key.PublicKey.Equal(certs[0].PublicKey) {
		t.Fatalf("the untouched request: %v", err)
	}
}
