package pkcs11mod

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// session is one PKCS#11 session. Its mutex serializes the calls on it
// (PKCS#11 forbids concurrent use of one session, but a buggy caller must
// not corrupt state).
type session struct {
	mu     sync.Mutex
	handle uint
	slot   *slot
	epoch  uint64
	flags  uint

	findActive bool
	found      []uint

	sign   *cryptoOp
	verify *cryptoOp
	digest *cryptoOp
}

// TokenInfo is C_GetTokenInfo.
func (m *Module) TokenInfo(id uint) (TokenInfo, uint) {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return TokenInfo{}, rv
	}
	count, rw := m.sessionCounts(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.present() {
		return TokenInfo{}, CKR_TOKEN_NOT_PRESENT
	}
	flags := CKF_TOKEN_INITIALIZED | CKF_RNG | CKF_WRITE_PROTECTED
	if s.store != nil {
		// C_CreateObject works (host-side store): the token is writable.
		flags &^= CKF_WRITE_PROTECTED
	}
	if s.cfg.UserPIN != "" {
		flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED
		tries := s.pinTries()
		switch fails := s.store.pinFailuresSafe(); {
		case fails >= tries:
			flags |= CKF_USER_PIN_LOCKED
		case fails == tries-1:
			flags |= CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW
		case fails > 0:
			flags |= CKF_USER_PIN_COUNT_LOW
		}
	}
	info := TokenInfo{
		Label:              s.label,
		Manufacturer:       s.ident.manufacturer,
		Model:              s.ident.model,
		Serial:             s.ident.serial,
		Flags:              flags,
		MaxSessionCount:    CK_EFFECTIVELY_INFINITE,
		SessionCount:       count,
		MaxRwSessionCount:  CK_EFFECTIVELY_INFINITE,
		RwSessionCount:     rw,
		MaxPinLen:          maxPINLen,
		MinPinLen:          minPINLen,
		TotalPublicMemory:  CK_UNAVAILABLE_INFORMATION,
		FreePublicMemory:   CK_UNAVAILABLE_INFORMATION,
		TotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
		FreePrivateMemory:  CK_UNAVAILABLE_INFORMATION,
		FirmwareVersion:    [2]byte{s.ident.fw, 0},
	}
	if s.cfg.UserPIN == "" {
		info.MaxPinLen, info.MinPinLen = 0, 0
	}
	return info, CKR_OK
}

// pinFailuresSafe is the counter for token flags: an unreadable counter
// shows as a locked PIN (fail closed).
func (st *Store) pinFailuresSafe() int {
	if st == nil {
		return 1 << 20
	}
	n, err := st.pinFailures()
	if err != nil {
		return 1 << 20
	}
	return n
}

func (s *slot) pinTries() int {
	if s.cfg.PINTries > 0 {
		return s.cfg.PINTries
	}
	return 5
}

func (m *Module) sessionCounts(s *slot) (count, rw uint) {
	s.mu.Lock()
	epoch := s.epoch
	s.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ss := range m.sessions {
		if ss.slot == s && ss.epoch == epoch {
			count++
			if ss.flags&CKF_RW_SESSION != 0 {
				rw++
			}
		}
	}
	return count, rw
}

// OpenSession is C_OpenSession.
func (m *Module) OpenSession(id, flags uint) (uint, uint) {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return 0, rv
	}
	if flags&CKF_SERIAL_SESSION == 0 {
		return 0, CKR_SESSION_PARALLEL_NOT_SUPPORTED
	}
	s.mu.Lock()
	present, epoch := s.present(), s.epoch
	s.mu.Unlock()
	if !present {
		return 0, CKR_TOKEN_NOT_PRESENT
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return 0, CKR_CRYPTOKI_NOT_INITIALIZED
	}
	m.nextSession++
	h := m.nextSession
	m.sessions[h] = &session{handle: h, slot: s, epoch: epoch, flags: flags&^CKF_SERIAL_SESSION | CKF_SERIAL_SESSION}
	return h, CKR_OK
}

