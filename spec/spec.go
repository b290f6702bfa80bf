// Package spec holds the coding of the GSMA IoT SAFE applet interface that
// both ends of the wire share: application identifiers, instruction codes,
// tags, the coding tables of object attributes, and the two composite data
// formats (public key data and signatures). It does no I/O and keeps no state.
//
// The facts come from the project's protocol reference
// (shared/docs/iotsafe-protocol.md); section numbers in comments refer to it.
package spec

import "github.com/go-iotsafe/iotsafe/apdu"

// Applet identifiers seen on real cards (§1.1).
var (
	// AIDGSMA is the GSMA IoT SAFE AID (RID A000000559).
	AIDGSMA = []byte{0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10}
	// AIDThalesMVP is the Thales "MVP" applet (15 bytes, ends in "ISA").
	AIDThalesMVP = []byte{0xA0, 0x00, 0x00, 0x00, 0x30, 0x53, 0xF1, 0x24, 0x01, 0x77, 0x01, 0x01, 0x49, 0x53, 0x41}
	// AIDThalesLegacy is an earlier Thales/custom applet AID.
	AIDThalesLegacy = []byte{0xA0, 0x00, 0x00, 0x02, 0x48, 0x04, 0x00}
)

// KnownAIDs returns the AIDs a host tries, in order, when none is configured.
func KnownAIDs() [][]byte {
	return [][]byte{AIDGSMA, AIDThalesMVP, AIDThalesLegacy}
}

// Instruction codes (§3.0).
const (
	InsGetRandom          byte = 0x84
	InsGetData            byte = 0xCB
	InsReadFile           byte = 0xB0
	InsComputeSigInit     byte = 0x2A
	InsComputeSigUpdate   byte = 0x2B
	InsVerifySigInit      byte = 0x2C
	InsVerifySigUpdate    byte = 0x2D
	InsGenerateKeyPair    byte = 0xB9
	InsReadPublicKey      byte = 0xCD
	InsPutPublicKeyInit   byte = 0x24
	InsPutPublicKeyUpdate byte = 0xD8
	InsComputeDH          byte = 0x46
	InsComputePRF         byte = 0x48
	InsComputeHKDF        byte = 0x4A
	// ISO instructions the host and card also exchange.
	InsSelect        byte = 0xA4
	InsManageChannel byte = 0x70
	InsGetResponse   byte = 0xC0
)

// Get Data P1 values (§3.2).
const (
	GetDataApplication byte = 0x00
	GetDataObjectList  byte = 0x01
	GetDataPrivateKey  byte = 0xC1
	GetDataPublicKey   byte = 0xC2
	GetDataFile        byte = 0xC3
	GetDataSecretKey   byte = 0xC4
)

// Session commands: P1 of an Init command, and of an Update command (§2.2).
const (
	SessionOpen  byte = 0x00
	SessionClose byte = 0x01
	BlockMore    byte = 0x00
	BlockLast    byte = 0x80
)

// Tags (§5.12). Object containers C1..C4 are also the Get Data P1 values.
const (
	TagVersion          apdu.Tag = 0x10
	TagAppletID         apdu.Tag = 0x11
	TagFileSize         apdu.Tag = 0x20
	TagFileUsage        apdu.Tag = 0x21
	TagSignature        apdu.Tag = 0x33
	TagPublicKeyData    apdu.Tag = 0x34
	TagPublicKeyTmpl    apdu.Tag = 0x49
	TagECPoint          apdu.Tag = 0x86 // inside TagPublicKeyTmpl only
	TagObjectState      apdu.Tag = 0x4A
	TagKeyType          apdu.Tag = 0x4B
	TagKeyUsage         apdu.Tag = 0x4E
	TagAccess           apdu.Tag = 0x60
	TagObjCryptoFuncs   apdu.Tag = 0x61
	TagObjKeyAgreement  apdu.Tag = 0x6F
	TagFileLabel        apdu.Tag = 0x73
	TagPrivateKeyLabel  apdu.Tag = 0x74
	TagPublicKeyLabel   apdu.Tag = 0x75
	TagSecretKeyLabel   apdu.Tag = 0x76
	TagFileID           apdu.Tag = 0x83
	TagPrivateKeyID     apdu.Tag = 0x84
	TagPublicKeyID      apdu.Tag = 0x85
	TagSecretKeyID      apdu.Tag = 0x86
	TagAppCryptoFuncs   apdu.Tag = 0x90
	TagHashAlgs         apdu.Tag = 0x91
	TagSigAlgs          apdu.Tag = 0x92
	TagAppKeyAgreement  apdu.Tag = 0x93
	TagKeyDerivation    apdu.Tag = 0x94
	TagLastBlock        apdu.Tag = 0x9A
	TagFullText         apdu.Tag = 0x9B
	TagIntermediateHash apdu.Tag = 0x9C
	TagBytesHashed      apdu.Tag = 0x9D
	TagFinalHash        apdu.Tag = 0x9E
	TagMode             apdu.Tag = 0xA1
	TagMaxFiles         apdu.Tag = 0xB1
	TagMaxPrivateKeys   apdu.Tag = 0xB2
	TagMaxPublicKeys    apdu.Tag = 0xB3
	TagMaxSecretKeys    apdu.Tag = 0xB4
	TagMaxSessions      apdu.Tag = 0xB7
	TagPrivateKeyInfo   apdu.Tag = 0xC1
	TagPublicKeyInfo    apdu.Tag = 0xC2
	TagFileInfo         apdu.Tag = 0xC3
	TagSecretKeyInfo    apdu.Tag = 0xC4
	TagSecret           apdu.Tag = 0xD1 // PRF secret; HKDF input keying material
	TagLabelSeed        apdu.Tag = 0xD2
	TagOutputLength     apdu.Tag = 0xD3
	TagPreMaster        apdu.Tag = 0xD4
	TagSalt             apdu.Tag = 0xD5
)

