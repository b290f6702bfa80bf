package estserver

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/mimeb64"
)

// Server serves EST (RFC 7030) for one CA under /.well-known/est/, and the
// CA's CRL at /crl.
//
// Authentication: /simpleenroll takes either HTTP basic credentials (when
// Username is set) or a TLS client certificate that chains to one of
// BootstrapRoots (a factory certificate); /simplereenroll takes a TLS client
// certificate this CA issued and has not revoked, for the same subject.
type Server struct {
	CA *CA
	// Username and Password are the bootstrap HTTP basic credentials.
	Username, Password string
	// BootstrapRoots, when set, accepts factory certificates chaining to
	// them for /simpleenroll.
	BootstrapRoots *x509.CertPool
	// BootstrapCRLs are the factory CAs' certificate revocation lists: a
	// factory certificate listed in a CRL of its issuer (signed by that
	// issuer) no longer enrols. A CRL past its NextUpdate still counts.
	BootstrapCRLs []*x509.RevocationList
	// AdminToken, when set, opens the admin endpoints (/admin/
	// certificates, revoke, crl) to requests that carry it as a bearer
	// token; empty leaves them closed (404).
	AdminToken string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Policy decides which names and keys are certified (see Policy for
	// the safe default of its zero value).
	Policy Policy

	mu       sync.Mutex
	failures map[string]*failure // per client address, for throttling
}

type failure struct {
	n     int
	until time.Time
}

// Throttling of failed bootstrap authentications, per client address: the
// first freeFailures cost nothing; each one after that doubles a wait
// (from one second, at most maxBackoff) during which the client's requests
// are answered 429 without looking at its credentials.
const (
	freeFailures = 5
	maxBackoff   = 5 * time.Minute
	maxTracked   = 10000
)

// Check reports a configuration that would let anybody enrol: no
// authentication at all, or a bootstrap user with an empty password.
func (s *Server) Check() error {
	if s.Username != "" && s.Password == "" {
		return errors.New("estserver: a bootstrap user needs a password")
	}
	if s.Username == "" && s.BootstrapRoots == nil {
		return errors.New("estserver: no enrolment authentication (a bootstrap user and password, or factory certificate roots)")
	}
	if err := s.Policy.checkURIPrefix(); err != nil {
		return err
	}
	if kt := s.Policy.KeyType; kt != "" && !slices.Contains(KeyTypes, kt) {
		return fmt.Errorf("estserver: key type %q is none of %s", kt, strings.Join(KeyTypes, ", "))
	}
	return nil
}

func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// throttled reports how long the client must still wait.
func (s *Server) throttled(r *http.Request) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures[clientKey(r)]; f != nil {
		return time.Until(f.until)
	}
	return 0
}

