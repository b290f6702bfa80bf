package pkcs11mod

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

// shot is what one process of curl through libp11 saw: the token's
// certificates by label, the public point of the key it signed with, the
// signature and its digest, and the APDUs and commands it cost.
type shot struct {
	certs          map[string][]byte
	point          []byte
	digest, sig    []byte
	apdus          int
	getData, pubRd int
}

// oneShot does what curl does through libp11 in one process: the token's
// identity, every certificate with its value, the private key by label with
// its public point, one ECDSA signature. Closing the channel (C_Finalize) is
// not counted.
func oneShot(t *testing.T, f *fixture, label string) shot {
	t.Helper()
	c := f.cards["sim1"]
	n, gd, rp := c.count(), c.insCount(spec.InsGetData), c.insCount(spec.InsReadPublicKey)
	_, rv := f.m.TokenInfo(0)
	must(t, "GetTokenInfo", rv)
	h := f.session(t, false)
	defer f.m.CloseSession(h)
	out := shot{certs: map[string][]byte{}}
	for _, o := range f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}) {
		out.certs[string(f.attr(t, h, o, CKA_LABEL))] = f.attr(t, h, o, CKA_VALUE)
	}
	key := f.one(t, h, CKO_PRIVATE_KEY, label)
	if _, err := asn1.Unmarshal(f.attr(t, h, key, CKA_EC_POINT), &out.point); err != nil {
		t.Fatalf("CKA_EC_POINT: %v", err)
	}
	d := sha256.Sum256([]byte(t.Name() + time.Now().String()))
	out.digest = d[:]
	out.sig = f.sign(t, h, CKM_ECDSA, key, out.digest)
	out.apdus = c.count() - n
	out.getData, out.pubRd = c.insCount(spec.InsGetData)-gd, c.insCount(spec.InsReadPublicKey)-rp
	return out
}

