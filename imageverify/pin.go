package imageverify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
)

// ErrPinMismatch means the public key the SIM holds (as it came over the
// link) is not the host-pinned trust anchor.
var ErrPinMismatch = errors.New("imageverify: the SIM's key is not the pinned anchor")

// ErrPinFile means a pin file cannot be trusted or read as a pin.
var ErrPinFile = errors.New("imageverify: unusable anchor file")

// maxPinFile bounds what LoadPin reads.
const maxPinFile = 64 << 10

// A Pin is a trust anchor the host keeps itself, on storage the device's
// software cannot change (a root-owned or read-only file system): the
// vendor's public key, or the SHA-256 fingerprint of its DER
// SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER | sha256sum`
// prints). VerifyPinned believes no answer from the card about the key
// unless it matches the pin.
type Pin struct {
	key crypto.PublicKey // nil for a fingerprint pin
	fp  [sha256.Size]byte
}

// Fingerprint returns the SHA-256 of pub's DER SubjectPublicKeyInfo.
func Fingerprint(pub crypto.PublicKey) ([sha256.Size]byte, error) {
	der, err := keys.MarshalPKIX(pub)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("imageverify: public key of type %T: %w", pub, err)
	}
	return sha256.Sum256(der), nil
}

// PinPublicKey pins pub (P-256, brainpoolP256r1 or RSA).
func PinPublicKey(pub crypto.PublicKey) (*Pin, error) {
	fp, err := Fingerprint(pub)
	if err != nil {
		return nil, err
	}
	return &Pin{key: pub, fp: fp}, nil
}

// PinFingerprint pins the key whose SubjectPublicKeyInfo has the SHA-256
// fingerprint s: 64 hex digits, optionally prefixed "sha256:" and with
// colons between bytes, in either case.
func PinFingerprint(s string) (*Pin, error) {
	t := strings.TrimSpace(s)
	if len(t) > 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.ReplaceAll(t, ":", "")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("imageverify: %q is not a SHA-256 fingerprint (64 hex digits, optionally sha256:)", s)
	}
	p := &Pin{}
	copy(p.fp[:], b)
	return p, nil
}

// LoadPin reads a pin from a file the host keeps: a PEM public key, a PEM
// certificate (its key is pinned), or a line holding a fingerprint as
// PinFingerprint takes it. The file must be a regular file owned by root or
// by the user running the check and writable by nobody else; anything else
// is refused with ErrPinFile, since whoever can write it chooses the
// anchor.
func LoadPin(path string) (*Pin, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPinFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPinFile, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrPinFile, path)
	}
	if err := checkPinOwner(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPinFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPinFile, err)
	}
	if len(b) > maxPinFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrPinFile, path, maxPinFile)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		p, err := PinFingerprint(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w: %s holds neither a PEM public key or certificate nor a fingerprint", ErrPinFile, path)
		}
		return p, nil
	}
	var pub crypto.PublicKey
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = keys.ParsePKIX(blk.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = bpx509.ParseCertificate(blk.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		err = fmt.Errorf("PEM block %q (want PUBLIC KEY or CERTIFICATE)", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPinFile, path, err)
	}
	return PinPublicKey(pub)
}

// String returns the pin's fingerprint as "sha256:HEX".
func (p *Pin) String() string { return formatFP(p.fp) }

func formatFP(fp [sha256.Size]byte) string { return "sha256:" + hex.EncodeToString(fp[:]) }
