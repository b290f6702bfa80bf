package pkcs11mod

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// oidP256 is the DER of the named curve prime256v1 (CKA_EC_PARAMS).
var oidP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// oidBrainpoolP256r1 is the DER of the named curve brainpoolP256r1
// (1.3.36.3.3.2.8.1.1.7, RFC 5639), as the Thales PKCS#11 module maps key
// types 23 and 24.
var oidBrainpoolP256r1 = []byte{0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}

// ecParams returns the CKA_EC_PARAMS of an EC key family.
func ecParams(k spec.KeyTypeKind) []byte {
	if k == spec.KeyKindBrainpoolP256 {
		return oidBrainpoolP256r1
	}
	return oidP256
}

// curveOf returns the EC key family of a CKA_EC_PARAMS value, unknown for
// other curves.
func curveOf(p []byte) spec.KeyTypeKind {
	switch {
	case bytes.Equal(p, oidP256):
		return spec.KeyKindP256
	case bytes.Equal(p, oidBrainpoolP256r1):
		return spec.KeyKindBrainpoolP256
	}
	return spec.KeyKindUnknown
}

// object is one PKCS#11 object with every attribute precomputed.
type object struct {
	handle uint
	class  uint
	attrs  map[uint][]byte
	// sensitive lists attributes that exist but are never revealed.
	sensitive map[uint]bool

	// card objects
	card   bool
	kind   spec.ObjectKind
	cardID []byte
	kt     spec.KeyTypeKind // key objects: P-256, brainpoolP256r1 or RSA-2048
	point  []byte           // EC key objects: public key 04||X||Y
	rsa    *rsa.PublicKey   // RSA key objects: the public key
	// pointPending: the public key is not read yet (CKA_EC_POINT or
	// CKA_MODULUS and CKA_PUBLIC_EXPONENT, and CKA_PUBLIC_KEY_INFO come
	// with it, see slot.resolvePoint).
	pointPending bool
	// pointChecked: a signature of the card verified with point (see
	// slot.checkSignature).
	pointChecked bool
	hashes       uint16 // hash algorithms of a private key
	sigAlgs      byte   // signature algorithms of a private key (tag 92)
	private      bool   // CKA_PRIVATE
	// lazyValue: CKA_VALUE is the content of a card data file, read from
	// the card the first time someone asks for it (see loadValue).
	lazyValue bool

	// card certificates of a key pair: the pair's public key (pubID) and
	// the CKA_ID and category the certificate has unless a host-stored
	// certificate for the same key shadows it (see applyShadowing).
	certOf       []byte
	certID       []byte
	certCategory uint

	// host objects
	hostName string
	// session objects: the session that owns them (0 for token objects)
	owner uint
}

// pubID is what identifies the key object's public key: the EC point or
// the RSA modulus; nil while it is not known.
func (o *object) pubID() []byte {
	if o.rsa != nil {
		return o.rsa.N.Bytes()
	}
	return o.point
}

// publicKey returns the Go public key of a key object, nil when unknown.
func (o *object) publicKey() crypto.PublicKey {
	if o.rsa != nil {
		return o.rsa
	}
	if o.point == nil {
		return nil
	}
	pub, err := keys.ECPublic(o.kt, o.point)
	if err != nil {
		return nil
	}
	return pub
}

func (o *object) bool(t uint) bool {
	v, _ := getBool(o.attrs[t])
	return v
}

// identify reads what names the token: called with s.mu held, s.applet
// set. It costs the application information only (which the first
// signature needs anyway): no public key or file is read to name a token.
func (s *slot) identify(ctx context.Context) error {
	a := s.applet
	info, err := a.ApplicationInfo(ctx)
	if err != nil {
		return err
	}
	id := tokenIdentity{fw: info.Version}
	id.manufacturer = info.Name()
	id.model = fmt.Sprintf("IoT SAFE v%d", info.Version)
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
	gen := s.applet.Generation()
	if s.dirLoaded && s.dirGen != gen {
		s.dropDirectory("the card's data changed (remote administration, reset, or a change by this library)")
	}
	switch {
	case s.built && s.gen == gen:
		return CKR_OK
	case s.built:
		// The card changed: rebuild now, so that handles of objects that
		// are still there stay valid.
		return s.build(ctx)
	case s.gen != gen:
		// Objects looked up one by one (lookup) before any list was read
		// describe a card that changed: drop them.
		kept := s.objects[:0]
		for _, o := range s.objects {
			if o.owner != 0 {
				kept = append(kept, o)
			}
		}
		s.objects, s.gen = kept, gen
	}
	return CKR_OK
}