// Limits on identifiers and labels (§3.2.2).
const (
	MaxIDLen    = 0x14
	MaxLabelLen = 0x3C
)

// ObjectKind is one of the four kinds of object in the applet store.
type ObjectKind uint8

// The object kinds. Their values are the container tags of the object list.
const (
	KindPrivateKey ObjectKind = 0xC1
	KindPublicKey  ObjectKind = 0xC2
	KindFile       ObjectKind = 0xC3
	KindSecretKey  ObjectKind = 0xC4
)

func (k ObjectKind) String() string {
	switch k {
	case KindPrivateKey:
		return "private key"
	case KindPublicKey:
		return "public key"
	case KindFile:
		return "file"
	case KindSecretKey:
		return "secret key"
	}
	return "unknown object kind"
}

// IDTag returns the tag that carries an ID of this kind (83..86).
func (k ObjectKind) IDTag() apdu.Tag {
	switch k {
	case KindPrivateKey:
		return TagPrivateKeyID
	case KindPublicKey:
		return TagPublicKeyID
	case KindFile:
		return TagFileID
	case KindSecretKey:
		return TagSecretKeyID
	}
	return 0
}

// LabelTag returns the tag that carries a label of this kind (73..76).
func (k ObjectKind) LabelTag() apdu.Tag {
	switch k {
	case KindPrivateKey:
		return TagPrivateKeyLabel
	case KindPublicKey:
		return TagPublicKeyLabel
	case KindFile:
		return TagFileLabel
	case KindSecretKey:
		return TagSecretKeyLabel
	}
	return 0
}

// Access conditions (tag 60, bitmap, §5.1).
const (
	AccessRead   byte = 0x01
	AccessUpdate byte = 0x02
)

// Object states (tag 4A, §5.2).
const (
	StateDeactivated byte = 0x00
	StateActivated   byte = 0x01
)

// Cryptographic functions (tags 61 and 90, bitmap, §5.3).
const (
	FuncSignature     byte = 0x01
	FuncKeyGeneration byte = 0x02
	FuncKeyAgreement  byte = 0x04
	FuncKeyDerivation byte = 0x08
)

// Hash algorithms (tag 91, two-byte bitmap, §5.4).
const (
	HashSHA256 uint16 = 0x0001
	HashSHA384 uint16 = 0x0002
	HashSHA512 uint16 = 0x0004
)

// Signature algorithms (tag 92, bitmap, §5.5).
const (
	SigRSAPKCS1 byte = 0x01
	SigRSAPSS   byte = 0x02
	SigECDSA    byte = 0x04
	SigCMAC     byte = 0x08 // Thales PKCS#11 only
)

// Key agreement (tags 6F and 93, §5.6) and key derivation (tag 94, §5.7).
const (
	KeyAgreementECKA byte = 0x01
	KDFPRFSHA256     byte = 0x01
	KDFHKDF          byte = 0x02
)

// Key types (tag 4B, §5.8).
const (
	KeyTypeRSA2048             byte = 0x03
	KeyTypeP256Persistent      byte = 0x13
	KeyTypeP256Volatile        byte = 0x14
	KeyTypeBrainpoolPersistent byte = 0x23
	KeyTypeBrainpoolVolatile   byte = 0x24
	KeyTypeHMAC                byte = 0xA0
	KeyTypeAESCMAC             byte = 0xB0
)

// Key specific usage (tag 4E, §5.9).
const (
	KeyUsageGeneral byte = 0x01
	KeyUsageTLS12   byte = 0x02
	KeyUsageTLS13   byte = 0x03
)

// File specific usage (tag 21, §5.10).
const (
	FileUsageGeneral     byte = 0x01
	FileUsageCertificate byte = 0x02
)

// Modes of operation of Compute and Verify Signature (tag A1, §5.11).
const (
	ModeFullText  byte = 0x01
	ModeLastBlock byte = 0x02
	ModePadSign   byte = 0x03
)
