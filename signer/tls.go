package signer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"sync"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Certificates reads every certificate the SIM holds: the files of
// certificate usage that are active and readable. Files that do not parse
// as X.509 are skipped and reported in the error only if none parses.
func Certificates(ctx context.Context, a *iotsafe.Applet) ([]*x509.Certificate, error) {
	objs, err := a.Objects(ctx)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	var bad []string
	for _, o := range objs {
		if o.Kind != spec.KindFile || o.FileUsage != spec.FileUsageCertificate || !o.Active() || o.Access&spec.AccessRead == 0 {
			continue
		}
		der, err := a.ReadFile(ctx, iotsafe.ByID(o.ID...))
		if err != nil {
			return nil, err
		}
		c, err := bpx509.ParseCertificate(der)
		if err != nil {
			bad = append(bad, fmt.Sprintf("file %X: %v", o.ID, err))
			continue
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 && len(bad) > 0 {
		return nil, fmt.Errorf("signer: no certificate file on the SIM parses: %s", strings.Join(bad, "; "))
	}
	return certs, nil
}

// chainFor returns the certificate of pub among certs and the chain above
// it (issuers found among the others, leaf first, not including a
// self-signed root).
func chainFor(k *Key, certs []*x509.Certificate) (*x509.Certificate, []*x509.Certificate) {
	var leaf *x509.Certificate
	for _, c := range certs {
		if k.pub.Equal(c.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return nil, nil
	}
	var chain []*x509.Certificate
	cur := leaf
	for len(chain) < 8 {
		var up *x509.Certificate
		for _, c := range certs {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				up = c
				break
			}
		}
		if up == nil || bytes.Equal(up.RawSubject, up.RawIssuer) {
			break
		}
		chain = append(chain, up)
		cur = up
	}
	return leaf, chain
}

// TLSCertificate returns a tls.Certificate for the key: the SIM's
// certificate for it, the intermediate certificates the SIM holds above it,
// and the key as PrivateKey.
func (k *Key) TLSCertificate(ctx context.Context) (*tls.Certificate, error) {
	if k.kind == spec.KeyKindBrainpoolP256 {
		return nil, fmt.Errorf("signer: key %X (%q) is brainpoolP256r1, for which crypto/tls has no signature scheme; use OpenSSL through the PKCS#11 library (TLS 1.2, brainpoolP256r1 in -groups on both sides)", k.id, k.label)
	}
	certs, err := Certificates(ctx, k.a)
	if err != nil {
		return nil, err
	}
	leaf, chain := chainFor(k, certs)
	if leaf == nil {
		return nil, fmt.Errorf("signer: the SIM holds no certificate for key %X (%q)", k.id, k.label)
	}
	tc := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: k, Leaf: leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// ClientCertificates chooses, for each TLS handshake, the SIM credential
// the server will accept. Use its GetClientCertificate method in
// tls.Config.
type ClientCertificates struct {
	a *iotsafe.Applet
	// Keys restricts the credentials to these keys (nil: every active
	// signing key that has a certificate on the SIM).
	Keys []iotsafe.Ref
	// SessionPollInterval is how often SessionCache polls the card before
	// offering a stored session (0: every 30 s; negative: before every
	// resumption). A poll is one command, no signature, but on a real SIM
	// it costs more than the resumed handshake itself.
	SessionPollInterval time.Duration

	mu    sync.Mutex
	gen   uint64
	creds []*tls.Certificate
	why   string
}

// NewClientCertificates returns a chooser over the SIM's credentials.
func NewClientCertificates(a *iotsafe.Applet, keys ...iotsafe.Ref) *ClientCertificates {
	return &ClientCertificates{a: a, Keys: keys}
}

// GetClientCertificate implements tls.Config.GetClientCertificate. Before
// choosing it polls the card once, so that a completed remote
// administration (a new certificate, a removed key) is seen at this
// handshake; credentials are re-read only when the SIM changed. When no
// credential fits the server's acceptable CAs and signature schemes, the
// handshake fails with an error that says why.
func (cc *ClientCertificates) GetClientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	ctx := cri.Context()
	if err := cc.a.Poll(ctx); err != nil {
		return nil, fmt.Errorf("signer: the SIM does not answer: %w", err)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if g := cc.a.Generation(); g != cc.gen || cc.creds == nil {
		if err := cc.load(ctx); err != nil {
			return nil, err
		}
		cc.gen = cc.a.Generation()
	}
	if len(cc.creds) == 0 {
		return nil, fmt.Errorf("%w: no usable credential on the SIM (%s)", ErrCredentialRemoved, cc.why)
	}
	var reasons []string
	for _, c := range cc.creds {
		err := cri.SupportsCertificate(c)
		if err == nil {
			return c, nil
		}
		reasons = append(reasons, fmt.Sprintf("%q: %v", c.Leaf.Subject.CommonName, err))
	}
	var cas []string
	for _, raw := range cri.AcceptableCAs {
		cas = append(cas, dnString(raw))
	}
	return nil, fmt.Errorf("signer: the server accepts none of the SIM's credentials (server accepts CAs %v): %s",
		cas, strings.Join(reasons, "; "))
}

func (cc *ClientCertificates) load(ctx context.Context) error {
	objs, err := cc.a.Objects(ctx)
	if err != nil {
		return err
	}
	certs, err := Certificates(ctx, cc.a)
	if err != nil {
		return err
	}
	cc.creds, cc.why = nil, ""
	var why []string
	for _, o := range objs {
		if o.Kind != spec.KindPrivateKey || o.CryptoFunctions&spec.FuncSignature == 0 || !cc.wanted(&o) {
			continue
		}
		if !o.Active() {
			why = append(why, fmt.Sprintf("private key %X %q is deactivated", o.ID, o.Label))
			continue
		}
		k, err := New(ctx, cc.a, iotsafe.ByID(o.ID...), nil)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if k.kind == spec.KeyKindBrainpoolP256 {
			why = append(why, fmt.Sprintf("private key %X %q is brainpoolP256r1, for which crypto/tls has no signature scheme", o.ID, o.Label))
			continue
		}
		leaf, chain := chainFor(k, certs)
		if leaf == nil {
			why = append(why, fmt.Sprintf("private key %X %q has no certificate", o.ID, o.Label))
			continue
		}
		tc := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: k, Leaf: leaf}
		for _, c := range chain {
			tc.Certificate = append(tc.Certificate, c.Raw)
		}
		cc.creds = append(cc.creds, tc)
	}
	if len(why) == 0 {
		why = []string{"no signing key"}
	}
	cc.why = strings.Join(why, "; ")
	return nil
}

func (cc *ClientCertificates) wanted(o *iotsafe.Object) bool {
	if cc.Keys == nil {
		return true
	}
	for _, r := range cc.Keys {
		if (r.Label != "" && r.Label == o.Label) || (r.Label == "" && bytes.Equal(r.ID, o.ID)) {
			return true
		}
	}
	return false
}

// dnString renders a DER distinguished name for messages.
func dnString(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return fmt.Sprintf("%X", raw)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n.String()
}

// SessionCache returns a TLS client session cache (tls.Config.
// ClientSessionCache) tied to the SIM's credentials: a reconnection resumes
// its session (TLS 1.3 PSK, TLS 1.2 ticket) and makes no signature on the
// SIM, about two orders of magnitude faster than a full handshake on a real
// SIM. Before offering a session it polls the card (one cheap command, no
// signature) when the last poll is older than SessionPollInterval; when the
// SIM changed since the session was stored (a new certificate, a removed or
// deactivated key, any completed remote administration: 63CF, or a card
// reset, also when seen by any other operation) every stored session is
// dropped, so the next handshake is a full one with the credential the SIM
// holds now. capacity bounds the sessions kept (0: 64).
//
// Resumption is the server's choice too: a server that must see the client
// certificate, or check it against a revocation list, at every connection
// disables resumption or bounds its ticket lifetime.
func (cc *ClientCertificates) SessionCache(capacity int) tls.ClientSessionCache {
	if capacity <= 0 {
		capacity = 64
	}
	return &sessionCache{cc: cc, capacity: capacity, cache: tls.NewLRUClientSessionCache(capacity), gen: cc.a.Generation()}
}

type sessionCache struct {
	cc       *ClientCertificates
	capacity int

	mu       sync.Mutex
	cache    tls.ClientSessionCache
	gen      uint64
	lastPoll time.Time
}

// pollTimeout bounds the card poll before a session is offered.
const pollTimeout = 10 * time.Second

// current drops every session when the SIM changed since they were stored.
func (s *sessionCache) current() {
	if g := s.cc.a.Generation(); g != s.gen {
		s.cache = tls.NewLRUClientSessionCache(s.capacity)
		s.gen = g
	}
}

// Get implements tls.ClientSessionCache.
func (s *sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	s.mu.Lock()
	every := s.cc.SessionPollInterval
	if every == 0 {
		every = 30 * time.Second
	}
	due := every < 0 || time.Since(s.lastPoll) >= every
	s.mu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
		err := s.cc.a.Poll(ctx)
		cancel()
		if err != nil {
			return nil, false // the full handshake will say what is wrong
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if due {
		s.lastPoll = time.Now()
	}
	s.current()
	return s.cache.Get(key)
}

// Put implements tls.ClientSessionCache.
func (s *sessionCache) Put(key string, cs *tls.ClientSessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current()
	s.cache.Put(key, cs)
}
