package pkcs11mod

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"slices"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/spec"
)

// RSA mechanisms. The card signs in pad-and-sign mode: it takes a
// SHA-256, SHA-384 or SHA-512 digest and builds the PKCS#1 v1.5 DigestInfo
// or the PSS encoding itself (IoT SAFE has no SHA-1 or SHA-224 and no raw
// RSA). So CKM_RSA_PKCS signs a DigestInfo of one of those three hashes
// (what TLS 1.2 stacks pass), the PSS mechanisms sign with a salt as long
// as the hash and MGF1 with the same hash, and the SHA-1 and SHA-224
// mechanisms verify only (on the host).
var (
	rsaPKCS1Sign  = []uint{CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS}
	rsaPSSSign    = []uint{CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS}
	rsaVerifyOnly = []uint{CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS, CKM_SHA224_RSA_PKCS_PSS}
	rsaVerify     = slices.Concat(rsaPKCS1Sign, rsaPSSSign, rsaVerifyOnly)
)

// sigAlgsOf returns the signature algorithms a key of family kt offers:
// those the card lists for it (all its family can do when it lists none).
func sigAlgsOf(kt spec.KeyTypeKind, listed byte) byte {
	if listed == 0 {
		return kt.SigAlgsFor()
	}
	return listed & kt.SigAlgsFor()
}

// signMechanismsFor returns the signing mechanisms of a key: ECDSA for EC
// keys; for RSA keys the PKCS#1 and PSS mechanisms of the algorithms and
// hashes it offers.
func signMechanismsFor(kt spec.KeyTypeKind, algs byte, hashes uint16) []uint {
	if kt != spec.KeyKindRSA2048 {
		return signMechanisms
	}
	algs = sigAlgsOf(kt, algs)
	if hashes == 0 {
		hashes = spec.HashSHA256
	}
	var out []uint
	for _, set := range []struct {
		alg   byte
		mechs []uint
	}{{spec.SigRSAPKCS1, rsaPKCS1Sign}, {spec.SigRSAPSS, rsaPSSSign}} {
		if algs&set.alg == 0 {
			continue
		}
		out = append(out, set.mechs[0])
		for i, h := range []uint16{spec.HashSHA256, spec.HashSHA384, spec.HashSHA512} {
			if hashes&h != 0 {
				out = append(out, set.mechs[1+i])
			}
		}
	}
	return out
}

// verifyMechanismsFor returns the verification mechanisms of a key family
// (verification runs on the host).
func verifyMechanismsFor(kt spec.KeyTypeKind) []uint {
	if kt == spec.KeyKindRSA2048 {
		return rsaVerify
	}
	return verifyMechanisms
}

// keyGenMechanism returns the key generation mechanism of a family.
func keyGenMechanism(kt spec.KeyTypeKind) uint {
	if kt == spec.KeyKindRSA2048 {
		return CKM_RSA_PKCS_KEY_PAIR_GEN
	}
	return CKM_EC_KEY_PAIR_GEN
}

// isRSAMech reports whether mech is an RSA signature mechanism.
func isRSAMech(mech uint) bool { return slices.Contains(rsaVerify, mech) }

// isPSSMech reports whether mech is an RSA-PSS mechanism.
func isPSSMech(mech uint) bool {
	switch mech {
	case CKM_RSA_PKCS_PSS, CKM_SHA1_RSA_PKCS_PSS, CKM_SHA224_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS,
		CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS:
		return true
	}
	return false
}

// mechHash returns the hash a mechanism computes on the host (0 for
// CKM_ECDSA, CKM_RSA_PKCS and CKM_RSA_PKCS_PSS, which take what they sign).
func mechHash(mech uint) crypto.Hash {
	switch mech {
	case CKM_SHA_1, CKM_ECDSA_SHA1, CKM_SHA1_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS:
		return crypto.SHA1
	case CKM_SHA224, CKM_ECDSA_SHA224, CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS:
		return crypto.SHA224
	case CKM_SHA256, CKM_ECDSA_SHA256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS:
		return crypto.SHA256
	case CKM_SHA384, CKM_ECDSA_SHA384, CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS:
		return crypto.SHA384
	case CKM_SHA512, CKM_ECDSA_SHA512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS:
		return crypto.SHA512
	}
	return 0
}

