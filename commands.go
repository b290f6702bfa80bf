package iotsafe

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Hash is an IoT SAFE hash algorithm (the tag 91 bitmap values).
type Hash uint16

// The hash algorithms IoT SAFE knows.
const (
	HashSHA256 = Hash(spec.HashSHA256)
	HashSHA384 = Hash(spec.HashSHA384)
	HashSHA512 = Hash(spec.HashSHA512)
)

// Size returns the digest size in bytes, 0 for an unknown hash.
func (h Hash) Size() int {
	switch h {
	case HashSHA256:
		return 32
	case HashSHA384:
		return 48
	case HashSHA512:
		return 64
	}
	return 0
}

// CryptoHash returns the matching crypto.Hash.
func (h Hash) CryptoHash() crypto.Hash {
	switch h {
	case HashSHA256:
		return crypto.SHA256
	case HashSHA384:
		return crypto.SHA384
	case HashSHA512:
		return crypto.SHA512
	}
	return 0
}

// String returns "SHA-256" and so on.
func (h Hash) String() string {
	if c := h.CryptoHash(); c != 0 {
		return c.String()
	}
	return fmt.Sprintf("hash(%04X)", uint16(h))
}

// HashFor returns the IoT SAFE hash for a crypto.Hash.
func HashFor(c crypto.Hash) (Hash, bool) {
	switch c {
	case crypto.SHA256:
		return HashSHA256, true
	case crypto.SHA384:
		return HashSHA384, true
	case crypto.SHA512:
		return HashSHA512, true
	}
	return 0, false
}

// Session numbers (see docs/design-notes.md).
const (
	sessionSign      = 1
	sessionVerify    = 2
	sessionPutPublic = 0
)

func (a *Applet) session(ctx context.Context, want int) byte {
	if want == 0 {
		return 0
	}
	info, err := a.appInfo(ctx)
	if err != nil || info.MaxSessions == 0 || want < info.MaxSessions {
		return byte(want)
	}
	return 0
}

