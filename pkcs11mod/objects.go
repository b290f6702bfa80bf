package pkcs11mod

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/spec"
)

// oidP256 is the DER of the named curve prime256v1 (CKA_EC_PARAMS).
var oidP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// object is one PKCS#11 object with every attribute precomputed.
type object struct {
	handle uint
	class  uint
	attrs  map[uint][]byte
	// sensitive lists attributes that exist but are never revealed.
	sensitive map[uint]bool

	// card objects
	card    bool
	kind    spec.ObjectKind
	cardID  []byte
	point   []byte // public key 04||X||Y of key objects
	hashes  uint16 // hash algorithms of a private key
	private bool   // CKA_PRIVATE
	// lazyValue: CKA_VALUE is the content of a card data file, read from
	// the card the first time someone asks for it (see loadValue).
	lazyValue bool

	// host objects
	hostName string
	// session objects: the session that owns them (0 for token objects)
	owner uint
}

func (o *object) bool(t uint) bool {
	v, _ := getBool(o.attrs[t])
	return v
}

// identify reads what names the token: called with s.mu held, s.applet set.
func (s *slot) identify(ctx context.Context) error {
	a := s.applet
	info, err := a.ApplicationInfo(ctx)
	if err != nil {
		return err
	}
	id := tokenIdentity{fw: info.Version}
	id.manufacturer = info.Name()
	id.model = fmt.Sprintf("IoT SAFE v%d", info.Version)
	// The serial must tell SIMs apart: the host-side store is bound to it.
	if id.serial, err = TokenSerial(ctx, a); err != nil {
		return err
	}
	s.ident = id
	st, err := OpenStore(s.m.cfg.Store, id.serial)
	if err != nil {
		s.m.log.Warn("iotsafe-pkcs11: no host-side object store; C_CreateObject will fail", "err", err)
	}
	s.store = st
	return nil
}

// sync makes the object list current: it rebuilds it when it was never
// built or when the applet dropped its caches (63CF after a remote
// administration, a card reset). With poll it first asks the card, at most
// once per pollInterval, so that an operator's change is seen. Called with
// s.mu held; returns a CK_RV.
func (s *slot) sync(ctx context.Context, poll bool) uint {
	if !s.present() {
		return CKR_DEVICE_REMOVED
	}
	if poll && time.Since(s.lastPoll) >= pollInterval {
		s.lastPoll = time.Now()
		if err := s.applet.Poll(ctx); err != nil {
			if rv := s.fail("poll", err); rv == CKR_DEVICE_REMOVED {
				return rv
			}
		}
	}
	if s.built && s.gen == s.applet.Generation() {
		return CKR_OK
	}
	return s.build(ctx)
}

// ckaBoundKey is a vendor attribute of host-stored certificates for SIM
// keys: the key's public point. Such a certificate is shown only while a
// SIM private key with that public key exists, so that the operator's
// removal of a credential removes its certificate from view too.
const ckaBoundKey = CKA_VENDOR_DEFINED | 0x494F5401

// certPoint returns the uncompressed P-256 point a DER certificate
// certifies, or nil.
func certPoint(der []byte) []byte {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil
	}
	p, err := k.Bytes()
	if err != nil {
		return nil
	}
	return p
}

