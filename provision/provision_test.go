package provision_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/pkcs11mod"
	"github.com/go-iotsafe/iotsafe/provision"
	"github.com/go-iotsafe/iotsafe/provision/est"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

type env struct {
	card   *emulator.Card
	state  string
	applet *iotsafe.Applet
	ca     *estserver.CA
	roots  *x509.CertPool
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, emulator.Options{}) }

// newEnvWith is an env on a software SIM made with opts.
func newEnvWith(t *testing.T, opts emulator.Options) *env {
	t.Helper()
	state := filepath.Join(t.TempDir(), "sim.json")
	card, err := emulator.Create(state, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ca, _ := estserver.NewCA("test CA")
	e := &env{card: card, state: state, applet: a, ca: ca}
	e.setRoots()
	return e
}

func (e *env) serve(t *testing.T, h http.Handler) string { return e.serveTB(t, h) }

func (e *env) serveTB(t testing.TB, h http.Handler) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, _ := e.ca.IssueServer(key.Public(), "127.0.0.1")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func (e *env) setRoots() {
	e.roots = x509.NewCertPool()
	e.roots.AddCert(e.ca.Cert)
}

// factoryWorks checks that the factory credential (key 01 and its
// certificate) is still usable.
func factoryWorks(t *testing.T, a *iotsafe.Applet) {
	t.Helper()
	k, err := signer.New(context.Background(), a, iotsafe.ByID(1), nil)
	if err != nil {
		t.Fatalf("factory key lost: %v", err)
	}
	if _, err := k.TLSCertificate(context.Background()); err != nil {
		t.Fatalf("factory certificate lost: %v", err)
	}
}

func certFiles(t *testing.T, a *iotsafe.Applet) int {
	t.Helper()
	a.Refresh()
	certs, err := signer.Certificates(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return len(certs)
}

func TestBadESTAnswersLeaveTheSIMUntouched(t *testing.T) {
	e := newEnv(t)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, otherKey)
	csr, _ := x509.ParseCertificateRequest(csrDER)
	other, _ := e.ca.Issue(csr)
	otherP7, _ := pkcs7.DegenerateCertificate(other.Raw)
	empty, _ := pkcs7.DegenerateCertificate(nil)
	before := certFiles(t, e.applet)
	for name, tc := range map[string]struct {
		ct, body string
		want     error
	}{
		"wrong content type":          {"text/plain", "hello", est.ErrContentType},
		"bad base64":                  {"application/pkcs7-mime; smime-type=certs-only", "***", est.ErrMalformed},
		"PKCS#7 without certificates": {"application/pkcs7-mime; smime-type=certs-only", base64.StdEncoding.EncodeToString(empty), est.ErrNoCertificate},
		"certificate for another key": {"application/pkcs7-mime; smime-type=certs-only", base64.StdEncoding.EncodeToString(otherP7), est.ErrWrongKey},
	} {
		t.Run(name, func(t *testing.T) {
			url := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/csrattrs") {
					http.NotFound(w, r) // a server without CSR attributes
					return
				}
				w.Header().Set("Content-Type", tc.ct)
				io.WriteString(w, tc.body)
			}))
			_, err := provision.Provision(context.Background(), &provision.Config{
				Applet: e.applet, EST: &est.Client{Server: url, Roots: e.roots}, Operator: &operator.Emulator{Path: e.state}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := certFiles(t, e.applet); n != before {
				t.Fatalf("the SIM's certificates changed: %d -> %d", before, n)
			}
			factoryWorks(t, e.applet)
		})
	}
}

// failingOperator fails its first delivery, as if the device lost power.
type failingOperator struct {
	operator.Emulator
	fail int
}

func (f *failingOperator) PutCertificate(ctx context.Context, id []byte, label string, der []byte) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("interrupted")
	}
	return f.Emulator.PutCertificate(ctx, id, label, der)
}

