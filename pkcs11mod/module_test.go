package pkcs11mod

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// counting is a transport that counts APDUs and can be "pulled out".
type counting struct {
	card    *emulator.Card
	mu      sync.Mutex
	n       int
	reads   int // Read File commands
	removed bool
	// refuse, when set, answers a command with the status word it
	// returns instead of passing it to the card (0 passes).
	refuse func(cmd []byte) uint16
	// ins counts commands by instruction byte.
	ins map[byte]int
	// hide63CF answers 9000 where the card answers 63CF: the notice of a
	// remote administration went to another host of the SIM.
	hide63CF bool
}

func (c *counting) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c.mu.Lock()
	c.n++
	if len(cmd) > 1 && cmd[1] == spec.InsReadFile {
		c.reads++
	}
	if len(cmd) > 1 {
		if c.ins == nil {
			c.ins = map[byte]int{}
		}
		c.ins[cmd[1]]++
	}
	removed, refuse, hide := c.removed, c.refuse, c.hide63CF
	c.mu.Unlock()
	if removed {
		return nil, transport.ErrCardRemoved
	}
	if refuse != nil {
		if sw := refuse(cmd); sw != 0 {
			return []byte{byte(sw >> 8), byte(sw)}, nil
		}
	}
	resp, err := c.card.Transmit(ctx, cmd)
	if n := len(resp); hide && err == nil && n >= 2 && resp[n-2] == 0x63 && resp[n-1] == 0xCF {
		resp = append(resp[:n-2:n-2], 0x90, 0x00)
	}
	return resp, err
}

// insCount returns how many commands with this instruction byte the card
// was sent.
func (c *counting) insCount(ins byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ins[ins]
}

func (c *counting) Close() error { return nil }

// ATR is the card's (the client reads its capabilities from it).
func (c *counting) ATR() []byte { return c.card.ATR() }

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counting) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

func (c *counting) setRemoved(v bool) {
	c.mu.Lock()
	c.removed = v
	c.mu.Unlock()
}

type fixture struct {
	m     *Module
	cards map[string]*counting
	cfg   *Config
}

// newFixture makes a module with one slot per SIM name, each an
// in-memory emulator with the factory layout.
func newFixture(t testing.TB, slots ...SlotConfig) *fixture {
	t.Helper()
	return newFixtureWith(t, emulator.Options{}, slots...)
}

// newFixtureWith is newFixture with emulators made with opts.
func newFixtureWith(t testing.TB, opts emulator.Options, slots ...SlotConfig) *fixture {
	t.Helper()
	f := &fixture{cards: map[string]*counting{}}
	if len(slots) == 0 {
		slots = []SlotConfig{{SIM: "sim1"}}
	}
	for _, s := range slots {
		card, err := emulator.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		f.cards[s.SIM] = &counting{card: card}
	}
	f.cfg = &Config{Store: t.TempDir(), Log: filepath.Join(t.TempDir(), "log"), LogLevel: "debug", Slots: slots}
	f.m = &Module{
		Open: func(_ context.Context, uri string) (transport.Transport, error) {
			c, ok := f.cards[uri]
			if !ok {
				return nil, errors.New("no such SIM")
			}
			return c, nil
		},
		ConfigSource: func() (*Config, error) { return f.cfg, nil },
	}
	if rv := f.m.Initialize(0); rv != CKR_OK {
		t.Fatalf("Initialize = %s", rvName(rv))
	}
	t.Cleanup(func() { f.m.Finalize() })
	return f
}

func must(t testing.TB, what string, rv uint) {
	t.Helper()
	if rv != CKR_OK {
		t.Fatalf("%s = %s", what, rvName(rv))
	}
}

func want(t testing.TB, what string, got, exp uint) {
	t.Helper()
	if got != exp {
		t.Fatalf("%s = %s, want %s", what, rvName(got), rvName(exp))
	}
}

func (f *fixture) session(t testing.TB, rw bool) uint {
	t.Helper()
	flags := uint(CKF_SERIAL_SESSION)
	if rw {
		flags |= CKF_RW_SESSION
	}
	h, rv := f.m.OpenSession(0, flags)
	must(t, "OpenSession", rv)
	return h
}

func (f *fixture) find(t testing.TB, h uint, tmpl ...Attribute) []uint {
	t.Helper()
	must(t, "FindObjectsInit", f.m.FindObjectsInit(h, tmpl))
	var all []uint
	for {
		hs, rv := f.m.FindObjects(h, 3)
		must(t, "FindObjects", rv)
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	must(t, "FindObjectsFinal", f.m.FindObjectsFinal(h))
	return all
}

func (f *fixture) one(t testing.TB, h uint, class uint, label string) uint {
	t.Helper()
	hs := f.find(t, h, Attribute{CKA_CLASS, ulong(class)}, Attribute{CKA_LABEL, []byte(label)})
	if len(hs) != 1 {
		t.Fatalf("%d objects of class %#x labelled %q, want 1", len(hs), class, label)
	}
	return hs[0]
}

func (f *fixture) attr(t testing.TB, h, o, typ uint) []byte {
	t.Helper()
	vs, rv := f.m.GetAttributeValue(h, o, []uint{typ})
	must(t, "GetAttributeValue", rv)
	return vs[0].Value
}

func (f *fixture) isTrue(t testing.TB, h, o, typ uint) bool {
	t.Helper()
	v, ok := getBool(f.attr(t, h, o, typ))
	if !ok {
		t.Fatalf("attribute %#x is not a CK_BBOOL", typ)
	}
	return v
}

func (f *fixture) publicKey(t testing.TB, h uint, label string) *ecdsa.PublicKey {
	t.Helper()
	pub := f.one(t, h, CKO_PUBLIC_KEY, label)
	var point []byte
	if _, err := asn1.Unmarshal(f.attr(t, h, pub, CKA_EC_POINT), &point); err != nil {
		t.Fatalf("CKA_EC_POINT is not a DER OCTET STRING: %v", err)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) sign(t testing.TB, h uint, mech uint, key uint, data []byte) []byte {
	t.Helper()
	must(t, "SignInit", f.m.SignInit(h, Mechanism{Type: mech}, key))
	sig, _, rv := f.m.Sign(h, data, 64)
	must(t, "Sign", rv)
	return sig
}

func rawVerify(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	der, err := spec.SignatureToDER(sig)
	return len(sig) == 64 && err == nil && ecdsa.VerifyASN1(pub, digest, der)
}

func TestTokenIdentityAndLoginSemantics(t *testing.T) {
	f := newFixture(t)
	slots, rv := f.m.SlotList(true)
	must(t, "SlotList", rv)
	if len(slots) != 1 {
		t.Fatalf("slots %v", slots)
	}
	ti, rv := f.m.TokenInfo(0)
	must(t, "TokenInfo", rv)
	if ti.Label != "IoT SAFE" || !strings.Contains(ti.Model, "IoT SAFE") || len(ti.Serial) != 16 || ti.Manufacturer == "" {
		t.Errorf("token info %+v", ti)
	}
	if ti.Flags&CKF_LOGIN_REQUIRED != 0 || ti.Flags&CKF_TOKEN_INITIALIZED == 0 || ti.Flags&CKF_RNG == 0 {
		t.Errorf("token flags %#x: want initialized, RNG, no login required", ti.Flags)
	}
	// Without a configured PIN a login is not needed; C_Login is accepted
	// (libraries that always log in keep working) and changes nothing.
	h := f.session(t, false)
	must(t, "Login", f.m.Login(h, CKU_USER, []byte("anything")))
	want(t, "Login SO", f.m.Login(h, CKU_SO, []byte("x")), CKR_USER_TYPE_INVALID)

	// Two SIMs: two tokens with distinct labels. The serial names the
	// applet (naming a token reads no key), so two SIMs of one applet share
	// it; their host-side objects are told apart by SIM (see
	// TestHostObjectsBoundToTheirSIM).
	f2 := newFixture(t, SlotConfig{SIM: "a"}, SlotConfig{SIM: "b"})
	a, _ := f2.m.TokenInfo(0)
	b, _ := f2.m.TokenInfo(1)
	if a.Label == b.Label {
		t.Errorf("two SIMs, same label: %q/%q %q/%q", a.Label, a.Serial, b.Label, b.Serial)
	}
}

func TestObjectsMappedFromTheApplet(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, false)

	priv := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	pub := f.one(t, h, CKO_PUBLIC_KEY, "device-key")
	certs := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}, Attribute{CKA_ID, []byte{0x01}})
	if len(certs) != 1 {
		t.Fatalf("%d certificates with CKA_ID 01", len(certs))
	}
	cert := certs[0]
	for _, o := range []uint{priv, pub, cert} {
		if id := f.attr(t, h, o, CKA_ID); !bytes.Equal(id, []byte{1}) {
			t.Errorf("object %d CKA_ID %x, want 01", o, id)
		}
		if l := f.attr(t, h, o, CKA_LABEL); string(l) != "device-key" {
			t.Errorf("object %d CKA_LABEL %q", o, l)
		}
		if f.isTrue(t, h, o, CKA_MODIFIABLE) {
			t.Errorf("card object %d is modifiable", o)
		}
		if !f.isTrue(t, h, o, CKA_TOKEN) {
			t.Errorf("card object %d is not a token object", o)
		}
	}
	if kt, _ := getUlong(f.attr(t, h, priv, CKA_KEY_TYPE)); kt != CKK_EC {
		t.Errorf("key type %#x", kt)
	}
	for typ, exp := range map[uint]bool{CKA_SIGN: true, CKA_SENSITIVE: true, CKA_ALWAYS_SENSITIVE: true,
		CKA_NEVER_EXTRACTABLE: true, CKA_EXTRACTABLE: false, CKA_DERIVE: false, CKA_PRIVATE: false} {
		if got := f.isTrue(t, h, priv, typ); got != exp {
			t.Errorf("private key attribute %#x = %v, want %v", typ, got, exp)
		}
	}
	p256, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	if !bytes.Equal(f.attr(t, h, priv, CKA_EC_PARAMS), p256) {
		t.Error("CKA_EC_PARAMS is not the P-256 OID")
	}
	// The engine answers per attribute; the C layer turns that into
	// CKR_ATTRIBUTE_SENSITIVE for the call.
	vs, rv := f.m.GetAttributeValue(h, priv, []uint{CKA_VALUE, CKA_LABEL})
	must(t, "GetAttributeValue", rv)
	if vs[0].RV != CKR_ATTRIBUTE_SENSITIVE || string(vs[1].Value) != "device-key" {
		t.Errorf("sensitive value answered %+v", vs)
	}

	// The key agreement key derives, and does not sign.
	ecdhKey := f.one(t, h, CKO_PRIVATE_KEY, "ecdh-key")
	if !f.isTrue(t, h, ecdhKey, CKA_DERIVE) || f.isTrue(t, h, ecdhKey, CKA_SIGN) {
		t.Error("ecdh-key: want CKA_DERIVE and not CKA_SIGN")
	}

	// The certificate: value and fields parsed from it; it certifies the key.
	der := f.attr(t, h, cert, CKA_VALUE)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.attr(t, h, cert, CKA_SUBJECT), c.RawSubject) || !bytes.Equal(f.attr(t, h, cert, CKA_ISSUER), c.RawIssuer) {
		t.Error("CKA_SUBJECT/CKA_ISSUER differ from the certificate")
	}
	serial, _ := asn1.Marshal(c.SerialNumber)
	if !bytes.Equal(f.attr(t, h, cert, CKA_SERIAL_NUMBER), serial) {
		t.Error("CKA_SERIAL_NUMBER differs from the certificate")
	}
	if ct, _ := getUlong(f.attr(t, h, cert, CKA_CERTIFICATE_TYPE)); ct != CKC_X_509 {
		t.Errorf("certificate type %#x", ct)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(f.publicKey(t, h, "device-key")) {
		t.Error("the certificate does not certify the token's public key")
	}

	// SIM secrets are not shown unless configured (no mechanism uses them).
	if n := len(f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_SECRET_KEY)})); n != 0 {
		t.Errorf("%d secret keys shown without secret-keys: yes", n)
	}
	// The general-purpose file.
	data := f.one(t, h, CKO_DATA, "data")
	if v := f.attr(t, h, data, CKA_VALUE); len(v) != 512 {
		t.Errorf("data object: %d bytes", len(v))
	}
	want(t, "DestroyObject(card key)", f.m.DestroyObject(f.session(t, true), priv), CKR_ACTION_PROHIBITED)
}

