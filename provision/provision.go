// Package provision runs zero-touch provisioning of a SIM-held credential:
// a key pair generated on the SIM, a certificate signing request signed by
// it, enrollment over EST (RFC 7030), delivery of the certificate to the SIM
// through the operator's administration path, and renewal without a moment
// when the device has no valid credential.
//
// It depends on no particular server or operator platform: enrollment
// speaks plain EST (package provision/est), and delivery goes through the
// Operator interface, which an operator's over-the-air platform implements
// (package operator implements it for the software SIM).
package provision

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/csrpop"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/provision/est"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Operator puts a certificate into a file of the SIM's applet store. On a
// deployed SIM this is the mobile operator's over-the-air administration;
// the device sees 63CF afterwards and re-reads its cached card data.
type Operator interface {
	PutCertificate(ctx context.Context, fileID []byte, label string, der []byte) error
	DeleteFile(ctx context.Context, fileID []byte) error
}

// CertStore keeps certificates for SIM keys on the host, where the
// device's software looks for them: the PKCS#11 library's host-side store
// (pkcs11mod.CertStore). It is the delivery path when the operator cannot
// write the SIM's certificate files.
type CertStore interface {
	// PutCertificate stores cert for the key pair keyID, replacing the
	// one stored for it before.
	PutCertificate(ctx context.Context, keyID []byte, label string, cert *x509.Certificate) error
	// Certificate returns the certificate stored for keyID.
	Certificate(ctx context.Context, keyID []byte) (*x509.Certificate, error)
}

// Config says what to provision and where.
type Config struct {
	Applet *iotsafe.Applet
	// Container is the private key container to generate the key in; the
	// zero Ref picks the first free container that can generate keys.
	Container iotsafe.Ref
	// Replace allows regenerating a named container whose key has a
	// certificate, on the SIM or in Store (its credential is lost).
	Replace bool
	// Subject and SANs of the request. In CommonName and DNSNames the
	// placeholders {key} (hex SHA-256 of the new public key, 16 digits) and
	// {applet} (the applet identifier as text or hex) are replaced.
	Subject  pkix.Name
	DNSNames []string
	URIs     []*url.URL
	// EST is the enrollment client (server URL, trust anchor, bootstrap
	// credentials).
	EST *est.Client
	// Operator delivers the certificate to the SIM.
	Operator Operator
	// Store, when set, receives the certificate instead of the SIM (and
	// Operator is not needed): the new certificate is checked (Check)
	// first and then replaces the stored one, so the old one stays in
	// place until its successor is proven.
	Store CertStore
	// CertFiles are the two file IDs the credential's certificate
	// alternates between, so that renewal never overwrites the certificate
	// in use before its successor is verified. Default 20 and 21.
	CertFiles [2][]byte
	// CertLabel labels the certificate file. Default: the key's label
	// followed by "-cert".
	CertLabel string
	// Check, when set, proves a new credential end to end (e.g. a mutual
	// TLS connection to the device's cloud) before the old one is retired.
	Check func(ctx context.Context, cert *tls.Certificate) error
	// ProofOfPossession binds every request to its TLS 1.2 connection
	// (tls-unique in the challengePassword, RFC 7030 §3.5) even when the
	// server's CSR attributes do not ask for it (Cisco libest's estserver
	// -t enforces it without saying so).
	ProofOfPossession bool
	// Logger receives one record per step; nil discards.
	Logger *slog.Logger
}

// Result is a provisioned credential.
type Result struct {
	Key         *signer.Key
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	CertFile    []byte // the SIM file; nil when delivered to Config.Store
}

func (c *Config) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Config) files() [2][]byte {
	if c.CertFiles[0] == nil {
		return [2][]byte{{0x20}, {0x21}}
	}
	return c.CertFiles
}