func TestInterruptedThenRerun(t *testing.T) {
	e := newEnv(t)
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	cfg := &provision.Config{Applet: e.applet, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"}}

	// Interrupted at enrollment (the server refuses the bootstrap secret).
	bad := *cfg
	bad.EST = &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "wrong"}
	bad.Operator = &operator.Emulator{Path: e.state}
	if _, err := provision.Provision(context.Background(), &bad); err == nil {
		t.Fatal("enrollment with a wrong bootstrap secret succeeded")
	}
	factoryWorks(t, e.applet)
	// Interrupted at delivery.
	cfg.Operator = &failingOperator{Emulator: operator.Emulator{Path: e.state}, fail: 1}
	if _, err := provision.Provision(context.Background(), cfg); err == nil {
		t.Fatal("interrupted delivery reported success")
	}
	factoryWorks(t, e.applet)
	// Run again, choosing the container itself: it reuses the one the
	// interrupted run left with a key but no certificate.
	res, err := provision.Provision(context.Background(), &provision.Config{Applet: e.applet,
		EST: cfg.EST, Operator: &operator.Emulator{Path: e.state}})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := res.Key.TLSCertificate(context.Background())
	if err != nil || !tc.Leaf.Equal(res.Certificate) {
		t.Fatalf("provisioned credential not on the SIM: %v", err)
	}
	factoryWorks(t, e.applet)
	// Renewal keeps the old certificate until the new one passes its check.
	cfg.Operator = &operator.Emulator{Path: e.state}
	cfg.Check = func(context.Context, *tls.Certificate) error { return errors.New("cloud unreachable") }
	if _, err := provision.Renew(context.Background(), cfg, res); err == nil {
		t.Fatal("renewal whose check failed reported success")
	}
	e.applet.Refresh()
	if got, err := e.applet.ReadFile(context.Background(), iotsafe.ByID(res.CertFile...)); err != nil || string(got) != string(res.Certificate.Raw) {
		t.Fatalf("the working certificate was removed by a failed renewal: %v", err)
	}
	cfg.Check = nil
	res2, err := provision.Renew(context.Background(), cfg, res)
	if err != nil {
		t.Fatal(err)
	}
	e.applet.Refresh()
	if _, err := e.applet.ReadFile(context.Background(), iotsafe.ByID(res.CertFile...)); !errors.Is(err, iotsafe.ErrNotFound) {
		t.Fatalf("old certificate file after renewal: %v", err)
	}
	if tc, err := res2.Key.TLSCertificate(context.Background()); err != nil || !tc.Leaf.Equal(res2.Certificate) {
		t.Fatalf("renewed credential: %v", err)
	}
}

