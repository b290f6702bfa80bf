package pkcs11mod

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"slices"
)

// opStateMagic starts every saved operation state.
var opStateMagic = []byte("go-iotsafe digest state v1\x00")

// GetOperationState is C_GetOperationState; outCap < 0 asks for the
// length. The state of a digest operation (C_DigestInit and any
// C_DigestUpdate calls; the hashing runs on the host) can be saved, as
// Java's SunPKCS11 does to clone a MessageDigest: JSSE clones the
// handshake hash when the provider comes first. The state holds only the
// hash's running state: nothing secret. Any other active operation (a
// signature on the card, a verification, a search) cannot be saved:
// CKR_STATE_UNSAVEABLE.
func (m *Module) GetOperationState(h uint, outCap int) ([]byte, int, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, 0, rv
	}
	defer ss.mu.Unlock()
	if ss.sign != nil || ss.verify != nil || ss.findActive {
		return nil, 0, CKR_STATE_UNSAVEABLE
	}
	op := ss.digest
	if op == nil {
		return nil, 0, CKR_OPERATION_NOT_INITIALIZED
	}
	mh, ok := op.h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, 0, CKR_STATE_UNSAVEABLE
	}
	hs, err := mh.MarshalBinary()
	if err != nil {
		return nil, 0, CKR_STATE_UNSAVEABLE
	}
	state := slices.Concat(opStateMagic, binary.BigEndian.AppendUint64(nil, uint64(op.mech)), []byte{boolByte(op.multi)}, hs)
	if outCap < 0 {
		return nil, len(state), CKR_OK
	}
	if outCap < len(state) {
		return nil, len(state), CKR_BUFFER_TOO_SMALL
	}
	return state, len(state), CKR_OK
}

// SetOperationState is C_SetOperationState: it restores a digest state
// saved by GetOperationState (in this session or another of this
// library), replacing any digest operation of the session. A digest needs
// no key: a key handle given is CKR_KEY_NOT_NEEDED. A state this library
// did not write, or for a mechanism it does not offer, is
// CKR_SAVED_STATE_INVALID.
func (m *Module) SetOperationState(h uint, state []byte, encKey, authKey uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	n := len(opStateMagic)
	if len(state) < n+9 || !bytes.Equal(state[:n], opStateMagic) {
		return CKR_SAVED_STATE_INVALID
	}
	mech := uint(binary.BigEndian.Uint64(state[n : n+8]))
	if !slices.Contains(digestMechanisms, mech) {
		return CKR_SAVED_STATE_INVALID
	}
	multi := state[n+8]
	if multi > 1 {
		return CKR_SAVED_STATE_INVALID
	}
	hh := newHash(mech)
	uh, ok := hh.(encoding.BinaryUnmarshaler)
	if !ok || uh.UnmarshalBinary(state[n+9:]) != nil {
		return CKR_SAVED_STATE_INVALID
	}
	if encKey != 0 || authKey != 0 {
		return CKR_KEY_NOT_NEEDED
	}
	ss.digest = &cryptoOp{mech: mech, h: hh, multi: multi == 1}
	return CKR_OK
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
