package estserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// enrolAs enrols a new P-256 key with the bootstrap password and tmpl's
// names; it returns the error the client saw.
func enrolAs(t *testing.T, c *est.Client, tmpl *x509.CertificateRequest) error {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SimpleEnroll(context.Background(), der)
	return err
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var he *est.HTTPError
	if !errors.As(err, &he) || he.Status != status {
		t.Fatalf("%s: %v (want HTTP %d)", what, err, status)
	}
}

// From the fleet-scale review: the 409 "name held by another key" check
// compared common names exactly, so METER-7, meter-7. and a common name
// equal to another device's DNS SAN were issued to a second key. Names are
// compared normalized (case, trailing dot), common names and DNS SANs in
// one namespace.
func TestNamesHeldNormalized(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "names CA", estserver.Policy{})
	boot := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	if err := enrolAs(t, boot, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-7"}, DNSNames: []string{"meter-7.devices.example"}}); err != nil {
		t.Fatal(err)
	}
	for _, cn := range []string{"METER-7", "meter-7.", "Meter-7.", "meter-7.devices.example", "METER-7.DEVICES.EXAMPLE."} {
		err := enrolAs(t, boot, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}})
		if err == nil {
			t.Fatalf("common name %q was issued to a second key while meter-7 holds it", cn)
		}
		var he *est.HTTPError
		if !errors.As(err, &he) || (he.Status != http.StatusConflict && he.Status != http.StatusBadRequest) {
			t.Fatalf("common name %q: %v (want 409, or 400 for a name the policy refuses)", cn, err)
		}
	}
	// A DNS SAN another device holds as its name is refused too.
	if err := enrolAs(t, boot, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter"}, DNSNames: []string{"meter.x"}}); err != nil {
		t.Fatal(err)
	}
	err := enrolAs(t, boot, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter.x"}})
	wantStatus(t, "a common name equal to another device's DNS SAN", err, http.StatusConflict)
	// A different device is still welcome.
	if err := enrolAs(t, boot, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-8"}}); err != nil {
		t.Fatal(err)
	}
}

// From the fleet-scale review: --uri-prefix spiffe://fleet without a
// trailing slash let a device choose spiffe://fleetx.attacker.example. A
// prefix must end in "/": the server refuses to start otherwise.
func TestURIPrefixMustEndInSlash(t *testing.T) {
	ca, err := estserver.NewCA("uri CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"spiffe://fleet", "https://devices.example/fleet", "spiffe:"} {
		s := &estserver.Server{CA: ca, Username: "device", Password: "bootstrap", Policy: estserver.Policy{URIPrefix: p}}
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), "/") {
			t.Fatalf("URI prefix %q accepted: %v", p, err)
		}
		// And a server run without Check refuses to issue with it.
		srv := startTLS(t, ca, s)
		roots := x509.NewCertPool()
		roots.AddCert(ca.Cert)
		u, _ := url.Parse(p + "x.attacker.example")
		err := enrolAs(t, &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"},
			&x509.CertificateRequest{Subject: pkix.Name{CommonName: "x.attacker.example"}, URIs: []*url.URL{u}})
		if err == nil {
			t.Fatalf("URI prefix %q: %s was issued", p, u)
		}
	}
	ok := &estserver.Server{CA: ca, Username: "device", Password: "bootstrap", Policy: estserver.Policy{URIPrefix: "spiffe://fleet/"}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
}

