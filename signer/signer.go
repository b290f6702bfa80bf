// Package signer makes keys held by a SIM's IoT SAFE applet usable wherever
// Go takes a crypto.Signer (crypto/tls, crypto/x509, JWT and COSE libraries),
// and adds what devices need around them: ECDH on the card, verification on
// the card, the card's random numbers as an io.Reader, certificates read
// from the SIM, tls.Config helpers and certificate signing requests.
//
// The private key never leaves the SIM: Sign sends the digest to the card
// and gets the signature back.
package signer

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// DefaultTimeout bounds card calls made through interfaces that carry no
// context (crypto.Signer.Sign, io.Reader.Read).
const DefaultTimeout = 30 * time.Second

// ErrCredentialRemoved means the key exists no more, or was deactivated:
// on a deployed SIM this is what an operator's remote credential removal
// looks like.
var ErrCredentialRemoved = errors.New("signer: credential removed or deactivated by the operator")

// Key is a private key on the SIM. It implements crypto.Signer.
type Key struct {
	a       *iotsafe.Applet
	ref     iotsafe.Ref
	id      []byte
	label   string
	pub     publicKey
	kind    spec.KeyTypeKind
	hashes  uint16
	algs    byte // signature algorithms the key offers (tag 92)
	timeout time.Duration
}

var _ crypto.Signer = (*Key)(nil)

// publicKey is what *ecdsa.PublicKey and *rsa.PublicKey have in common.
type publicKey interface {
	Equal(crypto.PublicKey) bool
}

// Options configure New.
type Options struct {
	// Timeout bounds calls without a context (Sign). Zero: DefaultTimeout.
	Timeout time.Duration
}

// New opens the private key that ref names (ID or label) on the applet. The
// public key is read from the public key object of the same ID; when a
// certificate on the SIM names the same label or ID, or when the caller
// later asks for one, it is checked to agree.
func New(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, opts *Options) (*Key, error) {
	obj, err := a.Find(ctx, spec.KindPrivateKey, ref)
	if err != nil {
		if errors.Is(err, iotsafe.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrCredentialRemoved, err)
		}
		return nil, err
	}
	if !obj.Active() {
		return nil, fmt.Errorf("%w: private key %X (%q) is deactivated", ErrCredentialRemoved, obj.ID, obj.Label)
	}
	if obj.CryptoFunctions&spec.FuncSignature == 0 {
		return nil, fmt.Errorf("signer: private key %X (%q) cannot sign (functions %02X)", obj.ID, obj.Label, obj.CryptoFunctions)
	}
	kind := spec.KindOfKeyType(obj.KeyType)
	if obj.KeyType == 0 {
		kind = spec.KeyKindUnknown // an applet that omits tag 4B: the key tells
	} else if kind == spec.KeyKindUnknown {
		return nil, fmt.Errorf("signer: private key %X has key type %02X; P-256 (13, 14), brainpoolP256r1 (23, 24) and RSA-2048 (03) keys sign", obj.ID, obj.KeyType)
	}
	pk, err := a.PublicKey(ctx, iotsafe.ByID(obj.ID...))
	if err != nil {
		return nil, fmt.Errorf("signer: reading the public key of %X: %w", obj.ID, err)
	}
	got := keys.KindOf(pk)
	if kind != spec.KeyKindUnknown && got != kind {
		return nil, fmt.Errorf("signer: private key %X has key type %s but its public key is %s", obj.ID, kind, got)
	}
	kind = got
	pub, ok := pk.(publicKey)
	if !ok || kind == spec.KeyKindUnknown {
		return nil, fmt.Errorf("signer: public key %X is of no type the signer knows (%T)", obj.ID, pk)
	}
	k := &Key{a: a, ref: iotsafe.ByID(obj.ID...), id: obj.ID, label: obj.Label, pub: pub, kind: kind,
		hashes: obj.HashAlgorithms, algs: obj.SignatureAlgorithms, timeout: DefaultTimeout}
	if k.algs == 0 {
		k.algs = kind.SigAlgsFor()
	}
	if opts != nil && opts.Timeout > 0 {
		k.timeout = opts.Timeout
	}
	if k.hashes == 0 {
		k.hashes = spec.HashSHA256
	}
	return k, nil
}

// Public returns the key's public key: *ecdsa.PublicKey (P-256 or
// brainpoolP256r1) or *rsa.PublicKey (RSA-2048).
func (k *Key) Public() crypto.PublicKey { return k.pub }

