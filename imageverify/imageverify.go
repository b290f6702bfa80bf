// Package imageverify decides whether a software image may run, with a
// public key held on the SIM as the trust anchor, and runs exactly the bytes
// it verified.
//
// Three rules close the gaps a boot-time check usually leaves:
//
//   - The anchor must be a key the device cannot replace: a public key
//     object without update access, not generated on the card, and with no
//     private key of the same ID (the device could sign an image with it and
//     then "verify" it). The peer-key slot that every ECDH writes, a key pair
//     of the device, or any writable slot is refused with the reason.
//   - The verdict needs independent yeses: the card's Verify Signature
//     and a check in software with the public key read from the card
//     (ECDSA for a P-256 or brainpoolP256r1 key; for an RSA-2048 key
//     RSASSA-PKCS1-v1_5 or RSASSA-PSS with a salt as long as the hash, the
//     scheme the software check finds being the one the card is asked to
//     check). A link that loses or fabricates one answer cannot turn a
//     mismatch into a match. A link that rewrites several (the key read
//     from the card and the card's verdict) can, unless the host pins the
//     anchor (Pin, VerifyPinned): then the software check uses the host's
//     own copy of the key, and a card key that differs from it is refused.
//   - The program is resolved once, read once, hashed from those bytes, and
//     those same bytes run: Run copies them into a sealed memory file and
//     executes that, never the path again, so replacing the file after the
//     check changes nothing.
package imageverify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/spec"
)

// ErrNotAnchor means the named public key cannot serve as a trust anchor.
var ErrNotAnchor = errors.New("imageverify: not a trust anchor")

// ErrRefused means the signature does not verify: the image must not run.
var ErrRefused = errors.New("imageverify: the signature does not verify with the SIM-held key")

// MaxImage bounds the size of an image read into memory (256 MiB).
const MaxImage = 256 << 20

// Anchor checks that ref names a public key the device cannot replace and
// returns it, read from the card: an *ecdsa.PublicKey (P-256 or
// brainpoolP256r1) or an *rsa.PublicKey (RSA-2048).
func Anchor(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref) (crypto.PublicKey, error) {
	obj, err := a.Find(ctx, spec.KindPublicKey, ref)
	if err != nil {
		return nil, err
	}
	refuse := func(why string) (crypto.PublicKey, error) {
		return nil, fmt.Errorf("%w: public key %s %s", ErrNotAnchor, obj, why)
	}
	if obj.Access&spec.AccessUpdate != 0 {
		return refuse("can be replaced by the device (update access; Put Public Key, as every ECDH does, writes it)")
	}
	if obj.CryptoFunctions&spec.FuncKeyGeneration != 0 {
		return refuse("can be regenerated on the card (key generation)")
	}
	if !obj.Active() {
		return refuse("is empty")
	}
	objs, err := a.Objects(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.Kind == spec.KindPrivateKey && bytes.Equal(o.ID, obj.ID) {
			return refuse("is half of a key pair of the device (the device could sign an image itself)")
		}
		if o.Kind == spec.KindPrivateKey && o.Label != "" && o.Label == obj.Label {
			return refuse("shares its label with a private key of the device")
		}
	}
	pub, err := a.PublicKey(ctx, obj.Ref())
	if err != nil {
		return nil, fmt.Errorf("imageverify: public key %s: %w", obj, err)
	}
	return pub, nil
}

// Verify accepts digest (SHA-256) only when the card's Verify Signature with
// the anchor ref and a check in software with the anchor's public key, as
// read from the card, both accept sig. It is VerifyPinned without a pin:
// both the key and the card's verdict come over the link to the SIM, so a
// link that rewrites answers (a modem's firmware, anything on its serial
// line) can forge the verdict. Use VerifyPinned where the link is not
// trusted.
func Verify(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, digest, sig []byte) error {
	return VerifyPinned(ctx, a, ref, nil, digest, sig)
}