// Provision generates a key pair on the SIM, enrolls it over EST and
// delivers its certificate to the SIM. Running it again after an
// interruption at any step completes: nothing it does touches another
// credential, and the key container is simply regenerated.
func Provision(ctx context.Context, c *Config) (*Result, error) {
	if c.Applet == nil || c.EST == nil || (c.Operator == nil && c.Store == nil) {
		return nil, errors.New("provision: Applet, EST and Operator (or Store) are required")
	}
	log := c.log()
	// Ask the server what it wants in a CSR before anything happens on
	// the SIM: over verified TLS this also proves the server is the one
	// trusted (a wrong anchor leaves no key without a certificate).
	attrs, err := c.EST.CSRAttrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: asking the EST server for its CSR attributes (before generating a key): %w", err)
	}
	container, kind, err := c.chooseContainer(ctx, wantedKind(attrs))
	if err != nil {
		return nil, err
	}
	sigAlg, err := c.honour(attrs, kind)
	if err != nil {
		return nil, err
	}
	// The certificate file, chosen before a key is generated: one that
	// holds no other live credential's certificate.
	var file []byte
	if c.Store == nil {
		if file, err = c.certFileFor(ctx, container, c.files()[0], c.files()[1]); err != nil {
			return nil, err
		}
	}
	kp, err := c.Applet.GenerateKeyPair(ctx, container)
	if err != nil {
		return nil, fmt.Errorf("provision: generating the key pair on the SIM: %w", err)
	}
	log.Info("key pair generated on the SIM", "private_key", hex.EncodeToString(kp.PrivateID), "public_key", hex.EncodeToString(kp.PublicID))
	key, err := signer.New(ctx, c.Applet, iotsafe.ByID(kp.PrivateID...), nil)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	if c.ProofOfPossession || attrs.Has(est.OIDChallengePassword) {
		// The server wants proof of possession: the CSR carries the TLS
		// channel binding of the connection it is sent over.
		certs, err = c.EST.SimpleEnrollPoP(ctx, func(challenge string) ([]byte, error) {
			return c.requestWith(ctx, key, sigAlg, challenge)
		})
	} else {
		var csr []byte
		if csr, err = c.requestWith(ctx, key, sigAlg, ""); err != nil {
			return nil, err
		}
		log.Info("certificate request signed by the SIM key", "bytes", len(csr))
		certs, err = c.EST.SimpleEnroll(ctx, csr)
	}
	if err != nil {
		return nil, fmt.Errorf("provision: enrollment: %w", err)
	}
	if c.Store == nil {
		// Again, just before writing: another program may have put a
		// credential there while the EST server was answering.
		if file, err = c.certFileFor(ctx, iotsafe.ByID(key.ID()...), c.files()[0], c.files()[1]); err != nil {
			return nil, err
		}
	}
	res, err := c.deliver(ctx, key, certs, file)
	if err != nil {
		return nil, err
	}
	if c.Store != nil {
		log.Info("certificate delivered to the host store", "key", hex.EncodeToString(key.ID()), "subject", res.Certificate.Subject.String())
	} else {
		log.Info("certificate delivered to the SIM", "file", hex.EncodeToString(res.CertFile), "subject", res.Certificate.Subject.String())
	}
	return res, nil
}