// GetRandom returns n random bytes from the card, asking 256 at a time.
func (a *Applet) GetRandom(ctx context.Context, n int) ([]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("iotsafe: get random: %d bytes asked", n)
	}
	out := make([]byte, 0, n)
	err := a.do(ctx, func() error {
		for len(out) < n {
			k := min(n-len(out), 256)
			resp, err := a.exchange(ctx, apdu.Command{INS: spec.InsGetRandom, Ne: k}, true)
			if err != nil {
				return fmt.Errorf("iotsafe: get random: %w", err)
			}
			if !resp.SW.OK() && resp.SW != apdu.SWMoreData {
				return &CardError{Op: "get random", INS: spec.InsGetRandom, SW: resp.SW}
			}
			if len(resp.Data) != k {
				return malformed("get random", "asked %d bytes, got %d", k, len(resp.Data))
			}
			out = append(out, resp.Data...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadFile returns the contents of a file of the applet store, read in
// chunks up to its size (from the object list, or file information when
// the list lacks it). Contents are cached.
func (a *Applet) ReadFile(ctx context.Context, ref Ref) ([]byte, error) {
	data, _, err := a.readFile(ctx, ref, -1)
	return data, err
}

// ReadFileTail returns the last n bytes of a file (all of it when it is
// shorter) and the file's size, in one Read File command for n up to 256:
// what a host that keeps a copy of a file compares to know that its copy
// is still the card's, at a fraction of the cost of reading it all. The
// size comes from the object list, as ReadFile's does; a file read before
// costs no command.
func (a *Applet) ReadFileTail(ctx context.Context, ref Ref, n int) ([]byte, int, error) {
	if n <= 0 {
		return nil, 0, fmt.Errorf("iotsafe: read file tail: %d bytes asked", n)
	}
	return a.readFile(ctx, ref, n)
}

// readFile reads the last n bytes of a file (n < 0: all of it, which is
// then cached) and returns them with the file's size.
func (a *Applet) readFile(ctx context.Context, ref Ref, n int) ([]byte, int, error) {
	if err := ref.check(); err != nil {
		return nil, 0, err
	}
	var data []byte
	var size int
	err := a.do(ctx, func() error {
		if c, ok := a.files[ref.key(spec.KindFile)]; ok {
			data, size = c, len(c)
			if n >= 0 {
				data = c[max(0, size-n):]
			}
			return nil
		}
		obj, err := a.find(ctx, spec.KindFile, ref)
		if err != nil || obj.FileSize == 0 {
			if obj, err = a.objectInfo(ctx, spec.KindFile, ref); err != nil {
				return err
			}
		}
		if !obj.Active() {
			return fmt.Errorf("%w: %s is empty (deactivated)", ErrConditionsNotSatisfied, describe(spec.KindFile, ref))
		}
		size = obj.FileSize
		start := 0
		if n >= 0 {
			start = max(0, size-n)
		}
		buf := make([]byte, 0, size-start)
		refData := ref.appendTLV(nil, spec.KindFile)
		for start+len(buf) < size {
			off := start + len(buf)
			if off > 0xFFFF {
				return malformed("read file", "file size %d beyond the 16-bit offset", size)
			}
			resp, err := a.command(ctx, "read file", describe(spec.KindFile, ref),
				apdu.Command{INS: spec.InsReadFile, P1: byte(off >> 8), P2: byte(off), Data: refData, Ne: 256})
			if err != nil {
				return err
			}
			if len(resp.Data) == 0 {
				break
			}
			buf = append(buf, resp.Data...)
		}
		if start+len(buf) != size {
			return malformed("read file", "%s: file size %d, card returned %d bytes from offset %d", describe(spec.KindFile, ref), size, len(buf), start)
		}
		if start == 0 {
			a.files[ref.key(spec.KindFile)] = buf
		}
		data = buf
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return bytes.Clone(data), size, nil
}

// SigAlg is an IoT SAFE signature algorithm (one bit of tag 92).
type SigAlg byte

// The signature algorithms IoT SAFE knows.
const (
	// SigECDSA is ECDSA (P-256, brainpoolP256r1 keys); signatures are r||s.
	SigECDSA = SigAlg(spec.SigECDSA)
	// SigRSAPKCS1 is RSASSA-PKCS1-v1_5 (RSA keys): the card builds the
	// DigestInfo of the hash named at Init.
	SigRSAPKCS1 = SigAlg(spec.SigRSAPKCS1)
	// SigRSAPSS is RSASSA-PSS (RSA keys): MGF1 with the signing hash, and
	// a salt as long as the hash.
	SigRSAPSS = SigAlg(spec.SigRSAPSS)
)

// String returns "ECDSA", "RSA PKCS#1 v1.5" or "RSA-PSS".
func (s SigAlg) String() string {
	switch s {
	case SigECDSA:
		return "ECDSA"
	case SigRSAPKCS1:
		return "RSA PKCS#1 v1.5"
	case SigRSAPSS:
		return "RSA-PSS"
	}
	return fmt.Sprintf("signature algorithm %02X", byte(s))
}

// rsa reports whether s is an RSA signature scheme (answers of 259 bytes
// for RSA-2048).
func (s SigAlg) rsa() bool { return s == SigRSAPKCS1 || s == SigRSAPSS }

func (s SigAlg) check() error {
	if s != SigECDSA && !s.rsa() {
		return fmt.Errorf("iotsafe: unknown %s", s)
	}
	return nil
}

func sigInitData(kind spec.ObjectKind, key Ref, mode byte, h Hash, alg SigAlg) []byte {
	d := key.appendTLV(make([]byte, 0, 32), kind)
	d = append(d, byte(spec.TagMode), 1, mode)
	d = append(d, byte(spec.TagHashAlgs), 2, byte(h>>8), byte(h))
	return append(d, byte(spec.TagSigAlgs), 1, byte(alg))
}

// Sign signs a precomputed digest with a private EC key on the card
// (ECDSA, pad-and-sign mode) and returns the raw signature r||s.
func (a *Applet) Sign(ctx context.Context, key Ref, h Hash, digest []byte) ([]byte, error) {
	return a.SignWith(ctx, key, SigECDSA, h, digest)
}

// SignWith signs a precomputed digest with a private key on the card in
// pad-and-sign mode with signature algorithm alg. ECDSA signatures are
// returned as r||s; RSA signatures as the big-endian signature value
// (256 bytes for RSA-2048).
func (a *Applet) SignWith(ctx context.Context, key Ref, alg SigAlg, h Hash, digest []byte) ([]byte, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	if err := alg.check(); err != nil {
		return nil, err
	}
	if h.Size() == 0 || len(digest) != h.Size() {
		return nil, fmt.Errorf("iotsafe: sign: a %s digest has %d bytes, got %d", h, h.Size(), len(digest))
	}
	upd := make([]byte, 0, 2+len(digest))
	upd = apdu.AppendTLV(upd, spec.TagFinalHash, digest)
	return a.sign(ctx, key, spec.ModePadSign, h, alg, [][]byte{upd})
}

// SignMessage sends a whole message to the card, which hashes it with h and
// signs (full-text mode). Long messages are sent in several blocks: the
// first carries tag 9B with the total length, later blocks continue it.
func (a *Applet) SignMessage(ctx context.Context, key Ref, h Hash, msg []byte) ([]byte, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	if h.Size() == 0 {
		return nil, fmt.Errorf("iotsafe: sign message: unknown hash %s", h)
	}
	if len(msg) > apdu.MaxTLVLength {
		return nil, fmt.Errorf("iotsafe: sign message: %d bytes exceed the IoT SAFE limit of %d", len(msg), apdu.MaxTLVLength)
	}
	stream := apdu.AppendTLV(nil, spec.TagFullText, msg)
	return a.sign(ctx, key, spec.ModeFullText, h, SigECDSA, a.split(stream))
}

// SignLastBlock signs msg in last-block mode: the host hashes every
// complete 64-byte SHA-256 block but the last, and the card finishes the
// hash from that intermediate state and signs. Only SHA-256.
func (a *Applet) SignLastBlock(ctx context.Context, key Ref, msg []byte) ([]byte, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	n := len(msg) &^ 63
	if n == len(msg) && n > 0 {
		n -= 64
	}
	state, err := sha256State(msg[:n])
	if err != nil {
		return nil, err
	}
	d := make([]byte, 0, 110)
	d = apdu.AppendTLV(d, spec.TagIntermediateHash, state)
	d = apdu.AppendTLV(d, spec.TagBytesHashed, []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	d = apdu.AppendTLV(d, spec.TagLastBlock, msg[n:])
	return a.sign(ctx, key, spec.ModeLastBlock, HashSHA256, SigECDSA, [][]byte{d})
}

// sha256State returns the SHA-256 chaining value after hashing b, whose
// length is a multiple of 64.
func sha256State(b []byte) ([]byte, error) {
	h := sha256.New()
	h.Write(b)
	m, ok := h.(interface{ MarshalBinary() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("iotsafe: this Go runtime cannot export a SHA-256 state")
	}
	st, err := m.MarshalBinary()
	if err != nil || len(st) < 4+32 {
		return nil, fmt.Errorf("iotsafe: exporting the SHA-256 state: %v", err)
	}
	return st[4 : 4+32], nil
}

// split cuts a data stream into command data fields of at most the
// applet's block size.
func (a *Applet) split(stream []byte) [][]byte {
	var blocks [][]byte
	for len(stream) > a.block {
		blocks = append(blocks, stream[:a.block])
		stream = stream[a.block:]
	}
	return append(blocks, stream)
}

// sign runs Compute Signature Init and Update(s) and decodes the signature.
func (a *Applet) sign(ctx context.Context, key Ref, mode byte, h Hash, alg SigAlg, blocks [][]byte) ([]byte, error) {
	var sig []byte
	obj := describe(spec.KindPrivateKey, key)
	err := a.do(ctx, func() error {
		s := a.session(ctx, sessionSign)
		resp, err := a.command(ctx, "compute signature", obj,
			apdu.Command{INS: spec.InsComputeSigInit, P1: spec.SessionOpen, P2: s, Data: sigInitData(spec.KindPrivateKey, key, mode, h, alg)})
		if err != nil {
			return err
		}
		for i, b := range blocks {
			c := apdu.Command{INS: spec.InsComputeSigUpdate, P1: spec.BlockMore, P2: s, Data: b}
			last := i == len(blocks)-1
			if last {
				c.P1, c.Ne = spec.BlockLast, 256
				if a.extended && alg.rsa() {
					// The 259-byte RSA signature in one answer, not 256
					// bytes and a GET RESPONSE.
					c.Extended, c.Ne = true, apdu.MaxExtendedNe
				}
			}
			resp, err = a.command(ctx, "compute signature", obj, c)
			var ce *CardError
			if last && c.Extended && errors.As(err, &ce) && ce.SW == apdu.SWWrongLength {
				// The card says extended lengths in its ATR, but the
				// applet does not take them (a Java Card applet without
				// ExtendedLength is refused before it runs, so the
				// session stands): short APDUs from now on.
				a.extended = false
				a.log.Info("iotsafe: the applet refuses extended-length APDUs (6700) that the card's ATR announces; using short APDUs")
				c.Extended, c.Ne = false, 256
				resp, err = a.command(ctx, "compute signature", obj, c)
			}
			if err != nil {
				a.closeSession(ctx, spec.InsComputeSigInit, s)
				return err
			}
		}
		sig, err = a.decodeSignature(alg, resp.Data)
		return err
	})
	return sig, err
}

func (a *Applet) closeSession(ctx context.Context, ins, s byte) {
	if _, err := a.exchange(ctx, apdu.Command{INS: ins, P1: spec.SessionClose, P2: s}, true); err != nil {
		a.log.Debug("iotsafe: closing session after a failure", "session", s, "err", err)
	}
}

// decodeSignature reads tag 33 in any length style; a DER ECDSA value is
// converted to r||s. It remembers the card's length style for Verify. An
// RSA signature is returned as sent (its size is checked by the caller,
// who knows the modulus).
func (a *Applet) decodeSignature(alg SigAlg, b []byte) ([]byte, error) {
	v, _, err := spec.ReadSignatureTLV(b)
	if err != nil {
		return nil, fmt.Errorf("%w: compute signature: %w", ErrMalformedResponse, err)
	}
	if alg.rsa() {
		return bytes.Clone(v), nil
	}
	if len(b) > 2 && b[1] != 0x00 {
		a.sigStyle = spec.SigLenOneByte
	}
	if v[0] == 0x30 {
		if raw, err := spec.SignatureFromDER(v, 0); err == nil {
			return raw, nil
		}
	}
	if len(v)%2 != 0 {
		return nil, malformed("compute signature", "signature of odd length %d", len(v))
	}
	return bytes.Clone(v), nil
}

// Verify asks the card to verify a raw r||s (or DER) ECDSA signature over a
// digest with a public key it holds. It returns nil when the signature is
// valid and an error matching ErrSignatureMismatch when it is not.
func (a *Applet) Verify(ctx context.Context, pub Ref, h Hash, digest, sig []byte) error {
	return a.VerifyWith(ctx, pub, SigECDSA, h, digest, sig)
}

// VerifyWith is Verify for any signature algorithm: an RSA signature is
// the big-endian signature value.
func (a *Applet) VerifyWith(ctx context.Context, pub Ref, alg SigAlg, h Hash, digest, sig []byte) error {
	if err := pub.check(); err != nil {
		return err
	}
	if err := alg.check(); err != nil {
		return err
	}
	if h.Size() == 0 || len(digest) != h.Size() {
		return fmt.Errorf("iotsafe: verify: a %s digest has %d bytes, got %d", h, h.Size(), len(digest))
	}
	upd := apdu.AppendTLV(nil, spec.TagFinalHash, digest)
	return a.verify(ctx, pub, spec.ModePadSign, h, alg, upd, sig)
}

// VerifyMessage is Verify in full-text mode: the card hashes msg.
func (a *Applet) VerifyMessage(ctx context.Context, pub Ref, h Hash, msg, sig []byte) error {
	if err := pub.check(); err != nil {
		return err
	}
	if h.Size() == 0 {
		return fmt.Errorf("iotsafe: verify message: unknown hash %s", h)
	}
	if len(msg) > apdu.MaxTLVLength {
		return fmt.Errorf("iotsafe: verify message: %d bytes exceed the IoT SAFE limit", len(msg))
	}
	return a.verify(ctx, pub, spec.ModeFullText, h, SigECDSA, apdu.AppendTLV(nil, spec.TagFullText, msg), sig)
}

func (a *Applet) verify(ctx context.Context, pub Ref, mode byte, h Hash, alg SigAlg, stream, sig []byte) error {
	switch {
	case alg.rsa():
		if len(sig) != spec.RSA2048Bytes {
			return fmt.Errorf("iotsafe: verify: an RSA-2048 signature has %d bytes, got %d", spec.RSA2048Bytes, len(sig))
		}
	default:
		if len(sig) > 0 && sig[0] == 0x30 {
			if raw, err := spec.SignatureFromDER(sig, 0); err == nil {
				sig = raw
			}
		}
		if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 255 {
			return fmt.Errorf("iotsafe: verify: signature of %d bytes is not r||s", len(sig))
		}
	}
	obj := describe(spec.KindPublicKey, pub)
	return a.do(ctx, func() error {
		s := a.session(ctx, sessionVerify)
		if _, err := a.command(ctx, "verify signature", obj,
			apdu.Command{INS: spec.InsVerifySigInit, P1: spec.SessionOpen, P2: s, Data: sigInitData(spec.KindPublicKey, pub, mode, h, alg)}); err != nil {
			return err
		}
		stream := spec.AppendSignatureTLV(stream, sig, a.sigStyle)
		return a.sendBlocks(ctx, "verify signature", obj, spec.InsVerifySigInit, spec.InsVerifySigUpdate, s, a.split(stream))
	})
}

// KeyPair is what Generate Key Pair returns. The card may assign IDs other
// than the ones asked for.
type KeyPair struct {
	PrivateID, PublicID []byte
	// Point is an EC public key as an uncompressed point 04||X||Y (nil
	// for an RSA key).
	Point []byte
	// Data is the public key of any type as the card sent it, decoded.
	Data spec.PublicKeyData
}

// GenerateKeyPair generates a key pair on the card in the private key
// container key, and returns the IDs the card reports and the public key.
func (a *Applet) GenerateKeyPair(ctx context.Context, key Ref) (*KeyPair, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	var kp *KeyPair
	obj := describe(spec.KindPrivateKey, key)
	err := a.do(ctx, func() error {
		resp, err := a.command(ctx, "generate key pair", obj,
			apdu.Command{INS: spec.InsGenerateKeyPair, Data: key.appendTLV(nil, spec.KindPrivateKey), Ne: 256})
		// The store changed (or may have): drop what describes it.
		a.objects = nil
		a.pubkeys = map[string]spec.PublicKeyData{}
		if err != nil {
			return err
		}
		kp = &KeyPair{}
		rest := resp.Data
		for len(rest) > 0 {
			var t apdu.TLV
			if t, rest, err = apdu.ReadTLV(rest); err != nil {
				return fmt.Errorf("%w: generate key pair: %w", ErrMalformedResponse, err)
			}
			switch t.Tag {
			case spec.TagPrivateKeyID:
				kp.PrivateID = bytes.Clone(t.Value)
			case spec.TagPublicKeyID:
				kp.PublicID = bytes.Clone(t.Value)
			case spec.TagPublicKeyData:
				d, err := spec.ParsePublicKeyData(t.Value)
				if err != nil {
					return fmt.Errorf("%w: generate key pair: %w", ErrMalformedResponse, err)
				}
				kp.Data = d
			}
		}
		if kp.PrivateID == nil {
			kp.PrivateID = bytes.Clone(key.ID)
		}
		if kp.PublicID == nil {
			kp.PublicID = bytes.Clone(kp.PrivateID)
		}
		if len(kp.PrivateID) > spec.MaxIDLen || len(kp.PublicID) > spec.MaxIDLen {
			return malformed("generate key pair", "ID longer than %d bytes", spec.MaxIDLen)
		}
		if kp.Data.Point == nil && !kp.Data.IsRSA() {
			// Some applets return only the IDs: read the key.
			if len(kp.PublicID) == 0 {
				return malformed("generate key pair", "answer holds neither a public key nor its ID")
			}
			d, err := a.readPublicKeyData(ctx, ByID(kp.PublicID...))
			if err != nil {
				return err
			}
			kp.Data = d
		}
		kp.Point = bytes.Clone(kp.Data.Point)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return kp, nil
}

// ReadPublicKey returns an EC public key held on the card as 04||X||Y
// (cached). For a key of any type use PublicKey or ReadPublicKeyData.
func (a *Applet) ReadPublicKey(ctx context.Context, pub Ref) ([]byte, error) {
	if err := pub.check(); err != nil {
		return nil, err
	}
	var p []byte
	err := a.do(ctx, func() error {
		var err error
		p, err = a.readPublicKey(ctx, pub)
		return err
	})
	return bytes.Clone(p), err
}

func (a *Applet) readPublicKey(ctx context.Context, pub Ref) ([]byte, error) {
	d, err := a.readPublicKeyData(ctx, pub)
	if err != nil {
		return nil, err
	}
	if d.IsRSA() {
		return nil, fmt.Errorf("iotsafe: read public key: %s holds an RSA key, not an EC point", describe(spec.KindPublicKey, pub))
	}
	return d.Point, nil
}

// ReadPublicKeyData returns a public key of any type held on the card,
// decoded from the card's public key data (cached).
func (a *Applet) ReadPublicKeyData(ctx context.Context, pub Ref) (spec.PublicKeyData, error) {
	if err := pub.check(); err != nil {
		return spec.PublicKeyData{}, err
	}
	var d spec.PublicKeyData
	err := a.do(ctx, func() error {
		var err error
		d, err = a.readPublicKeyData(ctx, pub)
		return err
	})
	return spec.PublicKeyData{Point: bytes.Clone(d.Point), N: bytes.Clone(d.N), E: bytes.Clone(d.E)}, err
}

func (a *Applet) readPublicKeyData(ctx context.Context, pub Ref) (spec.PublicKeyData, error) {
	if d, ok := a.pubkeys[pub.key(spec.KindPublicKey)]; ok {
		return d, nil
	}
	resp, err := a.command(ctx, "read public key", describe(spec.KindPublicKey, pub),
		apdu.Command{INS: spec.InsReadPublicKey, Data: pub.appendTLV(nil, spec.KindPublicKey), Ne: 256})
	if err != nil {
		return spec.PublicKeyData{}, err
	}
	d, err := spec.ParsePublicKeyData(resp.Data)
	if err != nil {
		return spec.PublicKeyData{}, fmt.Errorf("%w: read public key: %w", ErrMalformedResponse, err)
	}
	d.Point = bytes.Clone(d.Point)
	a.pubkeys[pub.key(spec.KindPublicKey)] = d
	a.pubkeysRaw[pub.key(spec.KindPublicKey)] = bytes.Clone(resp.Data)
	return d, nil
}

// PublicKey returns the Go public key of a public key object of the card:
// *ecdsa.PublicKey for P-256 and brainpoolP256r1 keys, *rsa.PublicKey for
// RSA-2048 keys. The key type comes from the object's attributes; the key
// is checked (point on its curve, modulus of 2048 bits).
func (a *Applet) PublicKey(ctx context.Context, pub Ref) (crypto.PublicKey, error) {
	if err := pub.check(); err != nil {
		return nil, err
	}
	var k crypto.PublicKey
	err := a.do(ctx, func() error {
		var keyType byte
		if o, err := a.find(ctx, spec.KindPublicKey, pub); err == nil {
			keyType = o.KeyType
		}
		d, err := a.readPublicKeyData(ctx, pub)
		if err != nil {
			return err
		}
		if k, err = keys.Public(keyType, d); err != nil {
			return fmt.Errorf("%w: read public key: %s: %w", ErrMalformedResponse, describe(spec.KindPublicKey, pub), err)
		}
		return nil
	})
	return k, err
}

// PutPublicKey stores a public key (uncompressed point) into a public key
// object of the card, e.g. a peer's key before Compute DH.
func (a *Applet) PutPublicKey(ctx context.Context, pub Ref, point []byte) error {
	if err := pub.check(); err != nil {
		return err
	}
	if len(point) == 0 || point[0] != 0x04 {
		return fmt.Errorf("iotsafe: put public key: the point must be uncompressed (04||X||Y)")
	}
	return a.do(ctx, func() error { return a.putPublicKey(ctx, pub, point) })
}

func (a *Applet) putPublicKey(ctx context.Context, pub Ref, point []byte) error {
	obj := describe(spec.KindPublicKey, pub)
	s := a.session(ctx, sessionPutPublic)
	delete(a.pubkeys, pub.key(spec.KindPublicKey))
	a.objects = nil
	if _, err := a.command(ctx, "put public key", obj,
		apdu.Command{INS: spec.InsPutPublicKeyInit, P1: spec.SessionOpen, P2: s, Data: pub.appendTLV(nil, spec.KindPublicKey)}); err != nil {
		return err
	}
	return a.sendBlocks(ctx, "put public key", obj, spec.InsPutPublicKeyInit, spec.InsPutPublicKeyUpdate, s, a.split(spec.AppendPublicKeyTLV(nil, point)))
}

// sendBlocks sends the Update commands of session s that return no data,
// the last one marked so. A failure before the last block closes the
// session (its Init instruction with P1 = close) so that the card does
// not keep it half-filled; after the last block none is sent.
func (a *Applet) sendBlocks(ctx context.Context, op, obj string, initINS, updateINS, s byte, blocks [][]byte) error {
	for i, b := range blocks {
		c := apdu.Command{INS: updateINS, P1: spec.BlockMore, P2: s, Data: b}
		if i == len(blocks)-1 {
			c.P1 = spec.BlockLast
		}
		if _, err := a.command(ctx, op, obj, c); err != nil {
			if i < len(blocks)-1 {
				a.closeSession(ctx, initINS, s)
			}
			return err
		}
	}
	return nil
}

// ComputeDH computes an ECDH shared secret on the card between a private
// key and a public key object (put there first with PutPublicKey) and
// returns the raw secret (the X coordinate). Another process may replace
// the public key object between the two calls: use ECDH, which does both
// as one operation.
func (a *Applet) ComputeDH(ctx context.Context, priv, peer Ref) ([]byte, error) {
	c, err := dhCommand(priv, peer)
	if err != nil {
		return nil, err
	}
	return a.derive(ctx, "compute DH", describe(spec.KindPrivateKey, priv), c, dhSecretLen)
}

// IoT SAFE keys are 256-bit curves: the secret is a 32-byte X coordinate.
const dhSecretLen = 32

func dhCommand(priv, peer Ref) (apdu.Command, error) {
	if err := priv.check(); err != nil {
		return apdu.Command{}, err
	}
	if err := peer.check(); err != nil {
		return apdu.Command{}, err
	}
	d := priv.appendTLV(nil, spec.KindPrivateKey)
	d = peer.appendTLV(d, spec.KindPublicKey)
	return apdu.Command{INS: spec.InsComputeDH, Data: d, Ne: 256}, nil
}

// ECDH puts a peer's public key (uncompressed point) into the public key
// object peer and computes the shared secret with the private key priv, as
// one operation: no other thread or process using the card can put its own
// peer key in between (the object is shared by everyone who uses the card).
func (a *Applet) ECDH(ctx context.Context, priv, peer Ref, point []byte) ([]byte, error) {
	c, err := dhCommand(priv, peer)
	if err != nil {
		return nil, err
	}
	if len(point) == 0 || point[0] != 0x04 {
		return nil, fmt.Errorf("iotsafe: ECDH: the peer's point must be uncompressed (04||X||Y)")
	}
	var out []byte
	err = a.do(ctx, func() (err error) {
		if err := a.putPublicKey(ctx, peer, point); err != nil {
			return err
		}
		out, err = a.deriveLocked(ctx, "compute DH", describe(spec.KindPrivateKey, priv), c, dhSecretLen)
		return err
	})
	return out, err
}

func (a *Applet) derive(ctx context.Context, op, obj string, c apdu.Command, want int) ([]byte, error) {
	var out []byte
	err := a.do(ctx, func() (err error) {
		out, err = a.deriveLocked(ctx, op, obj, c, want)
		return err
	})
	return out, err
}

// deriveLocked sends one derivation command inside an operation (a.do) and
// checks the answer's length.
func (a *Applet) deriveLocked(ctx context.Context, op, obj string, c apdu.Command, want int) ([]byte, error) {
	resp, err := a.command(ctx, op, obj, c)
	if err != nil {
		return nil, err
	}
	if len(resp.Data) != want {
		return nil, malformed(op, "asked %d bytes, got %d", want, len(resp.Data))
	}
	return bytes.Clone(resp.Data), nil
}

// PRFParams are the inputs of Compute PRF (TLS 1.2 PRF with P_SHA256).
// Exactly one of Secret (a secret key object) and SecretValue is set.
type PRFParams struct {
	Secret      Ref
	SecretValue []byte
	Label, Seed []byte
	Length      int // 1 to 255 bytes of output
}

func secretTLV(d []byte, ref Ref, value []byte) ([]byte, string, error) {
	hasRef := ref.Label != "" || ref.ID != nil
	switch {
	case hasRef && value != nil:
		return nil, "", fmt.Errorf("iotsafe: give a secret key object or a secret value, not both")
	case hasRef:
		if err := ref.check(); err != nil {
			return nil, "", err
		}
		return ref.appendTLV(d, spec.KindSecretKey), describe(spec.KindSecretKey, ref), nil
	case len(value) > 0 && len(value) <= 255:
		return apdu.AppendTLV(d, spec.TagSecret, value), "", nil
	}
	return nil, "", fmt.Errorf("iotsafe: a secret value must be 1 to 255 bytes, or name a secret key object")
}

// ComputePRF runs the TLS 1.2 PRF on the card.
func (a *Applet) ComputePRF(ctx context.Context, p PRFParams) ([]byte, error) {
	if p.Length < 1 || p.Length > 255 {
		return nil, fmt.Errorf("iotsafe: compute PRF: output length %d outside 1..255", p.Length)
	}
	d, obj, err := secretTLV(nil, p.Secret, p.SecretValue)
	if err != nil {
		return nil, err
	}
	ls := append(append([]byte(nil), p.Label...), p.Seed...)
	d = apdu.AppendTLV(d, spec.TagLabelSeed, ls)
	d = append(d, byte(spec.TagOutputLength), 1, byte(p.Length))
	if len(d) > a.block {
		return nil, fmt.Errorf("iotsafe: compute PRF: %d bytes of input exceed one command", len(d))
	}
	return a.derive(ctx, "compute PRF", obj, apdu.Command{INS: spec.InsComputePRF, Data: d, Ne: 256}, p.Length)
}

// HKDFParams are the inputs of Compute HKDF (RFC 5869). Exactly one of
// Secret and IKM is set. Length 0 asks for HKDF-Extract only (the PRK, of
// the hash's size); otherwise Extract and Expand with Info.
type HKDFParams struct {
	Secret     Ref
	IKM        []byte
	Salt, Info []byte
	Hash       Hash
	Length     int
}

// ComputeHKDF runs HKDF on the card.
func (a *Applet) ComputeHKDF(ctx context.Context, p HKDFParams) ([]byte, error) {
	if p.Hash.Size() == 0 {
		return nil, fmt.Errorf("iotsafe: compute HKDF: unknown hash %s", p.Hash)
	}
	if p.Length < 0 || p.Length > 255 {
		return nil, fmt.Errorf("iotsafe: compute HKDF: output length %d outside 0..255", p.Length)
	}
	d, obj, err := secretTLV(nil, p.Secret, p.IKM)
	if err != nil {
		return nil, err
	}
	d = apdu.AppendTLV(d, spec.TagSalt, p.Salt)
	d = append(d, byte(spec.TagHashAlgs), 2, byte(p.Hash>>8), byte(p.Hash))
	want := p.Hash.Size()
	if p.Length > 0 {
		d = append(d, byte(spec.TagOutputLength), 1, byte(p.Length))
		d = apdu.AppendTLV(d, spec.TagLabelSeed, p.Info)
		want = p.Length
	}
	if len(d) > a.block {
		return nil, fmt.Errorf("iotsafe: compute HKDF: %d bytes of input exceed one command", len(d))
	}
	return a.derive(ctx, "compute HKDF", obj, apdu.Command{INS: spec.InsComputeHKDF, Data: d, Ne: 256}, want)
}