// build reads the applet store and maps it to objects. Handles stay the
// same for objects that are still there.
func (s *slot) build(ctx context.Context) uint {
	a := s.applet
	gen := a.Generation()
	objs, err := a.Objects(ctx)
	if err != nil {
		return s.fail("list objects", err)
	}
	hs := &s.m.handles
	var out []*object
	type pair struct {
		label string
		id    []byte
		point []byte
	}
	var pairs []pair
	loginReq := s.cfg.UserPIN != ""
	// Key pairs: private key objects and their public halves.
	pubs := map[string][]byte{}
	for _, o := range objs {
		if o.Kind != spec.KindPublicKey || !o.Active() {
			continue
		}
		p, err := a.ReadPublicKey(ctx, iotsafe.ByID(o.ID...))
		if err != nil {
			if rv := s.fail("read public key", err); rv == CKR_DEVICE_REMOVED {
				return rv
			}
			continue
		}
		pubs[string(o.ID)] = p
	}
	for _, o := range objs {
		switch o.Kind {
		case spec.KindPrivateKey:
			if !o.Active() || !isP256(o.KeyType) {
				continue
			}
			p := pubs[string(o.ID)]
			out = append(out, s.privateKey(hs, o, p, loginReq))
			if p != nil {
				pairs = append(pairs, pair{o.Label, o.ID, p})
			}
		case spec.KindPublicKey:
			p, ok := pubs[string(o.ID)]
			if !ok || !isP256(o.KeyType) {
				continue
			}
			out = append(out, s.publicKey(hs, o, p))
		case spec.KindSecretKey:
			if o.Active() {
				out = append(out, s.secretKey(hs, o, loginReq))
			}
		}
	}
	// Files: certificates (linked to their key pair) and data.
	for _, o := range objs {
		if o.Kind != spec.KindFile || !o.Active() {
			continue
		}
		var content []byte
		readable := o.Access&spec.AccessRead != 0
		if readable && o.FileUsage != spec.FileUsageCertificate {
			// A data file is read when its value is asked for, not to
			// list it: most applications never read it.
			d := s.dataObject(hs, o, nil, true)
			delete(d.attrs, CKA_VALUE)
			d.lazyValue = true
			out = append(out, d)
			continue
		}
		if readable {
			content, err = a.ReadFile(ctx, iotsafe.ByID(o.ID...))
			if err != nil {
				if rv := s.fail("read file", err); rv == CKR_DEVICE_REMOVED {
					return rv
				}
				readable = false
			}
		}
		if readable && o.FileUsage == spec.FileUsageCertificate {
			if cert, err := x509.ParseCertificate(content); err == nil {
				id, label := o.ID, o.Label
				category := uint(0)
				if cert.IsCA {
					category = 2
				}
				if pk, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
					if pt, err := pk.Bytes(); err == nil {
						for _, p := range pairs {
							if bytes.Equal(p.point, pt) {
								id, label, category = p.id, p.label, 1
								break
							}
						}
					}
				}
				out = append(out, s.certificate(hs, "card-file:"+hex.EncodeToString(o.ID), cert, s.ckaID(id), label, category, false))
				continue
			}
		}
		out = append(out, s.dataObject(hs, o, content, readable))
	}
	// Subjects of key objects from their certificates.
	for _, c := range out {
		if c.class != CKO_CERTIFICATE {
			continue
		}
		for _, k := range out {
			if (k.class == CKO_PRIVATE_KEY || k.class == CKO_PUBLIC_KEY) && bytes.Equal(k.attrs[CKA_ID], c.attrs[CKA_ID]) {
				k.attrs[CKA_SUBJECT] = c.attrs[CKA_SUBJECT]
			}
		}
	}
	// Host-side objects of this token.
	if s.store != nil {
		stored, err := s.store.List()
		if err != nil {
			s.m.log.Warn("iotsafe-pkcs11: host object store", "dir", s.store.Dir(), "err", err)
		}
		keys := map[string]bool{}
		for _, p := range pairs {
			keys[string(p.point)] = true
		}
		for _, so := range stored {
			if p := so.Attrs[ckaBoundKey]; len(p) > 0 && !keys[string(p)] {
				s.m.log.Debug("iotsafe-pkcs11: host-stored certificate hidden: its SIM key is gone", "file", so.Name)
				continue
			}
			out = append(out, hostObject(hs, so))
		}
	}
	// Session objects survive a rebuild.
	for _, o := range s.objects {
		if o.owner != 0 {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].handle < out[j].handle })
	s.objects, s.gen, s.built = out, gen, true
	return CKR_OK
}

func isP256(t byte) bool {
	return t == 0 || t == spec.KeyTypeP256Persistent || t == spec.KeyTypeP256Volatile
}