// Renew re-enrolls the credential of cur with /simplereenroll, authenticated
// by the current certificate, and delivers the new certificate into the
// other certificate file. The old certificate stays on the SIM, and in use,
// until the new one is read back from the SIM and has passed Config.Check;
// only then is the old file deleted.
//
// A brainpoolP256r1 credential cannot be renewed so: crypto/tls cannot
// present a brainpool key as a client certificate. It is replaced by a new
// enrolment (Provision with Replace) instead; Renew says so before
// anything happens.
func Renew(ctx context.Context, c *Config, cur *Result) (*Result, error) {
	log := c.log()
	if cur.Key.KeyKind() == spec.KeyKindBrainpoolP256 {
		return nil, errors.New("provision: a brainpoolP256r1 credential cannot authenticate /simplereenroll (crypto/tls cannot present a brainpool client certificate): enrol it again with Provision and Replace")
	}
	re := *c.EST
	re.Certificate, re.GetClientCertificate = cur.tlsCertificate(), nil
	attrs, err := re.CSRAttrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: asking the EST server for its CSR attributes: %w", err)
	}
	sigAlg, err := c.honour(attrs, cur.Key.KeyKind())
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	if c.ProofOfPossession || attrs.Has(est.OIDChallengePassword) {
		certs, err = re.SimpleReenrollPoP(ctx, func(challenge string) ([]byte, error) {
			return c.requestWith(ctx, cur.Key, sigAlg, challenge)
		})
	} else {
		var csr []byte
		if csr, err = c.requestWith(ctx, cur.Key, sigAlg, ""); err != nil {
			return nil, err
		}
		certs, err = re.SimpleReenroll(ctx, csr)
	}
	if err != nil {
		return nil, fmt.Errorf("provision: re-enrollment: %w", err)
	}
	other := c.files()[0]
	if bytes.Equal(cur.CertFile, other) {
		other = c.files()[1]
	}
	if c.Store == nil {
		if _, err := c.certFileFor(ctx, iotsafe.ByID(cur.Key.ID()...), other); err != nil {
			return nil, err
		}
	}
	res, err := c.deliver(ctx, cur.Key, certs, other)
	if err != nil {
		return nil, err
	}
	if c.Store != nil {
		log.Info("credential renewed in the host store", "serial", res.Certificate.SerialNumber.String())
		return res, nil
	}
	if err := c.Operator.DeleteFile(ctx, cur.CertFile); err != nil {
		return nil, fmt.Errorf("provision: the new certificate is in place, but retiring the old file failed: %w", err)
	}
	c.Applet.Refresh()
	log.Info("credential renewed", "file", hex.EncodeToString(res.CertFile), "serial", res.Certificate.SerialNumber.String())
	return res, nil
}

// Current returns the credential of the key container key as it stands:
// the SIM key and its certificate, from the certificate files of c (or
// from c.Store when the certificates go there). It is what Renew renews.
func Current(ctx context.Context, c *Config, key iotsafe.Ref) (*Result, error) {
	k, err := signer.New(ctx, c.Applet, key, nil)
	if err != nil {
		return nil, err
	}
	pub, _ := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	if c.Store != nil {
		cert, err := c.Store.Certificate(ctx, k.ID())
		if err != nil {
			return nil, fmt.Errorf("provision: no certificate for key %X in the host store: %w", k.ID(), err)
		}
		if pub == nil || !pub.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("provision: the stored certificate is for another key than %X", k.ID())
		}
		return &Result{Key: k, Certificate: cert}, nil
	}
	for _, f := range c.files() {
		der, err := c.Applet.ReadFile(ctx, iotsafe.ByID(f...))
		if err != nil {
			continue
		}
		cert, err := bpx509.ParseCertificate(der)
		if err == nil && pub != nil && pub.Equal(cert.PublicKey) {
			return &Result{Key: k, Certificate: cert, CertFile: bytes.Clone(f)}, nil
		}
	}
	return nil, fmt.Errorf("provision: key %X has no certificate in the certificate files %X and %X", k.ID(), c.files()[0], c.files()[1])
}

// certFileFor returns the first of files that may receive the certificate
// of the key in container: one that is absent or empty, holds no certificate, or
// holds a certificate whose key is that container's or no key of the SIM
// (a dead credential). A file that holds the certificate of another live
// key of the SIM is never chosen: writing it would destroy that
// credential.
func (c *Config) certFileFor(ctx context.Context, container iotsafe.Ref, files ...[]byte) ([]byte, error) {
	a := c.Applet
	objs, err := a.Objects(ctx)
	if err != nil {
		return nil, err
	}
	own, err := a.Find(ctx, spec.KindPrivateKey, container)
	if err != nil {
		return nil, err
	}
	var held []string
	for _, f := range files {
		der, err := a.ReadFile(ctx, iotsafe.ByID(f...))
		switch {
		case errors.Is(err, iotsafe.ErrNotFound), errors.Is(err, iotsafe.ErrConditionsNotSatisfied):
			return f, nil // absent, or empty: nothing to lose
		case err != nil:
			// Anything else (a technical problem, a garbled answer, the
			// card gone) says nothing about what the file holds.
			return nil, fmt.Errorf("provision: checking certificate file %X before writing it: %w", f, err)
		}
		cert, err := bpx509.ParseCertificate(der)
		if err != nil {
			return f, nil
		}
		holder := liveKeyOf(ctx, a, objs, cert.PublicKey)
		if holder == nil || bytes.Equal(holder.ID, own.ID) {
			return f, nil
		}
		held = append(held, fmt.Sprintf("%X (the certificate of key %X)", f, holder.ID))
	}
	return nil, fmt.Errorf("provision: no certificate file is free for key %X: %s; give this credential certificate files of its own (Config.CertFiles)",
		own.ID, strings.Join(held, ", "))
}