// From the fleet-scale review: enrolment with a factory certificate
// accepted any extended key usage (serverAuth-only and codeSigning-only
// factory certificates enrolled) and had no way to refuse a revoked factory
// certificate. It needs clientAuth, or no EKU, and a factory certificate
// listed in its issuer's CRL (Server.BootstrapCRLs) is refused.
func TestFactoryCertificateNeedsClientAuth(t *testing.T) {
	factoryKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SIM maker CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, factoryKey.Public(), factoryKey)
	factoryCA, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(factoryCA)
	ca, err := estserver.NewCA("fleet CA")
	if err != nil {
		t.Fatal(err)
	}
	// The factory CA has revoked serial 200 (a compromised device).
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(200), RevocationTime: now.Add(-time.Minute)}}}, factoryCA, factoryKey)
	if err != nil {
		t.Fatal(err)
	}
	crl, _ := x509.ParseRevocationList(crlDER)
	// A CRL signed by someone else listing serial 201 does not count.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherTmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "SIM maker CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	otherDER, _ := x509.CreateCertificate(rand.Reader, otherTmpl, otherTmpl, otherKey.Public(), otherKey)
	other, _ := x509.ParseCertificate(otherDER)
	forgedDER, _ := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(201), RevocationTime: now}}}, other, otherKey)
	forged, _ := x509.ParseRevocationList(forgedDER)
	srv := startTLS(t, ca, &estserver.Server{CA: ca, BootstrapRoots: pool, BootstrapCRLs: []*x509.RevocationList{crl, forged},
		Policy: estserver.Policy{CommonName: "dev-{factory-serial}"}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for i, tc := range []struct {
		name   string
		eku    []x509.ExtKeyUsage
		ok     bool
		serial int64
	}{
		{"serverAuth only", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false, 0},
		{"codeSigning only", []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, false, 0},
		{"any", []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, false, 0},
		{"clientAuth", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true, 0},
		{"no EKU", nil, true, 0},
		{"clientAuth, revoked by the factory CA's CRL", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false, 200},
		{"clientAuth, listed only in a CRL another key signed", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true, 201},
	} {
		devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial := big.NewInt(int64(100 + i))
		if tc.serial != 0 {
			serial = big.NewInt(tc.serial)
		}
		der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "factory " + tc.name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: tc.eku, KeyUsage: x509.KeyUsageDigitalSignature}, factoryCA, devKey.Public(), factoryKey)
		c := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: devKey}}
		err := enrolAs(t, c, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-" + strings.ToUpper(serial.Text(16))}})
		if tc.ok && err != nil {
			t.Fatalf("factory certificate with %s: %v", tc.name, err)
		}
		if !tc.ok && err == nil {
			t.Fatalf("factory certificate with %s enrolled", tc.name)
		}
	}
}

// From the fleet-scale review: re-enrolling twice from one certificate
// forked the credential (an attacker who used a device's SIM once re-enrols
// into a software key that keeps renewing; the genuine device then gets
// 409, and revoking one twin leaves the other valid). A certificate renews
// at most once; the same renewal request again (a lost answer) gets the
// same certificate. A same-key retry of an enrolment returns the
// certificate already issued instead of a second live one.
func TestRenewsAtMostOnceAndRetriesAreIdempotent(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "renew CA", estserver.Policy{})
	ctx := context.Background()
	boot := &est.Client{Server: srv.URL, Roots: roots, Username: "device", Password: "bootstrap"}
	csrFor := func(key *ecdsa.PrivateKey) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-9"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	k0, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	first, err := boot.SimpleEnroll(ctx, csrFor(k0))
	if err != nil {
		t.Fatal(err)
	}
	again, err := boot.SimpleEnroll(ctx, csrFor(k0))
	if err != nil || again[0].SerialNumber.Cmp(first[0].SerialNumber) != 0 {
		t.Fatalf("same-key enrolment retry: %v, serial %v then %v (want the same certificate)", err, first[0].SerialNumber, again[0].SerialNumber)
	}
	cur := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{first[0].Raw}, PrivateKey: k0}}
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	renewed, err := cur.SimpleReenroll(ctx, csrFor(k1))
	if err != nil {
		t.Fatal(err)
	}
	// The twin: a second renewal from the same certificate with another key.
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = cur.SimpleReenroll(ctx, csrFor(k2))
	wantStatus(t, "a second renewal from the same certificate", err, http.StatusConflict)
	// The lost answer: the same renewal request again.
	replay, err := cur.SimpleReenroll(ctx, csrFor(k1))
	if err != nil || replay[0].SerialNumber.Cmp(renewed[0].SerialNumber) != 0 {
		t.Fatalf("the same renewal again: %v (want certificate %v again)", err, renewed[0].SerialNumber)
	}
	// The successor renews in turn.
	next := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{renewed[0].Raw}, PrivateKey: k1}}
	k3, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := next.SimpleReenroll(ctx, csrFor(k3)); err != nil {
		t.Fatalf("renewal with the renewed certificate: %v", err)
	}
}

// derTLV wraps content in a DER tag and length.
func derTLV(tag byte, content []byte) []byte {
	n := len(content)
	switch {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, content...)
	case n < 0x100:
		return append([]byte{tag, 0x81, byte(n)}, content...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, content...)
	}
}

