// Package est is an Enrollment over Secure Transport client (RFC 7030, with
// the RFC 8951 clarifications): it fetches the CA certificates, enrolls a
// certificate signing request and re-enrolls with the current credential.
//
// It is the device side of zero-touch provisioning and depends on no
// particular server: any RFC 7030 server works (the project's own local
// server in package estserver, or an enterprise EST/CA service).
//
// The server is authenticated by an explicit trust anchor (Client.Roots);
// the device by HTTP basic credentials, by a TLS client certificate whose key
// may live on the SIM (Client.Certificate), or both. Every answer is checked:
// content type, base64, a PKCS#7 certs-only structure holding at least one
// certificate, and, for enrollment, a certificate for the key in the request.
package est

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/internal/mimeb64"
)

// Errors the client returns, matchable with errors.Is.
var (
	// ErrContentType: the server answered with a content type EST does not
	// allow for that operation.
	ErrContentType = errors.New("est: unexpected content type")
	// ErrMalformed: the body is not valid base64 or not a PKCS#7 certs-only
	// structure.
	ErrMalformed = errors.New("est: malformed response")
	// ErrNoCertificate: the PKCS#7 structure holds no certificate.
	ErrNoCertificate = errors.New("est: response holds no certificate")
	// ErrWrongKey: no returned certificate is for the key in the request.
	ErrWrongKey = errors.New("est: certificate is not for the requested key")
	// ErrRetryLater: the server accepted the request for manual approval
	// (HTTP 202); see RetryAfterError for when to ask again.
	ErrRetryLater = errors.New("est: enrollment pending, retry later")
)

// HTTPError is a non-success HTTP status from the server.
type HTTPError struct {
	Op     string
	Status int
	Body   string // the start of the server's message, if any
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("est: %s: server answered HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// RetryAfterError is returned with ErrRetryLater for an HTTP 202 answer.
type RetryAfterError struct {
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("est: enrollment pending, retry after %s", e.After)
}

// Is matches ErrRetryLater.
func (e *RetryAfterError) Is(target error) bool { return target == ErrRetryLater }

// Client talks to one EST server.
type Client struct {
	// Server is the EST base URL: https://host[:port] (the client adds
	// /.well-known/est) or a full URL ending in /.well-known/est[/label].
	Server string
	// Roots is the explicit trust anchor for the server's certificate.
	// Required: the client never falls back to the system roots, so a
	// device trusts exactly the server it was told to.
	Roots *x509.CertPool
	// Username and Password, when set, are sent as HTTP basic credentials.
	Username, Password string
	// Certificate, when set, is presented as the TLS client certificate
	// (a factory certificate, or the current credential for re-enrollment).
	// Its PrivateKey may be a SIM-held crypto.Signer.
	Certificate *tls.Certificate
	// GetClientCertificate, when set, is used instead of Certificate.
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// HTTPClient overrides the HTTP client (its transport is used as is:
	// the caller then owns the TLS settings).
	HTTPClient *http.Client
	// Timeout bounds each request when the context has no deadline.
	// Zero means 30 seconds.
	Timeout time.Duration
	// WaitPending is how long an enrolment answered 202 (pending manual
	// approval) is retried, waiting what each Retry-After asks (at least a
	// second, at most what is left), before it is given up with
	// ErrRetryLater. Zero: give up at the first 202.
	WaitPending time.Duration
}

const maxBody = 1 << 20

func (c *Client) base() (string, error) {
	u, err := url.Parse(c.Server)
	if err != nil {
		return "", fmt.Errorf("est: server URL %q: %w", c.Server, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("est: server URL %q must use https", c.Server)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.Contains(p, "/.well-known/est") {
		p += "/.well-known/est"
	}
	u.Path = p
	return u.String(), nil
}

// checkRedirect allows a redirect only within the server the client was
// given: same scheme (https), same host and port. The bootstrap password
// and the CSR are never sent anywhere else, and never over plain http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 5:
		return errors.New("est: too many redirects")
	case req.URL.Scheme != "https":
		return fmt.Errorf("est: the server redirected to %s://%s: refused (credentials and requests go over https only)", req.URL.Scheme, req.URL.Host)
	case req.URL.Host != first.Host:
		return fmt.Errorf("est: the server redirected to another host (%s): refused (credentials go only to the verified server %s)", req.URL.Host, first.Host)
	}
	return nil
}

func (c *Client) httpClient() (*http.Client, error) { return c.httpClientFor(false) }

// httpClientFor returns the HTTP client; for proof of possession (pop) it
// keeps to one TLS 1.2 connection (tls-unique is defined up to TLS 1.2),
// HTTP/1.1 with keep-alive, so that the channel binding read first is that
// of the connection the CSR goes over.
func (c *Client) httpClientFor(pop bool) (*http.Client, error) {
	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		hc.CheckRedirect = checkRedirect
		return &hc, nil
	}
	if c.Roots == nil {
		return nil, errors.New("est: no trust anchor for the server (Client.Roots)")
	}
	cfg := &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12}
	switch {
	case c.GetClientCertificate != nil:
		cfg.GetClientCertificate = c.GetClientCertificate
	case c.Certificate != nil:
		cert := c.Certificate
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if pop {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.ClientSessionCache = nil
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1},
			CheckRedirect: checkRedirect}, nil
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, CheckRedirect: checkRedirect}, nil
}