// KeyKind returns the key's algorithm family.
func (k *Key) KeyKind() spec.KeyTypeKind { return k.kind }

// ID returns the key's IoT SAFE ID.
func (k *Key) ID() []byte { return append([]byte(nil), k.id...) }

// Label returns the key's label.
func (k *Key) Label() string { return k.label }

// Applet returns the applet the key lives on.
func (k *Key) Applet() *iotsafe.Applet { return k.a }

// Sign signs digest, the output of opts.HashFunc() (SHA-256, SHA-384 or
// SHA-512), on the card. An EC key returns an ASN.1 DER ECDSA signature;
// when the key does not offer that hash, the card is asked to sign the
// digest cut to the curve size (X9.62: the leftmost 256 bits), which is
// the same signature. An RSA key returns an RSASSA-PKCS1-v1_5 signature,
// or an RSASSA-PSS one when opts is *rsa.PSSOptions; the card's PSS salt is
// as long as the hash, so SaltLength must be rsa.PSSSaltLengthEqualsHash
// (what crypto/tls and crypto/x509 ask for) or that length. rand is not
// used: the card draws its own randomness.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	return k.SignContext(ctx, digest, opts)
}

// SignContext is Sign with a context.
func (k *Key) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, errors.New("signer: no signer options: ECDSA needs the hash function")
	}
	hf := opts.HashFunc()
	h, ok := iotsafe.HashFor(hf)
	if !ok {
		return nil, fmt.Errorf("signer: hash %v is not supported (SHA-256, SHA-384 or SHA-512)", hf)
	}
	if len(digest) != hf.Size() {
		return nil, fmt.Errorf("signer: a %v digest has %d bytes, got %d", hf, hf.Size(), len(digest))
	}
	if k.kind == spec.KeyKindRSA2048 {
		return k.signRSA(ctx, h, digest, opts)
	}
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, fmt.Errorf("signer: RSA-PSS options for %s key %X", k.kind, k.id)
	}
	if k.hashes&uint16(h) == 0 {
		if k.hashes&spec.HashSHA256 == 0 {
			return nil, fmt.Errorf("signer: key %X offers no hash the card can sign with", k.id)
		}
		h, digest = iotsafe.HashSHA256, digest[:32]
	}
	raw, err := k.a.Sign(ctx, k.ref, h, digest)
	if err != nil {
		return nil, k.explain(err)
	}
	return spec.SignatureToDER(raw)
}

// signRSA signs with the RSA key: PKCS#1 v1.5, or PSS for *rsa.PSSOptions.
func (k *Key) signRSA(ctx context.Context, h iotsafe.Hash, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg := iotsafe.SigRSAPKCS1
	if po, ok := opts.(*rsa.PSSOptions); ok {
		if po.SaltLength != rsa.PSSSaltLengthEqualsHash && po.SaltLength != len(digest) {
			return nil, fmt.Errorf("signer: the card makes RSA-PSS signatures with a salt of the hash length (%d bytes); salt length %d asked (use rsa.PSSSaltLengthEqualsHash)", len(digest), po.SaltLength)
		}
		alg = iotsafe.SigRSAPSS
	}
	if k.algs&byte(alg) == 0 {
		return nil, fmt.Errorf("signer: RSA key %X does not offer %s (signature algorithms %02X)", k.id, alg, k.algs)
	}
	if k.hashes&uint16(h) == 0 {
		return nil, fmt.Errorf("signer: RSA key %X does not offer %s (an RSA signature cannot fall back to another hash)", k.id, h)
	}
	sig, err := k.a.SignWith(ctx, k.ref, alg, h, digest)
	if err != nil {
		return nil, k.explain(err)
	}
	if len(sig) != spec.RSA2048Bytes {
		return nil, fmt.Errorf("%w: the card sent an RSA-2048 signature of %d bytes", iotsafe.ErrMalformedResponse, len(sig))
	}
	return sig, nil
}

// SignMessage sends a whole message to the card, which hashes it with h
// and signs it (full-text mode); it returns a DER signature.
func (k *Key) SignMessage(ctx context.Context, msg []byte, h crypto.Hash) ([]byte, error) {
	ih, ok := iotsafe.HashFor(h)
	if !ok {
		return nil, fmt.Errorf("signer: hash %v is not supported", h)
	}
	if k.kind == spec.KeyKindRSA2048 {
		return nil, fmt.Errorf("signer: full-text signing is implemented for EC keys only; sign a digest with Sign for RSA key %X", k.id)
	}
	raw, err := k.a.SignMessage(ctx, k.ref, ih, msg)
	if err != nil {
		return nil, k.explain(err)
	}
	return spec.SignatureToDER(raw)
}