// ensureBuilt maps the object list when it is not mapped yet (the first
// search that lookup cannot answer).
func (s *slot) ensureBuilt(ctx context.Context) uint {
	if s.built {
		return CKR_OK
	}
	return s.build(ctx)
}

// lookup answers a search for one key object named by class and CKA_ID or
// CKA_LABEL, before the object list was ever read, by asking the card for
// that object alone (Get Data for one object: a short answer, where the
// whole list takes several). It reports false when the template is not of
// that form or the list is mapped already; the caller then searches the
// mapped objects. Called with s.mu held.
func (s *slot) lookup(ctx context.Context, tmpl []Attribute) (bool, uint) {
	if s.built || s.dirLoaded || needsComplete(tmpl) {
		// Mapped already, or mapped from the directory cache at no cost.
		return false, CKR_OK
	}
	var kind spec.ObjectKind
	var ref iotsafe.Ref
	for _, a := range tmpl {
		switch a.Type {
		case CKA_CLASS:
			switch c, _ := getUlong(a.Value); c {
			case CKO_PRIVATE_KEY:
				kind = spec.KindPrivateKey
			case CKO_PUBLIC_KEY:
				kind = spec.KindPublicKey
			case CKO_SECRET_KEY:
				kind = spec.KindSecretKey
			}
		case CKA_ID:
			if id := s.cardIDFromCKA(a.Value); len(id) > 0 && len(id) <= spec.MaxIDLen && ref.Label == "" {
				ref = iotsafe.ByID(id...)
			}
		case CKA_LABEL:
			if len(a.Value) > 0 && len(a.Value) <= spec.MaxLabelLen {
				ref = iotsafe.ByLabel(string(a.Value))
			}
		}
	}
	if kind == 0 || (ref.Label == "" && ref.ID == nil) {
		return false, CKR_OK
	}
	o, err := s.applet.ObjectInfo(ctx, kind, ref)
	if errors.Is(err, iotsafe.ErrNotFound) {
		return true, CKR_OK // the card has no such object
	}
	if err != nil {
		// Not every applet answers for one object: read the list.
		s.m.log.Debug("iotsafe-pkcs11: one-object lookup failed; reading the object list", "err", err)
		return false, CKR_OK
	}
	if !o.Active() {
		return true, CKR_OK
	}
	hs := &s.m.handles
	var obj *object
	loginReq := s.cfg.UserPIN != ""
	switch {
	case kind == spec.KindPrivateKey && keyTypeShown(o.KeyType):
		obj = s.privateKey(hs, *o, nil, loginReq)
	case kind == spec.KindPublicKey && keyTypeShown(o.KeyType):
		obj = s.publicKey(hs, *o, nil)
	case kind == spec.KindSecretKey && s.cfg.SecretKeys:
		obj = s.secretKey(hs, *o, loginReq)
	default:
		return true, CKR_OK
	}
	for _, x := range s.objects {
		if x.handle == obj.handle {
			return true, CKR_OK
		}
	}
	s.objects = append(s.objects, obj)
	s.gen = s.applet.Generation()
	return true, CKR_OK
}

// ckaSIMIdentity is a vendor attribute of host-stored data objects: the
// identity of the SIM they were created for (see slot.simIdentity). Token
// serials name the applet, not the SIM, so that naming a token costs no
// read of the card; host objects are bound to their SIM by this instead.
const ckaSIMIdentity = CKA_VENDOR_DEFINED | 0x494F5402