func (c *Client) do(ctx context.Context, op, method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, nil, err
	}
	defer c.release(hc)
	return c.doWith(ctx, hc, op, method, path, contentType, body)
}

// release closes the idle connections of a client made for one operation
// (not of a caller's Client.HTTPClient): a program that enrols many times
// (a gateway for its devices, a load test) would otherwise keep one idle
// connection per operation open until the server times it out.
func (c *Client) release(hc *http.Client) {
	if c.HTTPClient == nil {
		hc.CloseIdleConnections()
	}
}

func (c *Client) doWith(ctx context.Context, hc *http.Client, op, method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	base, err := c.base()
	if err != nil {
		return nil, nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		t := c.Timeout
		if t == 0 {
			t = 30 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Transfer-Encoding", "base64")
	}
	if c.Username != "" || c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("est: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("est: %s: reading the answer: %w", op, err)
	}
	if len(data) > maxBody {
		return nil, nil, fmt.Errorf("%w: %s: answer larger than %d bytes", ErrMalformed, op, maxBody)
	}
	if resp.StatusCode == http.StatusAccepted {
		after := 60 * time.Second
		if s := resp.Header.Get("Retry-After"); s != "" {
			var secs int
			if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
				after = time.Duration(secs) * time.Second
			}
		}
		return nil, nil, &RetryAfterError{After: after}
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, nil, &HTTPError{Op: op, Status: resp.StatusCode, Body: msg}
	}
	return resp, data, nil
}

// CACerts fetches the CA certificates the server distributes (/cacerts).
func (c *Client) CACerts(ctx context.Context) ([]*x509.Certificate, error) {
	resp, data, err := c.do(ctx, "cacerts", http.MethodGet, "/cacerts", "", nil)
	if err != nil {
		return nil, err
	}
	return parseCertsOnly("cacerts", resp.Header.Get("Content-Type"), data)
}

// SimpleEnroll sends a PKCS#10 request (DER) to /simpleenroll and returns
// the issued certificate followed by any other certificates the server
// sent. The first certificate is the one for the request's key.
func (c *Client) SimpleEnroll(ctx context.Context, csrDER []byte) ([]*x509.Certificate, error) {
	return c.enroll(ctx, "simpleenroll", csrDER)
}

// SimpleReenroll is SimpleEnroll against /simplereenroll, authenticated by
// the current credential (Client.Certificate).
func (c *Client) SimpleReenroll(ctx context.Context, csrDER []byte) ([]*x509.Certificate, error) {
	return c.enroll(ctx, "simplereenroll", csrDER)
}

func (c *Client) enroll(ctx context.Context, op string, csrDER []byte) ([]*x509.Certificate, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	defer c.release(hc)
	return c.enrollWith(ctx, hc, op, csrDER, nil)
}

// SimpleEnrollPoP is SimpleEnroll with proof of possession by tls-unique
// (RFC 7030 §3.5), for servers that ask for it (a challengePassword in
// their CSR attributes): over one TLS 1.2 connection it reads the channel
// binding, has build make the CSR with it (base64) as challengePassword,
// and sends that CSR over the same connection.
func (c *Client) SimpleEnrollPoP(ctx context.Context, build func(challenge string) ([]byte, error)) ([]*x509.Certificate, error) {
	return c.enrollPoP(ctx, "simpleenroll", build)
}

// SimpleReenrollPoP is SimpleReenroll with proof of possession by
// tls-unique.
func (c *Client) SimpleReenrollPoP(ctx context.Context, build func(challenge string) ([]byte, error)) ([]*x509.Certificate, error) {
	return c.enrollPoP(ctx, "simplereenroll", build)
}