// liveKeyOf returns the private key object of the SIM whose public key is
// pub, nil when none is.
func liveKeyOf(ctx context.Context, a *iotsafe.Applet, objs []iotsafe.Object, pub crypto.PublicKey) *iotsafe.Object {
	for i, o := range objs {
		if o.Kind != spec.KindPrivateKey || !o.Active() {
			continue
		}
		k, err := a.PublicKey(ctx, iotsafe.ByID(o.ID...))
		if err != nil {
			continue
		}
		if e, ok := k.(interface{ Equal(crypto.PublicKey) bool }); ok && e.Equal(pub) {
			return &objs[i]
		}
	}
	return nil
}

// wantedKind returns the key family an EST server's CSR attributes ask
// for: RSA (rsaEncryption), an EC curve (id-ecPublicKey with P-256 or
// brainpoolP256r1), or unknown (no preference, or one no SIM key has).
func wantedKind(attrs est.CSRAttrs) spec.KeyTypeKind {
	switch {
	case attrs.Has(est.OIDRSAEncryption):
		return spec.KeyKindRSA2048
	case attrs.Curve().Equal(est.OIDP256):
		return spec.KeyKindP256
	case attrs.Curve().Equal(est.OIDBrainpoolP256r1):
		return spec.KeyKindBrainpoolP256
	}
	return spec.KeyKindUnknown
}

// kindOf is the key family of a private key object (P-256 when the applet
// omits the key type).
func kindOf(o *iotsafe.Object) spec.KeyTypeKind {
	if o.KeyType == 0 {
		return spec.KeyKindP256
	}
	return spec.KindOfKeyType(o.KeyType)
}

// chooseContainer returns the container to generate the key in, and its
// key family: c.Container when given (refused when its key already has a
// certificate, on the SIM or in c.Store, unless c.Replace), else the first
// container of the family the server wants (any, when it says none) that
// can generate keys and sign and holds no credential: an empty one, else
// one whose key has no certificate (left by an interrupted run).
func (c *Config) chooseContainer(ctx context.Context, want spec.KeyTypeKind) (iotsafe.Ref, spec.KeyTypeKind, error) {
	a, ref := c.Applet, c.Container
	if ref.ID != nil || ref.Label != "" {
		o, err := a.Find(ctx, spec.KindPrivateKey, ref)
		if err != nil {
			return iotsafe.Ref{}, 0, err
		}
		if c.Replace {
			return ref, kindOf(o), nil
		}
		if o.Active() {
			used, err := c.certified(ctx, o.ID)
			if err != nil {
				return iotsafe.Ref{}, 0, err
			}
			if used {
				return iotsafe.Ref{}, 0, fmt.Errorf("provision: container %X holds a credential with a certificate; renew it, or set Replace to overwrite it", o.ID)
			}
		}
		return iotsafe.ByID(o.ID...), kindOf(o), nil
	}
	objs, err := a.Objects(ctx)
	if err != nil {
		return iotsafe.Ref{}, 0, err
	}
	var pending []iotsafe.Object
	for _, o := range objs {
		f := o.CryptoFunctions
		if o.Kind != spec.KindPrivateKey || f&spec.FuncKeyGeneration == 0 || f&spec.FuncSignature == 0 ||
			(want != spec.KeyKindUnknown && kindOf(&o) != want) {
			continue
		}
		if !o.Active() {
			return iotsafe.ByID(o.ID...), kindOf(&o), nil
		}
		pending = append(pending, o)
	}
	for _, o := range pending {
		used, err := c.certified(ctx, o.ID)
		if err != nil {
			return iotsafe.Ref{}, 0, err
		}
		if !used {
			return iotsafe.ByID(o.ID...), kindOf(&o), nil
		}
	}
	if want != spec.KeyKindUnknown {
		return iotsafe.Ref{}, 0, fmt.Errorf("provision: the SIM has no free key container for on-SIM generation of the %s keys the EST server asks for (all hold credentials); name one", want)
	}
	return iotsafe.Ref{}, 0, errors.New("provision: the SIM has no free key container for on-SIM key generation (all hold credentials); name one")
}