// ckaID is the CKA_ID of a card ID: the bytes themselves, or their ASCII
// hex with the hex-ids option.
func (s *slot) ckaID(id []byte) []byte {
	if s.cfg.HexIDs {
		return []byte(strings.ToUpper(hex.EncodeToString(id)))
	}
	return bytes.Clone(id)
}

// cardIDFromCKA turns a CKA_ID from a caller back into card ID bytes.
func (s *slot) cardIDFromCKA(v []byte) []byte {
	if s.cfg.HexIDs {
		if b, err := hex.DecodeString(string(v)); err == nil {
			return b
		}
	}
	return v
}

func spki(point []byte) []byte {
	pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil
	}
	return der
}

func ecPointDER(point []byte) []byte {
	b, _ := asn1.Marshal(point)
	return b
}

func storageAttrs(class uint, token, private, modifiable, destroyable bool, label string) map[uint][]byte {
	return map[uint][]byte{
		CKA_CLASS:       ulong(class),
		CKA_TOKEN:       bbool(token),
		CKA_PRIVATE:     bbool(private),
		CKA_MODIFIABLE:  bbool(modifiable),
		CKA_COPYABLE:    bbool(false),
		CKA_DESTROYABLE: bbool(destroyable),
		CKA_LABEL:       []byte(label),
	}
}

func (s *slot) privateKey(hs *handleSpace, o iotsafe.Object, point []byte, loginReq bool) *object {
	sign := o.CryptoFunctions&spec.FuncSignature != 0
	derive := o.CryptoFunctions&spec.FuncKeyAgreement != 0
	at := storageAttrs(CKO_PRIVATE_KEY, true, loginReq, false, false, o.Label)
	var mechs []uint
	if sign {
		mechs = append(mechs, signMechanisms...)
	}
	if derive {
		mechs = append(mechs, CKM_ECDH1_DERIVE)
	}
	kgm := CK_UNAVAILABLE_INFORMATION
	if o.CryptoFunctions&spec.FuncKeyGeneration != 0 {
		kgm = CKM_EC_KEY_PAIR_GEN
	}
	for t, v := range map[uint][]byte{
		CKA_KEY_TYPE:            ulong(CKK_EC),
		CKA_ID:                  s.ckaID(o.ID),
		CKA_START_DATE:          nil,
		CKA_END_DATE:            nil,
		CKA_DERIVE:              bbool(derive),
		CKA_LOCAL:               bbool(false),
		CKA_KEY_GEN_MECHANISM:   ulong(kgm),
		CKA_ALLOWED_MECHANISMS:  ulongs(mechs...),
		CKA_SUBJECT:             nil,
		CKA_SENSITIVE:           bbool(true),
		CKA_DECRYPT:             bbool(false),
		CKA_SIGN:                bbool(sign),
		CKA_SIGN_RECOVER:        bbool(false),
		CKA_UNWRAP:              bbool(false),
		CKA_EXTRACTABLE:         bbool(false),
		CKA_ALWAYS_SENSITIVE:    bbool(true),
		CKA_NEVER_EXTRACTABLE:   bbool(true),
		CKA_WRAP_WITH_TRUSTED:   bbool(false),
		CKA_ALWAYS_AUTHENTICATE: bbool(false),
		CKA_EC_PARAMS:           oidP256,
	} {
		at[t] = v
	}
	if point != nil {
		at[CKA_PUBLIC_KEY_INFO] = spki(point)
		// Many consumers (libp11, OpenSSH) look for the point on the
		// private key too; it is public information.
		at[CKA_EC_POINT] = ecPointDER(point)
	}
	hashes := o.HashAlgorithms
	if hashes == 0 {
		hashes = spec.HashSHA256
	}
	return &object{
		handle: hs.get("card-priv:" + hex.EncodeToString(o.ID)), class: CKO_PRIVATE_KEY, attrs: at,
		sensitive: map[uint]bool{CKA_VALUE: true},
		card:      true, kind: spec.KindPrivateKey, cardID: bytes.Clone(o.ID), point: point, hashes: hashes, private: loginReq,
	}
}