// explain turns the card's refusal of a removed or deactivated key into
// ErrCredentialRemoved, keeping the card error in the chain.
func (k *Key) explain(err error) error {
	if errors.Is(err, iotsafe.ErrNotFound) || errors.Is(err, iotsafe.ErrConditionsNotSatisfied) {
		return fmt.Errorf("%w (key %X %q): %w", ErrCredentialRemoved, k.id, k.label, err)
	}
	return err
}

// KeyAgreement is an ECDH key on the SIM with the public key slot that
// receives the peer's key.
type KeyAgreement struct {
	a          *iotsafe.Applet
	priv, slot iotsafe.Ref
	pub        *ecdh.PublicKey
}

// NewKeyAgreement opens the key agreement key priv; peer keys are put into
// the public key object slot before each agreement.
func NewKeyAgreement(ctx context.Context, a *iotsafe.Applet, priv, slot iotsafe.Ref) (*KeyAgreement, error) {
	obj, err := a.Find(ctx, spec.KindPrivateKey, priv)
	if err != nil {
		return nil, err
	}
	if !obj.Active() || obj.CryptoFunctions&spec.FuncKeyAgreement == 0 {
		return nil, fmt.Errorf("signer: private key %X is not an active key agreement key", obj.ID)
	}
	point, err := a.ReadPublicKey(ctx, iotsafe.ByID(obj.ID...))
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.P256().NewPublicKey(point)
	if err != nil {
		return nil, fmt.Errorf("signer: public key %X is not a P-256 point: %w", obj.ID, err)
	}
	return &KeyAgreement{a: a, priv: iotsafe.ByID(obj.ID...), slot: slot, pub: pub}, nil
}

// PublicKey returns the card key's public half.
func (ka *KeyAgreement) PublicKey() *ecdh.PublicKey { return ka.pub }

// ECDH puts peer on the card and computes the shared secret there, as one
// card operation (iotsafe.Applet.ECDH): the same bytes crypto/ecdh's
// PrivateKey.ECDH returns.
func (ka *KeyAgreement) ECDH(ctx context.Context, peer *ecdh.PublicKey) ([]byte, error) {
	if peer.Curve() != ecdh.P256() {
		return nil, errors.New("signer: the peer key must be on P-256")
	}
	return ka.a.ECDH(ctx, ka.priv, ka.slot, peer.Bytes())
}

// VerifyOnCard checks a DER (or raw r||s) ECDSA signature over digest with
// a public key the SIM holds, on the card: the verdict does not depend on
// anything the device's software could replace. It returns nil for a valid
// signature and an error matching iotsafe.ErrSignatureMismatch otherwise.
func VerifyOnCard(ctx context.Context, a *iotsafe.Applet, pub iotsafe.Ref, h crypto.Hash, digest, sig []byte) error {
	ih, ok := iotsafe.HashFor(h)
	if !ok {
		return fmt.Errorf("signer: hash %v is not supported", h)
	}
	return a.Verify(ctx, pub, ih, digest, sig)
}

// Rand returns an io.Reader of random bytes drawn from the card, like
// crypto/rand.Reader (each Read is bounded by DefaultTimeout).
func Rand(a *iotsafe.Applet) io.Reader { return cardRand{a} }

type cardRand struct{ a *iotsafe.Applet }

func (r cardRand) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	b, err := r.a.GetRandom(ctx, len(p))
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

// CreateCSR returns a DER PKCS#10 request for the key, signed on the card,
// with the subject and SANs of tmpl (its SignatureAlgorithm may be left
// zero: ECDSA with SHA-256 for a P-256 key, PKCS#1 v1.5 with SHA-256 for an
// RSA key, ECDSA with SHA-256 for a brainpoolP256r1 key, whose request
// crypto/x509 cannot write alone: internal/bpx509 does its key).
func CreateCSR(k *Key, tmpl *x509.CertificateRequest) ([]byte, error) {
	t := *tmpl
	if t.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
		t.SignatureAlgorithm = x509.ECDSAWithSHA256
		if k.kind == spec.KeyKindRSA2048 {
			t.SignatureAlgorithm = x509.SHA256WithRSA
		}
	}
	return bpx509.CreateCertificateRequest(rand.Reader, &t, k)
}