// From the fleet-scale review: brainpool requests whose
// SubjectPublicKeyInfo carries trailing elements (which OpenSSL cannot
// load) were certified. The request here is signed over exactly those
// bytes by the brainpool key, so only the strict SPKI parse can refuse it.
func TestBrainpoolSPKIWithTrailingElementsRefused(t *testing.T) {
	_, srv, roots := bootstrapServer(t, "bp strict CA", estserver.Policy{})
	key, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	spki, err := keys.MarshalPKIX(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var outer asn1.RawValue
	asn1.Unmarshal(spki, &outer)
	subject, _ := asn1.Marshal(pkix.Name{CommonName: "meter-bp-trailing"}.ToRDNSequence())
	sign := func(spki []byte) []byte {
		tbs := derTLV(0x30, slices.Concat([]byte{0x02, 0x01, 0x00}, subject, spki, []byte{0xA0, 0x00}))
		d := sha256.Sum256(tbs)
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		alg, _ := asn1.Marshal(struct{ OID asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}})
		return derTLV(0x30, slices.Concat(tbs, alg, derTLV(0x03, append([]byte{0}, sig...))))
	}
	post := func(csr []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/.well-known/est/simpleenroll", strings.NewReader(base64.StdEncoding.EncodeToString(csr)))
		req.Header.Set("Content-Type", "application/pkcs10")
		req.SetBasicAuth("device", "bootstrap")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// A NULL after the BIT STRING inside the SubjectPublicKeyInfo.
	trailing := derTLV(0x30, append(bytes.Clone(outer.Bytes), 0x05, 0x00))
	if status, body := post(sign(trailing)); status != http.StatusBadRequest {
		t.Fatalf("SPKI with a trailing element: HTTP %d %s (want 400)", status, body)
	}
	// The same request built canonically is certified.
	if status, body := post(sign(spki)); status != http.StatusOK {
		t.Fatalf("canonical brainpool request: HTTP %d %s", status, body)
	}
	_ = roots
}

// From the fleet-scale review: CRL numbers went backwards across restarts
// and under load (RFC 5280 requires them to increase), since each request
// signed a new CRL with a number kept only in memory. The CRL is now
// signed once per change (or refresh) and cached, its number saved before
// it is published: fetching twice gives the same CRL, a revocation gives a
// higher number, a restart never a lower one, and a revoked serial stays.
func TestCRLNumbersNeverGoBack(t *testing.T) {
	dir := t.TempDir()
	ca, err := estserver.LoadOrCreateCA(dir, "crl CA")
	if err != nil {
		t.Fatal(err)
	}
	crl := func(ca *estserver.CA) *x509.RevocationList {
		t.Helper()
		der, err := ca.CRL()
		if err != nil {
			t.Fatal(err)
		}
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.CheckSignatureFrom(ca.Cert); err != nil {
			t.Fatal(err)
		}
		return l
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-crl"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	cert, err := ca.Issue(csr)
	if err != nil {
		t.Fatal(err)
	}
	a, b := crl(ca), crl(ca)
	if a.Number.Cmp(b.Number) != 0 || !bytes.Equal(a.Raw, b.Raw) {
		t.Fatalf("two fetches without a change: CRL numbers %v and %v (want the same CRL)", a.Number, b.Number)
	}
	if err := ca.Revoke(cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
	c := crl(ca)
	if c.Number.Cmp(b.Number) <= 0 || len(c.RevokedCertificateEntries) != 1 || c.RevokedCertificateEntries[0].SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Fatalf("after a revocation: number %v (before %v), entries %v", c.Number, b.Number, c.RevokedCertificateEntries)
	}
	// A restart: the same store, a new process's CA.
	again, err := estserver.LoadOrCreateCA(dir, "crl CA")
	if err != nil {
		t.Fatal(err)
	}
	d := crl(again)
	if d.Number.Cmp(c.Number) < 0 || len(d.RevokedCertificateEntries) != 1 {
		t.Fatalf("after a restart: CRL number %v (before %v), %d entries", d.Number, c.Number, len(d.RevokedCertificateEntries))
	}
}

// From the fleet-scale review: a device whose connection dropped after it
// sent its request, and that retried with a new key (it cannot know
// whether its key was certified), got 409 for a year. The same enrolment
// identity (the same factory certificate; or the same bootstrap user when
// the name template binds the name to it) now enrols again with the new
// key, and the certificate it never received is revoked. A password shared
// by the fleet is no such identity: another key still gets 409.
func TestLostReplyRecovery(t *testing.T) {
	ctx := context.Background()
	newKey := func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	csrFor := func(key *ecdsa.PrivateKey, cn string) []byte {
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		return der
	}

	// A factory certificate.
	factoryKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SIM maker CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, factoryKey.Public(), factoryKey)
	factoryCA, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(factoryCA)
	ca, err := estserver.NewCA("recovery CA")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, ca, &estserver.Server{CA: ca, BootstrapRoots: pool, Username: "device", Password: "bootstrap",
		Policy: estserver.Policy{CommonName: "dev-{factory-serial}"}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	devKey := newKey()
	fDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(0x77), Subject: pkix.Name{CommonName: "factory 77"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, factoryCA, devKey.Public(), factoryKey)
	device := &est.Client{Server: srv.URL, Roots: roots, Certificate: &tls.Certificate{Certificate: [][]byte{fDER}, PrivateKey: devKey}}
	lost, err := device.SimpleEnroll(ctx, csrFor(newKey(), "dev-77")) // the answer never arrives
	if err != nil {
		t.Fatal(err)
	}
	got, err := device.SimpleEnroll(ctx, csrFor(newKey(), "dev-77"))
	if err != nil {
		t.Fatalf("the same factory certificate enrolling again with a new key: %v (want a certificate)", err)
	}
	if !ca.IsRevoked(lost[0].SerialNumber) || ca.IsRevoked(got[0].SerialNumber) {
		t.Fatalf("after recovery: the lost certificate revoked %v, the new one revoked %v", ca.IsRevoked(lost[0].SerialNumber), ca.IsRevoked(got[0].SerialNumber))
	}
	if crl, _ := ca.CRL(); !bytes.Contains(crl, lost[0].SerialNumber.Bytes()) {
		t.Fatal("the lost certificate is not on the CRL")
	}

	// The shared bootstrap password is not one device: 409 as before.
	_, srv2, roots2 := bootstrapServer(t, "shared CA", estserver.Policy{})
	shared := &est.Client{Server: srv2.URL, Roots: roots2, Username: "device", Password: "bootstrap"}
	if _, err := shared.SimpleEnroll(ctx, csrFor(newKey(), "meter-12")); err != nil {
		t.Fatal(err)
	}
	_, err = shared.SimpleEnroll(ctx, csrFor(newKey(), "meter-12"))
	wantStatus(t, "another key under a shared password", err, http.StatusConflict)

	// A bootstrap user per device, bound to the name by the template.
	_, srv3, roots3 := bootstrapServer(t, "per-user CA", estserver.Policy{CommonName: "{user}-meter"})
	perUser := &est.Client{Server: srv3.URL, Roots: roots3, Username: "device", Password: "bootstrap"}
	if _, err := perUser.SimpleEnroll(ctx, csrFor(newKey(), "device-meter")); err != nil {
		t.Fatal(err)
	}
	if _, err := perUser.SimpleEnroll(ctx, csrFor(newKey(), "device-meter")); err != nil {
		t.Fatalf("the same per-device user with a new key: %v", err)
	}
}

// An attack on the admin endpoints: guessing the token. Closed without a
// token (404); with one, wrong tokens are throttled per client address like
// bootstrap guesses (429 after five), and even the right token then waits.
func TestAdminTokenGuessingIsThrottled(t *testing.T) {
	ca, err := estserver.NewCA("admin CA")
	if err != nil {
		t.Fatal(err)
	}
	closed := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap"})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	get := func(srv string, token string) int {
		req, _ := http.NewRequest(http.MethodGet, srv+"/admin/certificates", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(closed.URL, ""); st != http.StatusNotFound {
		t.Fatalf("admin endpoint without a configured token: HTTP %d (want 404)", st)
	}
	open := startTLS(t, ca, &estserver.Server{CA: ca, Username: "device", Password: "bootstrap", AdminToken: "the-right-admin-token"})
	if st := get(open.URL, "the-right-admin-token"); st != http.StatusOK {
		t.Fatalf("the right token: HTTP %d", st)
	}
	statuses := []int{}
	for i := 0; i < 7; i++ {
		statuses = append(statuses, get(open.URL, fmt.Sprintf("guess-%d", i)))
	}
	if statuses[0] != http.StatusUnauthorized || statuses[6] != http.StatusTooManyRequests {
		t.Fatalf("seven wrong tokens: %v (want 401 first, 429 by the end)", statuses)
	}
	if st := get(open.URL, "the-right-admin-token"); st != http.StatusTooManyRequests {
		t.Fatalf("the right token while throttled: HTTP %d (want 429)", st)
	}
}