// simIdentity returns what tells this SIM apart from another of the same
// applet: the public key of its first factory key (an active private key
// that cannot be regenerated), else of its first active key. Read once.
func (s *slot) simIdentity(ctx context.Context) ([]byte, uint) {
	if s.simID != nil {
		return s.simID, CKR_OK
	}
	objs, err := s.applet.Objects(ctx)
	if err != nil {
		return nil, s.fail("list objects", err)
	}
	var pick *iotsafe.Object
	for i := range objs {
		o := &objs[i]
		if o.Kind != spec.KindPrivateKey || !o.Active() {
			continue
		}
		if o.CryptoFunctions&spec.FuncKeyGeneration == 0 {
			pick = o
			break
		}
		if pick == nil {
			pick = o
		}
	}
	if pick == nil {
		s.simID = []byte{}
		return s.simID, CKR_OK
	}
	d, err := s.applet.ReadPublicKeyData(ctx, iotsafe.ByID(pick.ID...))
	if err != nil {
		return nil, s.fail("read public key", err)
	}
	s.simID = pubDataID(d)
	return s.simID, CKR_OK
}

// ckaBoundKey is a vendor attribute of host-stored certificates for SIM
// keys: the key's public point. Such a certificate is shown only while a
// SIM private key with that public key exists, so that the operator's
// removal of a credential removes its certificate from view too.
const ckaBoundKey = CKA_VENDOR_DEFINED | 0x494F5401

// pubDataID is the identity of decoded public key data, as pubID.
func pubDataID(d spec.PublicKeyData) []byte {
	if d.IsRSA() {
		return d.N
	}
	return d.Point
}

// certPoint returns the identity (as pubID) of the public key a DER
// certificate certifies: the uncompressed P-256 or brainpoolP256r1 point,
// or the RSA modulus; nil for others.
func certPoint(der []byte) []byte {
	c, err := bpx509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	return keyIdentity(c.PublicKey)
}

// keyIdentity is pubID for a Go public key.
func keyIdentity(pub crypto.PublicKey) []byte {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return keys.ECPoint(k) // P-256 and brainpoolP256r1; nil for others
	case *rsa.PublicKey:
		return k.N.Bytes()
	}
	return nil
}

// build maps the applet store's object list (one command, cached by the
// applet) to objects: key objects (their public points pending), secret
// keys, and data files (their contents read on demand). Certificate files,
// public key points and host-side objects are mapped by completeObjects,
// when a caller needs them. Handles stay the same for objects that are
// still there.
func (s *slot) build(ctx context.Context) uint {
	a := s.applet
	gen := a.Generation()
	objs, err := a.Objects(ctx)
	if err != nil {
		return s.fail("list objects", err)
	}
	hs := &s.m.handles
	var out []*object
	loginReq := s.cfg.UserPIN != ""
	for _, o := range objs {
		switch {
		case o.Kind == spec.KindPrivateKey && o.Active() && keyTypeShown(o.KeyType):
			out = append(out, s.privateKey(hs, o, nil, loginReq))
		case o.Kind == spec.KindPublicKey && o.Active() && keyTypeShown(o.KeyType):
			out = append(out, s.publicKey(hs, o, nil))
		case o.Kind == spec.KindSecretKey && o.Active() && s.cfg.SecretKeys:
			out = append(out, s.secretKey(hs, o, loginReq))
		case o.Kind == spec.KindFile && o.Active() && o.FileUsage != spec.FileUsageCertificate:
			if o.Access&spec.AccessRead != 0 {
				// A data file is read when its value is asked for, not
				// to list it: most applications never read it.
				d := s.dataObject(hs, o, nil, true)
				delete(d.attrs, CKA_VALUE)
				d.lazyValue = true
				out = append(out, d)
			} else {
				out = append(out, s.dataObject(hs, o, nil, false))
			}
		}
	}
	// Session objects survive a rebuild.
	for _, o := range s.objects {
		if o.owner != 0 {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].handle < out[j].handle })
	s.objects, s.gen, s.built, s.complete = out, gen, true, false
	return CKR_OK
}