func TestHexIDs(t *testing.T) {
	f := newFixture(t, SlotConfig{SIM: "sim1", HexIDs: true})
	h := f.session(t, false)
	keys := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, Attribute{CKA_ID, []byte("01")})
	if len(keys) != 1 {
		t.Fatalf("pkcs11:id=%%30%%31 finds %d private keys", len(keys))
	}
}

func TestSignVerifyAndAPDUs(t *testing.T) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{card: card}
	m := &Module{
		Open:         func(context.Context, string) (transport.Transport, error) { return cnt, nil },
		ConfigSource: func() (*Config, error) { return &Config{Store: t.TempDir(), Slots: []SlotConfig{{SIM: "x"}}}, nil },
	}
	f := &fixture{m: m}
	must(t, "Initialize", m.Initialize(0))
	defer m.Finalize()
	h := f.session(t, false)
	key := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	digest := sha256.Sum256([]byte("first"))
	sig := f.sign(t, h, CKM_ECDSA, key, digest[:])
	first := cnt.count()
	pub := f.publicKey(t, h, "device-key")
	if !rawVerify(pub, digest[:], sig) {
		t.Fatal("signature does not verify")
	}
	before := cnt.count()
	const n = 20
	for i := 0; i < n; i++ {
		f.sign(t, h, CKM_ECDSA, key, digest[:])
	}
	per := float64(cnt.count()-before) / n
	t.Logf("APDUs from C_Initialize to the first signature: %d; per steady-state signature: %.1f", first, per)
	if per != 2 {
		t.Errorf("%.1f APDUs per signature, want 2 (Compute Signature Init + Update)", per)
	}

	// Two-call convention and a short buffer that keeps the operation.
	must(t, "SignInit", m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key))
	if _, n, rv := m.Sign(h, digest[:], -1); rv != CKR_OK || n != 64 {
		t.Fatalf("length query: %d %s", n, rvName(rv))
	}
	if _, n, rv := m.Sign(h, digest[:], 10); rv != CKR_BUFFER_TOO_SMALL || n != 64 {
		t.Fatalf("short buffer: %d %s", n, rvName(rv))
	}
	sig, _, rv := m.Sign(h, digest[:], 64)
	must(t, "Sign after BUFFER_TOO_SMALL", rv)
	if !rawVerify(pub, digest[:], sig) {
		t.Fatal("signature after a short buffer does not verify")
	}

	// CKM_ECDSA with a SHA-384 digest: X9.62 truncation, as crypto/ecdsa.
	d384 := sha512.Sum384([]byte("long digest"))
	sig = f.sign(t, h, CKM_ECDSA, key, d384[:])
	if !rawVerify(pub, d384[:], sig) {
		t.Fatal("CKM_ECDSA over a 48-byte digest does not verify as X9.62")
	}

	// CKM_ECDSA_SHA256 multi-part equals single-part semantics.
	msg := bytes.Repeat([]byte("iotsafe"), 1000)
	must(t, "SignInit", m.SignInit(h, Mechanism{Type: CKM_ECDSA_SHA256}, key))
	for i := 0; i < len(msg); i += 999 {
		must(t, "SignUpdate", m.SignUpdate(h, msg[i:min(i+999, len(msg))]))
	}
	sig, _, rv = m.SignFinal(h, 64)
	must(t, "SignFinal", rv)
	md := sha256.Sum256(msg)
	if !rawVerify(pub, md[:], sig) {
		t.Fatal("multi-part CKM_ECDSA_SHA256 does not verify")
	}
	pubH := f.one(t, h, CKO_PUBLIC_KEY, "device-key")
	must(t, "VerifyInit", m.VerifyInit(h, Mechanism{Type: CKM_ECDSA_SHA256}, pubH))
	must(t, "Verify", m.Verify(h, msg, sig))
	sig[3] ^= 0x40
	must(t, "VerifyInit", m.VerifyInit(h, Mechanism{Type: CKM_ECDSA_SHA256}, pubH))
	want(t, "Verify(bad)", m.Verify(h, msg, sig), CKR_SIGNATURE_INVALID)

	// An agreement-only key does not sign.
	want(t, "SignInit(ecdh-key)", m.SignInit(h, Mechanism{Type: CKM_ECDSA}, f.one(t, h, CKO_PRIVATE_KEY, "ecdh-key")), CKR_KEY_FUNCTION_NOT_PERMITTED)
}

