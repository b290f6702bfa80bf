package pkcs11mod

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-iotsafe/iotsafe/spec"
)

// certValues lists the token's certificates as a consumer does (libp11
// reads the value of every one) and returns their values by label, and
// the Read File commands and APDUs it took.
func certValues(t *testing.T, f *fixture) (map[string][]byte, int, int) {
	t.Helper()
	c := f.cards["sim1"]
	reads, apdus := c.readCount(), c.count()
	h := f.session(t, false)
	defer f.m.CloseSession(h)
	out := map[string][]byte{}
	for _, o := range f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}) {
		out[string(f.attr(t, h, o, CKA_LABEL))] = f.attr(t, h, o, CKA_VALUE)
	}
	return out, c.readCount() - reads, c.count() - apdus
}

// restart is a new process on the same SIM and store.
func restart(t *testing.T, f *fixture) {
	t.Helper()
	must(t, "Finalize", f.m.Finalize())
	must(t, "Initialize", f.m.Initialize(0))
}

// sameSizeCertificate makes a certificate with another key and serial that
// is exactly as long as old, as an operator's replacement over the air
// may well be.
func sameSizeCertificate(t *testing.T, old []byte) []byte {
	t.Helper()
	o, err := x509.ParseCertificate(old)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	parent := &x509.Certificate{RawSubject: o.RawIssuer, SubjectKeyId: o.AuthorityKeyId}
	for i := 0; i < 200; i++ {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := *o
		tmpl.SerialNumber = new(big.Int).Add(o.SerialNumber, big.NewInt(int64(i+1)))
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent, &k.PublicKey, ca)
		if err != nil {
			t.Fatal(err)
		}
		if len(der) == len(old) {
			return der
		}
	}
	t.Fatal("no certificate of the same size in 200 tries")
	return nil
}

// The certificate cache (cert-cache: yes): the first process reads the
// certificate files whole and keeps copies; the next reads one command per
// file (its last 64 bytes) and gives the same values. A certificate the
// operator replaced over the air, even by one of the same size, is read
// again and given, never the old copy; a copy that does not end as the
// file does, or that others can write to, is not used. Off (the default),
// listing writes nothing.
func TestCertificateCache(t *testing.T) {
	f := newFixture(t)
	first, reads, _ := certValues(t, f)
	if len(first) != 2 {
		t.Fatalf("%d certificates, want the factory layout's 2", len(first))
	}
	if _, err := os.Stat(f.cfg.Store); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(f.cfg.Store)
		if len(ents) != 0 {
			t.Fatalf("cache off: the listing wrote in the store: %v", ents)
		}
	}
	restart(t, f)
	if _, again, _ := certValues(t, f); again != reads {
		t.Fatalf("cache off: %d Read File commands, then %d", reads, again)
	}

	f.cfg.CertCache = true
	restart(t, f)
	filled, fillReads, fillAPDUs := certValues(t, f)
	restart(t, f)
	cached, cachedReads, cachedAPDUs := certValues(t, f)
	t.Logf("Read File commands: %d without the cache, %d filling it (APDUs %d), %d from it (APDUs %d)",
		reads, fillReads, fillAPDUs, cachedReads, cachedAPDUs)
	if cachedReads != len(first) {
		t.Fatalf("from the cache: %d Read File commands for %d certificates, want one each", cachedReads, len(first))
	}
	for label, v := range first {
		if !bytes.Equal(filled[label], v) || !bytes.Equal(cached[label], v) {
			t.Fatalf("%s: the cached value differs from the card's", label)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(f.cfg.Store, "*", certCacheDir, "*.der"))
	if len(copies) != len(first) {
		t.Fatalf("%d copies in the cache, want %d", len(copies), len(first))
	}
	for _, p := range copies {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", p, fi.Mode(), err)
		}
	}

	// The operator replaces the device certificate with another of the same size.
	old := first["device-key"]
	if old == nil {
		t.Fatalf("no certificate labelled device-key: %v", first)
	}
	repl := sameSizeCertificate(t, old)
	adm, err := f.cards["sim1"].card.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.PutFile([]byte{0x02}, "device-cert", spec.FileUsageCertificate, spec.AccessRead, repl); err != nil {
		t.Fatal(err)
	}
	if err := adm.Commit(); err != nil {
		t.Fatal(err)
	}
	restart(t, f)
	after, _, _ := certValues(t, f)
	var found bool
	for _, v := range after {
		if bytes.Equal(v, old) {
			t.Fatal("the replaced certificate was served from the cache")
		}
		found = found || bytes.Equal(v, repl)
	}
	if !found {
		t.Fatal("the operator's new certificate is not listed")
	}

	// Copies that must not be used: one that ends otherwise (damaged),
	// one that others can write to.
	copies, _ = filepath.Glob(filepath.Join(f.cfg.Store, "*", certCacheDir, "*.der"))
	for _, p := range copies {
		b, _ := os.ReadFile(p)
		if bytes.Equal(b, repl) {
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
		} else {
			os.Chmod(p, 0o622)
		}
	}
	restart(t, f)
	checked, checkedReads, _ := certValues(t, f)
	if checkedReads <= len(first) {
		t.Fatalf("%d Read File commands: a damaged or foreign-writable copy was used", checkedReads)
	}
	for _, v := range checked {
		if !bytes.Equal(v, repl) && !bytes.Equal(v, first["ca-cert"]) {
			t.Fatal("a certificate that is not the card's was listed")
		}
	}

	// A card that refuses to read from an offset that is not a multiple
	// of 256 (6A86): the certificates are read whole, as without the cache.
	c := f.cards["sim1"]
	c.mu.Lock()
	c.refuse = func(cmd []byte) uint16 {
		if len(cmd) > 3 && cmd[1] == spec.InsReadFile && cmd[3] != 0 {
			return 0x6A86
		}
		return 0
	}
	c.mu.Unlock()
	restart(t, f)
	refused, _, _ := certValues(t, f)
	if len(refused) != 2 || !bytes.Equal(refused["ca-cert"], first["ca-cert"]) {
		t.Fatalf("with tail reads refused: %d certificates listed", len(refused))
	}
}