// pointAttrs are the attributes of key objects that need the public key.
var pointAttrs = []uint{CKA_EC_POINT, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO}

// isPointAttr reports whether attribute t of a key object comes with its
// public key.
func isPointAttr(t uint) bool { return slices.Contains(pointAttrs, t) }

// resolvePoint reads the public key of one key object (the public key
// object with its ID) and fills its point attributes. A key whose public
// half cannot be read keeps them unavailable.
func (s *slot) resolvePoint(ctx context.Context, o *object) uint {
	if !o.pointPending {
		return CKR_OK
	}
	d, err := s.applet.ReadPublicKeyData(ctx, iotsafe.ByID(o.cardID...))
	if err == nil {
		err = o.setPublic(d)
	}
	if err != nil {
		if rv := s.fail("read public key", err); rv == CKR_DEVICE_REMOVED {
			return rv
		}
		o.pointPending = false
		return CKR_OK
	}
	return CKR_OK
}

// setPublic fills the attributes that come from the public key, after
// checking it is a key of the object's type.
func (o *object) setPublic(d spec.PublicKeyData) error {
	pub, err := keys.Public(o.kt.KeyType(), d)
	if err != nil {
		return err
	}
	o.pointPending = false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		o.rsa = k
		o.attrs[CKA_MODULUS] = k.N.Bytes()
		o.attrs[CKA_PUBLIC_EXPONENT] = big.NewInt(int64(k.E)).Bytes()
		o.attrs[CKA_PUBLIC_KEY_INFO], _ = x509.MarshalPKIXPublicKey(k)
	default:
		o.setPoint(d.Point)
	}
	return nil
}

// setPoint fills the attributes that come from an EC public key.
func (o *object) setPoint(p []byte) {
	o.point, o.pointPending = p, false
	o.attrs[CKA_PUBLIC_KEY_INFO] = ecSPKI(o.kt, p)
	// Many consumers (libp11, OpenSSH) look for the point on the private
	// key too; it is public information.
	o.attrs[CKA_EC_POINT] = ecPointDER(p)
}