func TestMechanismsFollowTheCard(t *testing.T) {
	f := newFixture(t)
	list, rv := f.m.MechanismList(0)
	must(t, "MechanismList", rv)
	has := map[uint]bool{}
	for _, mech := range list {
		has[mech] = true
	}
	for _, mech := range []uint{CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512, CKM_ECDH1_DERIVE, CKM_EC_KEY_PAIR_GEN, CKM_SHA256} {
		if !has[mech] {
			t.Errorf("mechanism %#x missing", mech)
		}
	}
	mi, rv := f.m.MechanismInfo(0, CKM_ECDSA)
	must(t, "MechanismInfo", rv)
	if mi.Flags&(CKF_SIGN|CKF_HW) != CKF_SIGN|CKF_HW || mi.MinKeySize != 256 || mi.MaxKeySize != 256 {
		t.Errorf("CKM_ECDSA info %+v", mi)
	}
	_, rv = f.m.MechanismInfo(0, 0x1 /* CKM_RSA_PKCS */)
	want(t, "MechanismInfo(RSA)", rv, CKR_MECHANISM_INVALID)

	// A card whose operator removed the key agreement key and the empty
	// containers: no ECDH, no key generation advertised.
	card := f.cards["sim1"].card
	adm, err := card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		k  spec.ObjectKind
		id byte
	}{{spec.KindPrivateKey, 4}, {spec.KindPrivateKey, 2}} {
		if err := adm.DeleteObject(o.k, []byte{o.id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := adm.Commit(); err != nil {
		t.Fatal(err)
	}
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	list, _ = f.m.MechanismList(0)
	for _, mech := range list {
		if mech == CKM_ECDH1_DERIVE || mech == CKM_EC_KEY_PAIR_GEN {
			t.Errorf("mechanism %#x advertised by a card that cannot do it", mech)
		}
	}
}

func TestGenerateKeyPairIntoContainer(t *testing.T) {
	f := newFixture(t)
	ro := f.session(t, false)
	tok := Attribute{CKA_TOKEN, bbool(true)}
	tmplPriv := []Attribute{tok, {CKA_ID, []byte{2}}, {CKA_SIGN, bbool(true)}}
	tmplPub := []Attribute{{CKA_EC_PARAMS, oidP256}, {CKA_VERIFY, bbool(true)}}
	_, _, rv := f.m.GenerateKeyPair(ro, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, tmplPriv)
	want(t, "GenerateKeyPair(read-only session)", rv, CKR_SESSION_READ_ONLY)

	h := f.session(t, true)
	_, _, rv = f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, []Attribute{tok, {CKA_ID, []byte{0x77}}})
	want(t, "GenerateKeyPair(no such container)", rv, CKR_TEMPLATE_INCONSISTENT)
	_, _, rv = f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, []Attribute{tok, {CKA_ID, []byte{2}}, {CKA_EXTRACTABLE, bbool(true)}})
	want(t, "GenerateKeyPair(extractable)", rv, CKR_TEMPLATE_INCONSISTENT)

	pubH, privH, rv := f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, tmplPriv)
	must(t, "GenerateKeyPair", rv)
	if l := f.attr(t, h, privH, CKA_LABEL); string(l) != "ztp-key" {
		t.Errorf("new key label %q", l)
	}
	var point []byte
	asn1.Unmarshal(f.attr(t, h, pubH, CKA_EC_POINT), &point)
	a, err := iotsafe.Open(context.Background(), f.cards["sim1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	onCard, err := a.ReadPublicKey(context.Background(), iotsafe.ByID(2))
	if err != nil || !bytes.Equal(onCard, point) {
		t.Fatalf("card public key %x, token %x (%v)", onCard, point, err)
	}
	pub, _ := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	d := sha256.Sum256([]byte("new key"))
	if !rawVerify(pub, d[:], f.sign(t, h, CKM_ECDSA, privH, d[:])) {
		t.Fatal("signature with the generated key does not verify")
	}
	// The key agreement container holds an active key: not replaced
	// without the configured opt-in.
	ecdhBefore := f.publicKey(t, h, "ecdh-key")
	_, _, rv = f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, []Attribute{tok, {CKA_LABEL, []byte("ecdh-key")}, {CKA_DERIVE, bbool(true)}})
	want(t, "GenerateKeyPair(active key, no opt-in)", rv, CKR_TEMPLATE_INCONSISTENT)
	if !f.publicKey(t, h, "ecdh-key").Equal(ecdhBefore) {
		t.Fatal("an active key was replaced without the opt-in")
	}
	f.cfg.Slots[0].ReplaceKeys = true
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	h = f.session(t, true)
	// By label, into the key agreement container.
	_, privH, rv = f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, tmplPub, []Attribute{tok, {CKA_LABEL, []byte("ecdh-key")}, {CKA_DERIVE, bbool(true)}})
	must(t, "GenerateKeyPair(label)", rv)
	if !f.isTrue(t, h, privH, CKA_DERIVE) {
		t.Error("the regenerated key agreement key does not derive")
	}
}

// The attack of the security review: Java's KeyPairGenerator through
// SunPKCS11 asks for a session key pair (no CKA_TOKEN). That must never
// write a SIM container, empty or not.
func TestSessionKeyPairNeverWritesTheSIM(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, true)
	before := f.publicKey(t, h, "ecdh-key")
	pubT := []Attribute{{CKA_EC_PARAMS, oidP256}}
	for _, priv := range [][]Attribute{nil, {{CKA_SIGN, bbool(true)}}, {{CKA_LABEL, []byte("ecdh-key")}, {CKA_DERIVE, bbool(true)}}} {
		_, _, rv := f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN}, pubT, priv)
		want(t, "GenerateKeyPair(session key)", rv, CKR_TEMPLATE_INCONSISTENT)
	}
	a, err := iotsafe.Open(context.Background(), f.cards["sim1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := a.Find(context.Background(), spec.KindPrivateKey, iotsafe.ByID(2))
	if err != nil || o.Active() {
		t.Fatalf("the empty container was written: %v %v", o, err)
	}
	if !f.publicKey(t, h, "ecdh-key").Equal(before) {
		t.Fatal("a session-key request replaced a SIM key")
	}
}

func TestDeriveECDH(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, true)
	key := f.one(t, h, CKO_PRIVATE_KEY, "ecdh-key")
	cardPub := f.publicKey(t, h, "ecdh-key")
	before := f.publicKey(t, h, "device-key")
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	tmpl := []Attribute{{CKA_CLASS, ulong(CKO_SECRET_KEY)}, {CKA_KEY_TYPE, ulong(CKK_GENERIC_SECRET)},
		{CKA_TOKEN, bbool(false)}, {CKA_SENSITIVE, bbool(false)}, {CKA_EXTRACTABLE, bbool(true)}}
	for _, form := range []string{"raw", "der"} {
		pd := peer.PublicKey().Bytes()
		if form == "der" {
			pd, _ = asn1.Marshal(pd)
		}
		sk, rv := f.m.DeriveKey(h, Mechanism{Type: CKM_ECDH1_DERIVE, ECDH: &ECDH1DeriveParams{KDF: CKD_NULL, PublicData: pd}}, key, tmpl)
		must(t, "DeriveKey "+form, rv)
		cp, _ := cardPub.ECDH()
		z, _ := peer.ECDH(cp)
		if got := f.attr(t, h, sk, CKA_VALUE); !bytes.Equal(got, z) {
			t.Fatalf("%s: derived %x, want %x", form, got, z)
		}
	}
	// The key pairs' own public keys are untouched (the peer key went into
	// the peer container).
	if !f.publicKey(t, h, "ecdh-key").Equal(cardPub) || !f.publicKey(t, h, "device-key").Equal(before) {
		t.Fatal("ECDH overwrote a key pair's public key")
	}
	_, rv := f.m.DeriveKey(h, Mechanism{Type: CKM_ECDH1_DERIVE, ECDH: &ECDH1DeriveParams{KDF: CKD_NULL, PublicData: []byte{4, 1, 2}}}, key, tmpl)
	if rv == CKR_OK {
		t.Fatal("a malformed peer point was accepted")
	}
	_, rv = f.m.DeriveKey(h, Mechanism{Type: CKM_ECDH1_DERIVE, ECDH: &ECDH1DeriveParams{KDF: CKD_NULL, PublicData: peer.PublicKey().Bytes()}},
		f.one(t, h, CKO_PRIVATE_KEY, "device-key"), tmpl)
	want(t, "DeriveKey(signature key)", rv, CKR_KEY_FUNCTION_NOT_PERMITTED)
}

func selfSigned(t testing.TB, cn string) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCreateObjectKeptInHostStore(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, true)
	der := selfSigned(t, "enrolled")
	tmpl := []Attribute{{CKA_CLASS, ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, ulong(CKC_X_509)},
		{CKA_TOKEN, bbool(true)}, {CKA_ID, []byte{2}}, {CKA_LABEL, []byte("ztp-key")}, {CKA_VALUE, der}}
	ro := f.session(t, false)
	_, rv := f.m.CreateObject(ro, tmpl)
	want(t, "CreateObject(read-only)", rv, CKR_SESSION_READ_ONLY)
	o, rv := f.m.CreateObject(h, tmpl)
	must(t, "CreateObject", rv)
	c, _ := x509.ParseCertificate(der)
	if !bytes.Equal(f.attr(t, h, o, CKA_SUBJECT), c.RawSubject) {
		t.Error("CKA_SUBJECT not filled from the certificate")
	}
	// A key cannot be imported (it would not be on the SIM).
	_, rv = f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, {CKA_KEY_TYPE, ulong(CKK_EC)}})
	if rv == CKR_OK {
		t.Fatal("a private key was imported")
	}

	// Still there after the library is reloaded; then destroyed for good.
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	h = f.session(t, true)
	found := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}, Attribute{CKA_ID, []byte{2}})
	if len(found) != 1 || !bytes.Equal(f.attr(t, h, found[0], CKA_VALUE), der) {
		t.Fatalf("the stored certificate is not found after reloading (%d)", len(found))
	}
	if !f.isTrue(t, h, found[0], CKA_MODIFIABLE) {
		t.Error("a host-stored object should be modifiable")
	}
	must(t, "DestroyObject", f.m.DestroyObject(h, found[0]))
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	h = f.session(t, false)
	if n := len(f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}, Attribute{CKA_ID, []byte{2}})); n != 0 {
		t.Fatalf("destroyed certificate still listed (%d)", n)
	}
}