func (s *slot) publicKey(hs *handleSpace, o iotsafe.Object, point []byte) *object {
	at := storageAttrs(CKO_PUBLIC_KEY, true, false, false, false, o.Label)
	for t, v := range map[uint][]byte{
		CKA_KEY_TYPE:           ulong(CKK_EC),
		CKA_ID:                 s.ckaID(o.ID),
		CKA_START_DATE:         nil,
		CKA_END_DATE:           nil,
		CKA_DERIVE:             bbool(false),
		CKA_LOCAL:              bbool(false),
		CKA_KEY_GEN_MECHANISM:  ulong(CK_UNAVAILABLE_INFORMATION),
		CKA_ALLOWED_MECHANISMS: ulongs(verifyMechanisms...),
		CKA_SUBJECT:            nil,
		CKA_ENCRYPT:            bbool(false),
		CKA_VERIFY:             bbool(true),
		CKA_VERIFY_RECOVER:     bbool(false),
		CKA_WRAP:               bbool(false),
		CKA_TRUSTED:            bbool(false),
		CKA_EC_PARAMS:          oidP256,
		CKA_EC_POINT:           ecPointDER(point),
		CKA_PUBLIC_KEY_INFO:    spki(point),
	} {
		at[t] = v
	}
	return &object{
		handle: hs.get("card-pub:" + hex.EncodeToString(o.ID)), class: CKO_PUBLIC_KEY, attrs: at,
		card: true, kind: spec.KindPublicKey, cardID: bytes.Clone(o.ID), point: point,
	}
}

func (s *slot) secretKey(hs *handleSpace, o iotsafe.Object, loginReq bool) *object {
	at := storageAttrs(CKO_SECRET_KEY, true, loginReq, false, false, o.Label)
	for t, v := range map[uint][]byte{
		CKA_KEY_TYPE:           ulong(CKK_GENERIC_SECRET),
		CKA_ID:                 s.ckaID(o.ID),
		CKA_START_DATE:         nil,
		CKA_END_DATE:           nil,
		CKA_DERIVE:             bbool(true),
		CKA_LOCAL:              bbool(false),
		CKA_KEY_GEN_MECHANISM:  ulong(CK_UNAVAILABLE_INFORMATION),
		CKA_ALLOWED_MECHANISMS: nil,
		CKA_SENSITIVE:          bbool(true),
		CKA_ENCRYPT:            bbool(false),
		CKA_DECRYPT:            bbool(false),
		CKA_SIGN:               bbool(false),
		CKA_VERIFY:             bbool(false),
		CKA_WRAP:               bbool(false),
		CKA_UNWRAP:             bbool(false),
		CKA_EXTRACTABLE:        bbool(false),
		CKA_ALWAYS_SENSITIVE:   bbool(true),
		CKA_NEVER_EXTRACTABLE:  bbool(true),
		CKA_WRAP_WITH_TRUSTED:  bbool(false),
		CKA_TRUSTED:            bbool(false),
	} {
		at[t] = v
	}
	return &object{
		handle: hs.get("card-secret:" + hex.EncodeToString(o.ID)), class: CKO_SECRET_KEY, attrs: at,
		sensitive: map[uint]bool{CKA_VALUE: true, CKA_CHECK_VALUE: true},
		card:      true, kind: spec.KindSecretKey, cardID: bytes.Clone(o.ID), private: loginReq,
	}
}

func ckDate(t time.Time) []byte {
	return []byte(t.UTC().Format("20060102"))
}