// session finds a session and locks it; the caller unlocks ss.mu.
func (m *Module) session(h uint) (*session, uint) {
	m.mu.Lock()
	if !m.initialized {
		m.mu.Unlock()
		return nil, CKR_CRYPTOKI_NOT_INITIALIZED
	}
	ss, ok := m.sessions[h]
	m.mu.Unlock()
	if !ok {
		return nil, CKR_SESSION_HANDLE_INVALID
	}
	ss.mu.Lock()
	ss.slot.mu.Lock()
	stale := ss.epoch != ss.slot.epoch
	ss.slot.mu.Unlock()
	if stale {
		ss.mu.Unlock()
		m.dropSession(h)
		return nil, CKR_SESSION_HANDLE_INVALID
	}
	return ss, CKR_OK
}

func (m *Module) dropSession(h uint) {
	m.mu.Lock()
	ss := m.sessions[h]
	delete(m.sessions, h)
	last := true
	if ss != nil {
		for _, o := range m.sessions {
			if o.slot == ss.slot {
				last = false
			}
		}
	}
	m.mu.Unlock()
	if ss == nil {
		return
	}
	s := ss.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.objects[:0]
	for _, o := range s.objects {
		if o.owner != h {
			kept = append(kept, o)
		}
	}
	s.objects = kept
	if last {
		// Login state ends with the last session (PKCS#11 2.40 §5.6).
		s.loggedIn = false
	}
}

// CloseSession is C_CloseSession.
func (m *Module) CloseSession(h uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	ss.mu.Unlock()
	m.dropSession(h)
	return CKR_OK
}

// CloseAllSessions is C_CloseAllSessions.
func (m *Module) CloseAllSessions(id uint) uint {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return rv
	}
	m.mu.Lock()
	var hs []uint
	for h, ss := range m.sessions {
		if ss.slot == s {
			hs = append(hs, h)
		}
	}
	m.mu.Unlock()
	for _, h := range hs {
		m.dropSession(h)
	}
	return CKR_OK
}

// SessionInfo is C_GetSessionInfo.
func (m *Module) SessionInfo(h uint) (SessionInfo, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return SessionInfo{}, rv
	}
	defer ss.mu.Unlock()
	s := ss.slot
	s.mu.Lock()
	logged := s.loggedIn
	s.mu.Unlock()
	rw := ss.flags&CKF_RW_SESSION != 0
	state := CKS_RO_PUBLIC_SESSION
	switch {
	case rw && logged:
		state = CKS_RW_USER_FUNCTIONS
	case rw:
		state = CKS_RW_PUBLIC_SESSION
	case logged:
		state = CKS_RO_USER_FUNCTIONS
	}
	return SessionInfo{SlotID: s.id, State: state, Flags: ss.flags}, CKR_OK
}

// Login is C_Login. Without a configured PIN the token has no
// authentication (it says so: no CKF_LOGIN_REQUIRED) and C_Login of the user
// is accepted as a no-op for applications that always log in. With a PIN,
// the PIN is checked against its hash and a persistent retry counter.
// There is no security officer role.
func (m *Module) Login(h, userType uint, pin []byte) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	s := ss.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	switch userType {
	case CKU_USER:
	case CKU_CONTEXT_SPECIFIC:
		return CKR_OPERATION_NOT_INITIALIZED // no key requires CKA_ALWAYS_AUTHENTICATE
	case CKU_SO:
		m.log.Warn("iotsafe-pkcs11: C_Login as security officer refused: the token has no SO role (the SIM is administered by its operator over the air)")
		return CKR_USER_TYPE_INVALID
	default:
		return CKR_USER_TYPE_INVALID
	}
	if s.loggedIn {
		return CKR_USER_ALREADY_LOGGED_IN
	}
	if s.cfg.UserPIN == "" {
		s.loggedIn = true
		return CKR_OK
	}
	if s.store == nil {
		return CKR_FUNCTION_FAILED
	}
	unlock, err := s.store.lock()
	if err != nil {
		m.log.Error("iotsafe-pkcs11: PIN retry counter", "err", err)
		return CKR_FUNCTION_FAILED
	}
	defer unlock()
	fails, err := s.store.pinFailures()
	if err != nil {
		m.log.Error("iotsafe-pkcs11: PIN retry counter unreadable: login refused", "err", err)
		return CKR_FUNCTION_FAILED
	}
	if fails >= s.pinTries() {
		return CKR_PIN_LOCKED
	}
	// Count the try before checking it: a counter that cannot be written
	// refuses the login rather than giving free guesses (fail closed).
	if err := s.store.setPINFailures(fails + 1); err != nil {
		m.log.Error("iotsafe-pkcs11: PIN retry counter cannot be written: login refused", "err", err)
		return CKR_FUNCTION_FAILED
	}
	if len(pin) < minPINLen || len(pin) > maxPINLen {
		// Counted like a wrong PIN: the length is not a free oracle.
		return CKR_PIN_LEN_RANGE
	}
	if !checkPIN(s.cfg.UserPIN, pin) {
		if fails+1 >= s.pinTries() {
			return CKR_PIN_LOCKED
		}
		return CKR_PIN_INCORRECT
	}
	if err := s.store.setPINFailures(0); err != nil {
		m.log.Error("iotsafe-pkcs11: PIN retry counter", "err", err)
	}
	s.loggedIn = true
	return CKR_OK
}