// hashOfMech returns the hash named by a CKM_SHA* digest mechanism (the
// hashAlg of CK_RSA_PKCS_PSS_PARAMS).
func hashOfMech(m uint) crypto.Hash {
	switch m {
	case CKM_SHA_1:
		return crypto.SHA1
	case CKM_SHA224:
		return crypto.SHA224
	case CKM_SHA256:
		return crypto.SHA256
	case CKM_SHA384:
		return crypto.SHA384
	case CKM_SHA512:
		return crypto.SHA512
	}
	return 0
}

// mgfOf returns the MGF1 mask generation function of a hash.
func mgfOf(h crypto.Hash) uint {
	switch h {
	case crypto.SHA1:
		return CKG_MGF1_SHA1
	case crypto.SHA224:
		return CKG_MGF1_SHA224
	case crypto.SHA256:
		return CKG_MGF1_SHA256
	case crypto.SHA384:
		return CKG_MGF1_SHA384
	case crypto.SHA512:
		return CKG_MGF1_SHA512
	}
	return 0
}

// checkPSS checks the PSS parameters of mech and returns the hash they
// name. signing: the card's constraints apply (a hash it has, salt of the
// hash length); verifying on the host takes any salt length.
func checkPSS(mech uint, p *PSSParams, signing bool) (crypto.Hash, uint) {
	if p == nil {
		return 0, CKR_MECHANISM_PARAM_INVALID
	}
	h := hashOfMech(p.Hash)
	if h == 0 || (mechHash(mech) != 0 && mechHash(mech) != h) || p.MGF != mgfOf(h) {
		return 0, CKR_MECHANISM_PARAM_INVALID
	}
	if signing {
		if _, ok := iotsafe.HashFor(h); !ok || p.SaltLen != uint(h.Size()) {
			return 0, CKR_MECHANISM_PARAM_INVALID
		}
	} else if p.SaltLen > 256-2-uint(h.Size()) {
		return 0, CKR_MECHANISM_PARAM_INVALID
	}
	return h, CKR_OK
}

// DER prefixes of the PKCS#1 v1.5 DigestInfo for the hashes the card has
// (RFC 8017 §9.2, note 1).
var digestInfoPrefixes = []struct {
	h      iotsafe.Hash
	prefix []byte
}{
	{iotsafe.HashSHA256, []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}},
	{iotsafe.HashSHA384, []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}},
	{iotsafe.HashSHA512, []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}},
}

// splitDigestInfo returns the hash and digest of a DER DigestInfo the
// card can sign, ok false for anything else.
func splitDigestInfo(b []byte) (iotsafe.Hash, []byte, bool) {
	for _, d := range digestInfoPrefixes {
		if len(b) == len(d.prefix)+d.h.Size() && bytes.HasPrefix(b, d.prefix) {
			return d.h, b[len(d.prefix):], true
		}
	}
	return 0, nil, false
}

// verifyRSA checks an RSA signature on the host.
func verifyRSA(pub *rsa.PublicKey, op *cryptoOp, data, sig []byte) uint {
	if len(sig) != (pub.N.BitLen()+7)/8 {
		return CKR_SIGNATURE_LEN_RANGE
	}
	var err error
	switch {
	case op.mech == CKM_RSA_PKCS:
		err = rsa.VerifyPKCS1v15(pub, 0, data, sig)
	case isPSSMech(op.mech):
		if len(data) != op.pssHash.Size() {
			return CKR_DATA_LEN_RANGE
		}
		err = rsa.VerifyPSS(pub, op.pssHash, data, sig, &rsa.PSSOptions{SaltLength: int(op.pss.SaltLen), Hash: op.pssHash})
	default:
		err = rsa.VerifyPKCS1v15(pub, mechHash(op.mech), data, sig)
	}
	if err != nil {
		return CKR_SIGNATURE_INVALID
	}
	return CKR_OK
}