// completeObjects maps what build leaves out: the public points of every
// key, the certificate files (linked to the key pair they certify, whose
// CKA_SUBJECT they give), and the host-side objects of this token. Done
// once per object list; called with s.mu held.
func (s *slot) completeObjects(ctx context.Context) uint {
	if s.complete {
		return CKR_OK
	}
	if rv := s.ensureBuilt(ctx); rv != CKR_OK {
		return rv
	}
	a := s.applet
	objs, err := a.Objects(ctx)
	if err != nil {
		return s.fail("list objects", err)
	}
	hs := &s.m.handles
	type pair struct {
		label string
		id    []byte
		point []byte
	}
	var pairs []pair
	for _, o := range s.objects {
		if !o.card || (o.class != CKO_PRIVATE_KEY && o.class != CKO_PUBLIC_KEY) {
			continue
		}
		if rv := s.resolvePoint(ctx, o); rv != CKR_OK {
			return rv
		}
		if o.class == CKO_PRIVATE_KEY && o.pubID() != nil {
			pairs = append(pairs, pair{string(o.attrs[CKA_LABEL]), o.cardID, o.pubID()})
		}
	}
	// A public key object whose key cannot be read is not shown.
	kept := s.objects[:0]
	for _, o := range s.objects {
		if o.card && o.class == CKO_PUBLIC_KEY && o.pubID() == nil {
			continue
		}
		kept = append(kept, o)
	}
	s.objects = kept
	have := map[uint]bool{}
	for _, o := range s.objects {
		have[o.handle] = true
	}
	var out []*object
	// checkable: a certificate file bound to a key of this SIM is in the
	// certificate cache, so that a directory kept now can be checked.
	checkable := false
	for _, o := range objs {
		if o.Kind != spec.KindFile || !o.Active() || o.FileUsage != spec.FileUsageCertificate {
			continue
		}
		readable := o.Access&spec.AccessRead != 0
		var content []byte
		cached := false
		if readable {
			content, cached, err = s.readCertificateFile(ctx, o)
			if errors.Is(err, errDirStale) {
				// The directory came from the cache and the card's
				// certificate files say it is not the card's any more
				// (replaced over the air, or another SIM): start again
				// from the card.
				s.dropDirectory(err.Error())
				a.Refresh()
				if err := s.identify(ctx); err != nil {
					return s.fail("get application information", err)
				}
				if rv := s.build(ctx); rv != CKR_OK {
					return rv
				}
				return s.completeObjects(ctx)
			}
			if err != nil {
				if rv := s.fail("read file", err); rv == CKR_DEVICE_REMOVED {
					return rv
				}
				readable = false
			}
		}
		if readable {
			if cert, err := bpx509.ParseCertificate(content); err == nil {
				id, label := o.ID, o.Label
				category := uint(0)
				if cert.IsCA {
					category = 2
				}
				var of []byte
				if pt := keyIdentity(cert.PublicKey); pt != nil {
					for _, p := range pairs {
						if bytes.Equal(p.point, pt) {
							id, label, category, of = p.id, p.label, 1, p.point
							break
						}
					}
				}
				if of != nil && cached {
					checkable = true
				}
				co := s.certificate(hs, "card-file:"+hex.EncodeToString(o.ID), cert, s.ckaID(id), label, category, false)
				co.certOf, co.certID, co.certCategory = of, co.attrs[CKA_ID], category
				out = append(out, co)
				continue
			}
		}
		out = append(out, s.dataObject(hs, o, content, readable))
	}
	// Host-side objects of this token, bound to this SIM.
	if s.store != nil {
		stored, err := s.store.List()
		if err != nil {
			s.m.log.Warn("iotsafe-pkcs11: host object store", "dir", s.store.Dir(), "err", err)
		}
		keys := map[string]bool{}
		for _, p := range pairs {
			keys[string(p.point)] = true
		}
		var simID []byte
		for _, so := range stored {
			if p := so.Attrs[ckaBoundKey]; len(p) > 0 && !keys[string(p)] {
				s.m.log.Debug("iotsafe-pkcs11: host-stored certificate hidden: its SIM key is gone", "file", so.Name)
				continue
			}
			if b, ok := so.Attrs[ckaSIMIdentity]; ok {
				if simID == nil {
					var rv uint
					if simID, rv = s.simIdentity(ctx); rv != CKR_OK {
						return rv
					}
				}
				if !bytes.Equal(b, simID) {
					s.m.log.Debug("iotsafe-pkcs11: host-stored object of another SIM hidden", "file", so.Name)
					continue
				}
			}
			if ho := hostObject(hs, so); !have[ho.handle] {
				out = append(out, ho)
			}
		}
	}
	s.objects = append(s.objects, out...)
	s.applyShadowing()
	// Subjects of key objects from their certificates.
	for _, c := range s.objects {
		if c.class != CKO_CERTIFICATE {
			continue
		}
		for _, k := range s.objects {
			if k.card && (k.class == CKO_PRIVATE_KEY || k.class == CKO_PUBLIC_KEY) && bytes.Equal(k.attrs[CKA_ID], c.attrs[CKA_ID]) {
				k.attrs[CKA_SUBJECT] = c.attrs[CKA_SUBJECT]
			}
		}
	}
	sort.SliceStable(s.objects, func(i, j int) bool { return s.objects[i].handle < s.objects[j].handle })
	s.complete = true
	if s.dirLoaded {
		// Every certificate file ended as the kept copy says.
		s.dirVerified = true
	}
	s.saveDirectory(checkable)
	return CKR_OK
}