func TestOperatorChangeIsSeen(t *testing.T) {
	old := pollInterval
	pollInterval = 0
	defer func() { pollInterval = old }()
	f := newFixture(t)
	h := f.session(t, false)
	f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	adm, err := f.cards["sim1"].card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteObject(spec.KindPrivateKey, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := adm.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, Attribute{CKA_LABEL, []byte("device-key")})); n != 0 {
		t.Fatalf("a key the operator removed is still listed (%d)", n)
	}
}

func TestCardRemovedAndBack(t *testing.T) {
	old := reopenInterval
	reopenInterval = 0
	defer func() { reopenInterval = old }()
	f := newFixture(t)
	h := f.session(t, false)
	key := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	c := f.cards["sim1"]
	c.setRemoved(true)
	must(t, "SignInit", f.m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key))
	d := sha256.Sum256(nil)
	_, _, rv := f.m.Sign(h, d[:], 64)
	want(t, "Sign with the card pulled", rv, CKR_DEVICE_REMOVED)
	_, rv = f.m.SessionInfo(h)
	if rv == CKR_OK {
		t.Error("the session survived the removal of its token")
	}
	if si, _ := f.m.SlotInfo(0); si.Flags&CKF_TOKEN_PRESENT != 0 {
		t.Error("slot still reports a token")
	}
	c.setRemoved(false)
	if si, _ := f.m.SlotInfo(0); si.Flags&CKF_TOKEN_PRESENT == 0 {
		t.Fatal("the token did not come back")
	}
	h = f.session(t, false)
	key = f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	f.sign(t, h, CKM_ECDSA, key, d[:])
}

func TestBadCardAnswers(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, false)
	key := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	d := sha256.Sum256(nil)
	for _, k := range []emulator.FaultKind{emulator.FaultTruncate, emulator.FaultGarble} {
		f.cards["sim1"].card.SetFaults(emulator.Fault{At: 1, Kind: k}, emulator.Fault{At: 2, Kind: k})
		must(t, "SignInit", f.m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key))
		_, _, rv := f.m.Sign(h, d[:], 64)
		if rv != CKR_DEVICE_ERROR {
			t.Errorf("fault %d: Sign = %s, want CKR_DEVICE_ERROR (a truncated answer, a garbled status word)", k, rvName(rv))
		}
		f.cards["sim1"].card.SetFaults()
	}
	// The library recovers.
	h = f.session(t, false)
	f.sign(t, h, CKM_ECDSA, f.one(t, h, CKO_PRIVATE_KEY, "device-key"), d[:])
}

func TestConfiguredPIN(t *testing.T) {
	hash, err := HashPIN("2468")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "123", strings.Repeat("9", 65)} {
		if _, err := HashPIN(bad); err == nil {
			t.Errorf("HashPIN accepted a PIN of %d characters, which C_Login would refuse", len(bad))
		}
	}
	if strings.Contains(hash, "2468") {
		t.Fatal("the PIN hash contains the PIN")
	}
	f := newFixture(t, SlotConfig{SIM: "sim1", UserPIN: hash, PINTries: 3})
	ti, _ := f.m.TokenInfo(0)
	if ti.Flags&CKF_LOGIN_REQUIRED == 0 || ti.Flags&CKF_USER_PIN_INITIALIZED == 0 {
		t.Fatalf("flags %#x: a configured PIN must be required", ti.Flags)
	}
	h := f.session(t, false)
	if n := len(f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PRIVATE_KEY)})); n != 0 {
		t.Fatalf("%d private keys visible before login", n)
	}
	want(t, "Login(wrong)", f.m.Login(h, CKU_USER, []byte("0000")), CKR_PIN_INCORRECT)
	ti, _ = f.m.TokenInfo(0)
	if ti.Flags&CKF_USER_PIN_COUNT_LOW == 0 {
		t.Errorf("flags %#x after a wrong PIN", ti.Flags)
	}
	must(t, "Login", f.m.Login(h, CKU_USER, []byte("2468")))
	want(t, "Login again", f.m.Login(h, CKU_USER, []byte("2468")), CKR_USER_ALREADY_LOGGED_IN)
	key := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	d := sha256.Sum256(nil)
	f.sign(t, h, CKM_ECDSA, key, d[:])
	must(t, "Logout", f.m.Logout(h))
	want(t, "SignInit after logout", f.m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key), CKR_USER_NOT_LOGGED_IN)

	for i := 0; i < 3; i++ {
		f.m.Login(h, CKU_USER, []byte("1111"))
	}
	want(t, "Login(locked)", f.m.Login(h, CKU_USER, []byte("2468")), CKR_PIN_LOCKED)
	// The counter is persistent: reloading the library does not unlock.
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	h = f.session(t, false)
	want(t, "Login(locked, reloaded)", f.m.Login(h, CKU_USER, []byte("2468")), CKR_PIN_LOCKED)
}