// certified reports whether the SIM, or the host store when the
// certificates go there, holds a certificate for the public key of key
// container id.
func (c *Config) certified(ctx context.Context, id []byte) (bool, error) {
	pk, err := c.Applet.PublicKey(ctx, iotsafe.ByID(id...))
	if err != nil {
		return false, nil // no readable public key: nothing can be certified for it
	}
	pub, ok := pk.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false, nil
	}
	certs, err := signer.Certificates(ctx, c.Applet)
	if err != nil {
		return false, err
	}
	if c.Store != nil {
		if stored, err := c.Store.Certificate(ctx, id); err == nil {
			certs = append(certs, stored)
		}
	}
	for _, cert := range certs {
		if pub.Equal(cert.PublicKey) {
			return true, nil
		}
	}
	return false, nil
}

// honour checks what the EST server asks CSRs to contain against what a
// SIM key of family kind can give, and returns the signature algorithm to
// use. What cannot be honoured is an error when it would only get the
// request refused (a curve no IoT SAFE key has), and is logged otherwise.
func (c *Config) honour(attrs est.CSRAttrs, kind spec.KeyTypeKind) (x509.SignatureAlgorithm, error) {
	log := c.log()
	if want := wantedKind(attrs); want != spec.KeyKindUnknown && want != kind {
		// Only a container named by the caller can differ (chooseContainer
		// picks the family asked for): CSR attributes are a hint (RFC 7030
		// §4.5.2), the server decides.
		log.Warn("the EST server asks for keys of another type than the named container holds; the request goes with the container's key", "asked", want.String(), "key", kind.String())
	}
	if curve := attrs.Curve(); curve != nil && wantedKind(attrs) == spec.KeyKindUnknown {
		return 0, fmt.Errorf("provision: the EST server asks for keys on curve %v, which no IoT SAFE key type has", curve)
	}
	if curve := attrs.BareCurve(); curve != nil && !curve.Equal(est.OIDP256) && !curve.Equal(est.OIDBrainpoolP256r1) {
		log.Warn("the EST server lists a curve no IoT SAFE key type has (as a bare OID, not as a key type); the request goes with the container's key", "curve", curve.String(), "key", kind.String())
	}
	if attrs.Has(est.OIDChallengePassword) {
		log.Info("the EST server asks for proof of possession: the request carries the TLS 1.2 channel binding (tls-unique, RFC 7030 §3.5)")
	}
	if attrs.Has(est.OIDExtensionRequest) {
		log.Warn("the EST server asks for extensions in the request; this client sends none (the CA sets them)")
	}
	alg := attrs.SignatureAlgorithm()
	rsaAlg := alg == x509.SHA256WithRSA || alg == x509.SHA384WithRSA || alg == x509.SHA512WithRSA ||
		alg == x509.SHA256WithRSAPSS || alg == x509.SHA384WithRSAPSS || alg == x509.SHA512WithRSAPSS
	if alg != x509.UnknownSignatureAlgorithm && rsaAlg != (kind == spec.KeyKindRSA2048) {
		log.Warn("the EST server asks for a signature algorithm the SIM key cannot make; the request goes with the key's own", "asked", alg.String(), "key", kind.String())
		alg = x509.UnknownSignatureAlgorithm
	}
	return alg, nil
}

