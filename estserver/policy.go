package estserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/csrpop"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// Policy decides what the server certifies. The zero value is the safe
// default described at each field. Every refusal is an HTTP 4xx whose body
// says why (the EST client prints it).
type Policy struct {
	// CommonName is the template of the common name a device may receive,
	// with the placeholders {cn} (the name the request asks for), {user}
	// (the bootstrap user it authenticated as), {factory-cn} and
	// {factory-serial} (the subject common name and hex serial of the
	// factory certificate it authenticated with). The request must ask for
	// exactly the expansion. Default "{cn}": the device names itself, within
	// NamePattern, and no name held by another device's live certificate
	// is issued again.
	CommonName string
	// NamePattern constrains every common name issued. Default
	// DefaultNamePattern: letters, digits, '.', '_' and '-', at most 64,
	// no wildcard, no space, no control character.
	NamePattern *regexp.Regexp
	// Organization is the organization (O) of issued certificates. A
	// request may ask for exactly this, or for none; any other subject
	// attribute is refused. Default: none.
	Organization []string
	// URIPrefix, when set, allows URI SANs of the form URIPrefix + common
	// name (for example "spiffe://fleet/" gives spiffe://fleet/meter-7).
	// Default: URI SANs refused.
	URIPrefix string
	// DNS SANs are allowed when they are the common name itself or begin
	// with the common name and a dot (meter-7.devices.example). IP address
	// and e-mail SANs are always refused.

	// RequirePoP asks for proof of possession by tls-unique (RFC 7030
	// §3.5): the CSR's challengePassword must be the base64 of the TLS 1.2
	// channel binding of the connection it comes over (CSR attributes name
	// challengePassword so that clients know).
	RequirePoP bool

	// MinRSABits is the smallest RSA modulus certified (default 2048).
	MinRSABits int
	// MaxRSABits is the largest (default 4096: IoT SAFE cards hold
	// RSA-2048, and every request's signature is checked, so a huge
	// modulus would only cost the server time). ECDSA keys must be on
	// P-256 or brainpoolP256r1, the curves IoT SAFE cards hold.
	MaxRSABits int

	// KeyType is the key type GET /csrattrs asks for: "p256" (the
	// default), "brainpoolP256r1" or "rsa2048"; devices generate their key
	// in a container of that type. It is a hint (RFC 7030 §4.5.2): keys of
	// every type above are certified whatever it says.
	KeyType string
}

// KeyTypes are the values of Policy.KeyType.
var KeyTypes = []string{"p256", "brainpoolP256r1", "rsa2048"}

// csrAttrs is what the policy asks CSRs to contain (GET /csrattrs, RFC
// 7030 §4.5): a key of Policy.KeyType (an EC key on P-256 by default),
// signed with SHA-256.
func (p *Policy) csrAttrs() est.CSRAttrs {
	var a est.CSRAttrs
	switch p.KeyType {
	case "rsa2048":
		a = est.CSRAttrs{{OID: est.OIDRSAEncryption}, {OID: est.OIDSHA256}}
	default:
		oid := est.OIDP256
		if p.KeyType == "brainpoolP256r1" {
			oid = est.OIDBrainpoolP256r1
		}
		curve, _ := asn1.Marshal(oid)
		a = est.CSRAttrs{
			{OID: est.OIDECPublicKey, Values: []asn1.RawValue{{FullBytes: curve}}},
			{OID: est.OIDECDSAWithSHA256},
		}
	}
	if p.RequirePoP {
		a = append(a, est.CSRAttr{OID: est.OIDChallengePassword})
	}
	return a
}

// checkPoP checks the CSR's challengePassword against the connection's
// tls-unique channel binding.
func (p *Policy) checkPoP(csr *x509.CertificateRequest, unique []byte) *refusal {
	if !p.RequirePoP {
		return nil
	}
	if len(unique) == 0 {
		return refuse(http.StatusBadRequest, "proof of possession by tls-unique needs a TLS 1.2 connection (RFC 7030 §3.5)")
	}
	pw, ok := csrpop.ChallengePassword(csr)
	switch {
	case ok && pw == base64.StdEncoding.EncodeToString(unique):
		return nil
	case ok:
		return refuse(http.StatusBadRequest, "the challengePassword is not this connection's tls-unique: no proof of possession")
	}
	return refuse(http.StatusBadRequest, "this CA wants proof of possession: put the connection's tls-unique (base64) in the CSR's challengePassword (RFC 7030 §3.5)")
}