// VerifyPinned accepts digest (SHA-256) only when three checks accept sig:
// a check in software with the anchor's public key, the key the card holds
// under ref being the pinned key (same SubjectPublicKeyInfo SHA-256), and
// the card's Verify Signature. Signatures: for an EC key ECDSA (DER or raw
// r||s); for an RSA-2048 key the 256-byte RSASSA-PKCS1-v1_5 or RSASSA-PSS
// signature (what `openssl dgst -sha256 -sign` writes; PSS with a 32-byte
// salt, the only salt IoT SAFE cards use).
//
// With a pin that holds the key (PinPublicKey, or LoadPin of a key or
// certificate) the software check runs with the host's copy before any
// answer from the card is believed; with a fingerprint pin it runs with the
// card's key once that key matched the fingerprint. Either way a link that
// rewrites answers cannot turn a signature the pinned key refuses into a
// yes: the worst it can do is make a genuine image fail. pin nil checks
// with the key as read over the link (Verify).
//
// It returns ErrRefused (wrapped; with ErrPinMismatch when the card's key is
// not the pinned one) on a mismatch, ErrNotAnchor when ref is no anchor, and
// any other error as it came.
func VerifyPinned(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, pin *Pin, digest, sig []byte) error {
	if len(digest) != sha256.Size {
		return fmt.Errorf("imageverify: digest of %d bytes (want SHA-256)", len(digest))
	}
	if pin != nil && pin.key != nil {
		if _, err := softCheck(pin.key, digest, sig); err != nil {
			return fmt.Errorf("%w (the check with the pinned anchor %s said no; the SIM was not asked)", err, pin)
		}
	}
	pub, err := Anchor(ctx, a, ref)
	if err != nil {
		return err
	}
	if pin != nil {
		got, err := Fingerprint(pub)
		if err != nil {
			return err
		}
		if got != pin.fp {
			return fmt.Errorf("%w: %w: the SIM's key %s has fingerprint %s, the pinned anchor is %s (the link to the SIM, or the key on it, was changed)",
				ErrRefused, ErrPinMismatch, ref, formatFP(got), pin)
		}
	}
	cardCheck, err := softCheck(pub, digest, sig)
	if err != nil {
		return err
	}
	card := cardCheck(ctx, a, ref)
	switch {
	case errors.Is(card, iotsafe.ErrSignatureMismatch):
		return fmt.Errorf("%w (the card said no)", ErrRefused)
	case card != nil:
		return card
	}
	return nil
}

// softCheck verifies sig over digest in software with pub. When it
// accepts, it returns the card operation that checks the same signature,
// in the same scheme, on the card. A refusal is ErrRefused, wrapped.
func softCheck(pub crypto.PublicKey, digest, sig []byte) (func(context.Context, *iotsafe.Applet, iotsafe.Ref) error, error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		raw, der, err := signatureForms(sig)
		if err != nil {
			return nil, err
		}
		if !ecdsa.VerifyASN1(pub, digest, der) {
			return nil, fmt.Errorf("%w (the software check said no)", ErrRefused)
		}
		return func(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref) error {
			return a.Verify(ctx, ref, iotsafe.HashSHA256, digest, raw)
		}, nil
	case *rsa.PublicKey:
		if len(sig) != pub.Size() {
			return nil, fmt.Errorf("imageverify: an RSA-%d signature is %d bytes, not %d", pub.N.BitLen(), pub.Size(), len(sig))
		}
		alg := iotsafe.SigRSAPKCS1
		ok := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
		if !ok && rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
			alg, ok = iotsafe.SigRSAPSS, true
		}
		if !ok {
			return nil, fmt.Errorf("%w (the software check said no, PKCS#1 v1.5 and PSS)", ErrRefused)
		}
		return func(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref) error {
			return a.VerifyWith(ctx, ref, alg, iotsafe.HashSHA256, digest, sig)
		}, nil
	}
	return nil, fmt.Errorf("imageverify: public key of type %T", pub)
}

func signatureForms(sig []byte) (raw, der []byte, err error) {
	if len(sig) == 64 {
		der, err = spec.SignatureToDER(sig)
		return sig, der, err
	}
	raw, err = spec.SignatureFromDER(sig, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("imageverify: the signature is neither DER nor raw r||s: %w", err)
	}
	der, err = spec.SignatureToDER(raw)
	return raw, der, err
}

// Image is a program read once into memory.
type Image struct {
	Path   string // the resolved path it was read from
	Bytes  []byte
	Digest []byte // SHA-256 of Bytes
}

// Load resolves name once as exec would (a name without a slash is looked
// up in $PATH; anything else is a path), opens it once and reads it. It is
// for running a program (Image.Command); to check a file named by the user,
// use LoadFile. Image.Path is the path actually read: print that one.
func Load(name string) (*Image, error) {
	path := name
	if filepath.Base(name) == name {
		p, err := exec.LookPath(name)
		if err != nil {
			return nil, err
		}
		path = p
	}
	return LoadFile(path)
}

// LoadFile opens the file at path (never looked up in $PATH: "app" is
// ./app) once and reads it.
func LoadFile(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxImage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxImage {
		return nil, fmt.Errorf("imageverify: %s is larger than %d bytes", path, MaxImage)
	}
	d := sha256.Sum256(b)
	return &Image{Path: path, Bytes: b, Digest: d[:]}, nil
}
