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
//   - The verdict needs two independent yeses: the card's Verify Signature
//     and an ECDSA check in software with the public key read from the card.
//     A link that loses or fabricates one answer cannot turn a mismatch into
//     a match.
//   - The program is resolved once, read once, hashed from those bytes, and
//     those same bytes run: Run copies them into a sealed memory file and
//     executes that, never the path again, so replacing the file after the
//     check changes nothing.
package imageverify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

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
// returns it, read from the card.
func Anchor(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref) (*ecdsa.PublicKey, error) {
	obj, err := a.Find(ctx, spec.KindPublicKey, ref)
	if err != nil {
		return nil, err
	}
	refuse := func(why string) (*ecdsa.PublicKey, error) {
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
	point, err := a.ReadPublicKey(ctx, obj.Ref())
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("imageverify: public key %s: %w", obj, err)
	}
	return pub, nil
}

// Verify accepts digest (SHA-256) only when the card's Verify Signature with
// the anchor ref and an ECDSA check in software with the anchor's public
// key both accept sig (DER or raw r||s). It returns ErrRefused (wrapped) on
// a mismatch, ErrNotAnchor when ref is no anchor, and any other error as it
// came.
func Verify(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, digest, sig []byte) error {
	if len(digest) != sha256.Size {
		return fmt.Errorf("imageverify: digest of %d bytes (want SHA-256)", len(digest))
	}
	raw, der, err := signatureForms(sig)
	if err != nil {
		return err
	}
	pub, err := Anchor(ctx, a, ref)
	if err != nil {
		return err
	}
	soft := ecdsa.VerifyASN1(pub, digest, der)
	card := a.Verify(ctx, ref, iotsafe.HashSHA256, digest, raw)
	switch {
	case errors.Is(card, iotsafe.ErrSignatureMismatch):
		return fmt.Errorf("%w (the card said no)", ErrRefused)
	case card != nil:
		return card
	case !soft:
		// The card said yes and the key it holds says no: the answer
		// did not come from the card's check of this signature.
		return fmt.Errorf("%w (the software check with the card's public key said no although the card's answer said yes: distrust the link to the SIM)", ErrRefused)
	}
	return nil
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

// Load resolves name once (a name without a slash is looked up in $PATH,
// as exec would; anything else is a path), opens it once and reads it.
func Load(name string) (*Image, error) {
	path := name
	if filepath.Base(name) == name {
		p, err := exec.LookPath(name)
		if err != nil {
			return nil, err
		}
		path = p
	}
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

// Command returns a command that runs exactly im.Bytes: they are copied into
// a sealed memory file (no write, grow or shrink possible), which the child
// executes as /proc/self/fd/3 (an interpreter of a #! script reads it from
// there too; the program finds that descriptor open, read-only). argv[0] is
// the name the program was given.
func (im *Image) Command(name string, args ...string) (*exec.Cmd, error) {
	fd, err := unix.MemfdCreate(filepath.Base(im.Path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("imageverify: memfd_create: %w", err)
	}
	w := os.NewFile(uintptr(fd), "memfd")
	defer w.Close()
	if _, err := w.Write(im.Bytes); err != nil {
		return nil, fmt.Errorf("imageverify: writing the sealed copy: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return nil, fmt.Errorf("imageverify: sealing the copy: %w", err)
	}
	// Executing needs a descriptor nobody can write through.
	r, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return nil, fmt.Errorf("imageverify: reopening the sealed copy read-only: %w", err)
	}
	c := exec.Command("/proc/self/fd/3")
	c.Args = append([]string{name}, args...)
	c.ExtraFiles = []*os.File{r}
	return c, nil
}