func TestNothingConfigured(t *testing.T) {
	m := &Module{ConfigSource: func() (*Config, error) { return &Config{Store: t.TempDir(), Log: filepath.Join(t.TempDir(), "l")}, nil }}
	must(t, "Initialize", m.Initialize(0))
	defer m.Finalize()
	all, _ := m.SlotList(false)
	present, _ := m.SlotList(true)
	if len(all) != 1 || len(present) != 0 {
		t.Fatalf("slots %v, present %v: want one empty slot", all, present)
	}
	_, rv := m.OpenSession(0, CKF_SERIAL_SESSION)
	want(t, "OpenSession", rv, CKR_TOKEN_NOT_PRESENT)

	// A SIM that cannot be opened: an empty slot and a log line naming it.
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log")
	m = &Module{ConfigSource: func() (*Config, error) {
		return &Config{Store: dir, Log: logPath, Slots: []SlotConfig{{SIM: "emulator:" + filepath.Join(dir, "missing.json")}}}, nil
	}}
	must(t, "Initialize", m.Initialize(0))
	defer m.Finalize()
	if present, _ := m.SlotList(true); len(present) != 0 {
		t.Fatal("a missing SIM shows a token")
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "missing.json") {
		t.Errorf("the log does not name the SIM that failed: %q", b)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
# comment
store = /tmp/store
log-level = debug

[slot]
sim = emulator:/var/lib/sim.json
label = Meter SIM
hex-ids = yes

[slot]
sim = pcsc:
peer-key = 05
short-apdus = yes
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "/tmp/store" || len(cfg.Slots) != 2 || cfg.Slots[0].Label != "Meter SIM" || !cfg.Slots[0].HexIDs ||
		cfg.Slots[1].SIM != "pcsc:" || cfg.Slots[1].PeerKey != "05" || !cfg.Slots[1].ShortAPDUs || cfg.Slots[0].ShortAPDUs {
		t.Fatalf("%+v", cfg)
	}
	for _, bad := range []string{"[slot]\nlabel = x\n", "bogus = 1\n", "[slot]\nsim = pcsc:\nhex-ids = maybe\n", "[other]\n",
		"[slot]\nsim = pcsc:\npeer-key = 5\n", "[slot]\nsim = pcsc:\npeer-key = zz\n", "[slot]\nsim = pcsc:\nshort-apdus = sometimes\n"} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestConcurrentSigning(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, rv := f.m.OpenSession(0, CKF_SERIAL_SESSION)
			if rv != CKR_OK {
				errs <- rvName(rv)
				return
			}
			defer f.m.CloseSession(h)
			if rv := f.m.FindObjectsInit(h, []Attribute{{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, {CKA_LABEL, []byte("device-key")}}); rv != CKR_OK {
				errs <- "FindObjectsInit: " + rvName(rv)
				return
			}
			keys, _ := f.m.FindObjects(h, 1)
			f.m.FindObjectsFinal(h)
			if len(keys) != 1 {
				errs <- "device-key not found"
				return
			}
			d := sha256.Sum256([]byte{byte(len(keys))})
			for j := 0; j < 20; j++ {
				if rv := f.m.SignInit(h, Mechanism{Type: CKM_ECDSA}, keys[0]); rv != CKR_OK {
					errs <- rvName(rv)
					return
				}
				if _, _, rv := f.m.Sign(h, d[:], 64); rv != CKR_OK {
					errs <- rvName(rv)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// BenchmarkModuleSign is C_SignInit + C_Sign (CKM_ECDSA) through the token engine
// on the in-process emulator; it reports APDUs per signature.
func BenchmarkModuleSign(b *testing.B) {
	f := newFixture(b)
	h := f.session(b, false)
	key := f.one(b, h, CKO_PRIVATE_KEY, "device-key")
	d := sha256.Sum256([]byte("bench"))
	c := f.cards["sim1"]
	start := c.count()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rv := f.m.SignInit(h, Mechanism{Type: CKM_ECDSA}, key); rv != CKR_OK {
			b.Fatal(rvName(rv))
		}
		if _, _, rv := f.m.Sign(h, d[:], 64); rv != CKR_OK {
			b.Fatal(rvName(rv))
		}
	}
	b.ReportMetric(float64(c.count()-start)/float64(b.N), "apdus/op")
}

// BenchmarkModuleFirstSignature measures C_Initialize to the first signature
// (open, identify the token, find the key, sign) and its APDUs.
func BenchmarkModuleFirstSignature(b *testing.B) {
	d := sha256.Sum256([]byte("bench"))
	var apdus int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		card, _ := emulator.New(emulator.Options{})
		c := &counting{card: card}
		m := &Module{Open: func(context.Context, string) (transport.Transport, error) { return c, nil },
			ConfigSource: func() (*Config, error) { return &Config{Store: b.TempDir(), Slots: []SlotConfig{{SIM: "x"}}}, nil }}
		f := &fixture{m: m}
		b.StartTimer()
		must(b, "Initialize", m.Initialize(0))
		h := f.session(b, false)
		f.sign(b, h, CKM_ECDSA, f.one(b, h, CKO_PRIVATE_KEY, "device-key"), d[:])
		b.StopTimer()
		apdus += c.count()
		m.Finalize()
		b.StartTimer()
	}
	b.ReportMetric(float64(apdus)/float64(b.N), "apdus/op")
}

// FuzzParseConfig: any configuration file gives a Config or an error, and a
// parsed one has a SIM in every slot.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("store = /x\n[slot]\nsim = emulator:/a.json\nlabel = L\nhex-ids = yes\npin-tries = 3\n"))
	f.Add([]byte("[slot]\nsim: pcsc:\npeer-key: 05\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, s := range cfg.Slots {
			if s.SIM == "" {
				t.Fatalf("slot without a SIM accepted from %q", b)
			}
		}
	})
}

func TestWaitForSlotEvent(t *testing.T) {
	old, oldIdle := slotEventInterval, idleProbeInterval
	slotEventInterval, idleProbeInterval = 10*time.Millisecond, 10*time.Millisecond
	defer func() { slotEventInterval, idleProbeInterval = old, oldIdle }()
	oldReopen := reopenInterval
	reopenInterval = 0
	defer func() { reopenInterval = oldReopen }()
	f := newFixture(t)
	// The token present at C_Initialize is not an event.
	_, rv := f.m.WaitForSlotEvent(CKF_DONT_BLOCK)
	want(t, "WaitForSlotEvent(no change)", rv, CKR_NO_EVENT)

	// A blocking wait sees the card pulled, then put back.
	got := make(chan uint, 1)
	go func() { _, rv := f.m.WaitForSlotEvent(0); got <- rv }()
	time.Sleep(30 * time.Millisecond)
	f.cards["sim1"].setRemoved(true)
	select {
	case rv := <-got:
		must(t, "WaitForSlotEvent(removal)", rv)
	case <-time.After(5 * time.Second):
		t.Fatal("the removal was not reported")
	}
	if si, _ := f.m.SlotInfo(0); si.Flags&CKF_TOKEN_PRESENT != 0 {
		t.Fatal("token still present after the removal event")
	}
	go func() { _, rv := f.m.WaitForSlotEvent(0); got <- rv }()
	f.cards["sim1"].setRemoved(false)
	select {
	case rv := <-got:
		must(t, "WaitForSlotEvent(insertion)", rv)
	case <-time.After(5 * time.Second):
		t.Fatal("the insertion was not reported")
	}
	// C_Finalize ends a blocking wait.
	go func() { _, rv := f.m.WaitForSlotEvent(0); got <- rv }()
	time.Sleep(30 * time.Millisecond)
	f.m.Finalize()
	select {
	case rv := <-got:
		want(t, "WaitForSlotEvent after Finalize", rv, CKR_CRYPTOKI_NOT_INITIALIZED)
	case <-time.After(5 * time.Second):
		t.Fatal("C_Finalize did not end the wait")
	}
}

func TestStatusWordsToCKR(t *testing.T) {
	for _, c := range []struct {
		err  error
		want uint
	}{
		{fmt.Errorf("x: %w", transport.ErrCardRemoved), CKR_DEVICE_REMOVED},
		{fmt.Errorf("x: %w", transport.ErrCardReset), CKR_DEVICE_REMOVED},
		{fmt.Errorf("x: %w", iotsafe.ErrNotFound), CKR_KEY_HANDLE_INVALID},
		{fmt.Errorf("x: %w", iotsafe.ErrConditionsNotSatisfied), CKR_KEY_FUNCTION_NOT_PERMITTED},
		{fmt.Errorf("x: %w", iotsafe.ErrSignatureMismatch), CKR_SIGNATURE_INVALID},
		{fmt.Errorf("x: %w", iotsafe.ErrOutOfMemory), CKR_DEVICE_MEMORY},
		{fmt.Errorf("x: %w", iotsafe.ErrIncorrectData), CKR_DATA_INVALID},
		{fmt.Errorf("x: %w", iotsafe.ErrMalformedResponse), CKR_DEVICE_ERROR},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), CKR_DEVICE_ERROR},
		{fmt.Errorf("x: %w", iotsafe.ErrRemoteAdminInProgress), CKR_FUNCTION_FAILED},
		{&iotsafe.CardError{Op: "sign", SW: 0x6FFF}, CKR_DEVICE_ERROR},
		{errors.New("something else"), CKR_FUNCTION_FAILED},
	} {
		if got := rvFor(c.err); got != c.want {
			t.Errorf("%v -> %s, want %s", c.err, rvName(got), rvName(c.want))
		}
	}
}

// Data files: read when their value is asked for; a file without read
// access is listed with a value that is never revealed.
func TestDataFiles(t *testing.T) {
	f := newFixture(t)
	adm, err := f.cards["sim1"].card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.PutFile([]byte{0x11}, "secret-data", spec.FileUsageGeneral, 0, []byte("operator only")); err != nil {
		t.Fatal(err)
	}
	if err := adm.Commit(); err != nil {
		t.Fatal(err)
	}
	h := f.session(t, false)
	c := f.cards["sim1"]
	before := c.count()
	data := f.one(t, h, CKO_DATA, "data")
	listed := c.count()
	v := f.attr(t, h, data, CKA_VALUE)
	if len(v) != 512 || c.count() == listed {
		t.Fatalf("value of %d bytes, %d APDUs to read it", len(v), c.count()-listed)
	}
	t.Logf("listing took %d APDUs, reading the 512-byte file %d", listed-before, c.count()-listed)
	again := c.count()
	f.attr(t, h, data, CKA_VALUE)
	if c.count() != again {
		t.Error("the file was read from the card twice")
	}
	// A template on CKA_VALUE finds the file by content.
	if got := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_DATA)}, Attribute{CKA_VALUE, v}); len(got) != 1 || got[0] != data {
		t.Fatalf("find by value: %v", got)
	}
	hidden := f.one(t, h, CKO_DATA, "secret-data")
	vs, rv := f.m.GetAttributeValue(h, hidden, []uint{CKA_VALUE, CKA_LABEL})
	must(t, "GetAttributeValue", rv)
	if vs[0].RV != CKR_ATTRIBUTE_SENSITIVE || string(vs[1].Value) != "secret-data" {
		t.Fatalf("unreadable file answered %+v", vs)
	}
}

// The attacks of the security review on the host-side PIN: a counter that
// cannot be written must not give free guesses; a store directory that
// another user prepared (or that others can write to) is refused; an
// unauthenticated session cannot destroy host-stored objects; and listing a
// token leaves nothing on disk.
func TestPINFailsClosed(t *testing.T) {
	hash, _ := HashPIN("2468")
	f := newFixture(t, SlotConfig{SIM: "sim1", UserPIN: hash, PINTries: 3})
	h := f.session(t, true)
	// Nothing on disk yet.
	if ents, _ := os.ReadDir(f.cfg.Store); len(ents) != 0 {
		t.Fatalf("listing the token created %d entries in the store", len(ents))
	}
	// A host object, stored after login.
	must(t, "Login", f.m.Login(h, CKU_USER, []byte("2468")))
	obj, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_TOKEN, bbool(true)},
		{CKA_LABEL, []byte("note")}, {CKA_VALUE, []byte("kept")}})
	must(t, "CreateObject", rv)
	must(t, "Logout", f.m.Logout(h))
	want(t, "DestroyObject(not logged in)", f.m.DestroyObject(h, obj), CKR_USER_NOT_LOGGED_IN)

	ents, _ := os.ReadDir(f.cfg.Store)
	if len(ents) != 1 {
		t.Fatalf("store entries %d", len(ents))
	}
	dir := filepath.Join(f.cfg.Store, ents[0].Name())
	counter := filepath.Join(dir, "pin-failures")
	// The counter cannot be written (a directory stands in its place, which
	// works as root too): a wrong PIN is refused without a
	// check, and so is the right one (no free guesses, fail closed).
	os.Remove(counter)
	if err := os.Mkdir(counter, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if rv := f.m.Login(h, CKU_USER, []byte("1111")); rv == CKR_PIN_INCORRECT || rv == CKR_OK {
			t.Fatalf("try %d with an unwritable counter: %s", i, rvName(rv))
		}
	}
	if rv := f.m.Login(h, CKU_USER, []byte("2468")); rv == CKR_OK {
		t.Fatal("logged in with an unwritable counter")
	}
	os.Remove(counter)

	// Others can write to the store directory: refused.
	os.Chmod(dir, 0o777)
	if rv := f.m.Login(h, CKU_USER, []byte("2468")); rv == CKR_OK {
		t.Fatal("logged in with a world-writable store")
	}
	os.Chmod(dir, 0o700)
	must(t, "Login", f.m.Login(h, CKU_USER, []byte("2468")))
}

