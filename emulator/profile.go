package emulator

import (
	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Profile names a set of applet behaviours seen on real cards.
type Profile string

// The profiles.
const (
	// ProfileGSMA is the default: the GSMA AID, IoT SAFE commands in the
	// proprietary class 8X only, signatures as 33 00 40, a 32-byte applet
	// identifier, one object per tag in the object list.
	ProfileGSMA Profile = "gsma"
	// ProfileThalesMVP plays the Thales MVP applet: its 15-byte AID, IoT SAFE
	// commands in the interindustry class 0X only, signatures as 33 40, a
	// 14-byte applet identifier, objects grouped under one tag per kind, file
	// information without its C3 wrapper, and key container 02 filled at the
	// factory (the Thales PKCS#11 module needs every container's key).
	ProfileThalesMVP Profile = "thales-mvp"
	// ProfileOrange serves the flow of Orange's IoT-SAFE-APDU-library: the
	// GSMA AID with IoT SAFE commands in the interindustry class 0X (the
	// library sends the channel number itself as class byte) and
	// signatures as 33 40, which is the only length form the library
	// parses. Orange's partner applets take class 0X under the GSMA AID
	// (see the protocol notes); the GSMA profile, class 8X only, answers
	// that library 6E00 everywhere.
	ProfileOrange Profile = "orange"
	// ProfileKeyTypes behaves as ProfileGSMA and adds to the factory layout
	// the optional key types of IoT SAFE: an RSA-2048 key pair (container
	// 07, key type 03, RSASSA-PKCS1-v1_5 and RSASSA-PSS) and a
	// brainpoolP256r1 key pair (container 08, key type 23, ECDSA and
	// ECKA), both filled at the factory and open to key generation.
	ProfileKeyTypes Profile = "gsma-keytypes"
)

// Profiles lists the known profiles.
func Profiles() []Profile {
	return []Profile{ProfileGSMA, ProfileThalesMVP, ProfileOrange, ProfileKeyTypes}
}

// Variant is the detailed behaviour a Profile expands into. Tests override
// single fields to reproduce one real card's quirk.
type Variant struct {
	// AID is the applet's AID.
	AID []byte `json:"aid"`
	// Family is the only class family the applet takes IoT SAFE commands in;
	// the other answers 6E00.
	Family apdu.ClassFamily `json:"family"`
	// SigStyle is how the signature TLV's length is written.
	SigStyle spec.SigLenStyle `json:"sig_style"`
	// DERSignatures returns DER ECDSA signatures instead of raw r||s.
	DERSignatures bool `json:"der_signatures,omitempty"`
	// AppletIDLen is the length of the applet identifier (tag 11), 1..32.
	AppletIDLen int `json:"applet_id_len"`
	// HashFieldLen is the size of tag 91 in the application information:
	// 2 per the specification, 1 on some applets.
	HashFieldLen int `json:"hash_field_len"`
	// GroupObjects puts all objects of a kind under one outer tag.
	GroupObjects bool `json:"group_objects,omitempty"`
	// ObjectListChunk is the most object-list bytes answered at once before
	// 6300 continuation (1..256).
	ObjectListChunk int `json:"object_list_chunk"`
	// FileInfoWrapper wraps the answer of Get Data C3 in its C3 tag.
	FileInfoWrapper bool `json:"file_info_wrapper"`
	// IDLen is the length of the factory layout's IDs (1..20), left-padded
	// with zeros: with 3, key 01 is 00 00 01.
	IDLen int `json:"id_len"`
	// KeygenNewIDs makes Generate Key Pair store the new key under fresh
	// IDs, as the specification allows ("may modify the key ID").
	KeygenNewIDs bool `json:"keygen_new_ids,omitempty"`
	// RSAPublicKeyDER answers RSA public keys as a DER PKCS#1
	// RSAPublicKey inside tag 34, instead of 49 { 81 n, 82 e }.
	RSAPublicKeyDER bool `json:"rsa_public_key_der,omitempty"`
}

// Variant returns the profile's default behaviour.
func (p Profile) Variant() (Variant, bool) {
	switch p {
	case ProfileGSMA, ProfileKeyTypes, "":
		return Variant{AID: spec.AIDGSMA, Family: apdu.Proprietary, SigStyle: spec.SigLenTwoByte,
			AppletIDLen: 32, HashFieldLen: 2, ObjectListChunk: 256, FileInfoWrapper: true, IDLen: 1}, true
	case ProfileOrange:
		return Variant{AID: spec.AIDGSMA, Family: apdu.Interindustry, SigStyle: spec.SigLenOneByte,
			AppletIDLen: 32, HashFieldLen: 2, ObjectListChunk: 256, FileInfoWrapper: true, IDLen: 1}, true
	case ProfileThalesMVP:
		return Variant{AID: spec.AIDThalesMVP, Family: apdu.Interindustry, SigStyle: spec.SigLenOneByte,
			AppletIDLen: 14, HashFieldLen: 2, GroupObjects: true, ObjectListChunk: 256, FileInfoWrapper: false, IDLen: 1}, true
	}
	return Variant{}, false
}

func (v *Variant) validate() error {
	switch {
	case len(v.AID) < 5 || len(v.AID) > 16:
		return errorf("variant: AID of %d bytes (5..16)", len(v.AID))
	case v.AppletIDLen < 1 || v.AppletIDLen > 32:
		return errorf("variant: applet identifier length %d (1..32)", v.AppletIDLen)
	case v.HashFieldLen != 1 && v.HashFieldLen != 2:
		return errorf("variant: hash field length %d (1 or 2)", v.HashFieldLen)
	case v.ObjectListChunk < 1 || v.ObjectListChunk > 256:
		return errorf("variant: object list chunk %d (1..256)", v.ObjectListChunk)
	case v.IDLen < 1 || v.IDLen > spec.MaxIDLen:
		return errorf("variant: ID length %d (1..20)", v.IDLen)
	}
	return nil
}