// Logout is C_Logout.
func (m *Module) Logout(h uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	s := ss.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loggedIn {
		return CKR_USER_NOT_LOGGED_IN
	}
	s.loggedIn = false
	return CKR_OK
}

// visible reports whether the session may see o: session objects belong
// to the application, so every session of it sees them (Java creates a
// public key in one pooled session and verifies in another); they go when
// the session that created them closes. Called with s.mu held.
func (ss *session) visible(o *object) bool {
	if pv, _ := getBool(o.attrs[CKA_PRIVATE]); pv && !ss.slot.loggedIn {
		return false
	}
	return true
}

// object finds a visible object. Called with s.mu held.
func (ss *session) object(h uint) *object {
	for _, o := range ss.slot.objects {
		if o.handle == h && ss.visible(o) {
			return o
		}
	}
	return nil
}

// withSlot runs f with the session's slot locked and its objects current.
func (ss *session) withSlot(poll bool, f func(s *slot, ctx context.Context) uint) uint {
	s := ss.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if rv := s.sync(ctx, poll); rv != CKR_OK {
		return rv
	}
	return f(s, ctx)
}

// FindObjectsInit is C_FindObjectsInit.
func (m *Module) FindObjectsInit(h uint, tmpl []Attribute) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if ss.findActive {
		return CKR_OPERATION_ACTIVE
	}
	return ss.withSlot(true, func(s *slot, ctx context.Context) uint {
		ss.found = ss.found[:0]
		direct, rv := s.lookup(ctx, tmpl)
		if rv != CKR_OK {
			return rv
		}
		switch {
		case direct:
		case needsComplete(tmpl):
			if rv := s.completeObjects(ctx); rv != CKR_OK {
				return rv
			}
		default:
			if rv := s.ensureBuilt(ctx); rv != CKR_OK {
				return rv
			}
		}
		byValue := false
		for _, a := range tmpl {
			byValue = byValue || a.Type == CKA_VALUE
		}
	next:
		for _, o := range s.objects {
			if !ss.visible(o) {
				continue
			}
			if byValue && o.lazyValue {
				if rv := s.loadValue(ctx, o); rv != CKR_OK {
					return rv
				}
			}
			for _, a := range tmpl {
				v, ok := o.attrs[a.Type]
				if !ok || o.sensitive[a.Type] || !bytes.Equal(v, a.Value) {
					continue next
				}
			}
			ss.found = append(ss.found, o.handle)
		}
		ss.findActive = true
		return CKR_OK
	})
}

// FindObjects is C_FindObjects.
func (m *Module) FindObjects(h uint, max int) ([]uint, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return nil, rv
	}
	defer ss.mu.Unlock()
	if !ss.findActive {
		return nil, CKR_OPERATION_NOT_INITIALIZED
	}
	n := min(max, len(ss.found))
	out := append([]uint(nil), ss.found[:n]...)
	ss.found = ss.found[n:]
	return out, CKR_OK
}

// FindObjectsFinal is C_FindObjectsFinal.
func (m *Module) FindObjectsFinal(h uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	if !ss.findActive {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	ss.findActive, ss.found = false, nil
	return CKR_OK
}

// withObject runs f for object oh as session h sees it, with the session
// locked and the slot's card at hand: the prologue every per-object
// function shares (session, then handle, in PKCS#11's order of checks).
func (m *Module) withObject(h, oh uint, f func(ss *session, s *slot, ctx context.Context, o *object) uint) uint {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return rv
	}
	defer ss.mu.Unlock()
	return ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		o := ss.object(oh)
		if o == nil {
			return CKR_OBJECT_HANDLE_INVALID
		}
		return f(ss, s, ctx, o)
	})
}