// A program that loads the library, signs once and exits pays only what its
// signature needs: at most 6 APDUs from C_Initialize to the first signature
// with a key named by CKA_ID or CKA_LABEL (channel, select, application
// information, that key's information, Compute Signature Init and Update),
// whatever the caller asks about the token on the way (pkcs11-tool asks
// for the token information and CKA_ALWAYS_AUTHENTICATE).
func TestFirstSignatureInSixAPDUs(t *testing.T) {
	d := sha256.Sum256([]byte("one shot"))
	for _, by := range []Attribute{{CKA_ID, []byte{1}}, {CKA_LABEL, []byte("device-key")}} {
		card, _ := emulator.New(emulator.Options{})
		c := &counting{card: card}
		m := &Module{Open: func(context.Context, string) (transport.Transport, error) { return c, nil },
			ConfigSource: func() (*Config, error) { return &Config{Store: t.TempDir(), Slots: []SlotConfig{{SIM: "x"}}}, nil }}
		f := &fixture{m: m}
		must(t, "Initialize", m.Initialize(0))
		slots, _ := m.SlotList(true)
		m.SlotInfo(slots[0])
		if _, rv := m.TokenInfo(slots[0]); rv != CKR_OK {
			t.Fatalf("TokenInfo: %s", rvName(rv))
		}
		h := f.session(t, false)
		keys := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, by)
		if len(keys) != 1 {
			t.Fatalf("%d keys by %#x", len(keys), by.Type)
		}
		must(t, "SignInit", m.SignInit(h, Mechanism{Type: CKM_ECDSA}, keys[0]))
		if v, rv := m.GetAttributeValue(h, keys[0], []uint{CKA_ALWAYS_AUTHENTICATE}); rv != CKR_OK || v[0].RV != CKR_OK {
			t.Fatalf("CKA_ALWAYS_AUTHENTICATE: %s", rvName(rv))
		}
		sig, _, rv := m.Sign(h, d[:], 64)
		must(t, "Sign", rv)
		if n := c.count(); n > 6 {
			t.Errorf("key by %#x: %d APDUs from C_Initialize to the first signature, want at most 6", by.Type, n)
		}
		// The signature is right: check it with the public key, read now.
		pub := f.publicKey(t, h, "device-key")
		if !rawVerify(pub, d[:], sig) {
			t.Fatal("the signature does not verify")
		}
		m.Finalize()
	}
}

// Token serials name the applet, so two SIMs with the same applet share a
// host-side store directory; what one stores is bound to it (a certificate
// to its key, anything else to the SIM) and the other does not see it.
func TestHostObjectsBoundToTheirSIM(t *testing.T) {
	f := newFixture(t, SlotConfig{SIM: "a"}, SlotConfig{SIM: "b"})
	ha, rv := f.m.OpenSession(0, CKF_SERIAL_SESSION|CKF_RW_SESSION)
	must(t, "OpenSession a", rv)
	hb, rv := f.m.OpenSession(1, CKF_SERIAL_SESSION|CKF_RW_SESSION)
	must(t, "OpenSession b", rv)
	_, rv = f.m.CreateObject(ha, []Attribute{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_TOKEN, bbool(true)},
		{CKA_LABEL, []byte("notes of a")}, {CKA_VALUE, []byte("a's")}})
	must(t, "CreateObject", rv)
	label := Attribute{CKA_LABEL, []byte("notes of a")}
	if n := len(f.find(t, ha, Attribute{CKA_CLASS, ulong(CKO_DATA)}, label)); n != 1 {
		t.Fatalf("SIM a sees %d of its objects", n)
	}
	// A fresh library instance (a new process) lists the store anew.
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	ha, _ = f.m.OpenSession(0, CKF_SERIAL_SESSION)
	hb, _ = f.m.OpenSession(1, CKF_SERIAL_SESSION)
	if n := len(f.find(t, ha, Attribute{CKA_CLASS, ulong(CKO_DATA)}, label)); n != 1 {
		t.Fatalf("after a reload SIM a sees %d of its objects", n)
	}
	if n := len(f.find(t, hb, Attribute{CKA_CLASS, ulong(CKO_DATA)}, label)); n != 0 {
		t.Fatalf("SIM b sees %d objects of SIM a", n)
	}
}

// The public half of a key agreement key says it derives (OpenSC's tools
// look for CKA_DERIVE on it); that of a signing key does not.
func TestPublicKeyDerive(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, false)
	if !f.isTrue(t, h, f.one(t, h, CKO_PUBLIC_KEY, "ecdh-key"), CKA_DERIVE) {
		t.Error("the ECDH public key has CKA_DERIVE false")
	}
	if f.isTrue(t, h, f.one(t, h, CKO_PUBLIC_KEY, "device-key"), CKA_DERIVE) {
		t.Error("the signing key's public key has CKA_DERIVE true")
	}
}

// Java's Signature.initVerify with SunPKCS11 turns a public key into a
// session object (C_CreateObject, no CKA_TOKEN) and verifies with it:
// session public keys live in host memory and verify in software; token
// public keys stay the SIM's; a point off the curve is refused.
func TestSessionPublicKeyVerifies(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, false)
	pub := f.publicKey(t, h, "device-key")
	raw, _ := pub.Bytes()
	der, _ := asn1.Marshal(raw)
	tmpl := func(token bool, point []byte) []Attribute {
		return []Attribute{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, ulong(CKK_EC)}, {CKA_TOKEN, bbool(token)},
			{CKA_EC_PARAMS, oidP256}, {CKA_EC_POINT, point}}
	}
	o, rv := f.m.CreateObject(h, tmpl(false, der))
	must(t, "CreateObject(session public key)", rv)
	d := sha256.Sum256([]byte("verify me"))
	sig := f.sign(t, h, CKM_ECDSA, f.one(t, h, CKO_PRIVATE_KEY, "device-key"), d[:])
	must(t, "VerifyInit", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, o))
	must(t, "Verify", f.m.Verify(h, d[:], sig))
	// Another session of the application uses it too (Java's session pool).
	h2 := f.session(t, false)
	must(t, "VerifyInit(other session)", f.m.VerifyInit(h2, Mechanism{Type: CKM_ECDSA}, o))
	must(t, "Verify(other session)", f.m.Verify(h2, d[:], sig))
	bad := bytes.Clone(sig)
	bad[5] ^= 1
	must(t, "VerifyInit", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, o))
	want(t, "Verify(bad)", f.m.Verify(h, d[:], bad), CKR_SIGNATURE_INVALID)
	_, rv = f.m.CreateObject(h, tmpl(true, der))
	want(t, "CreateObject(token public key)", rv, CKR_TEMPLATE_INCONSISTENT)
	off := bytes.Clone(raw)
	off[40] ^= 1
	_, rv = f.m.CreateObject(h, tmpl(false, off))
	want(t, "CreateObject(point off the curve)", rv, CKR_ATTRIBUTE_VALUE_INVALID)
	// The session object goes with its session.
	f.m.CloseSession(h)
	h = f.session(t, false)
	if n := len(f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, Attribute{CKA_TOKEN, bbool(false)})); n != 0 {
		t.Fatalf("%d session public keys outlived their session", n)
	}
}

// With secret-keys: yes the SIM's secrets are CKO_SECRET_KEY objects: every
// attribute of a generic secret key is answered, CKA_VALUE_LEN (which the
// card does not give) as unavailable, like the value itself.
func TestSecretKeysWhenConfigured(t *testing.T) {
	f := newFixture(t, SlotConfig{SIM: "sim1", SecretKeys: true})
	h := f.session(t, false)
	psk := f.one(t, h, CKO_SECRET_KEY, "psk")
	if !f.isTrue(t, h, psk, CKA_SENSITIVE) || !f.isTrue(t, h, psk, CKA_DERIVE) || f.isTrue(t, h, psk, CKA_EXTRACTABLE) {
		t.Error("secret key: want sensitive, derive, not extractable")
	}
	v, rv := f.m.GetAttributeValue(h, psk, []uint{CKA_VALUE_LEN, CKA_VALUE, CKA_KEY_TYPE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE})
	must(t, "GetAttributeValue", rv)
	for i, want := range []uint{CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_SENSITIVE, CKR_OK, CKR_OK, CKR_OK} {
		if v[i].RV != want {
			t.Errorf("attribute %d: %s, want %s", i, rvName(v[i].RV), rvName(want))
		}
	}
}