// requestWith builds the CSR signed with alg (ECDSA with SHA-256 when
// unknown), with challenge as its challengePassword when not empty.
func (c *Config) requestWith(ctx context.Context, key *signer.Key, alg x509.SignatureAlgorithm, challenge string) ([]byte, error) {
	info, err := c.Applet.ApplicationInfo(ctx)
	if err != nil {
		return nil, err
	}
	pubDER, err := keys.MarshalPKIX(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pubDER)
	expand := strings.NewReplacer("{key}", hex.EncodeToString(sum[:8]), "{applet}", info.Name()).Replace
	subj := c.Subject
	subj.CommonName = expand(subj.CommonName)
	if subj.CommonName == "" {
		subj.CommonName = "iotsafe-" + hex.EncodeToString(sum[:8])
	}
	tmpl := &x509.CertificateRequest{Subject: subj, URIs: c.URIs, SignatureAlgorithm: alg}
	for _, d := range c.DNSNames {
		tmpl.DNSNames = append(tmpl.DNSNames, expand(d))
	}
	csr, err := signer.CreateCSR(key, tmpl)
	if err != nil || challenge == "" {
		return csr, err
	}
	// The challengePassword in the form servers read (RFC 2985): the
	// request is signed again on the SIM with it.
	return csrpop.AddChallengePassword(csr, challenge, key)
}

// deliver checks what the CA returned, puts the certificate on the SIM and
// reads it back through the applet, proving the SIM now holds it; then it
// runs Config.Check on the new credential.
func (c *Config) deliver(ctx context.Context, key *signer.Key, certs []*x509.Certificate, file []byte) (*Result, error) {
	leaf := certs[0]
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: the issued certificate is for another key", est.ErrWrongKey)
	}
	if c.Store != nil {
		return c.deliverToStore(ctx, key, certs)
	}
	label := c.CertLabel
	if label == "" {
		label = key.Label() + "-cert"
	}
	if err := c.Operator.PutCertificate(ctx, file, label, leaf.Raw); err != nil {
		return nil, fmt.Errorf("provision: delivering the certificate to the SIM: %w", err)
	}
	// The operator's change shows as 63CF at the next command; poll for it
	// and re-read the SIM, so what follows uses the SIM's own copy.
	if err := c.Applet.Poll(ctx); err != nil {
		return nil, err
	}
	c.Applet.Refresh()
	onSIM, err := c.Applet.ReadFile(ctx, iotsafe.ByID(file...))
	if err != nil {
		return nil, fmt.Errorf("provision: reading the delivered certificate back: %w", err)
	}
	if !bytes.Equal(onSIM, leaf.Raw) {
		return nil, errors.New("provision: the SIM holds another certificate than the one delivered")
	}
	res := &Result{Key: key, Certificate: leaf, Chain: certs[1:], CertFile: append([]byte(nil), file...)}
	if err := c.check(ctx, res); err != nil {
		return nil, err
	}
	return res, nil
}

// tlsCertificate is the credential as a TLS client certificate.
func (r *Result) tlsCertificate() *tls.Certificate {
	tc := &tls.Certificate{Certificate: [][]byte{r.Certificate.Raw}, PrivateKey: r.Key, Leaf: r.Certificate}
	for _, x := range r.Chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	return tc
}

// check runs Config.Check on a new credential.
func (c *Config) check(ctx context.Context, res *Result) error {
	if c.Check == nil {
		return nil
	}
	if err := c.Check(ctx, res.tlsCertificate()); err != nil {
		return fmt.Errorf("provision: the new credential failed its end-to-end check: %w", err)
	}
	return nil
}

// deliverToStore proves the new credential (Check) and then replaces the
// stored certificate of its key with it; the stored copy is read back.
func (c *Config) deliverToStore(ctx context.Context, key *signer.Key, certs []*x509.Certificate) (*Result, error) {
	res := &Result{Key: key, Certificate: certs[0], Chain: certs[1:]}
	if err := c.check(ctx, res); err != nil {
		return nil, err
	}
	if err := c.Store.PutCertificate(ctx, key.ID(), key.Label(), certs[0]); err != nil {
		return nil, fmt.Errorf("provision: delivering the certificate to the host store: %w", err)
	}
	back, err := c.Store.Certificate(ctx, key.ID())
	if err != nil {
		return nil, fmt.Errorf("provision: reading the stored certificate back: %w", err)
	}
	if !bytes.Equal(back.Raw, certs[0].Raw) {
		return nil, errors.New("provision: the host store holds another certificate than the one delivered")
	}
	return res, nil
}