// GetAttributeValue is C_GetAttributeValue: one answer per asked type.
func (m *Module) GetAttributeValue(h, oh uint, types []uint) ([]AttrValue, uint) {
	var out []AttrValue
	rv := m.withObject(h, oh, func(ss *session, s *slot, ctx context.Context, o *object) uint {
		if o.lazyValue {
			for _, t := range types {
				if t == CKA_VALUE {
					if rv := s.loadValue(ctx, o); rv != CKR_OK {
						return rv
					}
					break
				}
			}
		}
		for _, t := range types {
			switch {
			case o.pointPending && isPointAttr(t):
				if rv := s.resolvePoint(ctx, o); rv != CKR_OK {
					return rv
				}
			case o.card && t == CKA_SUBJECT && (o.class == CKO_PRIVATE_KEY || o.class == CKO_PUBLIC_KEY):
				// The subject comes from the key's certificate.
				if rv := s.completeObjects(ctx); rv != CKR_OK {
					return rv
				}
			}
		}
		out = make([]AttrValue, len(types))
		for i, t := range types {
			v, ok := o.attrs[t]
			switch {
			case o.sensitive[t]:
				out[i].RV = CKR_ATTRIBUTE_SENSITIVE
			case !ok:
				out[i].RV = CKR_ATTRIBUTE_TYPE_INVALID
			default:
				out[i].Value = v
			}
		}
		return CKR_OK
	})
	return out, rv
}

// CopyObject is C_CopyObject. Card objects are not copyable (CKA_COPYABLE
// false: CKR_ACTION_PROHIBITED); host-side and session objects follow the
// PKCS#11 default (CKA_COPYABLE true unless the creator said false). The
// template may set CKA_TOKEN, CKA_PRIVATE and CKA_DESTROYABLE, switch
// CKA_MODIFIABLE and CKA_COPYABLE off, and change the label, ID,
// application and object ID of a modifiable object; anything else that
// differs is CKR_ATTRIBUTE_READ_ONLY. The copy is then created as
// C_CreateObject creates an object from those attributes. It returns the
// new handle.
func (m *Module) CopyObject(h, oh uint, tmpl []Attribute) (uint, uint) {
	var attrs []Attribute
	rv := m.withObject(h, oh, func(_ *session, s *slot, ctx context.Context, o *object) uint {
		if ok, _ := getBool(o.attrs[CKA_COPYABLE]); !ok || o.card {
			return CKR_ACTION_PROHIBITED
		}
		if rv := s.loadValue(ctx, o); rv != CKR_OK {
			return rv
		}
		next := map[uint][]byte{}
		for t, v := range o.attrs {
			next[t] = bytes.Clone(v)
		}
		modifiable := o.bool(CKA_MODIFIABLE)
		for _, a := range tmpl {
			old, has := o.attrs[a.Type]
			switch a.Type {
			case CKA_TOKEN, CKA_PRIVATE, CKA_DESTROYABLE:
				// May take any value in the copy (PKCS#11 3.0 §5.7).
			case CKA_MODIFIABLE, CKA_COPYABLE:
				// May be switched off, never on.
				if v, ok := getBool(a.Value); ok && v && !o.bool(a.Type) {
					return CKR_ATTRIBUTE_READ_ONLY
				}
			case CKA_LABEL, CKA_ID, CKA_APPLICATION, CKA_OBJECT_ID:
				if !modifiable && !bytes.Equal(old, a.Value) {
					return CKR_ATTRIBUTE_READ_ONLY
				}
			default:
				if !has {
					return CKR_ATTRIBUTE_TYPE_INVALID
				}
				if !bytes.Equal(old, a.Value) {
					return CKR_ATTRIBUTE_READ_ONLY
				}
			}
			next[a.Type] = bytes.Clone(a.Value)
		}
		for t, v := range next {
			if t == ckaBoundKey || t == ckaSIMIdentity {
				continue // the store's own bindings are made again
			}
			attrs = append(attrs, Attribute{Type: t, Value: v})
		}
		return CKR_OK
	})
	if rv != CKR_OK {
		return 0, rv
	}
	// The copy is made as C_CreateObject makes an object from the same
	// attributes: the same checks, the same store.
	return m.CreateObject(h, attrs)
}