// Enrollment authenticated by the factory credential: the SIM's factory key
// and certificate as the TLS client certificate, accepted by the EST server
// because it chains to the factory CA.
func TestBootstrapWithFactoryCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	factory, err := signer.New(ctx, e.applet, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	factoryCert, err := factory.TLSCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caDER, _ := e.applet.ReadFile(ctx, iotsafe.ByLabel("ca-cert"))
	factoryCA, _ := x509.ParseCertificate(caDER)
	bootstrap := x509.NewCertPool()
	bootstrap.AddCert(factoryCA)
	url := e.serve(t, &estserver.Server{CA: e.ca, BootstrapRoots: bootstrap})
	res, err := provision.Provision(ctx, &provision.Config{Applet: e.applet,
		EST: &est.Client{Server: url, Roots: e.roots, Certificate: factoryCert}, Operator: &operator.Emulator{Path: e.state}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Certificate.Verify(x509.VerifyOptions{Roots: e.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	// Without the factory certificate the server refuses.
	e2 := newEnv(t)
	e2.ca, e2.roots = e.ca, e.roots
	var he *est.HTTPError
	_, err = provision.Provision(ctx, &provision.Config{Applet: e2.applet,
		EST: &est.Client{Server: url, Roots: e.roots}, Operator: &operator.Emulator{Path: e2.state}})
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("enrollment without bootstrap credentials: %v", err)
	}
}

// sharedCard lets the PKCS#11 engine use the test's card next to the
// applet (each on its own logical channel).
type sharedCard struct{ *emulator.Card }

func (sharedCard) Close() error { return nil }

// p11certs returns the certificates the PKCS#11 library shows with this
// CKA_ID, and whether it shows a private key with it.
func p11certs(t *testing.T, m *pkcs11mod.Module, id []byte) (certs [][]byte, key bool) {
	t.Helper()
	h, rv := m.OpenSession(0, pkcs11mod.CKF_SERIAL_SESSION)
	if rv != pkcs11mod.CKR_OK {
		t.Fatalf("OpenSession: %#x", rv)
	}
	defer m.CloseSession(h)
	find := func(class uint) []uint {
		cls := make([]byte, 8)
		binary.NativeEndian.PutUint64(cls, uint64(class))
		m.FindObjectsInit(h, []pkcs11mod.Attribute{{Type: pkcs11mod.CKA_CLASS, Value: cls}, {Type: pkcs11mod.CKA_ID, Value: id}})
		defer m.FindObjectsFinal(h)
		hs, _ := m.FindObjects(h, 10)
		return hs
	}
	for _, o := range find(pkcs11mod.CKO_CERTIFICATE) {
		v, _ := m.GetAttributeValue(h, o, []uint{pkcs11mod.CKA_VALUE})
		certs = append(certs, v[0].Value)
	}
	return certs, len(find(pkcs11mod.CKO_PRIVATE_KEY)) == 1
}

// Delivery into the PKCS#11 library's host-side store: the certificate is
// shown with its SIM key (same CKA_ID), renewal replaces it only once the
// new one is proven, and the operator's removal of the key hides it.
func TestDeliveryIntoPKCS11HostStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	store := t.TempDir()
	before := certFiles(t, e.applet)
	cfg := &provision.Config{Applet: e.applet, Container: iotsafe.ByID(2),
		EST:   &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
		Store: &pkcs11mod.CertStore{Root: store, Applet: e.applet}}
	res, err := provision.Provision(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.CertFile != nil {
		t.Fatalf("delivered to SIM file %X, want the host store", res.CertFile)
	}
	if n := certFiles(t, e.applet); n != before {
		t.Fatalf("%d certificate files on the SIM, want the %d of the factory", n, before)
	}

	m := &pkcs11mod.Module{
		Open: func(context.Context, string) (transport.Transport, error) { return sharedCard{e.card}, nil },
		ConfigSource: func() (*pkcs11mod.Config, error) {
			return &pkcs11mod.Config{Store: store, Slots: []pkcs11mod.SlotConfig{{SIM: "test"}}}, nil
		},
	}
	if rv := m.Initialize(0); rv != pkcs11mod.CKR_OK {
		t.Fatalf("Initialize: %#x", rv)
	}
	defer m.Finalize()
	certs, key := p11certs(t, m, res.Key.ID())
	if !key || len(certs) != 1 || !bytes.Equal(certs[0], res.Certificate.Raw) {
		t.Fatalf("PKCS#11 shows key %v and %d certificates for the provisioned key", key, len(certs))
	}
	// The container now holds a credential whose certificate is in the
	// store: provisioning it again is refused, as for one on the SIM.
	if _, err := provision.Provision(ctx, cfg); err == nil || !strings.Contains(err.Error(), "holds a credential") {
		t.Fatalf("re-provisioning a container certified in the host store: %v", err)
	}

	// Renewal whose check fails leaves the stored certificate alone.
	cfg.Check = func(context.Context, *tls.Certificate) error { return errors.New("cloud unreachable") }
	if _, err := provision.Renew(ctx, cfg, res); err == nil {
		t.Fatal("renewal whose check failed reported success")
	}
	if c, err := cfg.Store.Certificate(ctx, res.Key.ID()); err != nil || !c.Equal(res.Certificate) {
		t.Fatalf("the working certificate was replaced by a failed renewal: %v", err)
	}
	cfg.Check = nil
	res2, err := provision.Renew(ctx, cfg, res)
	if err != nil {
		t.Fatal(err)
	}
	m.Finalize()
	m.Initialize(0)
	certs, _ = p11certs(t, m, res.Key.ID())
	if len(certs) != 1 || !bytes.Equal(certs[0], res2.Certificate.Raw) {
		t.Fatalf("after renewal PKCS#11 shows %d certificates, want the new one only", len(certs))
	}

	// The operator removes the key: key and certificate disappear.
	adm, err := e.card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteObject(spec.KindPrivateKey, res.Key.ID()); err != nil {
		t.Fatal(err)
	}
	if err := adm.Commit(); err != nil {
		t.Fatal(err)
	}
	m.Finalize()
	m.Initialize(0)
	if certs, key := p11certs(t, m, res.Key.ID()); key || len(certs) != 0 {
		t.Fatalf("after removal PKCS#11 still shows key %v, %d certificates", key, len(certs))
	}
}

// Before anything happens on the SIM the client asks the server for its CSR
// attributes over verified TLS: a server it does not trust (a wrong
// anchor), or one that asks for a key the SIM cannot generate, stops the
// provisioning with the key container untouched.
func TestNoKeyGeneratedForAServerItCannotUse(t *testing.T) {
	e := newEnv(t)
	ztpEmpty := func() {
		t.Helper()
		o, err := e.applet.Find(context.Background(), spec.KindPrivateKey, iotsafe.ByLabel("ztp-key"))
		if err != nil || o.Active() {
			t.Fatalf("the ztp container was written: %v %v", o, err)
		}
	}
	// A wrong anchor.
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	other, _ := estserver.NewCA("another CA")
	wrong := x509.NewCertPool()
	wrong.AddCert(other.Cert)
	_, err := provision.Provision(context.Background(), &provision.Config{Applet: e.applet,
		EST: &est.Client{Server: url, Roots: wrong, Username: "u", Password: "p"}, Operator: &operator.Emulator{Path: e.state}})
	if err == nil || !strings.Contains(err.Error(), "before generating a key") {
		t.Fatalf("wrong anchor: %v", err)
	}
	ztpEmpty()
	// A server that wants P-384 keys.
	p384, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 132, 0, 34})
	attrs, _ := est.CSRAttrs{{OID: est.OIDECPublicKey, Values: []asn1.RawValue{{FullBytes: p384}}}}.Marshal()
	url = e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/csrattrs")
		io.WriteString(w, base64.StdEncoding.EncodeToString(attrs))
	}))
	_, err = provision.Provision(context.Background(), &provision.Config{Applet: e.applet,
		EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"}, Operator: &operator.Emulator{Path: e.state}})
	if err == nil || !strings.Contains(err.Error(), "curve") {
		t.Fatalf("P-384 asked: %v", err)
	}
	ztpEmpty()
	// Our server's attributes: P-256 and ECDSA with SHA-256; the CSR follows.
	url = e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	got, err := (&est.Client{Server: url, Roots: e.roots}).CSRAttrs(context.Background())
	if err != nil || !got.Curve().Equal(est.OIDP256) || got.SignatureAlgorithm() != x509.ECDSAWithSHA256 {
		t.Fatalf("csrattrs %v %v", got, err)
	}
}

// A server that asks for proof of possession (challengePassword in its CSR
// attributes) gets CSRs bound to their TLS 1.2 connection, signed on the
// SIM; the renewal too.
func TestProvisionWithProofOfPossession(t *testing.T) {
	e := newEnv(t)
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p", Policy: estserver.Policy{RequirePoP: true}})
	cfg := &provision.Config{Applet: e.applet, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
		Operator: &operator.Emulator{Path: e.state}}
	res, err := provision.Provision(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Renew(context.Background(), cfg, res); err != nil {
		t.Fatalf("renewal with proof of possession: %v", err)
	}
}

// An RSA-2048 key generated on the SIM is enrolled like a P-256 one: the
// CSR is signed on the card (PKCS#1 v1.5, checked by crypto/x509 in the
// EST server), the certificate lands on the SIM, and the credential signs
// a TLS handshake.
func TestProvisionRSAKey(t *testing.T) {
	e := newEnvWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	ca, a, state := e.ca, e.applet, e.state
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	cfg := &provision.Config{Applet: a, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
		Operator: &operator.Emulator{Path: state}, Container: iotsafe.ByLabel("rsa-key"), Replace: true}
	res, err := provision.Provision(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := res.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 || !pub.Equal(res.Key.Public()) {
		t.Fatalf("certificate for %T", res.Certificate.PublicKey)
	}
	if err := res.Certificate.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	cur, err := provision.Current(context.Background(), cfg, iotsafe.ByLabel("rsa-key"))
	if err != nil || !cur.Certificate.Equal(res.Certificate) {
		t.Fatalf("Current: %v", err)
	}
	// The delivered credential signs: a TLS 1.3 handshake with crypto/tls.
	tc, err := res.Key.TLSCertificate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert(t, ca)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: e.roots, Certificates: []tls.Certificate{*tc}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close()
	if string(b) != "ok" {
		t.Fatalf("TLS with the provisioned RSA credential: %q", b)
	}

}

// A brainpoolP256r1 key generated on the SIM is enrolled end to end: the
// EST server's CSR attributes ask for brainpool, so the brainpool container
// is chosen; the CSR is signed on the card and carries the proof of
// possession the server requires; the certificate lands on the SIM and
// OpenSSL (an independent parser) verifies it against the CA. Renewal,
// which authenticates with the current certificate over TLS, is refused
// before anything happens: crypto/tls cannot present a brainpool key.
func TestProvisionBrainpoolKey(t *testing.T) {
	e := newEnvWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	ca, a, state := e.ca, e.applet, e.state
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p",
		Policy: estserver.Policy{KeyType: "brainpoolP256r1", RequirePoP: true}})
	cfg := &provision.Config{Applet: a, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
		Operator: &operator.Emulator{Path: state}, Replace: true, Subject: pkix.Name{CommonName: "bp-{key}"}}
	before, _ := a.PublicKey(context.Background(), iotsafe.ByLabel("brainpool-key"))
	res, err := provision.Provision(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Key.Label() != "brainpool-key" || res.Key.KeyKind() != spec.KeyKindBrainpoolP256 {
		t.Fatalf("enrolled %q (%s), want the brainpool container", res.Key.Label(), res.Key.KeyKind())
	}
	if res.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(before) {
		t.Fatal("the key was not generated anew on the SIM")
	}
	pub, ok := res.Certificate.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve.Params().Name != "brainpoolP256r1" || !pub.Equal(res.Key.Public()) {
		t.Fatalf("certificate for %T", res.Certificate.PublicKey)
	}
	if err := res.Certificate.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	// The SIM's copy, read through the applet, verifies with OpenSSL.
	der, err := a.ReadFile(context.Background(), iotsafe.ByID(res.CertFile...))
	if err != nil {
		t.Fatal(err)
	}
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600)
	os.WriteFile(filepath.Join(dir, "dev.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "ca.pem"), "-purpose", "sslclient", filepath.Join(dir, "dev.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify of the SIM's certificate: %v\n%s", err, out)
	}
	out, _ = exec.Command(openssl, "x509", "-in", filepath.Join(dir, "dev.pem"), "-noout", "-text").CombinedOutput()
	if !strings.Contains(string(out), "brainpoolP256r1") {
		t.Fatalf("openssl reads another key:\n%s", out)
	}
	// The credential signs: a signature by the SIM key verifies with the
	// certified key.
	d := sha256.Sum256([]byte("telemetry"))
	sig, err := res.Key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(pub, d[:], sig) {
		t.Fatalf("signature with the enrolled key: %v", err)
	}
	cur, err := provision.Current(context.Background(), cfg, iotsafe.ByLabel("brainpool-key"))
	if err != nil || !cur.Certificate.Equal(res.Certificate) {
		t.Fatalf("Current: %v", err)
	}
	if _, err := provision.Renew(context.Background(), cfg, cur); err == nil || !strings.Contains(err.Error(), "brainpool") {
		t.Fatalf("renewing a brainpool credential: %v", err)
	}
	if now, err := provision.Current(context.Background(), cfg, iotsafe.ByLabel("brainpool-key")); err != nil || !now.Certificate.Equal(res.Certificate) {
		t.Fatalf("the credential changed after a refused renewal: %v", err)
	}
}

func serverCert(t *testing.T, ca *estserver.CA) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.IssueServer(key.Public(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

// The attack: a SIM with several credentials (the key-types SIM has
// P-256, RSA and brainpool containers). Every enrolment delivered its
// certificate into the first certificate file, so enrolling a second key
// overwrote the first credential's certificate, and renewing one could
// overwrite another's. Now a certificate file that holds the certificate of
// another live key of the SIM is never written: the second credential goes
// to the other file, a third is refused before any key is generated, and
// both credentials keep working.
func TestSecondCredentialKeepsTheFirst(t *testing.T) {
	e := newEnvWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	ctx := context.Background()
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	cfg := func(container string) *provision.Config {
		return &provision.Config{Applet: e.applet, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
			Operator: &operator.Emulator{Path: e.state}, Container: iotsafe.ByLabel(container), Replace: true}
	}
	bp, err := provision.Provision(ctx, cfg("brainpool-key"))
	if err != nil {
		t.Fatal(err)
	}
	rsaRes, err := provision.Provision(ctx, cfg("rsa-key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(bp.CertFile, rsaRes.CertFile) {
		t.Fatalf("both credentials' certificates went to file %X", bp.CertFile)
	}
	for label, want := range map[string]*provision.Result{"brainpool-key": bp, "rsa-key": rsaRes} {
		cur, err := provision.Current(ctx, cfg(label), iotsafe.ByLabel(label))
		if err != nil || !cur.Certificate.Equal(want.Certificate) {
			t.Fatalf("%s after the second enrolment: %v", label, err)
		}
	}
	// A third credential has no certificate file left: refused, and the
	// container's key is not regenerated.
	before, _ := e.applet.PublicKey(ctx, iotsafe.ByLabel("device-key"))
	if _, err := provision.Provision(ctx, cfg("device-key")); err == nil || !strings.Contains(err.Error(), "certificate file") {
		t.Fatalf("third credential: %v", err)
	}
	e.applet.Refresh()
	after, _ := e.applet.PublicKey(ctx, iotsafe.ByLabel("device-key"))
	if !after.(interface{ Equal(crypto.PublicKey) bool }).Equal(before) {
		t.Fatal("a refused enrolment regenerated the key")
	}
	// Renewing the RSA credential cannot alternate into the brainpool
	// credential's file: refused with the reason, both intact.
	if _, err := provision.Renew(ctx, cfg("rsa-key"), rsaRes); err == nil || !strings.Contains(err.Error(), "certificate file") {
		t.Fatalf("renewal into another credential's file: %v", err)
	}
	if cur, err := provision.Current(ctx, cfg("brainpool-key"), iotsafe.ByLabel("brainpool-key")); err != nil || !cur.Certificate.Equal(bp.Certificate) {
		t.Fatalf("brainpool credential after the refused renewal: %v", err)
	}
}

// unreadableFile is the test's card behind a link that fails every read of
// one file with a technical problem (6F00): a card or modem that answers
// garbage in the middle of the check.
type unreadableFile struct {
	*emulator.Card
	id byte
}

func (u unreadableFile) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > 5 && cmd[1] == spec.InsReadFile && bytes.Contains(cmd[5:], []byte{0x01, u.id}) {
		return []byte{0x6F, 0x00}, nil
	}
	return u.Card.Transmit(ctx, cmd)
}

func (unreadableFile) Close() error { return nil }

// The attack on the certificate file check: a read of the first file fails
// (not "absent": a technical problem) while it holds a live credential's
// certificate. The check must not take a failed read for a free file and
// overwrite it: the enrolment stops with the card's error, before a key is
// generated, and the first credential is intact.
func TestCertFileCheckDoesNotTakeAFailedReadForFree(t *testing.T) {
	e := newEnvWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	ctx := context.Background()
	url := e.serve(t, &estserver.Server{CA: e.ca, Username: "u", Password: "p"})
	cfg := func(a *iotsafe.Applet, container string) *provision.Config {
		return &provision.Config{Applet: a, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
			Operator: &operator.Emulator{Path: e.state}, Container: iotsafe.ByLabel(container), Replace: true}
	}
	first, err := provision.Provision(ctx, cfg(e.applet, "brainpool-key"))
	if err != nil || !bytes.Equal(first.CertFile, []byte{0x20}) {
		t.Fatalf("first credential: %v (file %X)", err, first.CertFile)
	}
	flaky, err := iotsafe.Open(ctx, unreadableFile{e.card, 0x20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer flaky.Close()
	before, _ := flaky.PublicKey(ctx, iotsafe.ByLabel("rsa-key"))
	if _, err := provision.Provision(ctx, cfg(flaky, "rsa-key")); err == nil {
		t.Fatal("enrolment went on although the certificate file could not be read")
	}
	flaky.Refresh()
	if after, _ := flaky.PublicKey(ctx, iotsafe.ByLabel("rsa-key")); !after.(interface{ Equal(crypto.PublicKey) bool }).Equal(before) {
		t.Fatal("the RSA key was regenerated by a refused enrolment")
	}
	e.applet.Refresh()
	if cur, err := provision.Current(ctx, cfg(e.applet, "brainpool-key"), iotsafe.ByLabel("brainpool-key")); err != nil || !cur.Certificate.Equal(first.Certificate) {
		t.Fatalf("the first credential after the failed read: %v", err)
	}
}

// The race: while the EST server answers (seconds on a real network),
// another program delivers the certificate of another SIM key into the file
// this enrolment chose. The file is checked again just before writing, so
// the new certificate goes to the other file and the other program's
// credential stays.
func TestCertFileTakenDuringEnrolment(t *testing.T) {
	e := newEnvWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes})
	ctx := context.Background()
	dev, err := signer.New(ctx, e.applet, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := signer.CreateCSR(dev, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "other program"}})
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	other, err := e.ca.Issue(csr)
	if err != nil {
		t.Fatal(err)
	}
	op := &operator.Emulator{Path: e.state}
	srv := &estserver.Server{CA: e.ca, Username: "u", Password: "p"}
	url := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/simpleenroll") {
			if err := op.PutCertificate(r.Context(), []byte{0x20}, "other-cert", other.Raw); err != nil {
				t.Error(err)
			}
		}
		srv.ServeHTTP(w, r)
	}))
	res, err := provision.Provision(ctx, &provision.Config{Applet: e.applet, EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"},
		Operator: op, Container: iotsafe.ByLabel("rsa-key"), Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.CertFile, []byte{0x21}) {
		t.Fatalf("the new certificate went to file %X, over the one delivered meanwhile", res.CertFile)
	}
	e.applet.Refresh()
	got, err := e.applet.ReadFile(ctx, iotsafe.ByID(0x20))
	if err != nil || !bytes.Equal(got, other.Raw) {
		t.Fatalf("the other program's certificate in file 20: %v", err)
	}
}