// certAttrs fills the attributes of an X.509 certificate object from its
// DER, keeping what the caller set already.
func certAttrs(at map[uint][]byte, cert *x509.Certificate) {
	serial, _ := asn1.Marshal(cert.SerialNumber)
	sum := sha1.Sum(cert.Raw)
	var spkiBits struct {
		Algo      asn1.RawValue
		PublicKey asn1.BitString
	}
	var hashSPKI []byte
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spkiBits); err == nil {
		h := sha1.Sum(spkiBits.PublicKey.Bytes)
		hashSPKI = h[:]
	}
	set := func(t uint, v []byte) {
		if _, ok := at[t]; !ok {
			at[t] = v
		}
	}
	set(CKA_CERTIFICATE_TYPE, ulong(CKC_X_509))
	set(CKA_TRUSTED, bbool(false))
	set(CKA_CERTIFICATE_CATEGORY, ulong(0))
	set(CKA_CHECK_VALUE, sum[:3])
	set(CKA_START_DATE, ckDate(cert.NotBefore))
	set(CKA_END_DATE, ckDate(cert.NotAfter))
	set(CKA_PUBLIC_KEY_INFO, cert.RawSubjectPublicKeyInfo)
	set(CKA_SUBJECT, cert.RawSubject)
	set(CKA_ISSUER, cert.RawIssuer)
	set(CKA_SERIAL_NUMBER, serial)
	set(CKA_VALUE, cert.Raw)
	set(CKA_URL, nil)
	set(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, hashSPKI)
	set(CKA_HASH_OF_ISSUER_PUBLIC_KEY, nil)
	set(CKA_JAVA_MIDP_SECURITY_DOMAIN, ulong(0))
	set(CKA_NAME_HASH_ALGORITHM, ulong(CKM_SHA_1))
	set(CKA_ID, nil)
}

func (s *slot) certificate(hs *handleSpace, key string, cert *x509.Certificate, id []byte, label string, category uint, modifiable bool) *object {
	at := storageAttrs(CKO_CERTIFICATE, true, false, modifiable, modifiable, label)
	at[CKA_ID] = id
	at[CKA_CERTIFICATE_CATEGORY] = ulong(category)
	certAttrs(at, cert)
	return &object{handle: hs.get(key), class: CKO_CERTIFICATE, attrs: at, card: true, kind: spec.KindFile}
}

func (s *slot) dataObject(hs *handleSpace, o iotsafe.Object, content []byte, readable bool) *object {
	at := storageAttrs(CKO_DATA, true, false, false, false, o.Label)
	at[CKA_APPLICATION] = []byte("IoT SAFE")
	at[CKA_OBJECT_ID] = nil
	obj := &object{handle: hs.get("card-file:" + hex.EncodeToString(o.ID)), class: CKO_DATA, attrs: at,
		card: true, kind: spec.KindFile, cardID: bytes.Clone(o.ID)}
	if readable {
		at[CKA_VALUE] = content
	} else {
		obj.sensitive = map[uint]bool{CKA_VALUE: true}
	}
	return obj
}

// loadValue reads the content of a lazily mapped data file into CKA_VALUE.
// Called with the slot's lock held (inside withSlot).
func (s *slot) loadValue(ctx context.Context, o *object) uint {
	if !o.lazyValue {
		return CKR_OK
	}
	content, err := s.applet.ReadFile(ctx, iotsafe.ByID(o.cardID...))
	if err != nil {
		rv := s.fail("read file", err)
		if rv == CKR_KEY_FUNCTION_NOT_PERMITTED {
			// The card refuses to read it: the value exists but is not
			// revealed.
			o.lazyValue = false
			o.sensitive = map[uint]bool{CKA_VALUE: true}
			o.attrs[CKA_VALUE] = nil
			return CKR_OK
		}
		return rv
	}
	o.attrs[CKA_VALUE] = content
	o.lazyValue = false
	return CKR_OK
}

// hostObject maps a stored object; defaults fill what the creator left out.
func hostObject(hs *handleSpace, so StoredObject) *object {
	at := map[uint][]byte{}
	for t, v := range so.Attrs {
		at[t] = v
	}
	class, _ := getUlong(at[CKA_CLASS])
	defaults := storageAttrs(class, true, false, true, true, "")
	for t, v := range defaults {
		if _, ok := at[t]; !ok {
			at[t] = v
		}
	}
	at[CKA_TOKEN] = bbool(true)
	if class == CKO_CERTIFICATE {
		if cert, err := x509.ParseCertificate(at[CKA_VALUE]); err == nil {
			certAttrs(at, cert)
		}
	}
	return &object{handle: hs.get("host:" + so.Name), class: class, attrs: at, hostName: so.Name}
}