// GetObjectSize is C_GetObjectSize: the bytes of its attribute values.
func (m *Module) GetObjectSize(h, oh uint) (uint, uint) {
	var n uint
	rv := m.withObject(h, oh, func(_ *session, s *slot, ctx context.Context, o *object) uint {
		if rv := s.loadValue(ctx, o); rv != CKR_OK {
			return rv
		}
		if rv := s.resolvePoint(ctx, o); rv != CKR_OK {
			return rv
		}
		for _, v := range o.attrs {
			n += uint(len(v))
		}
		return CKR_OK
	})
	return n, rv
}

// attrMap turns a template into a map; a type given twice is an error.
func attrMap(tmpl []Attribute) (map[uint][]byte, uint) {
	at := map[uint][]byte{}
	for _, a := range tmpl {
		if _, dup := at[a.Type]; dup {
			return nil, CKR_TEMPLATE_INCONSISTENT
		}
		at[a.Type] = bytes.Clone(a.Value)
	}
	return at, CKR_OK
}

// CreateObject is C_CreateObject for certificates and data objects. Token
// objects go to the host-side store of the token; session objects live
// until their session closes. Keys cannot be imported: a SIM key is made on
// the SIM (C_GenerateKeyPair).
func (m *Module) CreateObject(h uint, tmpl []Attribute) (uint, uint) {
	ss, rv := m.session(h)
	if rv != CKR_OK {
		return 0, rv
	}
	defer ss.mu.Unlock()
	at, rv := attrMap(tmpl)
	if rv != CKR_OK {
		return 0, rv
	}
	class, ok := getUlong(at[CKA_CLASS])
	if !ok {
		return 0, CKR_TEMPLATE_INCOMPLETE
	}
	for _, t := range []uint{CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_TRUSTED} {
		if v, present := at[t]; present {
			if _, ok := getBool(v); !ok {
				return 0, CKR_ATTRIBUTE_VALUE_INVALID
			}
		}
	}
	switch class {
	case CKO_CERTIFICATE:
		ct, ok := getUlong(at[CKA_CERTIFICATE_TYPE])
		if !ok {
			return 0, CKR_TEMPLATE_INCOMPLETE
		}
		if ct != CKC_X_509 {
			m.log.Warn("iotsafe-pkcs11: C_CreateObject: only X.509 certificates are supported", "type", ct)
			return 0, CKR_ATTRIBUTE_VALUE_INVALID
		}
		cert, err := bpx509.ParseCertificate(at[CKA_VALUE])
		if err != nil {
			m.log.Warn("iotsafe-pkcs11: C_CreateObject: CKA_VALUE is not a DER X.509 certificate", "err", err)
			return 0, CKR_ATTRIBUTE_VALUE_INVALID
		}
		if v, ok := at[CKA_TRUSTED]; ok && v[0] != 0 {
			// Only the SO may mark trusted certificates (PKCS#11 2.40 §4.6.3).
			return 0, CKR_ATTRIBUTE_READ_ONLY
		}
		certAttrs(at, cert)
	case CKO_DATA:
		if _, ok := at[CKA_VALUE]; !ok {
			at[CKA_VALUE] = nil
		}
		if _, ok := at[CKA_APPLICATION]; !ok {
			at[CKA_APPLICATION] = nil
		}
		if _, ok := at[CKA_OBJECT_ID]; !ok {
			at[CKA_OBJECT_ID] = nil
		}
	case CKO_PUBLIC_KEY:
		// A session public key, for C_Verify in software (Java's
		// Signature.initVerify converts its key so). Token public keys
		// are the SIM's.
		if tok, _ := getBool(at[CKA_TOKEN]); tok {
			m.log.Warn("iotsafe-pkcs11: C_CreateObject: public keys can be session objects only; the token's are the SIM's")
			return 0, CKR_TEMPLATE_INCONSISTENT
		}
		o := &object{class: class, attrs: at, owner: ss.handle}
		has := func(t uint) bool { _, ok := at[t]; return ok }
		switch ckk, ok := getUlong(at[CKA_KEY_TYPE]); {
		case !ok:
			return 0, CKR_TEMPLATE_INCOMPLETE // CKK_RSA is 0: no default
		case ckk == CKK_EC && !(has(CKA_EC_PARAMS) && has(CKA_EC_POINT)),
			ckk == CKK_RSA && !(has(CKA_MODULUS) && has(CKA_PUBLIC_EXPONENT)):
			return 0, CKR_TEMPLATE_INCOMPLETE
		case ckk == CKK_EC:
			kt := curveOf(at[CKA_EC_PARAMS])
			if kt == spec.KeyKindUnknown {
				m.log.Warn("iotsafe-pkcs11: C_CreateObject: public keys on P-256 or brainpoolP256r1 only")
				return 0, CKR_CURVE_NOT_SUPPORTED
			}
			point, err := parseECPoint(kt, at[CKA_EC_POINT])
			if err != nil {
				return 0, CKR_ATTRIBUTE_VALUE_INVALID
			}
			o.kt, o.point = kt, point
			at[CKA_EC_POINT] = ecPointDER(point)
			at[CKA_PUBLIC_KEY_INFO] = ecSPKI(kt, point)
		case ckk == CKK_RSA:
			// As Java's Signature.initVerify converts the SIM's own RSA
			// certificate key: RSA-2048, verified on the host.
			pub, err := keys.RSAPublic(at[CKA_MODULUS], at[CKA_PUBLIC_EXPONENT])
			if err != nil {
				m.log.Warn("iotsafe-pkcs11: C_CreateObject: RSA public keys of 2048 bits with an odd exponent only", "err", err)
				return 0, CKR_ATTRIBUTE_VALUE_INVALID
			}
			o.kt, o.rsa = spec.KeyKindRSA2048, pub
			at[CKA_MODULUS], at[CKA_PUBLIC_EXPONENT] = pub.N.Bytes(), big.NewInt(int64(pub.E)).Bytes()
			at[CKA_MODULUS_BITS] = ulong(2048)
			at[CKA_PUBLIC_KEY_INFO], _ = x509.MarshalPKIXPublicKey(pub)
		default:
			return 0, CKR_TEMPLATE_INCONSISTENT
		}
		for t, v := range map[uint][]byte{CKA_ID: nil, CKA_START_DATE: nil, CKA_END_DATE: nil, CKA_DERIVE: bbool(false),
			CKA_LOCAL: bbool(false), CKA_KEY_GEN_MECHANISM: ulong(CK_UNAVAILABLE_INFORMATION), CKA_ALLOWED_MECHANISMS: ulongs(verifyMechanismsFor(o.kt)...),
			CKA_SUBJECT: nil, CKA_ENCRYPT: bbool(false), CKA_VERIFY: bbool(true), CKA_VERIFY_RECOVER: bbool(false), CKA_WRAP: bbool(false),
			CKA_TRUSTED: bbool(false), CKA_WRAP_TEMPLATE: nil} {
			if _, set := at[t]; !set {
				at[t] = v
			}
		}
		var handle uint
		rv := ss.withSlot(false, func(s *slot, _ context.Context) uint {
			o.handle = m.handles.get("")
			fillStorage(o)
			s.objects = append(s.objects, o)
			handle = o.handle
			return CKR_OK
		})
		return handle, rv
	default:
		m.log.Warn("iotsafe-pkcs11: C_CreateObject: only certificates, data objects and session public keys can be created; keys are generated on the SIM with C_GenerateKeyPair", "class", class)
		return 0, CKR_TEMPLATE_INCONSISTENT
	}
	token, _ := getBool(at[CKA_TOKEN])
	if pv, _ := getBool(at[CKA_PRIVATE]); pv {
		m.log.Warn("iotsafe-pkcs11: C_CreateObject: private objects are not offered (the host-side store is not encrypted)")
		return 0, CKR_ATTRIBUTE_VALUE_INVALID
	}
	var handle uint
	rv = ss.withSlot(false, func(s *slot, ctx context.Context) uint {
		if token && ss.flags&CKF_RW_SESSION == 0 {
			return CKR_SESSION_READ_ONLY
		}
		if s.cfg.UserPIN != "" && !s.loggedIn && token {
			return CKR_USER_NOT_LOGGED_IN
		}
		if !token {
			o := &object{handle: m.handles.get(""), class: class, attrs: at, owner: ss.handle}
			fillStorage(o)
			s.objects = append(s.objects, o)
			handle = o.handle
			return CKR_OK
		}
		if s.store == nil {
			m.log.Error("iotsafe-pkcs11: C_CreateObject: no host-side store (see the log above)")
			return CKR_DEVICE_ERROR
		}
		at[CKA_TOKEN] = bbool(true)
		if rv := s.completeObjects(ctx); rv != CKR_OK {
			return rv
		}
		// A certificate for a SIM key follows that key: bound to its
		// public key, it is hidden once the key is removed or replaced.
		// Anything else is bound to this SIM.
		if class == CKO_CERTIFICATE {
			if p := certPoint(at[CKA_VALUE]); p != nil {
				for _, o := range s.objects {
					if o.card && o.class == CKO_PRIVATE_KEY && bytes.Equal(o.pubID(), p) {
						at[ckaBoundKey] = p
						// Without an ID of its own it takes its key's,
						// so that consumers pair the two.
						if len(at[CKA_ID]) == 0 {
							at[CKA_ID] = bytes.Clone(o.attrs[CKA_ID])
						}
						break
					}
				}
			}
		}
		if _, bound := at[ckaBoundKey]; !bound {
			id, rv := s.simIdentity(ctx)
			if rv != CKR_OK {
				return rv
			}
			at[ckaSIMIdentity] = id
		}
		name, err := s.store.Put(at)
		if err != nil {
			m.log.Error("iotsafe-pkcs11: C_CreateObject: writing the host-side store", "dir", s.store.Dir(), "err", err)
			return CKR_DEVICE_MEMORY
		}
		o := hostObject(&m.handles, StoredObject{Name: name, Attrs: at})
		s.objects = append(s.objects, o)
		s.applyShadowing()
		handle = o.handle
		m.log.Info("iotsafe-pkcs11: object stored host-side", "class", class, "label", string(at[CKA_LABEL]), "file", name)
		return CKR_OK
	})
	return handle, rv
}