// The fifth finding of the second device-side review: the host store was
// checked for owner and mode only on writes, so objects another user placed
// in a store directory (a certificate bound to key 01, a data object) were
// listed to the victim. Reading applies the checks of writing: a store
// directory of another user, or one others can write to, lists nothing; a
// file of another user, one others can write to, or a link is ignored;
// each with a warning.
func TestHostStoreReadChecksOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		testtool.Missing(t, "root (to give files to another user)")
	}
	f := newFixture(t, SlotConfig{SIM: "sim1"})
	h := f.session(t, true)
	_, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_TOKEN, bbool(true)},
		{CKA_LABEL, []byte("planted")}, {CKA_VALUE, []byte("from another user")}})
	must(t, "CreateObject", rv)
	ents, _ := os.ReadDir(f.cfg.Store)
	if len(ents) != 1 {
		t.Fatalf("store entries %d", len(ents))
	}
	dir := filepath.Join(f.cfg.Store, ents[0].Name())
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("object files %v", files)
	}
	obj := files[0]
	const nobody = 65534
	visible := func() bool {
		t.Helper()
		ss := f.session(t, false)
		must(t, "FindObjectsInit", f.m.FindObjectsInit(ss, []Attribute{{CKA_LABEL, []byte("planted")}}))
		hs, rv := f.m.FindObjects(ss, 10)
		must(t, "FindObjects", rv)
		f.m.FindObjectsFinal(ss)
		f.m.CloseSession(ss)
		return len(hs) > 0
	}
	if !visible() {
		t.Fatal("the user's own object is not listed")
	}
	for _, tc := range []struct {
		name          string
		plant, repair func()
	}{
		{"store directory of another user", func() { os.Chown(dir, nobody, nobody) }, func() { os.Chown(dir, 0, 0) }},
		{"store directory writable by others", func() { os.Chmod(dir, 0o777) }, func() { os.Chmod(dir, 0o700) }},
		{"parent writable by others", func() { os.Chmod(f.cfg.Store, 0o777) }, func() { os.Chmod(f.cfg.Store, 0o700) }},
		{"object file of another user", func() { os.Chown(obj, nobody, nobody) }, func() { os.Chown(obj, 0, 0) }},
		{"object file writable by the group", func() { os.Chmod(obj, 0o620) }, func() { os.Chmod(obj, 0o600) }},
		{"object file behind a link", func() {
			os.Rename(obj, obj+".real")
			os.Symlink(obj+".real", obj)
		}, func() { os.Remove(obj); os.Rename(obj+".real", obj) }},
	} {
		tc.plant()
		f.reload(t)
		if visible() {
			t.Errorf("%s: its object is listed", tc.name)
		}
		tc.repair()
		f.reload(t)
		if !visible() {
			t.Fatalf("%s, repaired: the object is not listed again", tc.name)
		}
	}
}

// reload finalizes and initializes the module again, as a new process
// loading it would: nothing cached survives.
func (f *fixture) reload(t testing.TB) {
	t.Helper()
	f.m.Finalize()
	if rv := f.m.Initialize(0); rv != CKR_OK {
		t.Fatalf("Initialize = %s", rvName(rv))
	}
}

// The tenth finding of the second device-side review: CKA_COPYABLE was
// false on every object, so C_CopyObject refused even a session data
// object the application made itself (what google/pkcs11test's
// DataObjectTest.CopyDestroyObjectInvalid does: create, copy, destroy the
// copy, use the copy's handle). Host-side and session objects follow the
// PKCS#11 default; card objects stay not copyable.
func TestCopyObject(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, true)
	orig, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_TOKEN, bbool(false)},
		{CKA_LABEL, []byte("mine")}, {CKA_VALUE, []byte("session data")}})
	must(t, "CreateObject", rv)
	if v, _ := getBool(f.attr(t, h, orig, CKA_COPYABLE)); !v {
		t.Fatal("a session data object is not copyable")
	}
	cp, rv := f.m.CopyObject(h, orig, nil)
	must(t, "CopyObject", rv)
	if cp == orig || string(f.attr(t, h, cp, CKA_VALUE)) != "session data" {
		t.Fatalf("copy %d of %d: value %q", cp, orig, f.attr(t, h, cp, CKA_VALUE))
	}
	must(t, "DestroyObject(copy)", f.m.DestroyObject(h, cp))
	_, rv = f.m.GetAttributeValue(h, cp, []uint{CKA_VALUE})
	want(t, "GetAttributeValue(destroyed copy)", rv, CKR_OBJECT_HANDLE_INVALID)
	if string(f.attr(t, h, orig, CKA_VALUE)) != "session data" {
		t.Fatal("destroying the copy touched the original")
	}

	// A template: a new label, a token copy (into the host store),
	// CKA_COPYABLE switched off; what may not change is read-only.
	tok, rv := f.m.CopyObject(h, orig, []Attribute{{CKA_LABEL, []byte("kept")}, {CKA_TOKEN, bbool(true)}, {CKA_COPYABLE, bbool(false)}})
	must(t, "CopyObject(to the token)", rv)
	if v, _ := getBool(f.attr(t, h, tok, CKA_TOKEN)); !v || string(f.attr(t, h, tok, CKA_LABEL)) != "kept" {
		t.Fatal("the token copy has not the template's attributes")
	}
	_, rv = f.m.CopyObject(h, tok, nil)
	want(t, "CopyObject(CKA_COPYABLE false)", rv, CKR_ACTION_PROHIBITED)
	_, rv = f.m.CopyObject(h, orig, []Attribute{{CKA_CLASS, ulong(CKO_CERTIFICATE)}})
	want(t, "CopyObject(another class)", rv, CKR_ATTRIBUTE_READ_ONLY)
	ro, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_MODIFIABLE, bbool(false)}, {CKA_VALUE, []byte("x")}})
	must(t, "CreateObject(read-only)", rv)
	_, rv = f.m.CopyObject(h, ro, []Attribute{{CKA_MODIFIABLE, bbool(true)}})
	want(t, "CopyObject(CKA_MODIFIABLE back on)", rv, CKR_ATTRIBUTE_READ_ONLY)

	// Card objects: never copyable.
	for _, c := range []uint{CKO_PRIVATE_KEY, CKO_PUBLIC_KEY} {
		o := f.one(t, h, c, "device-key")
		if v, _ := getBool(f.attr(t, h, o, CKA_COPYABLE)); v {
			t.Fatalf("card object of class %#x is copyable", c)
		}
		_, rv := f.m.CopyObject(h, o, nil)
		want(t, "CopyObject(card object)", rv, CKR_ACTION_PROHIBITED)
	}
}

// The eleventh finding: the public key of a key-agreement-only container
// carried CKA_VERIFY, so OpenSSH offered it as an identity it cannot use.
// Key usage attributes follow what the container can do.
func TestKeyUsageFollowsTheContainer(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, false)
	ecdh := f.one(t, h, CKO_PUBLIC_KEY, "ecdh-key")
	if v, _ := getBool(f.attr(t, h, ecdh, CKA_VERIFY)); v {
		t.Fatal("the ECDH key's public key has CKA_VERIFY")
	}
	if v, _ := getBool(f.attr(t, h, ecdh, CKA_DERIVE)); !v {
		t.Fatal("the ECDH key's public key lost CKA_DERIVE")
	}
	if m := f.attr(t, h, ecdh, CKA_ALLOWED_MECHANISMS); len(m) != 0 {
		t.Fatalf("the ECDH key's public key allows mechanisms %x", m)
	}
	want(t, "VerifyInit(ECDH key)", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, ecdh), CKR_KEY_FUNCTION_NOT_PERMITTED)
	// Only signing-capable keys answer a search for verification keys.
	for _, o := range f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, Attribute{CKA_VERIFY, bbool(true)}) {
		if o == ecdh {
			t.Fatal("a search for CKA_VERIFY keys finds the ECDH key")
		}
	}
	sig := f.one(t, h, CKO_PUBLIC_KEY, "device-key")
	if v, _ := getBool(f.attr(t, h, sig, CKA_VERIFY)); !v {
		t.Fatal("the signing key's public key lost CKA_VERIFY")
	}
	must(t, "VerifyInit(signing key)", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, sig))
}

// presenceCard is a counting card whose transport reports presence
// without APDUs, as PC/SC does.
type presenceCard struct{ *counting }

func (p presenceCard) CardPresent() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed {
		return transport.ErrCardRemoved
	}
	return nil
}