func (s *Server) authResult(r *http.Request, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := clientKey(r)
	if ok {
		delete(s.failures, k)
		return
	}
	if s.failures == nil {
		s.failures = map[string]*failure{}
	}
	if len(s.failures) >= maxTracked {
		now := time.Now()
		for a, f := range s.failures {
			if f.until.Before(now.Add(-maxBackoff)) {
				delete(s.failures, a)
			}
		}
	}
	f := s.failures[k]
	if f == nil {
		f = &failure{}
		s.failures[k] = f
	}
	f.n++
	if f.n > freeFailures {
		d := time.Second << min(f.n-freeFailures-1, 20)
		f.until = time.Now().Add(min(d, maxBackoff))
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := strings.TrimPrefix(r.URL.Path, "/.well-known/est")
	switch {
	case r.URL.Path == "/crl" && r.Method == http.MethodGet:
		crl, err := s.CA.CRL()
		if err != nil {
			http.Error(w, "cannot sign CRL", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(crl)
	case strings.HasPrefix(r.URL.Path, "/admin/"):
		s.admin(w, r, log)
	case path == "/cacerts" && r.Method == http.MethodGet:
		s.writeCerts(w, s.CA.Cert.Raw)
	case path == "/csrattrs" && r.Method == http.MethodGet:
		der, err := s.Policy.csrAttrs().Marshal()
		if err != nil {
			http.Error(w, "cannot encode CSR attributes", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/csrattrs")
		w.Header().Set("Content-Transfer-Encoding", "base64")
		w.Write(mimeb64.Encode(der))
	case path == "/simpleenroll" && r.Method == http.MethodPost:
		if wait := s.throttled(r); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			log.Warn("est: simpleenroll throttled after failed authentications", "remote", r.RemoteAddr)
			http.Error(w, "too many failed authentications; retry later", http.StatusTooManyRequests)
			return
		}
		id, ok := s.bootstrap(r)
		ok = ok && s.Check() == nil
		s.authResult(r, ok)
		if !ok {
			log.Info("est: simpleenroll refused: no valid bootstrap credential", "remote", r.RemoteAddr)
			challenge(w)
			http.Error(w, "bootstrap credentials required", http.StatusUnauthorized)
			return
		}
		s.enroll(w, r, id, log)
	case path == "/simplereenroll" && r.Method == http.MethodPost:
		cur := s.currentCredential(r)
		if cur == nil {
			log.Info("est: simplereenroll refused: no valid current certificate", "remote", r.RemoteAddr)
			challenge(w)
			http.Error(w, "re-enrollment needs a current, unrevoked certificate from this CA", http.StatusUnauthorized)
			return
		}
		s.enroll(w, r, identity{current: cur}, log)
	default:
		http.NotFound(w, r)
	}
}

// challenge adds the WWW-Authenticate header a 401 must carry (RFC 7235
// §3.1), spelled as the RFC spells it: Go's Header.Set would write
// "Www-Authenticate", which libest, matching case-sensitively, misses.
func challenge(w http.ResponseWriter) {
	w.Header()["WWW-Authenticate"] = []string{`Basic realm="estrealm"`}
}

func (s *Server) writeCerts(w http.ResponseWriter, der ...[]byte) {
	var all []byte
	for _, d := range der {
		all = append(all, d...)
	}
	p7, err := pkcs7.DegenerateCertificate(all)
	if err != nil {
		http.Error(w, "cannot encode PKCS#7", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.Write(mimeb64.Encode(p7))
}

// bootstrap authenticates an enrolment and says as whom.
func (s *Server) bootstrap(r *http.Request) (identity, bool) {
	if s.Username != "" {
		u, p, ok := r.BasicAuth()
		if ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) == 1 {
			return identity{user: u}, true
		}
	}
	if s.BootstrapRoots != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// A factory certificate authenticates a client: it must say
		// clientAuth, or have no extended key usage at all (a serverAuth,
		// codeSigning or anyExtendedKeyUsage certificate is not one).
		leaf := r.TLS.PeerCertificates[0]
		if (len(leaf.ExtKeyUsage) > 0 || len(leaf.UnknownExtKeyUsage) > 0) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			return identity{}, false
		}
		opts := x509.VerifyOptions{Roots: s.BootstrapRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		opts.Intermediates = inter
		chains, err := leaf.Verify(opts)
		if err == nil && !s.factoryRevoked(leaf, chains) {
			return identity{factory: leaf}, true
		}
	}
	return identity{}, false
}

// factoryRevoked reports whether a CRL of BootstrapCRLs, signed by the
// factory certificate's issuer in a verified chain, lists it.
func (s *Server) factoryRevoked(leaf *x509.Certificate, chains [][]*x509.Certificate) bool {
	for _, crl := range s.BootstrapCRLs {
		for _, chain := range chains {
			if len(chain) < 2 || crl.CheckSignatureFrom(chain[1]) != nil {
				continue
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) currentCredential(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	c := r.TLS.PeerCertificates[0]
	roots := x509.NewCertPool()
	roots.AddCert(s.CA.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil
	}
	if s.CA.IsRevoked(c.SerialNumber) {
		return nil
	}
	if err := s.CA.Used(c.SerialNumber); err != nil {
		return nil
	}
	return c
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, id identity, log *slog.Logger) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/pkcs10" {
		http.Error(w, "content type must be application/pkcs10", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
	if err != nil {
		http.Error(w, "request body is not base64", http.StatusBadRequest)
		return
	}
	csr, err := bpx509.ParseCertificateRequest(der)
	if err != nil {
		// The parser's reason helps the device's developer (an unsupported
		// curve, say) and tells nothing secret.
		http.Error(w, "request body is not a PKCS#10 request this CA can read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := csr.CheckSignature(); err != nil {
		http.Error(w, "the request's signature does not verify (proof of possession)", http.StatusBadRequest)
		return
	}
	var unique []byte
	if r.TLS != nil {
		unique = r.TLS.TLSUnique
	}
	if ref := s.Policy.checkPoP(csr, unique); ref != nil {
		log.Info("est: request refused: proof of possession", "remote", r.RemoteAddr, "reason", ref.reason)
		http.Error(w, ref.reason, ref.status)
		return
	}
	// The uniqueness check and the issuance are one transaction of the
	// CA's database (one at a time in this process; on PostgreSQL,
	// replicas deciding about the same names wait for each other).
	s.CA.issueMu.Lock()
	defer s.CA.issueMu.Unlock()
	var out enrolment
	err = s.CA.db.tx(r.Context(), func(tx *sql.Tx) error {
		var err error
		out, err = s.decide(s.CA.records(tx), csr, id)
		return err
	})
	switch {
	case err != nil:
		log.Error("est: enrolment failed in the CA's database", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "the CA could not record the enrolment; retry later", http.StatusServiceUnavailable)
		return
	case out.refusal != nil:
		log.Info("est: request refused", "remote", r.RemoteAddr, "reason", out.refusal.reason)
		http.Error(w, out.refusal.reason, out.refusal.status)
		return
	case out.repeated:
		log.Info("est: request repeated; the certificate already issued is sent again", "serial", out.cert.SerialNumber.String())
	default:
		if out.replaced != nil {
			log.Info("est: the same enrolment identity re-enrolled with a new key; the certificate it replaces is revoked", "serial", out.replaced.SerialNumber.String())
		}
		log.Info("est: issued", "subject", out.cert.Subject.CommonName, "serial", out.cert.SerialNumber.String(), "reenroll", id.current != nil)
	}
	s.writeCerts(w, out.cert.Raw)
}

// enrolment is what decide made of a request.
type enrolment struct {
	cert     *x509.Certificate // issued, or issued before (repeated)
	repeated bool
	replaced *x509.Certificate // revoked: the certificate a lost reply never delivered
	refusal  *refusal
}

// decide applies the rules of enrolment to a request, in the
// transaction r: a renewal at most once, a repeated request answered with
// the certificate already issued, the policy, then the issuance and what
// it records.
func (s *Server) decide(r *records, csr *x509.CertificateRequest, id identity) (enrolment, error) {
	if err := r.lockNames(append([]string{csr.Subject.CommonName}, csr.DNSNames...), id.current); err != nil {
		return enrolment{}, err
	}
	if id.current != nil {
		// A certificate renews at most once: a second re-enrolment from
		// the same certificate would fork the credential (a copy of the
		// device's key material renewing on its own). The same request
		// again (the device lost the answer) gets the same certificate.
		next, err := r.successor(id.current.SerialNumber)
		if err != nil {
			return enrolment{}, err
		}
		if next != nil {
			if k, ok := next.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(csr.PublicKey) {
				return enrolment{cert: next, repeated: true}, nil
			}
			return enrolment{refusal: refuse(http.StatusConflict, "certificate %s was renewed already (by %s): a certificate renews at most once; renew with the new certificate", id.current.SerialNumber, next.SerialNumber)}, nil
		}
	} else {
		// The same key enrolling again under the same name (the device
		// lost the answer): the live certificate, not a second one.
		prev, err := r.liveWithKey(csr.PublicKey, csr.Subject.CommonName)
		if err != nil {
			return enrolment{}, err
		}
		if prev != nil {
			return enrolment{cert: prev, repeated: true}, nil
		}
	}
	allowed, replaced, ref, err := s.Policy.check(r, csr, id)
	if err != nil || ref != nil {
		return enrolment{refusal: ref}, err
	}
	if replaced != nil {
		// The certificate the device never received: revoked, before
		// its names go to the new key.
		if err := r.revoke(replaced.SerialNumber.String(), time.Now()); err != nil {
			return enrolment{}, err
		}
	}
	cert, err := r.issue(allowed, id.key(), id.current)
	if err != nil {
		if errors.Is(err, errConflict) || retryable(err) {
			return enrolment{}, err
		}
		return enrolment{refusal: refuse(http.StatusBadRequest, "%s", err.Error())}, nil
	}
	return enrolment{cert: cert, replaced: replaced}, nil
}

func parseIP(s string) net.IP { return net.ParseIP(s) }