func fillStorage(o *object) {
	for t, v := range hostStorageAttrs(o.class, false) {
		if _, ok := o.attrs[t]; !ok {
			o.attrs[t] = v
		}
	}
	o.attrs[CKA_TOKEN] = bbool(false)
}

// DestroyObject is C_DestroyObject: host-side and session objects can be
// destroyed; card objects cannot (CKR_ACTION_PROHIBITED: CKA_DESTROYABLE is
// false; the operator removes them over the air).
func (m *Module) DestroyObject(h, oh uint) uint {
	return m.withObject(h, oh, func(ss *session, s *slot, _ context.Context, o *object) uint {
		if o.card {
			return CKR_ACTION_PROHIBITED
		}
		if o.hostName != "" {
			if ss.flags&CKF_RW_SESSION == 0 {
				return CKR_SESSION_READ_ONLY
			}
			if s.cfg.UserPIN != "" && !s.loggedIn {
				return CKR_USER_NOT_LOGGED_IN
			}
			if err := s.store.Delete(o.hostName); err != nil {
				m.log.Error("iotsafe-pkcs11: C_DestroyObject", "err", err)
				return CKR_DEVICE_ERROR
			}
		}
		kept := s.objects[:0]
		for _, x := range s.objects {
			if x != o {
				kept = append(kept, x)
			}
		}
		s.objects = kept
		if o.hostName != "" && o.class == CKO_CERTIFICATE {
			s.applyShadowing()
		}
		return CKR_OK
	})
}