// The eighth finding of the second device-side review: the SIM was polled
// twice a second for as long as a host waited in C_WaitForSlotEvent
// (strongSwan's charon does for its whole life: 93 of 109 APDUs of a
// 45-second run). With the module's own intervals, a host waiting three
// seconds now costs no APDU on a transport that reports presence (PC/SC)
// and none on others (at most one a minute there); a removal is still
// reported, at once where the transport tells.
func TestWaitForSlotEventIdleCostsNoAPDU(t *testing.T) {
	for _, pcscLike := range []bool{false, true} {
		card, _ := emulator.New(emulator.Options{})
		c := &counting{card: card}
		var tr transport.Transport = c
		if pcscLike {
			tr = presenceCard{c}
		}
		m := &Module{Open: func(context.Context, string) (transport.Transport, error) { return tr, nil },
			ConfigSource: func() (*Config, error) { return &Config{Store: t.TempDir(), Slots: []SlotConfig{{SIM: "x"}}}, nil }}
		must(t, "Initialize", m.Initialize(0))
		if _, rv := m.WaitForSlotEvent(CKF_DONT_BLOCK); rv != CKR_OK && rv != CKR_NO_EVENT {
			t.Fatalf("WaitForSlotEvent: %s", rvName(rv))
		}
		before := c.count()
		got := make(chan uint, 1)
		go func() { _, rv := m.WaitForSlotEvent(0); got <- rv }()
		time.Sleep(3 * time.Second)
		if n := c.count() - before; n != 0 {
			t.Errorf("presence-reporting transport %v: %d APDUs in 3 s of waiting (want 0)", pcscLike, n)
		}
		if pcscLike {
			c.setRemoved(true)
			select {
			case rv := <-got:
				must(t, "WaitForSlotEvent(removal)", rv)
			case <-time.After(2 * time.Second):
				t.Fatal("the removal was not reported within 2 s")
			}
		}
		m.Finalize()
		if !pcscLike {
			<-got
		}
	}
}

// The seventh finding of the second device-side review: a user's
// certificate for a SIM key lost to the card's factory certificate. Both
// had CKA_ID 01; OpenVPN's pkcs11-helper keeps the one with the latest
// expiry (the factory one) and strongSwan the first found, so both
// authenticated with the wrong certificate. A host-stored certificate for
// a key now shadows the card's: the card's stays listed, with an empty
// CKA_ID, until the user's is destroyed.
func TestUserCertificateShadowsTheFactoryOne(t *testing.T) {
	f := newFixture(t)
	h := f.session(t, true)
	certsWithID := func(id []byte) []uint {
		return f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}, Attribute{CKA_ID, id})
	}
	factory := certsWithID([]byte{1})
	if len(factory) != 1 {
		t.Fatalf("%d certificates with CKA_ID 01 before (want the factory one)", len(factory))
	}
	// A certificate for key 01 from the user's CA, expiring before the
	// factory one (what pkcs11-helper's latest-expiry rule got wrong),
	// stored without a CKA_ID: it takes its key's.
	var point []byte
	asn1.Unmarshal(f.attr(t, h, f.one(t, h, CKO_PUBLIC_KEY, "device-key"), CKA_EC_POINT), &point)
	pub, err := keys.ECPublic(spec.KeyKindP256, point)
	if err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "user CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "user's"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	user, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, ulong(CKC_X_509)},
		{CKA_TOKEN, bbool(true)}, {CKA_LABEL, []byte("user cert")}, {CKA_VALUE, der}})
	must(t, "CreateObject(user certificate)", rv)
	check := func(when string) {
		t.Helper()
		got := certsWithID([]byte{1})
		if len(got) != 1 || string(f.attr(t, h, got[0], CKA_VALUE)) != string(der) {
			t.Fatalf("%s: certificates with CKA_ID 01: %v (want only the user's)", when, got)
		}
		if id := f.attr(t, h, factory[0], CKA_ID); len(id) != 0 {
			t.Fatalf("%s: the factory certificate still has CKA_ID %x", when, id)
		}
	}
	check("after storing")
	f.reload(t)
	h = f.session(t, true)
	check("in a new process")
	// The user's certificate destroyed: the factory one pairs again.
	user = certsWithID([]byte{1})[0]
	must(t, "DestroyObject(user certificate)", f.m.DestroyObject(h, user))
	if got := certsWithID([]byte{1}); len(got) != 1 || got[0] != factory[0] {
		t.Fatalf("after destroying the user's: %v (want the factory certificate %d)", got, factory[0])
	}
}

// The ninth finding of the second device-side review: Java with SunPKCS11
// inserted first failed TLS 1.3 ("Tag mismatch") and 1.2 (bad_record_mac):
// JSSE clones the handshake hash, which SunPKCS11 does with
// C_GetOperationState and C_SetOperationState, and the module could not
// save a digest's state. A digest's state now moves between sessions, and
// the clone goes on independently of the original.
func TestDigestStateSavedAndRestored(t *testing.T) {
	f := newFixture(t)
	a, b := f.session(t, false), f.session(t, false)
	for _, mech := range []uint{CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_SHA_1} {
		must(t, "DigestInit", f.m.DigestInit(a, Mechanism{Type: mech}))
		must(t, "DigestUpdate", f.m.DigestUpdate(a, []byte("client hello, ")))
		_, n, rv := f.m.GetOperationState(a, -1)
		must(t, "GetOperationState(length)", rv)
		_, _, rv = f.m.GetOperationState(a, n-1)
		want(t, "GetOperationState(short buffer)", rv, CKR_BUFFER_TOO_SMALL)
		state, _, rv := f.m.GetOperationState(a, n)
		must(t, "GetOperationState", rv)
		must(t, "SetOperationState", f.m.SetOperationState(b, state, 0, 0))
		// The original and the clone each go their own way.
		must(t, "DigestUpdate(original)", f.m.DigestUpdate(a, []byte("server hello")))
		must(t, "DigestUpdate(clone)", f.m.DigestUpdate(b, []byte("something else")))
		got1, _, rv := f.m.DigestFinal(a, 64)
		must(t, "DigestFinal(original)", rv)
		got2, _, rv := f.m.DigestFinal(b, 64)
		must(t, "DigestFinal(clone)", rv)
		h1, h2 := newHash(mech), newHash(mech)
		h1.Write([]byte("client hello, server hello"))
		h2.Write([]byte("client hello, something else"))
		if !bytes.Equal(got1, h1.Sum(nil)) || !bytes.Equal(got2, h2.Sum(nil)) {
			t.Fatalf("mechanism %#x: the original or its clone hashed wrong", mech)
		}
	}
	// What cannot be saved, and states that are not ours.
	_, _, rv := f.m.GetOperationState(a, 1024)
	want(t, "GetOperationState(no operation)", rv, CKR_OPERATION_NOT_INITIALIZED)
	key := f.one(t, a, CKO_PRIVATE_KEY, "device-key")
	must(t, "SignInit", f.m.SignInit(a, Mechanism{Type: CKM_ECDSA}, key))
	_, _, rv = f.m.GetOperationState(a, 1024)
	want(t, "GetOperationState(signing on the card)", rv, CKR_STATE_UNSAVEABLE)
	must(t, "DigestInit", f.m.DigestInit(b, Mechanism{Type: CKM_SHA256}))
	state, _, _ := f.m.GetOperationState(b, 1024)
	for _, bad := range [][]byte{nil, []byte("garbage"), state[:len(state)-3], append(bytes.Clone(state), 0)} {
		want(t, "SetOperationState(bad state)", f.m.SetOperationState(b, bad, 0, 0), CKR_SAVED_STATE_INVALID)
	}
	want(t, "SetOperationState(with a key)", f.m.SetOperationState(b, state, key, 0), CKR_KEY_NOT_NEEDED)
}

// A host that loads the library (every program that loads p11-kit's proxy
// does) and never uses its slot pays no SIM access and no goroutine:
// C_Initialize opens nothing; the first use of the slot opens the SIM, and
// its state then is the baseline of slot events.
func TestInitializeTouchesNoSIM(t *testing.T) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{card: card}
	var opens atomic.Int32
	m := &Module{
		Open: func(context.Context, string) (transport.Transport, error) {
			opens.Add(1)
			return cnt, nil
		},
		ConfigSource: func() (*Config, error) { return &Config{Store: t.TempDir(), Slots: []SlotConfig{{SIM: "x"}}}, nil },
	}
	before := runtime.NumGoroutine()
	must(t, "Initialize", m.Initialize(0))
	defer m.Finalize()
	if n := opens.Load(); n != 0 || cnt.count() != 0 {
		t.Fatalf("C_Initialize opened the SIM %d times and sent %d APDUs; want none", n, cnt.count())
	}
	// More, not different: goroutines of earlier tests may still be
	// ending.
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("C_Initialize left %d goroutines, %d before", g, before)
	}
	if _, rv := m.SlotList(false); rv != CKR_OK {
		t.Fatalf("SlotList(false): %s", rvName(rv))
	}
	if n := opens.Load(); n != 0 {
		t.Fatalf("listing every slot opened the SIM %d times", n)
	}
	ids, rv := m.SlotList(true)
	if rv != CKR_OK || len(ids) != 1 || opens.Load() != 1 || cnt.count() == 0 {
		t.Fatalf("SlotList(true): %v %s after %d opens and %d APDUs; want the slot, one open", ids, rvName(rv), opens.Load(), cnt.count())
	}
	// The token present at the first use is no event.
	if _, rv := m.WaitForSlotEvent(CKF_DONT_BLOCK); rv != CKR_NO_EVENT {
		t.Fatalf("WaitForSlotEvent after the first use: %s, want CKR_NO_EVENT", rvName(rv))
	}
}