// DefaultNamePattern is the default Policy.NamePattern.
var DefaultNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// identity is who authenticated an enrolment.
type identity struct {
	user    string
	factory *x509.Certificate
	current *x509.Certificate // re-enrolment: the certificate presented
}

// key names the enrolment identity in the CA's records: the factory
// certificate (its SHA-256), or the bootstrap user.
func (id identity) key() string {
	if id.factory != nil {
		d := sha256.Sum256(id.factory.Raw)
		return "factory:" + hex.EncodeToString(d[:])
	}
	if id.user != "" {
		return "user:" + id.user
	}
	return ""
}

// recoverable reports whether id may take back a name it enrolled before
// with another key (a device that lost the reply and generated a new key):
// a factory certificate is one device; a bootstrap user is one only when
// the name template binds the name to it ({user}); a password shared by a
// fleet is not, and gets 409 as before.
func (p *Policy) recoverable(id identity) bool {
	return id.current == nil && (id.factory != nil || id.user != "" && strings.Contains(p.CommonName, "{user}"))
}

// refusal is a policy decision: an HTTP status and a reason.
type refusal struct {
	status int
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, reason: fmt.Sprintf(format, args...)}
}

// printable reports whether s is valid UTF-8 of at most 64 bytes without
// control characters.
func printable(s string) bool {
	if len(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) {
			return false
		}
	}
	return true
}

var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// check applies the policy to a request; r (the enrolment's transaction)
// answers the uniqueness question. It returns the request to issue and,
// when the same enrolment identity takes its name back with a new key (a
// lost reply), the certificate the new one replaces (to be revoked). err
// is a database error.
func (p *Policy) check(r *records, csr *x509.CertificateRequest, id identity) (_ *x509.CertificateRequest, _ *x509.Certificate, _ *refusal, err error) {
	if err := p.checkKey(csr.PublicKey); err != nil {
		return nil, nil, err, nil
	}
	subj := csr.Subject
	cn := subj.CommonName
	if !printable(cn) {
		return nil, nil, refuse(http.StatusBadRequest, "the common name holds control characters or is too long"), nil
	}
	// Only CN and O, and O only as the CA sets it.
	for _, a := range subj.Names {
		if !a.Type.Equal(oidCN) && !a.Type.Equal(oidO) {
			return nil, nil, refuse(http.StatusBadRequest, "the request asks for subject attribute %v; this CA issues only a common name (and its own organization)", a.Type), nil
		}
	}
	if len(subj.Organization) > 0 && !slices.Equal(subj.Organization, p.Organization) {
		return nil, nil, refuse(http.StatusBadRequest, "the request asks for organization %q; this CA issues %q", subj.Organization, p.Organization), nil
	}
	if len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0 {
		return nil, nil, refuse(http.StatusBadRequest, "IP address and e-mail SANs are not issued"), nil
	}
	if id.current != nil {
		// Re-enrolment keeps the names exactly.
		c := id.current
		if cn != c.Subject.CommonName || !slices.Equal(subj.Organization, c.Subject.Organization) ||
			!slices.Equal(csr.DNSNames, c.DNSNames) || !sameURIs(csr, c) {
			return nil, nil, refuse(http.StatusBadRequest, "re-enrolment must keep the subject and SANs of the current certificate exactly"), nil
		}
	} else {
		want := p.expand(cn, id)
		if want != cn {
			return nil, nil, refuse(http.StatusBadRequest, "this CA names this device %q; the request asks for %q", want, cn), nil
		}
		pat := p.NamePattern
		if pat == nil {
			pat = DefaultNamePattern
		}
		if !pat.MatchString(cn) {
			return nil, nil, refuse(http.StatusBadRequest, "common name %q is not allowed (pattern %s)", cn, pat), nil
		}
		if strings.HasSuffix(cn, ".") {
			return nil, nil, refuse(http.StatusBadRequest, "common name %q ends in a dot (a device name is not a rooted DNS name)", cn), nil
		}
		for _, d := range csr.DNSNames {
			if strings.Contains(d, "*") || !(d == cn || strings.HasPrefix(d, cn+".") && validDNS(d)) {
				return nil, nil, refuse(http.StatusBadRequest, "DNS name %q is not allowed: DNS SANs must be the common name or begin with it and a dot, without wildcards", d), nil
			}
		}
		for _, u := range csr.URIs {
			if p.URIPrefix == "" || p.checkURIPrefix() != nil || u.String() != p.URIPrefix+cn {
				return nil, nil, refuse(http.StatusBadRequest, "URI %q is not allowed", u), nil
			}
		}
	}
	names := append([]string{cn}, csr.DNSNames...)
	holder, name, err := r.liveHolder(names, csr.PublicKey, id.current)
	if err != nil {
		return nil, nil, nil, err
	}
	if holder != nil && p.recoverable(id) {
		by, err := r.enrolledByOf(holder.SerialNumber)
		if err != nil {
			return nil, nil, nil, err
		}
		if by == id.key() {
			// The same enrolment identity again with a new key: the
			// device lost the reply. Its certificate is replaced (the
			// caller revokes it) unless another holder remains.
			replace := holder
			if holder, name, err = r.liveHolder(names, csr.PublicKey, replace); err != nil {
				return nil, nil, nil, err
			}
			if holder == nil {
				out := *csr
				out.Subject.Organization = slices.Clone(p.Organization)
				return &out, replace, nil, nil
			}
		}
	}
	if holder != nil {
		return nil, nil, refuse(http.StatusConflict, "name %q is held by a live certificate (serial %s) of another key (names compare without case or trailing dot, common names and DNS names alike)", name, holder.SerialNumber), nil
	}
	out := *csr
	out.Subject.Organization = slices.Clone(p.Organization)
	if id.current != nil {
		out.Subject.Organization = slices.Clone(id.current.Subject.Organization)
	}
	return &out, nil, nil, nil
}