// applyShadowing gives precedence to the certificates the user stored for
// a SIM key over the card's own (the factory certificate): while a
// host-side certificate is bound to a key of the SIM, the card's
// certificate for the same key is still listed (label, value, subject) but
// with an empty CKA_ID and category unspecified, so that consumers that
// pair a key with a certificate by CKA_ID (OpenVPN's pkcs11-helper keeps
// the latest expiry, strongSwan the first found, Java, OpenSSL's engines)
// all see only the user's. When no host certificate is bound to the key
// any more, the card's certificate gets its CKA_ID back. Called with the
// slot's lock held.
func (s *slot) applyShadowing() {
	bound := map[string]bool{}
	for _, o := range s.objects {
		if o.hostName != "" && o.class == CKO_CERTIFICATE {
			if p := o.attrs[ckaBoundKey]; len(p) > 0 {
				bound[string(p)] = true
			}
		}
	}
	for _, o := range s.objects {
		if !o.card || o.class != CKO_CERTIFICATE || o.certOf == nil {
			continue
		}
		if bound[string(o.certOf)] {
			o.attrs[CKA_ID], o.attrs[CKA_CERTIFICATE_CATEGORY] = []byte{}, ulong(0)
		} else {
			o.attrs[CKA_ID], o.attrs[CKA_CERTIFICATE_CATEGORY] = o.certID, ulong(o.certCategory)
		}
	}
}

// needsComplete reports whether a search with this template may match an
// object, or compare an attribute, that build leaves to completeObjects:
// anything but key objects searched by attributes the object list gives.
func needsComplete(tmpl []Attribute) bool {
	keyClass := false
	for _, a := range tmpl {
		if a.Type == CKA_CLASS {
			c, _ := getUlong(a.Value)
			keyClass = c == CKO_PRIVATE_KEY || c == CKO_PUBLIC_KEY || c == CKO_SECRET_KEY
		}
	}
	if !keyClass {
		return true
	}
	for _, a := range tmpl {
		switch a.Type {
		case CKA_EC_POINT, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO, CKA_SUBJECT:
			return true
		}
	}
	return false
}

func isP256(t byte) bool {
	return t == 0 || t == spec.KeyTypeP256Persistent || t == spec.KeyTypeP256Volatile
}

// keyTypeShown reports whether key objects of IoT SAFE key type t are
// shown: P-256 (also when the applet omits the type), brainpoolP256r1 and
// RSA-2048.
func keyTypeShown(t byte) bool {
	return isP256(t) || spec.KindOfKeyType(t) != spec.KeyKindUnknown
}

// kindOf is the key family of an object's key type (P-256 when omitted).
func kindOf(t byte) spec.KeyTypeKind {
	if t == 0 {
		return spec.KeyKindP256
	}
	return spec.KindOfKeyType(t)
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

// ecSPKI returns the DER SubjectPublicKeyInfo of an EC point of family k
// (nil for a point off the curve).
func ecSPKI(k spec.KeyTypeKind, point []byte) []byte {
	pub, err := keys.ECPublic(k, point)
	if err != nil {
		return nil
	}
	der, err := keys.MarshalPKIX(pub)
	if err != nil {
		return nil
	}
	return der
}

func ecPointDER(point []byte) []byte {
	b, _ := asn1.Marshal(point)
	return b
}

// hostStorageAttrs are the storage attributes of an object the host holds
// (host-side store or session) where its creator left them out: the
// PKCS#11 defaults (modifiable, copyable, destroyable, not private).
func hostStorageAttrs(class uint, token bool) map[uint][]byte {
	at := storageAttrs(class, token, false, true, true, "")
	at[CKA_COPYABLE] = bbool(true)
	return at
}

// storageAttrs are the storage attributes of a card object (never
// copyable) and the base of hostStorageAttrs.
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
	kt := kindOf(o.KeyType)
	sign := o.CryptoFunctions&spec.FuncSignature != 0
	derive := o.CryptoFunctions&spec.FuncKeyAgreement != 0 && kt != spec.KeyKindRSA2048
	at := storageAttrs(CKO_PRIVATE_KEY, true, loginReq, false, false, o.Label)
	var mechs []uint
	if sign {
		mechs = append(mechs, signMechanismsFor(kt, o.SignatureAlgorithms, o.HashAlgorithms)...)
	}
	if derive {
		mechs = append(mechs, CKM_ECDH1_DERIVE)
	}
	kgm := CK_UNAVAILABLE_INFORMATION
	if o.CryptoFunctions&spec.FuncKeyGeneration != 0 {
		kgm = keyGenMechanism(kt)
	}
	for t, v := range map[uint][]byte{
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
		CKA_UNWRAP_TEMPLATE:     nil, // no unwrapping: an empty attribute array
	} {
		at[t] = v
	}
	sensitive := map[uint]bool{CKA_VALUE: true}
	if kt == spec.KeyKindRSA2048 {
		at[CKA_KEY_TYPE] = ulong(CKK_RSA)
		at[CKA_MODULUS_BITS] = ulong(2048)
		sensitive = map[uint]bool{CKA_PRIVATE_EXPONENT: true, CKA_PRIME_1: true, CKA_PRIME_2: true,
			CKA_EXPONENT_1: true, CKA_EXPONENT_2: true, CKA_COEFFICIENT: true}
	} else {
		at[CKA_KEY_TYPE] = ulong(CKK_EC)
		at[CKA_EC_PARAMS] = ecParams(kt)
	}
	hashes := o.HashAlgorithms
	if hashes == 0 {
		hashes = spec.HashSHA256
	}
	obj := &object{
		handle: hs.get("card-priv:" + hex.EncodeToString(o.ID)), class: CKO_PRIVATE_KEY, attrs: at,
		sensitive: sensitive,
		card:      true, kind: spec.KindPrivateKey, cardID: bytes.Clone(o.ID), kt: kt, hashes: hashes,
		sigAlgs: sigAlgsOf(kt, o.SignatureAlgorithms), private: loginReq,
		pointPending: true,
	}
	if point != nil {
		obj.setPoint(point)
	}
	return obj
}