func (c *Client) enrollPoP(ctx context.Context, op string, build func(string) ([]byte, error)) ([]*x509.Certificate, error) {
	hc, err := c.httpClientFor(true)
	if err != nil {
		return nil, err
	}
	defer c.release(hc)
	resp, _, err := c.doWith(ctx, hc, "cacerts", http.MethodGet, "/cacerts", "", nil)
	if err != nil {
		return nil, err
	}
	if resp.TLS == nil || len(resp.TLS.TLSUnique) == 0 {
		return nil, fmt.Errorf("est: %s: the TLS connection gives no tls-unique channel binding (TLS 1.3, or a resumed session)", op)
	}
	csr, err := build(base64.StdEncoding.EncodeToString(resp.TLS.TLSUnique))
	if err != nil {
		return nil, err
	}
	return c.enrollWith(ctx, hc, op, csr, resp.TLS.TLSUnique)
}

// enrollWith sends csrDER over hc; with unique set, the answer must come
// over the connection with that tls-unique (the one the CSR is bound to).
func (c *Client) enrollWith(ctx context.Context, hc *http.Client, op string, csrDER, unique []byte) ([]*x509.Certificate, error) {
	csr, err := bpx509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("est: %s: the request is not a PKCS#10 CSR: %w", op, err)
	}
	// RFC 2045 lines with a final newline: servers of the RFC 7030 era
	// (Cisco libest) decode with OpenSSL's line-oriented base64 reader.
	body := mimeb64.Encode(csrDER)
	deadline := time.Now().Add(c.WaitPending)
	var resp *http.Response
	var data []byte
	for {
		resp, data, err = c.doWith(ctx, hc, op, http.MethodPost, "/"+op, "application/pkcs10", body)
		var ra *RetryAfterError
		if !errors.As(err, &ra) {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		wait := min(max(ra.After, time.Second), left)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("est: %s: waiting for approval: %w", op, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		return nil, err
	}
	if unique != nil && (resp.TLS == nil || !bytes.Equal(resp.TLS.TLSUnique, unique)) {
		return nil, fmt.Errorf("est: %s: the request went over another TLS connection than the one its proof of possession names", op)
	}
	certs, err := parseCertsOnly(op, resp.Header.Get("Content-Type"), data)
	if err != nil {
		return nil, err
	}
	for i, cert := range certs {
		if samePublicKey(cert, csr) {
			certs[0], certs[i] = certs[i], certs[0]
			return certs, nil
		}
	}
	return nil, fmt.Errorf("%w: %s returned %d certificate(s), none for the key in the request", ErrWrongKey, op, len(certs))
}

func samePublicKey(cert *x509.Certificate, csr *x509.CertificateRequest) bool {
	a, err1 := keys.MarshalPKIX(cert.PublicKey)
	b, err2 := keys.MarshalPKIX(csr.PublicKey)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// parseCertsOnly checks and decodes an application/pkcs7-mime certs-only
// answer: base64 (whitespace allowed, RFC 8951) of a PKCS#7 SignedData.
func parseCertsOnly(op, contentType string, body []byte) ([]*x509.Certificate, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/pkcs7-mime" {
		return nil, fmt.Errorf("%w: %s answered %q, want application/pkcs7-mime", ErrContentType, op, contentType)
	}
	if st, ok := params["smime-type"]; ok && st != "certs-only" {
		return nil, fmt.Errorf("%w: %s answered smime-type %q, want certs-only", ErrContentType, op, st)
	}
	der, err := decodeBase64(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: body is not base64: %v", ErrMalformed, op, err)
	}
	var certs []*x509.Certificate
	p7, err := pkcs7.Parse(der)
	if err == nil {
		certs = p7.Certificates
	} else if certs, err = certsOfSignedData(der); err != nil {
		return nil, fmt.Errorf("%w: %s: not a PKCS#7 structure: %v", ErrMalformed, op, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w (%s)", ErrNoCertificate, op)
	}
	return certs, nil
}

// certsOfSignedData returns the certificates of a DER PKCS#7 SignedData
// (RFC 5652 §5.1), parsing them with internal/bpx509: the answer for a
// brainpoolP256r1 key, which pkcs7.Parse refuses because crypto/x509 does.
// Nothing else of the structure is used by a certs-only answer.
func certsOfSignedData(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, errors.New("not a DER ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("content type %v is not signedData", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		EncapContentInfo asn1.RawValue
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		CRLs             asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("SignedData: %w", err)
	}
	return bpx509.ParseCertificates(sd.Certificates.Bytes)
}

var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// decodeBase64 decodes standard base64 with any white space in it, and
// NUL bytes after it (Cisco libest's server ends its /csrattrs body with
// one, counted in Content-Length).
func decodeBase64(b []byte) ([]byte, error) {
	b = bytes.TrimRight(b, "\x00")
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	if len(clean) == 0 {
		return nil, errors.New("empty body")
	}
	return base64.StdEncoding.DecodeString(string(clean))
}