// SetAttributeValue is C_SetAttributeValue: host-side and session objects
// may change their label, ID and value; card objects are read-only.
func (m *Module) SetAttributeValue(h, oh uint, tmpl []Attribute) uint {
	return m.withObject(h, oh, func(ss *session, s *slot, _ context.Context, o *object) uint {
		if o.card || !o.bool(CKA_MODIFIABLE) {
			return CKR_ACTION_PROHIBITED
		}
		if o.hostName != "" && ss.flags&CKF_RW_SESSION == 0 {
			return CKR_SESSION_READ_ONLY
		}
		if o.hostName != "" && s.cfg.UserPIN != "" && !s.loggedIn {
			return CKR_USER_NOT_LOGGED_IN
		}
		next := map[uint][]byte{}
		for t, v := range o.attrs {
			next[t] = v
		}
		for _, a := range tmpl {
			switch a.Type {
			case CKA_LABEL, CKA_ID, CKA_APPLICATION, CKA_OBJECT_ID:
				next[a.Type] = bytes.Clone(a.Value)
			case CKA_VALUE:
				if o.class != CKO_DATA {
					return CKR_ATTRIBUTE_READ_ONLY
				}
				next[a.Type] = bytes.Clone(a.Value)
			default:
				if _, ok := o.attrs[a.Type]; !ok {
					return CKR_ATTRIBUTE_TYPE_INVALID
				}
				return CKR_ATTRIBUTE_READ_ONLY
			}
		}
		if o.hostName != "" {
			if err := s.store.Replace(o.hostName, next); err != nil {
				m.log.Error("iotsafe-pkcs11: C_SetAttributeValue", "err", err)
				return CKR_DEVICE_ERROR
			}
		}
		o.attrs = next
		return CKR_OK
	})
}

// fail maps an error from the card to a CK_RV, logs it, and forgets the
// card when it is gone. Called with s.mu held.
func (s *slot) fail(op string, err error) uint {
	rv := rvFor(err)
	s.m.log.Warn("iotsafe-pkcs11: "+op+" failed", "slot", s.id, "rv", rvName(rv), "err", err)
	if rv == CKR_DEVICE_REMOVED {
		s.lost(err)
	}
	if s.dirLoaded && staleRefusal(err) {
		s.dropDirectory(op + " failed: " + err.Error())
	}
	return rv
}

// staleRefusal reports a refusal of the card that a directory of an earlier
// process could explain: the object is gone or disabled, the operator is
// changing it, or the store's integrity is in doubt.
func staleRefusal(err error) bool {
	return errors.Is(err, iotsafe.ErrNotFound) || errors.Is(err, iotsafe.ErrConditionsNotSatisfied) ||
		errors.Is(err, iotsafe.ErrSecurityStatus) || errors.Is(err, iotsafe.ErrRemoteAdminInProgress) ||
		errors.Is(err, iotsafe.ErrRemoteAdminFailed) || errors.Is(err, iotsafe.ErrIntegrity)
}

// rvFor maps an error of the applet client to the closest CK_RV.
func rvFor(err error) uint {
	switch {
	case err == nil:
		return CKR_OK
	case errors.Is(err, transport.ErrCardRemoved), errors.Is(err, transport.ErrClosed), errors.Is(err, iotsafe.ErrClosed),
		// The client re-selects once after a reset; a card still
		// resetting after that (a virtual card whose far end went away
		// shows this way) cannot be used: treated as removed, the slot
		// reopens it when it is back.
		errors.Is(err, transport.ErrCardReset):
		return CKR_DEVICE_REMOVED
	case errors.Is(err, iotsafe.ErrNotFound):
		return CKR_KEY_HANDLE_INVALID
	case errors.Is(err, iotsafe.ErrConditionsNotSatisfied), errors.Is(err, iotsafe.ErrSecurityStatus):
		return CKR_KEY_FUNCTION_NOT_PERMITTED
	case errors.Is(err, iotsafe.ErrSignatureMismatch):
		return CKR_SIGNATURE_INVALID
	case errors.Is(err, iotsafe.ErrOutOfMemory):
		return CKR_DEVICE_MEMORY
	case errors.Is(err, iotsafe.ErrIncorrectData):
		return CKR_DATA_INVALID
	case errors.Is(err, iotsafe.ErrWrongLength):
		return CKR_DATA_LEN_RANGE
	case errors.Is(err, iotsafe.ErrNotSupported):
		return CKR_MECHANISM_INVALID
	case errors.Is(err, iotsafe.ErrRemoteAdminInProgress), errors.Is(err, iotsafe.ErrRemoteAdminFailed):
		// The operator is changing the SIM; a later call can succeed.
		return CKR_FUNCTION_FAILED
	case errors.Is(err, iotsafe.ErrMalformedResponse), errors.Is(err, transport.ErrProtocol),
		errors.Is(err, iotsafe.ErrIntegrity),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, iotsafe.ErrAppletNotFound):
		return CKR_DEVICE_ERROR
	}
	// Any other status word from the card (6Fxx, an unknown 6Xxx) is a
	// problem of the token.
	var ce *iotsafe.CardError
	if errors.As(err, &ce) {
		return CKR_DEVICE_ERROR
	}
	return CKR_FUNCTION_FAILED
}

// rvName names a CK_RV for logs.
func rvName(rv uint) string {
	if n, ok := rvNames[rv]; ok {
		return n
	}
	return fmt.Sprintf("CKR_0x%X", rv)
}