func (s *slot) publicKey(hs *handleSpace, o iotsafe.Object, point []byte) *object {
	kt := kindOf(o.KeyType)
	at := storageAttrs(CKO_PUBLIC_KEY, true, false, false, false, o.Label)
	// Key usage follows what the container can do: a key-agreement-only
	// key (the ECDH key, the peer key slot) does not verify, so hosts
	// that pick keys by CKA_VERIFY (OpenSSH) do not offer it. A card that
	// announces no function at all keeps verification.
	verify := o.CryptoFunctions&spec.FuncSignature != 0 || o.CryptoFunctions&(spec.FuncKeyAgreement|spec.FuncKeyDerivation) == 0
	var verifyMechs []uint
	if verify {
		verifyMechs = verifyMechanismsFor(kt)
	}
	for t, v := range map[uint][]byte{
		CKA_ID:                 s.ckaID(o.ID),
		CKA_START_DATE:         nil,
		CKA_END_DATE:           nil,
		CKA_DERIVE:             bbool(o.CryptoFunctions&spec.FuncKeyAgreement != 0 && kt != spec.KeyKindRSA2048),
		CKA_LOCAL:              bbool(false),
		CKA_KEY_GEN_MECHANISM:  ulong(CK_UNAVAILABLE_INFORMATION),
		CKA_ALLOWED_MECHANISMS: ulongs(verifyMechs...),
		CKA_SUBJECT:            nil,
		CKA_ENCRYPT:            bbool(false),
		CKA_VERIFY:             bbool(verify),
		CKA_VERIFY_RECOVER:     bbool(false),
		CKA_WRAP:               bbool(false),
		CKA_TRUSTED:            bbool(false),
		CKA_WRAP_TEMPLATE:      nil, // no wrapping: an empty attribute array
	} {
		at[t] = v
	}
	if kt == spec.KeyKindRSA2048 {
		at[CKA_KEY_TYPE] = ulong(CKK_RSA)
		at[CKA_MODULUS_BITS] = ulong(2048)
	} else {
		at[CKA_KEY_TYPE] = ulong(CKK_EC)
		at[CKA_EC_PARAMS] = ecParams(kt)
	}
	obj := &object{
		handle: hs.get("card-pub:" + hex.EncodeToString(o.ID)), class: CKO_PUBLIC_KEY, attrs: at,
		card: true, kind: spec.KindPublicKey, cardID: bytes.Clone(o.ID), kt: kt, pointPending: true,
	}
	if point != nil {
		obj.setPoint(point)
	}
	return obj
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
		CKA_WRAP_TEMPLATE:      nil,
		CKA_UNWRAP_TEMPLATE:    nil,
		CKA_VALUE_LEN:          nil,
	} {
		at[t] = v
	}
	return &object{
		handle: hs.get("card-secret:" + hex.EncodeToString(o.ID)), class: CKO_SECRET_KEY, attrs: at,
		// The card does not say how long the secret is: the length
		// exists but cannot be given (C_GetAttributeValue answers it
		// unavailable, CKR_ATTRIBUTE_SENSITIVE).
		sensitive: map[uint]bool{CKA_VALUE: true, CKA_CHECK_VALUE: true, CKA_VALUE_LEN: true},
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

// certTail is how many final bytes of a certificate file the certificate
// cache compares with its copy: they lie inside the certificate's
// signature (the s and most of r of an ECDSA P-256 signature, part of an
// RSA one), which two different certificates do not share; with the
// file's size they name the copy.
const certTail = 64

// readCertificateFile reads a file the card lists as a certificate. With
// the certificate cache on, it first reads only the file's last certTail
// bytes and takes the copy kept in the host store that has the file's size
// and ends with them; without one it reads the whole file and keeps a copy
// when it is a certificate. Called with s.mu held.
//
// cached reports that the content is the copy of the certificate cache
// that matches the card's file now (hit), or the card's file just read and
// kept there: the next process will find it by its tail.
func (s *slot) readCertificateFile(ctx context.Context, o iotsafe.Object) (content []byte, cached bool, err error) {
	ref := iotsafe.ByID(o.ID...)
	if !s.m.cfg.certCache() || s.store == nil || o.FileSize < 4*certTail {
		content, err = s.applet.ReadFile(ctx, ref)
		return content, false, err
	}
	tail, size, err := s.applet.ReadFileTail(ctx, ref, certTail)
	if errors.Is(err, transport.ErrCardRemoved) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false, err
	}
	if err != nil && s.dirLoaded && !s.dirVerified {
		s.m.log.Debug("iotsafe-pkcs11: certificate cache: tail not read", "err", err)
		return nil, false, errDirStale
	}
	if err != nil {
		// A card that will not read from that offset: the whole file, as
		// without the cache.
		s.m.log.Debug("iotsafe-pkcs11: certificate cache: tail not read", "err", err)
		content, err = s.applet.ReadFile(ctx, ref)
		return content, false, err
	}
	if der := s.store.cachedCertificate(size, tail); der != nil {
		if _, err := bpx509.ParseCertificate(der); err == nil {
			return der, true, nil
		}
	}
	if s.dirLoaded && !s.dirVerified {
		// The directory cache said this file holds a certificate the
		// cache has: it does not any more.
		return nil, false, errDirStale
	}
	content, err = s.applet.ReadFile(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if _, perr := bpx509.ParseCertificate(content); perr == nil && len(content) == size && bytes.HasSuffix(content, tail) {
		if err := s.store.cacheCertificate(content, certTail); err != nil {
			s.m.log.Debug("iotsafe-pkcs11: certificate cache not written", "dir", s.store.Dir(), "err", err)
			return content, false, nil
		}
		return content, true, nil
	}
	return content, false, nil
}

// errDirStale: a certificate file is not what the directory cache says.
var errDirStale = errors.New("a certificate file of the SIM differs from the directory cache")

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
	defaults := hostStorageAttrs(class, true)
	for t, v := range defaults {
		if _, ok := at[t]; !ok {
			at[t] = v
		}
	}
	at[CKA_TOKEN] = bbool(true)
	if class == CKO_CERTIFICATE {
		if cert, err := bpx509.ParseCertificate(at[CKA_VALUE]); err == nil {
			certAttrs(at, cert)
		}
	}
	return &object{handle: hs.get("host:" + so.Name), class: class, attrs: at, hostName: so.Name}
}