// checkURIPrefix refuses a URI prefix that does not end in "/": without
// it, a device whose name starts with "x.attacker.example" would get
// spiffe://fleetx.attacker.example from the prefix spiffe://fleet.
func (p *Policy) checkURIPrefix() error {
	if p.URIPrefix != "" && !strings.HasSuffix(p.URIPrefix, "/") {
		return fmt.Errorf("estserver: URI prefix %q must end in \"/\" (e.g. %q), or a device could choose the rest of the authority", p.URIPrefix, p.URIPrefix+"/")
	}
	return nil
}

func (p *Policy) expand(cn string, id identity) string {
	t := p.CommonName
	if t == "" {
		t = "{cn}"
	}
	r := []string{"{cn}", cn, "{user}", id.user}
	if id.factory != nil {
		r = append(r, "{factory-cn}", id.factory.Subject.CommonName, "{factory-serial}", strings.ToUpper(hex.EncodeToString(id.factory.SerialNumber.Bytes())))
	}
	return strings.NewReplacer(r...).Replace(t)
}

func (p *Policy) checkKey(k crypto.PublicKey) *refusal {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && !bpx509.IsBrainpool(k) {
			return refuse(http.StatusBadRequest, "ECDSA keys must be on P-256 or brainpoolP256r1 (the key is on %s)", k.Curve.Params().Name)
		}
		return nil
	case *rsa.PublicKey:
		lo, hi := p.MinRSABits, p.MaxRSABits
		if lo == 0 {
			lo = 2048
		}
		if hi == 0 {
			hi = 4096
		}
		if k.N.BitLen() < lo {
			return refuse(http.StatusBadRequest, "RSA keys must have at least %d bits (the key has %d)", lo, k.N.BitLen())
		}
		if k.N.BitLen() > hi {
			return refuse(http.StatusBadRequest, "RSA keys must have at most %d bits (the key has %d)", hi, k.N.BitLen())
		}
		return nil
	}
	return refuse(http.StatusBadRequest, "key type %T is not certified (ECDSA P-256 or brainpoolP256r1, or RSA, as IoT SAFE cards hold)", k)
}

var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func validDNS(d string) bool {
	if len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func sameURIs(csr *x509.CertificateRequest, c *x509.Certificate) bool {
	if len(csr.URIs) != len(c.URIs) {
		return false
	}
	for i := range csr.URIs {
		if csr.URIs[i].String() != c.URIs[i].String() {
			return false
		}
	}
	return true
}

// normName is the form in which names are compared for uniqueness: DNS
// names are case-insensitive and "name." is "name".
func normName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }
