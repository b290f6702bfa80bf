package pkcs11mod

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/hex"
	"hash"
	"math/big"
	"slices"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Mechanisms this library implements. Signing with a SIM key accepts a
// digest of any length (CKM_ECDSA, X9.62 truncation) or hashes on the host
// (CKM_ECDSA_SHA*); verification and digests run on the host.
var (
	signMechanisms   = []uint{CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512}
	verifyMechanisms = signMechanisms
	digestMechanisms = []uint{CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512}
)

// MechanismList is C_GetMechanismList: only what works with this SIM.
// Signing needs a signature key; ECDH a key agreement key and a public key
// container for the peer; key generation a container that allows it.
func (m *Module) MechanismList(id uint) ([]uint, uint) {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return nil, rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if !s.present() {
		return nil, CKR_TOKEN_NOT_PRESENT
	}
	caps, rv := s.capabilities(ctx)
	if rv != CKR_OK {
		return nil, rv
	}
	var out []uint
	for _, mech := range allMechanisms {
		if _, ok := caps[mech]; ok {
			out = append(out, mech)
		}
	}
	return out, CKR_OK
}

var allMechanisms = slices.Concat([]uint{CKM_RSA_PKCS_KEY_PAIR_GEN}, rsaVerify, []uint{
	CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512,
	CKM_ECDH1_DERIVE, CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512,
})

// capabilities computes the mechanism table of the SIM. Called with s.mu
// held.
func (s *slot) capabilities(ctx context.Context) (map[uint]MechanismInfo, uint) {
	objs, err := s.applet.Objects(ctx)
	if err != nil {
		return nil, s.fail("list objects", err)
	}
	var sign, agree, gen, rsaGen, rsaKey bool
	var rsaSign []uint
	for _, o := range objs {
		if !keyTypeShown(o.KeyType) {
			continue
		}
		kt := kindOf(o.KeyType)
		switch o.Kind {
		case spec.KindPrivateKey:
			if kt == spec.KeyKindRSA2048 {
				rsaKey = true
				if o.CryptoFunctions&spec.FuncSignature != 0 {
					rsaSign = append(rsaSign, signMechanismsFor(kt, o.SignatureAlgorithms, o.HashAlgorithms)...)
				}
				rsaGen = rsaGen || o.CryptoFunctions&spec.FuncKeyGeneration != 0
				continue
			}
			sign = sign || o.CryptoFunctions&spec.FuncSignature != 0
			gen = gen || o.CryptoFunctions&spec.FuncKeyGeneration != 0
			if o.CryptoFunctions&spec.FuncKeyAgreement != 0 {
				for _, p := range objs {
					agree = agree || s.peerCandidate(kt, p, objs)
				}
			}
		case spec.KindPublicKey:
			rsaKey = rsaKey || kt == spec.KeyKindRSA2048
		}
	}
	caps := map[uint]MechanismInfo{}
	ec := func(flags uint) MechanismInfo {
		return MechanismInfo{MinKeySize: 256, MaxKeySize: 256, Flags: flags | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS}
	}
	if rsaKey {
		// Verification runs on the host with any RSA public key; signing
		// on the card with the mechanisms its keys offer.
		for _, mech := range rsaVerify {
			flags := CKF_VERIFY
			if slices.Contains(rsaSign, mech) {
				flags |= CKF_HW | CKF_SIGN
			}
			caps[mech] = MechanismInfo{MinKeySize: 2048, MaxKeySize: 2048, Flags: flags}
		}
	}
	if rsaGen {
		caps[CKM_RSA_PKCS_KEY_PAIR_GEN] = MechanismInfo{MinKeySize: 2048, MaxKeySize: 2048, Flags: CKF_HW | CKF_GENERATE_KEY_PAIR}
	}
	if sign {
		caps[CKM_ECDSA] = ec(CKF_HW | CKF_SIGN | CKF_VERIFY)
		for _, mech := range signMechanisms[1:] {
			caps[mech] = ec(CKF_HW | CKF_SIGN | CKF_VERIFY)
		}
	} else {
		// Verification works with any public key on the token.
		for _, mech := range verifyMechanisms {
			caps[mech] = ec(CKF_VERIFY)
		}
	}
	if agree {
		caps[CKM_ECDH1_DERIVE] = ec(CKF_HW | CKF_DERIVE)
	}
	if gen {
		caps[CKM_EC_KEY_PAIR_GEN] = ec(CKF_HW | CKF_GENERATE_KEY_PAIR)
	}
	for _, mech := range digestMechanisms {
		caps[mech] = MechanismInfo{Flags: CKF_DIGEST}
	}
	return caps, CKR_OK
}

// peerCandidate reports whether a public key container can receive a peer
// key for ECDH with a key of family kt: the configured peer-key container,
// else a writable public key container of that curve for key agreement
// that is not the public half of a key pair (a container sharing its ID or
// label with a private key holds that key's own public key, which must not
// be overwritten).
func (s *slot) peerCandidate(kt spec.KeyTypeKind, o iotsafe.Object, all []iotsafe.Object) bool {
	if o.Kind != spec.KindPublicKey || !keyTypeShown(o.KeyType) || kindOf(o.KeyType) != kt || o.Access&spec.AccessUpdate == 0 {
		return false
	}
	if s.cfg.PeerKey != "" {
		id, _ := hex.DecodeString(s.cfg.PeerKey) // checked by ParseConfig
		return bytes.Equal(o.ID, id)
	}
	for _, p := range all {
		if p.Kind == spec.KindPrivateKey && (bytes.Equal(p.ID, o.ID) || (p.Label != "" && p.Label == o.Label)) {
			return false
		}
	}
	return o.CryptoFunctions&spec.FuncKeyAgreement != 0 || o.KeyAgreement != 0
}

// MechanismInfo is C_GetMechanismInfo.
func (m *Module) MechanismInfo(id, mech uint) (MechanismInfo, uint) {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return MechanismInfo{}, rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.present() {
		return MechanismInfo{}, CKR_TOKEN_NOT_PRESENT
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	caps, rv := s.capabilities(ctx)
	if rv != CKR_OK {
		return MechanismInfo{}, rv
	}
	info, ok := caps[mech]
	if !ok {
		return MechanismInfo{}, CKR_MECHANISM_INVALID
	}
	return info, CKR_OK
}

// cryptoOp is an active sign, verify or digest operation.
type cryptoOp struct {
	mech uint
	key  *object
	h    hash.Hash // nil for CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS
	// multi is set once an Update call made this a multi-part operation.
	multi bool
	// RSA-PSS: the parameters and the hash they name.
	pss     *PSSParams
	pssHash crypto.Hash
}

// sigLen returns the signature size of the operation's key.
func (op *cryptoOp) sigLen() int {
	if op.key.kt == spec.KeyKindRSA2048 {
		return spec.RSA2048Bytes
	}
	return ecSigLen
}

// newHash returns the hash of a digest or CKM_ECDSA_SHA* mechanism, nil
// for the others (CKM_ECDSA signs what it is given).
func newHash(mech uint) hash.Hash {
	switch mechHash(mech) {
	case crypto.SHA1:
		return sha1.New()
	case crypto.SHA224:
		return sha256.New224()
	case crypto.SHA256:
		return sha256.New()
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	}
	return nil
}

// initOp checks a sign or verify mechanism against the key and builds the
// operation. Called with the slot held.
func initOp(mech Mechanism, o *object, signing bool) (*cryptoOp, uint) {
	ec := o.kt != spec.KeyKindRSA2048
	if ec != slices.Contains(signMechanisms, mech.Type) {
		return nil, CKR_KEY_TYPE_INCONSISTENT
	}
	op := &cryptoOp{mech: mech.Type, key: o, h: newHash(mech.Type)}
	if isPSSMech(mech.Type) {
		h, rv := checkPSS(mech.Type, mech.PSS, signing)
		if rv != CKR_OK {
			return nil, rv
		}
		op.pss, op.pssHash = mech.PSS, h
	} else if len(mech.Param) != 0 || mech.PSS != nil {
		return nil, CKR_MECHANISM_PARAM_INVALID
	}
	if signing && !slices.Contains(signMechanismsFor(o.kt, o.sigAlgs, o.hashes), mech.Type) {
		// The key lacks the algorithm or the hash (SHA-1 and SHA-224
		// never exist on the card).
		return nil, CKR_KEY_FUNCTION_NOT_PERMITTED
	}
	if signing && op.pss != nil {
		ih, _ := iotsafe.HashFor(op.pssHash)
		if o.hashes&uint16(ih) == 0 {
			return nil, CKR_MECHANISM_PARAM_INVALID
		}
	}
	return op, CKR_OK
}

// SignInit is C_SignInit.
func (m *Module) SignInit(h uint, mech Mechanism, key uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if ss.sign != nil {
		return CKR_OPERATION_ACTIVE
	}
	if !slices.Contains(signMechanisms, mech.Type) && !isRSAMech(mech.Type) {
		return CKR_MECHANISM_INVALID
	}
	return ss.withSlot(false, func(s *slot, _ context.Context) uint {
		if s.cfg.UserPIN != "" && !s.loggedIn {
			return CKR_USER_NOT_LOGGED_IN
		}
		o := ss.object(key)
		if o == nil {
			return CKR_KEY_HANDLE_INVALID
		}
		// As SoftHSM: a key whose attributes forbid signing (a public
		// key, an agreement-only key) is refused for that reason first.
		if !o.bool(CKA_SIGN) {
			return CKR_KEY_FUNCTION_NOT_PERMITTED
		}
		if o.class != CKO_PRIVATE_KEY {
			return CKR_KEY_TYPE_INCONSISTENT
		}
		op, rv := initOp(mech, o, true)
		if rv != CKR_OK {
			return rv
		}
		ss.sign = op
		return CKR_OK
	})
}

const ecSigLen = 64 // raw r||s of P-256 and brainpoolP256r1

// Sign is C_Sign. outCap < 0 asks for the length only. The operation stays
// active after a length query and after CKR_BUFFER_TOO_SMALL.
func (m *Module) Sign(h uint, data []byte, outCap int) ([]byte, int, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, 0, rv
	}
	defer ss.mu.Unlock()
	op := ss.sign
	if op == nil {
		return nil, 0, CKR_OPERATION_NOT_INITIALIZED
	}
	if op.multi {
		ss.sign = nil
		return nil, 0, CKR_OPERATION_ACTIVE
	}
	if outCap < 0 {
		return nil, op.sigLen(), CKR_OK
	}
	if outCap < op.sigLen() {
		return nil, op.sigLen(), CKR_BUFFER_TOO_SMALL
	}
	ss.sign = nil
	digest := data
	if op.h != nil {
		op.h.Write(data)
		digest = op.h.Sum(nil)
	}
	sig, rv := ss.signDigest(op, digest)
	return sig, len(sig), rv
}

// SignUpdate is C_SignUpdate (the CKM_ECDSA_SHA* mechanisms).
func (m *Module) SignUpdate(h uint, data []byte) uint {
	return m.update(h, func(ss *session) **cryptoOp { return &ss.sign }, data)
}

// update feeds a multi-part sign or verify operation (the one op selects).
// CKM_ECDSA is single-part only: an update ends it with
// CKR_FUNCTION_NOT_SUPPORTED.
func (m *Module) update(h uint, op func(*session) **cryptoOp, data []byte) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	p := op(ss)
	if *p == nil {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	if (*p).h == nil {
		*p = nil
		return CKR_FUNCTION_NOT_SUPPORTED
	}
	(*p).multi = true
	(*p).h.Write(data)
	return CKR_OK
}

// SignFinal is C_SignFinal.
func (m *Module) SignFinal(h uint, outCap int) ([]byte, int, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, 0, rv
	}
	defer ss.mu.Unlock()
	op := ss.sign
	if op == nil {
		return nil, 0, CKR_OPERATION_NOT_INITIALIZED
	}
	if op.h == nil {
		ss.sign = nil
		return nil, 0, CKR_FUNCTION_NOT_SUPPORTED
	}
	if outCap < 0 {
		return nil, op.sigLen(), CKR_OK
	}
	if outCap < op.sigLen() {
		return nil, op.sigLen(), CKR_BUFFER_TOO_SMALL
	}
	ss.sign = nil
	sig, rv := ss.signDigest(op, op.h.Sum(nil))
	return sig, len(sig), rv
}

// signDigest asks the card to sign a digest of any length: X9.62 uses the
// leftmost 256 bits of a longer digest and the value of a shorter one, so
// the card signs a 32-byte digest in SHA-256 mode, or a 48/64-byte digest
// in SHA-384/512 mode when the key declares only those.
func (ss *session) signDigest(op *cryptoOp, digest []byte) ([]byte, uint) {
	key := op.key
	if key.kt == spec.KeyKindRSA2048 {
		return ss.signRSA(op, digest)
	}
	var sig []byte
	rv := ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		if ss.object(key.handle) == nil {
			return CKR_KEY_HANDLE_INVALID
		}
		h, d := iotsafe.HashSHA256, fitDigest(digest)
		if key.hashes&spec.HashSHA256 == 0 {
			switch {
			case len(digest) == 48 && key.hashes&spec.HashSHA384 != 0:
				h, d = iotsafe.HashSHA384, digest
			case len(digest) == 64 && key.hashes&spec.HashSHA512 != 0:
				h, d = iotsafe.HashSHA512, digest
			default:
				return CKR_DATA_LEN_RANGE
			}
		}
		var err error
		sig, err = s.applet.Sign(ctx, iotsafe.ByID(key.cardID...), h, d)
		if err != nil {
			return s.fail("sign", err)
		}
		if len(sig) != ecSigLen {
			s.m.log.Error("iotsafe-pkcs11: the card returned a signature of unexpected length", "len", len(sig))
			return CKR_DEVICE_ERROR
		}
		s.checkSignature(ctx, key, d, sig)
		return CKR_OK
	})
	return sig, rv
}

// signRSA signs with an RSA key on the card: data is a DigestInfo
// (CKM_RSA_PKCS), a digest of the PSS parameters' hash (CKM_RSA_PKCS_PSS)
// or the host's digest (the CKM_SHA*_RSA_* mechanisms).
func (ss *session) signRSA(op *cryptoOp, data []byte) ([]byte, uint) {
	alg := iotsafe.SigRSAPKCS1
	var h iotsafe.Hash
	digest := data
	switch {
	case op.mech == CKM_RSA_PKCS:
		if len(data) > spec.RSA2048Bytes-11 {
			return nil, CKR_DATA_LEN_RANGE
		}
		var ok bool
		if h, digest, ok = splitDigestInfo(data); !ok {
			ss.slot.m.Logger().Warn("iotsafe-pkcs11: CKM_RSA_PKCS: the SIM signs the DigestInfo of a SHA-256, SHA-384 or SHA-512 digest only (IoT SAFE has no raw RSA)", "len", len(data))
			return nil, CKR_DATA_INVALID
		}
	case op.pss != nil:
		alg = iotsafe.SigRSAPSS
		h, _ = iotsafe.HashFor(op.pssHash)
		if len(data) != op.pssHash.Size() {
			return nil, CKR_DATA_LEN_RANGE
		}
	default:
		h, _ = iotsafe.HashFor(mechHash(op.mech))
	}
	var sig []byte
	rv := ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		if ss.object(op.key.handle) == nil {
			return CKR_KEY_HANDLE_INVALID
		}
		if op.key.hashes&uint16(h) == 0 {
			return CKR_DATA_INVALID
		}
		var err error
		sig, err = s.applet.SignWith(ctx, iotsafe.ByID(op.key.cardID...), alg, h, digest)
		if err != nil {
			return s.fail("sign", err)
		}
		if len(sig) != spec.RSA2048Bytes {
			s.m.log.Error("iotsafe-pkcs11: the card returned an RSA signature of unexpected length", "len", len(sig))
			return CKR_DEVICE_ERROR
		}
		return CKR_OK
	})
	return sig, rv
}

// fitDigest brings a digest to the P-256 order size without changing the
// number ECDSA signs: longer digests keep their leftmost 32 bytes, shorter
// ones get leading zero bytes.
func fitDigest(d []byte) []byte {
	if len(d) >= 32 {
		return d[:32]
	}
	return append(make([]byte, 32-len(d)), d...)
}

// VerifyInit is C_VerifyInit. Verification runs on the host with the
// public key (of a public key object, or of a private key's pair).
func (m *Module) VerifyInit(h uint, mech Mechanism, key uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if ss.verify != nil {
		return CKR_OPERATION_ACTIVE
	}
	if !slices.Contains(signMechanisms, mech.Type) && !isRSAMech(mech.Type) {
		return CKR_MECHANISM_INVALID
	}
	return ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		o := ss.object(key)
		if o == nil {
			return CKR_KEY_HANDLE_INVALID
		}
		if o.class != CKO_PUBLIC_KEY {
			return CKR_KEY_TYPE_INCONSISTENT
		}
		if rv := s.resolvePoint(ctx, o); rv != CKR_OK {
			return rv
		}
		if !o.bool(CKA_VERIFY) || o.publicKey() == nil {
			return CKR_KEY_FUNCTION_NOT_PERMITTED
		}
		op, rv := initOp(mech, o, false)
		if rv != CKR_OK {
			return rv
		}
		ss.verify = op
		return CKR_OK
	})
}

// Verify is C_Verify.
func (m *Module) Verify(h uint, data, sig []byte) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	op := ss.verify
	if op == nil {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	ss.verify = nil
	if op.multi {
		return CKR_OPERATION_ACTIVE
	}
	digest := data
	if op.h != nil {
		op.h.Write(data)
		digest = op.h.Sum(nil)
	}
	return verifyOp(op, digest, sig)
}

// VerifyUpdate is C_VerifyUpdate.
func (m *Module) VerifyUpdate(h uint, data []byte) uint {
	return m.update(h, func(ss *session) **cryptoOp { return &ss.verify }, data)
}

// VerifyFinal is C_VerifyFinal.
func (m *Module) VerifyFinal(h uint, sig []byte) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	op := ss.verify
	if op == nil {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	ss.verify = nil
	if op.h == nil {
		return CKR_FUNCTION_NOT_SUPPORTED
	}
	return verifyOp(op, op.h.Sum(nil), sig)
}

// verifyOp verifies on the host with the operation's public key.
func verifyOp(op *cryptoOp, digest, sig []byte) uint {
	switch pub := op.key.publicKey().(type) {
	case *rsa.PublicKey:
		return verifyRSA(pub, op, digest, sig)
	case *ecdsa.PublicKey:
		return verifyEC(pub, digest, sig)
	}
	return CKR_KEY_HANDLE_INVALID
}

func verifyEC(pub *ecdsa.PublicKey, digest, sig []byte) uint {
	if len(sig) != ecSigLen {
		return CKR_SIGNATURE_LEN_RANGE
	}
	der, err := spec.SignatureToDER(sig)
	if err != nil || !ecdsa.VerifyASN1(pub, digest, der) {
		return CKR_SIGNATURE_INVALID
	}
	return CKR_OK
}

// DigestInit is C_DigestInit (host-side hashing).
func (m *Module) DigestInit(h uint, mech Mechanism) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if ss.digest != nil {
		return CKR_OPERATION_ACTIVE
	}
	if !slices.Contains(digestMechanisms, mech.Type) {
		return CKR_MECHANISM_INVALID
	}
	hh := newHash(mech.Type)
	ss.digest = &cryptoOp{mech: mech.Type, h: hh}
	return CKR_OK
}

// Digest is C_Digest; outCap < 0 asks for the length.
func (m *Module) Digest(h uint, data []byte, outCap int) ([]byte, int, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, 0, rv
	}
	defer ss.mu.Unlock()
	op := ss.digest
	if op == nil {
		return nil, 0, CKR_OPERATION_NOT_INITIALIZED
	}
	if op.multi {
		ss.digest = nil
		return nil, 0, CKR_OPERATION_ACTIVE
	}
	n := op.h.Size()
	if outCap < 0 {
		return nil, n, CKR_OK
	}
	if outCap < n {
		return nil, n, CKR_BUFFER_TOO_SMALL
	}
	ss.digest = nil
	op.h.Write(data)
	return op.h.Sum(nil), n, CKR_OK
}

// DigestUpdate is C_DigestUpdate.
func (m *Module) DigestUpdate(h uint, data []byte) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if ss.digest == nil {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	ss.digest.multi = true
	ss.digest.h.Write(data)
	return CKR_OK
}

// DigestFinal is C_DigestFinal.
func (m *Module) DigestFinal(h uint, outCap int) ([]byte, int, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, 0, rv
	}
	defer ss.mu.Unlock()
	op := ss.digest
	if op == nil {
		return nil, 0, CKR_OPERATION_NOT_INITIALIZED
	}
	n := op.h.Size()
	if outCap < 0 {
		return nil, n, CKR_OK
	}
	if outCap < n {
		return nil, n, CKR_BUFFER_TOO_SMALL
	}
	ss.digest = nil
	return op.h.Sum(nil), n, CKR_OK
}

// GenerateRandom is C_GenerateRandom: bytes from the card's generator.
func (m *Module) GenerateRandom(h uint, n int) ([]byte, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, rv
	}
	defer ss.mu.Unlock()
	if n == 0 {
		return nil, CKR_OK
	}
	var out []byte
	rv = ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		var err error
		out, err = s.applet.GetRandom(ctx, n)
		if err != nil {
			return s.fail("get random", err)
		}
		return CKR_OK
	})
	return out, rv
}

// GenerateKeyPair is C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN): the card
// generates a P-256 key pair in the key container named by CKA_ID (or
// else CKA_LABEL) of the templates; without either, the first empty
// container that allows key generation. The private key never leaves the
// card; the pair is a token object (CKA_TOKEN false is refused).
func (m *Module) GenerateKeyPair(h uint, mech Mechanism, pubTmpl, privTmpl []Attribute) (pub, priv uint, rv uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return 0, 0, rv
	}
	defer ss.mu.Unlock()
	if mech.Type != CKM_EC_KEY_PAIR_GEN && mech.Type != CKM_RSA_PKCS_KEY_PAIR_GEN {
		return 0, 0, CKR_MECHANISM_INVALID
	}
	if len(mech.Param) != 0 {
		return 0, 0, CKR_MECHANISM_PARAM_INVALID
	}
	pa, rv := attrMap(pubTmpl)
	if rv != CKR_OK {
		return 0, 0, rv
	}
	ka, rv := attrMap(privTmpl)
	if rv != CKR_OK {
		return 0, 0, rv
	}
	log := m.Logger()
	// The family asked for: RSA-2048 (public exponent 65537, what cards
	// generate), or an EC curve by CKA_EC_PARAMS (any EC container when
	// the template names none).
	want, ckk := spec.KeyKindRSA2048, CKK_RSA
	if mech.Type == CKM_EC_KEY_PAIR_GEN {
		want, ckk = spec.KeyKindUnknown, CKK_EC
		if p, ok := pa[CKA_EC_PARAMS]; ok {
			if want = curveOf(p); want == spec.KeyKindUnknown {
				log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the SIM generates NIST P-256 and brainpoolP256r1 keys only")
				return 0, 0, CKR_CURVE_NOT_SUPPORTED
			}
		}
	} else {
		if v, ok := pa[CKA_MODULUS_BITS]; ok {
			if n, _ := getUlong(v); n != 2048 {
				log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: IoT SAFE RSA keys have 2048 bits", "asked", n)
				return 0, 0, CKR_KEY_SIZE_RANGE
			}
		}
		if v, ok := pa[CKA_PUBLIC_EXPONENT]; ok && new(big.Int).SetBytes(v).Cmp(big.NewInt(65537)) != 0 {
			log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the SIM chooses the public exponent 65537")
			return 0, 0, CKR_TEMPLATE_INCONSISTENT
		}
	}
	for _, t := range []map[uint][]byte{pa, ka} {
		if c, ok := t[CKA_KEY_TYPE]; ok {
			if kt, _ := getUlong(c); kt != ckk {
				return 0, 0, CKR_TEMPLATE_INCONSISTENT
			}
		}
		if v, ok := t[CKA_TOKEN]; ok {
			if b, _ := getBool(v); !b {
				log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: a SIM key is always a token object (CKA_TOKEN false refused)")
				return 0, 0, CKR_TEMPLATE_INCONSISTENT
			}
		}
	}
	if _, ok := ka[CKA_TOKEN]; !ok {
		// CKA_TOKEN defaults to false: the caller asks for a session key
		// (Java's KeyPairGenerator does), which must never overwrite a
		// SIM container.
		log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: a session key pair was asked for (no CKA_TOKEN); keys are generated only on the SIM, as token objects (CKA_TOKEN true)")
		return 0, 0, CKR_TEMPLATE_INCONSISTENT
	}
	if v, ok := ka[CKA_EXTRACTABLE]; ok && len(v) == 1 && v[0] != 0 {
		log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: SIM keys are never extractable")
		return 0, 0, CKR_TEMPLATE_INCONSISTENT
	}
	if v, ok := ka[CKA_SENSITIVE]; ok && len(v) == 1 && v[0] == 0 {
		log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: SIM keys are always sensitive")
		return 0, 0, CKR_TEMPLATE_INCONSISTENT
	}
	id, idOK := ka[CKA_ID]
	if !idOK {
		id, idOK = pa[CKA_ID]
	}
	label, labelOK := ka[CKA_LABEL]
	if !labelOK {
		label, labelOK = pa[CKA_LABEL]
	}
	rv = ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		if ss.flags&CKF_RW_SESSION == 0 {
			return CKR_SESSION_READ_ONLY
		}
		if s.cfg.UserPIN != "" && !s.loggedIn {
			return CKR_USER_NOT_LOGGED_IN
		}
		objs, err := s.applet.Objects(ctx)
		if err != nil {
			return s.fail("list objects", err)
		}
		// A container of the family asked for (RSA, or the curve named;
		// any EC container when none is named).
		family := func(o *iotsafe.Object) bool {
			kt := kindOf(o.KeyType)
			if want != spec.KeyKindUnknown {
				return kt == want
			}
			return kt == spec.KeyKindP256 || kt == spec.KeyKindBrainpoolP256
		}
		var target *iotsafe.Object
		for i := range objs {
			o := &objs[i]
			if o.Kind != spec.KindPrivateKey || !keyTypeShown(o.KeyType) {
				continue
			}
			if !family(o) {
				if idOK && bytes.Equal(o.ID, s.cardIDFromCKA(id)) {
					log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the container holds keys of another type", "id", hex.EncodeToString(o.ID), "type", kindOf(o.KeyType).String())
					return CKR_TEMPLATE_INCONSISTENT
				}
				continue
			}
			switch {
			case idOK:
				if !bytes.Equal(o.ID, s.cardIDFromCKA(id)) {
					continue
				}
				if labelOK && string(label) != o.Label {
					log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the container has another label (a SIM container keeps its label)", "id", hex.EncodeToString(id), "want", string(label), "has", o.Label)
					return CKR_TEMPLATE_INCONSISTENT
				}
			case labelOK:
				if o.Label != string(label) {
					continue
				}
			default:
				if o.Active() || o.CryptoFunctions&spec.FuncKeyGeneration == 0 {
					continue
				}
			}
			target = o
			break
		}
		if target == nil {
			log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: no key container on the SIM matches CKA_ID/CKA_LABEL (the SIM's containers are fixed by its operator; list them with: iotsafe ls)")
			return CKR_TEMPLATE_INCONSISTENT
		}
		if target.Active() && !s.cfg.ReplaceKeys {
			log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the container holds an active key; replacing it (and losing it for good) needs replace-keys: yes in the slot configuration", "id", hex.EncodeToString(target.ID), "label", target.Label)
			return CKR_TEMPLATE_INCONSISTENT
		}
		if target.CryptoFunctions&spec.FuncKeyGeneration == 0 {
			log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: this container does not allow key generation", "id", hex.EncodeToString(target.ID), "label", target.Label)
			return CKR_TEMPLATE_INCONSISTENT
		}
		// A SIM container's usages are fixed by its operator. Tools ask
		// for several at once (pkcs11-tool asks EC keys for both sign and
		// derive), so the key is generated when the container offers at
		// least one requested usage; the others are named in the log, and
		// CKA_SIGN/CKA_DERIVE on the new objects say what the key does.
		asked, offered := 0, 0
		for _, w := range []struct {
			t    uint
			fn   byte
			what string
		}{{CKA_SIGN, spec.FuncSignature, "signature"}, {CKA_DERIVE, spec.FuncKeyAgreement, "key agreement"}} {
			if v, ok := ka[w.t]; ok && len(v) == 1 && v[0] != 0 {
				asked++
				if target.CryptoFunctions&w.fn != 0 {
					offered++
				} else {
					// pkcs11-tool asks EC keys for sign and derive at once:
					// not worth a warning on every key generation.
					log.Info("iotsafe-pkcs11: C_GenerateKeyPair: the container does not allow "+w.what+"; the new key will not have it", "id", hex.EncodeToString(target.ID))
				}
			}
		}
		if asked > 0 && offered == 0 {
			log.Warn("iotsafe-pkcs11: C_GenerateKeyPair: the container allows none of the requested usages", "id", hex.EncodeToString(target.ID))
			return CKR_TEMPLATE_INCONSISTENT
		}
		s.dropDirectory("C_GenerateKeyPair")
		kp, err := s.applet.GenerateKeyPair(ctx, iotsafe.ByID(target.ID...))
		if err != nil {
			return s.fail("generate key pair", err)
		}
		s.applet.Refresh()
		if rv := s.build(ctx); rv != CKR_OK {
			return rv
		}
		for _, o := range s.objects {
			if !o.card {
				continue
			}
			switch {
			case o.class == CKO_PRIVATE_KEY && bytes.Equal(o.cardID, kp.PrivateID):
				priv = o.handle
			case o.class == CKO_PUBLIC_KEY && bytes.Equal(o.cardID, kp.PublicID):
				pub = o.handle
			}
		}
		if pub == 0 || priv == 0 {
			log.Error("iotsafe-pkcs11: C_GenerateKeyPair: the new key pair is not in the card's object list")
			return CKR_DEVICE_ERROR
		}
		log.Info("iotsafe-pkcs11: key pair generated on the SIM", "id", hex.EncodeToString(kp.PrivateID), "label", target.Label)
		return CKR_OK
	})
	return pub, priv, rv
}

// DeriveKey is C_DeriveKey with CKM_ECDH1_DERIVE: the peer's public key is
// put into the SIM's peer key container, the SIM computes the shared
// secret with the base key, and the secret becomes a session secret key
// object (CKD_NULL only; IoT SAFE returns the raw secret, so it lives on the
// host from then on and is never written to disk).
func (m *Module) DeriveKey(h uint, mech Mechanism, base uint, tmpl []Attribute) (uint, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return 0, rv
	}
	defer ss.mu.Unlock()
	if mech.Type != CKM_ECDH1_DERIVE {
		return 0, CKR_MECHANISM_INVALID
	}
	p := mech.ECDH
	if p == nil {
		return 0, CKR_MECHANISM_PARAM_INVALID
	}
	log := m.Logger()
	if p.KDF != CKD_NULL || len(p.SharedData) != 0 {
		log.Warn("iotsafe-pkcs11: CKM_ECDH1_DERIVE: only CKD_NULL without shared data is offered")
		return 0, CKR_MECHANISM_PARAM_INVALID
	}
	at, rv := attrMap(tmpl)
	if rv != CKR_OK {
		return 0, rv
	}
	if v, ok := at[CKA_TOKEN]; ok && len(v) == 1 && v[0] != 0 {
		log.Warn("iotsafe-pkcs11: CKM_ECDH1_DERIVE: the derived secret is a session object only (it is not stored on disk)")
		return 0, CKR_TEMPLATE_INCONSISTENT
	}
	if c, ok := at[CKA_CLASS]; ok {
		if v, _ := getUlong(c); v != CKO_SECRET_KEY {
			return 0, CKR_TEMPLATE_INCONSISTENT
		}
	}
	var handle uint
	rv = ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		if s.cfg.UserPIN != "" && !s.loggedIn {
			return CKR_USER_NOT_LOGGED_IN
		}
		k := ss.object(base)
		if k == nil {
			return CKR_KEY_HANDLE_INVALID
		}
		if k.class != CKO_PRIVATE_KEY {
			return CKR_KEY_TYPE_INCONSISTENT
		}
		if !k.bool(CKA_DERIVE) {
			return CKR_KEY_FUNCTION_NOT_PERMITTED
		}
		point, err := parseECPoint(k.kt, p.PublicData)
		if err != nil {
			log.Warn("iotsafe-pkcs11: CKM_ECDH1_DERIVE: the peer key is not an uncompressed point on the base key's curve", "curve", k.kt.String(), "err", err)
			return CKR_MECHANISM_PARAM_INVALID
		}
		objs, err := s.applet.Objects(ctx)
		if err != nil {
			return s.fail("list objects", err)
		}
		var peer []byte
		for _, o := range objs {
			if s.peerCandidate(k.kt, o, objs) {
				peer = o.ID
				break
			}
		}
		if peer == nil {
			log.Warn("iotsafe-pkcs11: CKM_ECDH1_DERIVE: the SIM has no writable public key container for the peer key (set peer-key in the configuration)")
			return CKR_FUNCTION_FAILED
		}
		// The peer's key goes into a public key container that a kept
		// directory describes.
		s.dropDirectory("ECDH writes the peer key container")
		secret, err := s.applet.ECDH(ctx, iotsafe.ByID(k.cardID...), iotsafe.ByID(peer...), point)
		if err != nil {
			return s.fail("compute DH", err)
		}
		value := secret
		if vl, ok := at[CKA_VALUE_LEN]; ok {
			n, ok := getUlong(vl)
			if !ok || n == 0 || n > uint(len(secret)) {
				return CKR_ATTRIBUTE_VALUE_INVALID
			}
			// As SoftHSM2 does: keep the trailing n bytes.
			value = secret[uint(len(secret))-n:]
		}
		kt := CKK_GENERIC_SECRET
		if v, ok := at[CKA_KEY_TYPE]; ok {
			if kt, ok = getUlong(v); !ok {
				return CKR_ATTRIBUTE_VALUE_INVALID
			}
		}
		obj := &object{handle: m.handles.get(""), class: CKO_SECRET_KEY, owner: ss.handle, attrs: map[uint][]byte{}}
		for t, v := range at {
			obj.attrs[t] = v
		}
		fillStorage(obj)
		sensitive, _ := getBool(at[CKA_SENSITIVE])
		extractable := true
		if v, ok := at[CKA_EXTRACTABLE]; ok {
			extractable, _ = getBool(v)
		}
		for t, v := range map[uint][]byte{
			CKA_CLASS: ulong(CKO_SECRET_KEY), CKA_KEY_TYPE: ulong(kt), CKA_VALUE: value, CKA_VALUE_LEN: ulong(uint(len(value))),
			CKA_SENSITIVE: bbool(sensitive), CKA_EXTRACTABLE: bbool(extractable), CKA_LOCAL: bbool(false),
			CKA_ALWAYS_SENSITIVE: bbool(false), CKA_NEVER_EXTRACTABLE: bbool(false), CKA_KEY_GEN_MECHANISM: ulong(CK_UNAVAILABLE_INFORMATION),
		} {
			obj.attrs[t] = v
		}
		for _, t := range []uint{CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_DERIVE, CKA_ALLOWED_MECHANISMS, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED} {
			if _, ok := obj.attrs[t]; !ok {
				switch t {
				case CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_ALLOWED_MECHANISMS:
					obj.attrs[t] = nil
				default:
					obj.attrs[t] = bbool(false)
				}
			}
		}
		if sensitive || !extractable {
			obj.sensitive = map[uint]bool{CKA_VALUE: true}
		}
		s.objects = append(s.objects, obj)
		handle = obj.handle
		return CKR_OK
	})
	return handle, rv
}

// parseECPoint takes an uncompressed point of the curve of family kt
// (P-256 or brainpoolP256r1), raw or in a DER OCTET STRING (the
// CKA_EC_POINT form), and checks that it is on the curve.
func parseECPoint(kt spec.KeyTypeKind, b []byte) ([]byte, error) {
	point := b
	if len(point) > 0 && point[0] == 0x04 && len(point) != spec.P256PointLen {
		var inner []byte
		if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
			point = inner
		}
	}
	if _, err := keys.ECPublic(kt, point); err != nil {
		return nil, err
	}
	return point, nil
}