// onOwnChannel runs fn on the card through an Applet of its own (another
// program of the device, on its own logical channel).
func onOwnChannel(t *testing.T, f *fixture, fn func(context.Context, *iotsafe.Applet) error) {
	t.Helper()
	a, err := iotsafe.Open(context.Background(), f.cards["sim1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := fn(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// cardPoint reads a key's public point from the card itself.
func cardPoint(t *testing.T, f *fixture, id byte) (p []byte) {
	t.Helper()
	onOwnChannel(t, f, func(ctx context.Context, a *iotsafe.Applet) (err error) {
		p, err = a.ReadPublicKey(ctx, iotsafe.ByID(id))
		return err
	})
	return p
}

func verifies(t *testing.T, point, digest, sig []byte) bool {
	t.Helper()
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	return rawVerify(pub, digest, sig)
}

func dirFile(f *fixture) string { return dirCachePath(f.cfg.Store, "sim1") }

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// The directory cache (directory-cache: 1h): a one-shot process that
// found it reads neither the application information, nor the object
// list, nor a public key; it checks the copy with one short read per
// certificate file. Every change that the kept copy could hide is caught:
// a certificate replaced over the air with the notice (63CF) gone to
// another host, another SIM under the same URI, a key generated again
// behind the library's back (caught by the first signature), a copy
// expired, damaged or writable by others, and the library's own changes.
func TestDirectoryCache(t *testing.T) {
	f := newFixture(t)
	card := f.cards["sim1"]
	card.hide63CF = true

	off := oneShot(t, f, "device-key")
	if exists(dirFile(f)) {
		t.Fatal("cache off: a directory was kept")
	}
	f.cfg.DirectoryCache = time.Hour
	restart(t, f)
	fill := oneShot(t, f, "device-key")
	fi, err := os.Stat(dirFile(f))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept directory: %v %v", fi, err)
	}
	restart(t, f)
	hit := oneShot(t, f, "device-key")
	t.Logf("APDUs: %d without the cache, %d filling it, %d from it", off.apdus, fill.apdus, hit.apdus)
	if hit.getData != 0 || hit.pubRd != 0 {
		t.Fatalf("from the cache: %d Get Data and %d Read Public Key commands, want none", hit.getData, hit.pubRd)
	}
	// Manage channel, select, one tail per certificate, the signature's two.
	if want := 2 + len(off.certs) + 2; hit.apdus != want {
		t.Fatalf("from the cache: %d APDUs, want %d", hit.apdus, want)
	}
	for l, v := range off.certs {
		if !bytes.Equal(hit.certs[l], v) {
			t.Fatalf("%s: the value from the cache differs from the card's", l)
		}
	}
	if !bytes.Equal(hit.point, cardPoint(t, f, 1)) || !verifies(t, hit.point, hit.digest, hit.sig) {
		t.Fatal("from the cache: the key's point is not the card's")
	}

	// The operator replaces the device certificate by one of the same size;
	// its 63CF went to another host.
	old := off.certs["device-key"]
	repl := sameSizeCertificate(t, old)
	admin(t, card.card, func(a *emulator.AdminSession) error {
		return a.PutFile([]byte{0x02}, "device-cert", spec.FileUsageCertificate, spec.AccessRead, repl)
	})
	restart(t, f)
	after := oneShot(t, f, "device-key")
	if !bytes.Equal(after.certs["device-key"], repl) && !bytes.Equal(after.certs["device-cert"], repl) {
		t.Fatalf("the operator's certificate is not listed (labels %v)", keysOf(after.certs))
	}
	for _, v := range after.certs {
		if bytes.Equal(v, old) {
			t.Fatal("the replaced certificate was listed from the cache")
		}
	}
	if after.getData == 0 {
		t.Fatal("a stale directory was not read again from the card")
	}

	// The replacement certifies no key of the SIM: such a directory cannot
	// be checked and is not kept. The operator puts the device's back.
	restart(t, f)
	oneShot(t, f, "device-key")
	if exists(dirFile(f)) {
		t.Fatal("a directory with no certificate bound to a key of the SIM was kept")
	}
	admin(t, card.card, func(a *emulator.AdminSession) error {
		return a.PutFile([]byte{0x02}, "device-cert", spec.FileUsageCertificate, spec.AccessRead, old)
	})

	// Another SIM under the same URI (a swap): its own certificates and keys.
	other, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The cache holds the first SIM's directory.
	restart(t, f)
	oneShot(t, f, "device-key")
	restart(t, f)
	if s := oneShot(t, f, "device-key"); s.getData != 0 {
		t.Fatalf("the cache was not refilled (%d Get Data)", s.getData)
	}
	f.cards["sim1"] = &counting{card: other, hide63CF: true}
	restart(t, f)
	swapped := oneShot(t, f, "device-key")
	if !bytes.Equal(swapped.point, cardPoint(t, f, 1)) || !verifies(t, swapped.point, swapped.digest, swapped.sig) {
		t.Fatal("after a SIM swap the old SIM's public key was given")
	}
	for l, v := range swapped.certs {
		if bytes.Equal(v, old) || bytes.Equal(v, repl) {
			t.Fatalf("after a SIM swap the old SIM's certificate %s was listed", l)
		}
	}

	// A key generated again behind the library's back (another program on
	// its own channel), certificates unchanged: the copy still matches the
	// certificate files; the first signature shows the key changed.
	f.cards["sim1"] = card
	restart(t, f)
	oneShot(t, f, "device-key")
	regen(t, f, 2) // make the ZTP container active
	// The kept list does not show it (an object added behind the
	// library's back is seen when the copy expires): let it expire.
	os.Remove(dirFile(f))
	restart(t, f)
	oneShot(t, f, "ztp-key")
	restart(t, f)
	if s := oneShot(t, f, "ztp-key"); s.pubRd != 0 {
		t.Fatal("the cache was not filled with the ZTP key")
	}
	newPoint := regen(t, f, 2)
	restart(t, f)
	stale := oneShot(t, f, "ztp-key")
	if !verifies(t, newPoint, stale.digest, stale.sig) {
		t.Fatal("the signature is not the card's new key's")
	}
	if exists(dirFile(f)) {
		t.Fatal("a signature that does not verify with the kept key left the copy in place")
	}
	restart(t, f)
	if s := oneShot(t, f, "ztp-key"); !bytes.Equal(s.point, newPoint) {
		t.Fatal("after the copy was dropped the key's point is still the old one")
	}

	// Copies that are not used: expired, damaged, writable by others.
	restart(t, f)
	oneShot(t, f, "device-key") // fills it again
	b, err := os.ReadFile(dirFile(f))
	if err != nil {
		t.Fatal(err)
	}
	var kept dirCacheFile
	if err := json.Unmarshal(b, &kept); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		write func()
	}{
		{"expired", func() {
			k := kept
			k.Saved = time.Now().Add(-2 * time.Hour).Unix()
			j, _ := json.Marshal(k)
			os.WriteFile(dirFile(f), j, 0o600)
		}},
		{"damaged", func() { os.WriteFile(dirFile(f), b[:len(b)/2], 0o600) }},
		{"a malformed object list", func() {
			k := kept
			k.ObjectList = "c1ff00"
			j, _ := json.Marshal(k)
			os.WriteFile(dirFile(f), j, 0o600)
		}},
		{"writable by others", func() {
			os.WriteFile(dirFile(f), b, 0o600)
			os.Chmod(dirFile(f), 0o622)
		}},
		{"a symbolic link to a copy elsewhere", func() {
			other := filepath.Join(t.TempDir(), "planted.json")
			os.WriteFile(other, b, 0o600)
			os.Symlink(other, dirFile(f))
		}},
		{"in a directory others can write", func() {
			os.WriteFile(dirFile(f), b, 0o600)
			os.Chmod(filepath.Dir(dirFile(f)), 0o777)
		}},
	} {
		os.Remove(dirFile(f))
		tc.write()
		restart(t, f)
		if s := oneShot(t, f, "device-key"); s.getData == 0 || s.pubRd == 0 {
			t.Fatalf("%s copy: used (%d Get Data, %d Read Public Key)", tc.name, s.getData, s.pubRd)
		}
		os.Chmod(filepath.Dir(dirFile(f)), 0o700)
		os.Remove(dirFile(f))
	}

	// The library's own change of the card drops the copy.
	f.cfg.Slots[0].ReplaceKeys = true
	restart(t, f)
	oneShot(t, f, "device-key")
	if !exists(dirFile(f)) {
		t.Fatal("no copy kept")
	}
	h := f.session(t, true)
	_, _, rv := f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN},
		[]Attribute{{CKA_EC_PARAMS, oidP256}, {CKA_VERIFY, bbool(true)}},
		[]Attribute{{CKA_TOKEN, bbool(true)}, {CKA_ID, []byte{2}}, {CKA_SIGN, bbool(true)}})
	must(t, "GenerateKeyPair", rv)
	if exists(dirFile(f)) {
		t.Fatal("C_GenerateKeyPair left the kept directory in place")
	}
	f.m.CloseSession(h)

	// The key the operator deletes: the card refuses the signature and
	// the copy goes.
	restart(t, f)
	oneShot(t, f, "device-key")
	restart(t, f)
	oneShot(t, f, "device-key")
	if !exists(dirFile(f)) {
		t.Fatal("no copy kept")
	}
	admin(t, card.card, func(a *emulator.AdminSession) error { return a.DeleteObject(spec.KindPrivateKey, []byte{1}) })
	restart(t, f)
	hs := f.session(t, false)
	keys := f.find(t, hs, Attribute{CKA_CLASS, ulong(CKO_PRIVATE_KEY)}, Attribute{CKA_LABEL, []byte("device-key")})
	if len(keys) != 1 {
		// The kept list still shows it: the card's refusal is what tells.
		t.Fatalf("%d keys labelled device-key listed from the kept directory, want 1", len(keys))
	}
	d := sha256.Sum256([]byte("gone"))
	must(t, "SignInit", f.m.SignInit(hs, Mechanism{Type: CKM_ECDSA}, keys[0]))
	if _, _, rv := f.m.Sign(hs, d[:], 64); rv == CKR_OK {
		t.Fatal("a deleted key signed")
	}
	if exists(dirFile(f)) {
		t.Fatal("the card's refusal left the kept directory in place")
	}
	f.m.CloseSession(hs)
}

