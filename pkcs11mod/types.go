package pkcs11mod

import (
	"encoding/binary"
	"unsafe"
)

// ulongSize is sizeof(CK_ULONG): the size of a C unsigned long, which is
// the size of a Go uint on every platform Go supports with cgo (LP64 and
// ILP32; not Windows, where this library is not built).
const ulongSize = int(unsafe.Sizeof(uint(0)))

// CK_UNAVAILABLE_INFORMATION is the "no value" of CK_ULONG fields.
const CK_UNAVAILABLE_INFORMATION = ^uint(0)

// CK_EFFECTIVELY_INFINITE is the "no limit" of session counts.
const CK_EFFECTIVELY_INFINITE uint = 0

// Attribute is one CK_ATTRIBUTE: a type and its value bytes, laid out as
// the C API lays them out (CK_ULONG values in host byte order and size,
// CK_BBOOL as one byte).
type Attribute struct {
	Type  uint
	Value []byte
}

// AttrValue is the answer for one attribute of C_GetAttributeValue: the
// value, or an error code (CKR_ATTRIBUTE_SENSITIVE or
// CKR_ATTRIBUTE_TYPE_INVALID) when it cannot be revealed.
type AttrValue struct {
	Value []byte
	RV    uint
}

// Mechanism is a CK_MECHANISM, with its parameter decoded by the C layer
// where this library understands it.
type Mechanism struct {
	Type uint
	// Param is the raw parameter for mechanisms with a byte-string one.
	Param []byte
	// ECDH is the decoded CK_ECDH1_DERIVE_PARAMS of CKM_ECDH1_DERIVE.
	ECDH *ECDH1DeriveParams
	// PSS is the decoded CK_RSA_PKCS_PSS_PARAMS of the RSA-PSS mechanisms
	// (nil when the caller gave none, or a parameter of another size).
	PSS *PSSParams
}

// PSSParams is CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	Hash, MGF, SaltLen uint
}

// ECDH1DeriveParams is CK_ECDH1_DERIVE_PARAMS.
type ECDH1DeriveParams struct {
	KDF        uint
	SharedData []byte
	PublicData []byte
}

// Info is CK_INFO.
type Info struct {
	CryptokiVersion [2]byte
	Manufacturer    string
	Flags           uint
	Description     string
	LibraryVersion  [2]byte
}

// SlotInfo is CK_SLOT_INFO.
type SlotInfo struct {
	Description     string
	Manufacturer    string
	Flags           uint
	HardwareVersion [2]byte
	FirmwareVersion [2]byte
}

// TokenInfo is CK_TOKEN_INFO.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial string
	Flags                              uint
	MaxSessionCount, SessionCount      uint
	MaxRwSessionCount, RwSessionCount  uint
	MaxPinLen, MinPinLen               uint
	TotalPublicMemory                  uint
	FreePublicMemory                   uint
	TotalPrivateMemory                 uint
	FreePrivateMemory                  uint
	HardwareVersion, FirmwareVersion   [2]byte
	UTCTime                            string
}

// MechanismInfo is CK_MECHANISM_INFO.
type MechanismInfo struct {
	MinKeySize, MaxKeySize, Flags uint
}

// SessionInfo is CK_SESSION_INFO.
type SessionInfo struct {
	SlotID, State, Flags, DeviceError uint
}

func ulong(v uint) []byte {
	b := make([]byte, ulongSize)
	if ulongSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(v))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(v))
	}
	return b
}

// getUlong decodes a CK_ULONG attribute value; ok is false when the length
// is wrong.
func getUlong(b []byte) (uint, bool) {
	switch {
	case len(b) == 8 && ulongSize == 8:
		return uint(binary.NativeEndian.Uint64(b)), true
	case len(b) == 4 && ulongSize == 4:
		return uint(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

func bbool(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// getBool decodes a CK_BBOOL attribute value.
func getBool(b []byte) (v, ok bool) {
	if len(b) != 1 {
		return false, false
	}
	return b[0] != 0, true
}

func ulongs(vs ...uint) []byte {
	var out []byte
	for _, v := range vs {
		out = append(out, ulong(v)...)
	}
	return out
}