// admin runs one remote administration session on the card.
func admin(t *testing.T, c *emulator.Card, fn func(*emulator.AdminSession) error) {
	t.Helper()
	a, err := c.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(a); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
}

// regen generates the key pair of container id again from another program
// (its own channel) and returns the new point.
func regen(t *testing.T, f *fixture, id byte) (p []byte) {
	t.Helper()
	onOwnChannel(t, f, func(ctx context.Context, a *iotsafe.Applet) error {
		kp, err := a.GenerateKeyPair(ctx, iotsafe.ByID(id))
		if err == nil {
			p = kp.Point
		}
		return err
	})
	return p
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDirectoryCacheConfig(t *testing.T) {
	for v, want := range map[string]time.Duration{"no": 0, "1h": time.Hour, "30m": 30 * time.Minute} {
		cfg, err := ParseConfig([]byte("directory-cache: " + v + "\n[slot]\nsim: emulator:x\n"))
		if err != nil || cfg.DirectoryCache != want || cfg.certCache() != (want > 0) {
			t.Errorf("directory-cache: %s = %v %v", v, cfg, err)
		}
	}
	for _, v := range []string{"yes", "10d", "0s", "200h", "-1h"} {
		if _, err := ParseConfig([]byte("directory-cache: " + v + "\n")); err == nil {
			t.Errorf("directory-cache: %s accepted", v)
		}
	}
}
