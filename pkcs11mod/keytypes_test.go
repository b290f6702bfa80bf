package pkcs11mod

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

func keyTypesFixture(t *testing.T, cfg SlotConfig) (*fixture, uint) {
	t.Helper()
	cfg.SIM = "sim1"
	f := newFixtureWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes}, cfg)
	return f, f.session(t, true)
}

func (f *fixture) rsaPublic(t *testing.T, h, o uint) *rsa.PublicKey {
	t.Helper()
	n := f.attr(t, h, o, CKA_MODULUS)
	e := new(big.Int).SetBytes(f.attr(t, h, o, CKA_PUBLIC_EXPONENT))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(e.Int64())}
	if len(n) != 256 || pub.E != 65537 {
		t.Fatalf("CKA_MODULUS of %d bytes, exponent %d", len(n), pub.E)
	}
	if bits, _ := getUlong(f.attr(t, h, o, CKA_MODULUS_BITS)); bits != 2048 {
		t.Fatalf("CKA_MODULUS_BITS = %d", bits)
	}
	spki, err := x509.ParsePKIXPublicKey(f.attr(t, h, o, CKA_PUBLIC_KEY_INFO))
	if err != nil || !pub.Equal(spki) {
		t.Fatalf("CKA_PUBLIC_KEY_INFO: %v", err)
	}
	return pub
}

func (f *fixture) signWith(t *testing.T, h uint, m Mechanism, key uint, data []byte) ([]byte, uint) {
	t.Helper()
	if rv := f.m.SignInit(h, m, key); rv != CKR_OK {
		return nil, rv
	}
	sig, _, rv := f.m.Sign(h, data, 512)
	return sig, rv
}

var digestInfoSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// The RSA key of the SIM through PKCS#11: its objects, every signing
// mechanism the card can honour (each signature checked by crypto/rsa),
// and every one it cannot refused with the right return value.
func TestRSAKeyObjectsAndMechanisms(t *testing.T) {
	f, h := keyTypesFixture(t, SlotConfig{})
	priv := f.one(t, h, CKO_PRIVATE_KEY, "rsa-key")
	pubObj := f.one(t, h, CKO_PUBLIC_KEY, "rsa-key")
	if kt, _ := getUlong(f.attr(t, h, priv, CKA_KEY_TYPE)); kt != CKK_RSA {
		t.Fatalf("CKA_KEY_TYPE = %d", kt)
	}
	pub := f.rsaPublic(t, h, pubObj)
	if !pub.Equal(f.rsaPublic(t, h, priv)) {
		t.Fatal("private and public objects disagree")
	}
	for _, a := range []uint{CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT} {
		vs, rv := f.m.GetAttributeValue(h, priv, []uint{a})
		if rv != CKR_OK || vs[0].RV != CKR_ATTRIBUTE_SENSITIVE || vs[0].Value != nil {
			t.Errorf("attribute %#x: %s/%s, want CKR_ATTRIBUTE_SENSITIVE", a, rvName(rv), rvName(vs[0].RV))
		}
	}
	msg := []byte("go-iotsafe through PKCS#11")
	d256 := sha256.Sum256(msg)
	d384 := sha512.Sum384(msg)
	pssParams := func(hash, mgf, salt uint) *PSSParams { return &PSSParams{Hash: hash, MGF: mgf, SaltLen: salt} }
	for _, tc := range []struct {
		name  string
		mech  Mechanism
		data  []byte
		check func([]byte) error
	}{
		{"CKM_SHA256_RSA_PKCS", Mechanism{Type: CKM_SHA256_RSA_PKCS}, msg, func(s []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], s) }},
		{"CKM_SHA384_RSA_PKCS", Mechanism{Type: CKM_SHA384_RSA_PKCS}, msg, func(s []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA384, d384[:], s) }},
		{"CKM_RSA_PKCS DigestInfo", Mechanism{Type: CKM_RSA_PKCS}, append(slices.Clone(digestInfoSHA256), d256[:]...), func(s []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], s) }},
		{"CKM_RSA_PKCS_PSS SHA-256", Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA256, CKG_MGF1_SHA256, 32)}, d256[:], func(s []byte) error {
			return rsa.VerifyPSS(pub, crypto.SHA256, d256[:], s, &rsa.PSSOptions{SaltLength: 32})
		}},
		{"CKM_SHA384_RSA_PKCS_PSS", Mechanism{Type: CKM_SHA384_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA384, CKG_MGF1_SHA384, 48)}, msg, func(s []byte) error {
			return rsa.VerifyPSS(pub, crypto.SHA384, d384[:], s, &rsa.PSSOptions{SaltLength: 48})
		}},
	} {
		sig, rv := f.signWith(t, h, tc.mech, priv, tc.data)
		if rv != CKR_OK {
			t.Fatalf("%s: %s", tc.name, rvName(rv))
		}
		if err := tc.check(sig); err != nil {
			t.Fatalf("%s: crypto/rsa rejects the signature: %v", tc.name, err)
		}
		// And the token verifies it (on the host) with the public object.
		must(t, tc.name+" VerifyInit", f.m.VerifyInit(h, tc.mech, pubObj))
		must(t, tc.name+" Verify", f.m.Verify(h, tc.data, sig))
		bad := slices.Clone(sig)
		bad[7] ^= 1
		must(t, tc.name+" VerifyInit", f.m.VerifyInit(h, tc.mech, pubObj))
		want(t, tc.name+" Verify of a tampered signature", f.m.Verify(h, tc.data, bad), CKR_SIGNATURE_INVALID)
	}
	// Multi-part signing with a hashing RSA mechanism.
	must(t, "SignInit", f.m.SignInit(h, Mechanism{Type: CKM_SHA256_RSA_PKCS}, priv))
	must(t, "SignUpdate", f.m.SignUpdate(h, msg[:5]))
	must(t, "SignUpdate", f.m.SignUpdate(h, msg[5:]))
	if _, n, rv := f.m.SignFinal(h, 255); rv != CKR_BUFFER_TOO_SMALL || n != 256 {
		t.Fatalf("SignFinal into 255 bytes: %s, %d", rvName(rv), n)
	}
	sig, _, rv := f.m.SignFinal(h, 256)
	must(t, "SignFinal", rv)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], sig); err != nil {
		t.Fatal(err)
	}
	// What the card cannot honour.
	for _, tc := range []struct {
		name string
		mech Mechanism
		data []byte
		rv   uint
	}{
		{"PSS without parameters", Mechanism{Type: CKM_RSA_PKCS_PSS}, d256[:], CKR_MECHANISM_PARAM_INVALID},
		{"PSS salt 20", Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA256, CKG_MGF1_SHA256, 20)}, d256[:], CKR_MECHANISM_PARAM_INVALID},
		{"PSS MGF1-SHA1 with SHA-256", Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA256, CKG_MGF1_SHA1, 32)}, d256[:], CKR_MECHANISM_PARAM_INVALID},
		{"PSS with SHA-1", Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA_1, CKG_MGF1_SHA1, 20)}, d256[:20], CKR_MECHANISM_PARAM_INVALID},
		{"SHA384 PSS naming SHA-256", Mechanism{Type: CKM_SHA384_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA256, CKG_MGF1_SHA256, 32)}, msg, CKR_MECHANISM_PARAM_INVALID},
		{"PSS digest of the wrong length", Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: pssParams(CKM_SHA256, CKG_MGF1_SHA256, 32)}, d256[:31], CKR_DATA_LEN_RANGE},
		{"PKCS#1 parameter given", Mechanism{Type: CKM_SHA256_RSA_PKCS, Param: []byte{1}}, msg, CKR_MECHANISM_PARAM_INVALID},
		{"CKM_SHA1_RSA_PKCS (no SHA-1 on the card)", Mechanism{Type: CKM_SHA1_RSA_PKCS}, msg, CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"CKM_RSA_PKCS raw data", Mechanism{Type: CKM_RSA_PKCS}, d256[:], CKR_DATA_INVALID},
		{"CKM_RSA_PKCS over k-11 bytes", Mechanism{Type: CKM_RSA_PKCS}, make([]byte, 246), CKR_DATA_LEN_RANGE},
		{"CKM_ECDSA with an RSA key", Mechanism{Type: CKM_ECDSA}, d256[:], CKR_KEY_TYPE_INCONSISTENT},
	} {
		if _, rv := f.signWith(t, h, tc.mech, priv, tc.data); rv != tc.rv {
			t.Errorf("%s: %s, want %s", tc.name, rvName(rv), rvName(tc.rv))
		}
	}
	ecKey := f.one(t, h, CKO_PRIVATE_KEY, "device-key")
	want(t, "CKM_SHA256_RSA_PKCS with a P-256 key", f.m.SignInit(h, Mechanism{Type: CKM_SHA256_RSA_PKCS}, ecKey), CKR_KEY_TYPE_INCONSISTENT)

	// Mechanisms: RSA signing is on the card, SHA-1/224 RSA verify only.
	list, rv := f.m.MechanismList(0)
	must(t, "MechanismList", rv)
	for _, mech := range []uint{CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA1_RSA_PKCS} {
		if !slices.Contains(list, mech) {
			t.Errorf("mechanism %#x not listed", mech)
		}
	}
	info, rv := f.m.MechanismInfo(0, CKM_SHA1_RSA_PKCS)
	must(t, "MechanismInfo", rv)
	if info.Flags&CKF_SIGN != 0 || info.Flags&CKF_VERIFY == 0 || info.MinKeySize != 2048 {
		t.Errorf("CKM_SHA1_RSA_PKCS info %+v: verify only", info)
	}
	info, _ = f.m.MechanismInfo(0, CKM_SHA256_RSA_PKCS_PSS)
	if info.Flags&(CKF_SIGN|CKF_HW) != CKF_SIGN|CKF_HW {
		t.Errorf("CKM_SHA256_RSA_PKCS_PSS info %+v", info)
	}
}

// The default (P-256 only) SIM advertises no RSA mechanism.
func TestNoRSAMechanismsWithoutRSAKey(t *testing.T) {
	f := newFixture(t)
	list, rv := f.m.MechanismList(0)
	must(t, "MechanismList", rv)
	for _, mech := range rsaVerify {
		if slices.Contains(list, mech) {
			t.Errorf("mechanism %#x listed on a SIM without RSA keys", mech)
		}
	}
}

// RSA key generation into the RSA container, and its template rules.
func TestRSAKeyPairGeneration(t *testing.T) {
	f, h := keyTypesFixture(t, SlotConfig{ReplaceKeys: true})
	old := f.rsaPublic(t, h, f.one(t, h, CKO_PUBLIC_KEY, "rsa-key"))
	gen := Mechanism{Type: CKM_RSA_PKCS_KEY_PAIR_GEN}
	tok := Attribute{CKA_TOKEN, bbool(true)}
	for _, tc := range []struct {
		name string
		pub  []Attribute
		rv   uint
	}{
		{"1024 bits", []Attribute{{CKA_MODULUS_BITS, ulong(1024)}}, CKR_KEY_SIZE_RANGE},
		{"exponent 3", []Attribute{{CKA_PUBLIC_EXPONENT, []byte{3}}}, CKR_TEMPLATE_INCONSISTENT},
		{"EC key type", []Attribute{{CKA_KEY_TYPE, ulong(CKK_EC)}}, CKR_TEMPLATE_INCONSISTENT},
		{"P-256 container", []Attribute{{CKA_ID, []byte{1}}}, CKR_TEMPLATE_INCONSISTENT},
	} {
		if _, _, rv := f.m.GenerateKeyPair(h, gen, tc.pub, []Attribute{tok}); rv != tc.rv {
			t.Errorf("%s: %s, want %s", tc.name, rvName(rv), rvName(tc.rv))
		}
	}
	pubH, privH, rv := f.m.GenerateKeyPair(h, gen,
		[]Attribute{{CKA_MODULUS_BITS, ulong(2048)}, {CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}}, {CKA_LABEL, []byte("rsa-key")}},
		[]Attribute{tok, {CKA_SIGN, bbool(true)}, {CKA_LABEL, []byte("rsa-key")}})
	must(t, "GenerateKeyPair", rv)
	pub := f.rsaPublic(t, h, pubH)
	if pub.Equal(old) {
		t.Fatal("the RSA key was not replaced")
	}
	d := sha256.Sum256([]byte("new"))
	sig, rv := f.signWith(t, h, Mechanism{Type: CKM_RSA_PKCS_PSS, PSS: &PSSParams{CKM_SHA256, CKG_MGF1_SHA256, 32}}, privH, d[:])
	must(t, "Sign", rv)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, nil); err != nil {
		t.Fatal(err)
	}
	if m, _ := getUlong(f.attr(t, h, privH, CKA_KEY_GEN_MECHANISM)); m != CKM_RSA_PKCS_KEY_PAIR_GEN {
		t.Fatalf("CKA_KEY_GEN_MECHANISM = %#x", m)
	}
}

// The brainpool key: CKA_EC_PARAMS names brainpoolP256r1, CKM_ECDSA
// signatures check out with crypto/ecdsa on that curve, ECDH derives the
// secret a software ECDH computes, and key generation asks the curve.
func TestBrainpoolKey(t *testing.T) {
	f, h := keyTypesFixture(t, SlotConfig{ReplaceKeys: true})
	priv := f.one(t, h, CKO_PRIVATE_KEY, "brainpool-key")
	if !bytes.Equal(f.attr(t, h, priv, CKA_EC_PARAMS), oidBrainpoolP256r1) {
		t.Fatalf("CKA_EC_PARAMS = %X", f.attr(t, h, priv, CKA_EC_PARAMS))
	}
	var point []byte
	if _, err := asn1.Unmarshal(f.attr(t, h, f.one(t, h, CKO_PUBLIC_KEY, "brainpool-key"), CKA_EC_POINT), &point); err != nil {
		t.Fatal(err)
	}
	pub, err := keys.ECPublic(spec.KeyKindBrainpoolP256, point)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("bp"))
	sig, rv := f.signWith(t, h, Mechanism{Type: CKM_ECDSA}, priv, d[:])
	must(t, "Sign", rv)
	if !rawVerify2(pub, d[:], sig) {
		t.Fatal("brainpool signature rejected by crypto/ecdsa")
	}
	// SPKI with the brainpool OID (crypto/x509 cannot parse it; check the DER).
	if spki := f.attr(t, h, priv, CKA_PUBLIC_KEY_INFO); !bytes.Contains(spki, oidBrainpoolP256r1) || !bytes.Contains(spki, point) {
		t.Fatalf("CKA_PUBLIC_KEY_INFO %X", spki)
	}
	// ECDH with a brainpool peer: the card's secret equals the software one.
	peer, _ := ecdsa.GenerateKey(keys.BrainpoolP256r1(), rand.Reader)
	pp := make([]byte, 65)
	pp[0] = 4
	peer.X.FillBytes(pp[1:33])
	peer.Y.FillBytes(pp[33:])
	der, _ := asn1.Marshal(pp)
	sk, rv := f.m.DeriveKey(h, Mechanism{Type: CKM_ECDH1_DERIVE, ECDH: &ECDH1DeriveParams{KDF: CKD_NULL, PublicData: der}}, priv,
		[]Attribute{{CKA_CLASS, ulong(CKO_SECRET_KEY)}, {CKA_SENSITIVE, bbool(false)}, {CKA_EXTRACTABLE, bbool(true)}})
	must(t, "DeriveKey", rv)
	x, _ := keys.BrainpoolP256r1().ScalarMult(pub.X, pub.Y, peer.D.FillBytes(make([]byte, 32)))
	if got := f.attr(t, h, sk, CKA_VALUE); !bytes.Equal(got, x.FillBytes(make([]byte, 32))) {
		t.Fatalf("ECDH secret %X", got)
	}
	// A P-256 point is refused for the brainpool key.
	p256, _ := f.publicKey(t, h, "device-key").Bytes()
	der, _ = asn1.Marshal(p256)
	if _, rv := f.m.DeriveKey(h, Mechanism{Type: CKM_ECDH1_DERIVE, ECDH: &ECDH1DeriveParams{KDF: CKD_NULL, PublicData: der}}, priv,
		[]Attribute{{CKA_CLASS, ulong(CKO_SECRET_KEY)}}); rv != CKR_MECHANISM_PARAM_INVALID {
		t.Fatalf("P-256 point for brainpool ECDH: %s", rvName(rv))
	}
	// Key generation: CKA_EC_PARAMS brainpool picks the brainpool container.
	pubH, _, rv := f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN},
		[]Attribute{{CKA_EC_PARAMS, oidBrainpoolP256r1}, {CKA_ID, []byte{8}}}, []Attribute{{CKA_TOKEN, bbool(true)}, {CKA_SIGN, bbool(true)}})
	must(t, "GenerateKeyPair brainpool", rv)
	if !bytes.Equal(f.attr(t, h, pubH, CKA_EC_PARAMS), oidBrainpoolP256r1) {
		t.Fatal("generated key is not brainpool")
	}
	if _, _, rv := f.m.GenerateKeyPair(h, Mechanism{Type: CKM_EC_KEY_PAIR_GEN},
		[]Attribute{{CKA_EC_PARAMS, oidP256}, {CKA_ID, []byte{8}}}, []Attribute{{CKA_TOKEN, bbool(true)}}); rv != CKR_TEMPLATE_INCONSISTENT {
		t.Fatalf("P-256 generation into the brainpool container: %s", rvName(rv))
	}

	// A certificate for the (new) brainpool key goes into the host store:
	// its attributes come from the certificate, and it survives a reload.
	var newPoint []byte
	asn1.Unmarshal(f.attr(t, h, pubH, CKA_EC_POINT), &newPoint)
	newPub, err := keys.ECPublic(spec.KeyKindBrainpoolP256, newPoint)
	if err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bp CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	der, err = bpx509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bp device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, ca, newPub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	o, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, ulong(CKC_X_509)},
		{CKA_TOKEN, bbool(true)}, {CKA_ID, []byte{8}}, {CKA_LABEL, []byte("brainpool-key")}, {CKA_VALUE, der}})
	must(t, "CreateObject(brainpool certificate)", rv)
	cert, _ := bpx509.ParseCertificate(der)
	if !bytes.Equal(f.attr(t, h, o, CKA_SUBJECT), cert.RawSubject) || !bytes.Equal(f.attr(t, h, o, CKA_PUBLIC_KEY_INFO), cert.RawSubjectPublicKeyInfo) {
		t.Error("CKA_SUBJECT / CKA_PUBLIC_KEY_INFO not filled from the brainpool certificate")
	}
	f.m.Finalize()
	must(t, "Initialize", f.m.Initialize(0))
	h = f.session(t, true)
	found := f.find(t, h, Attribute{CKA_CLASS, ulong(CKO_CERTIFICATE)}, Attribute{CKA_ID, []byte{8}})
	if len(found) != 1 || !bytes.Equal(f.attr(t, h, found[0], CKA_VALUE), der) {
		t.Fatalf("the brainpool certificate is not found after reloading (%d)", len(found))
	}
}

func rawVerify2(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	der, err := spec.SignatureToDER(sig)
	return len(sig) == 64 && err == nil && ecdsa.VerifyASN1(pub, digest, der)
}

// A steady-state C_Sign with the RSA key: three APDUs with short APDUs
// (the 259-byte answer takes a GET RESPONSE), two on a card that
// announces extended-length APDUs in its ATR, three again on that card
// with short-apdus: yes.
func TestRSASignAPDUs(t *testing.T) {
	for _, tc := range []struct{ ext, short bool }{{false, false}, {true, false}, {true, true}} {
		ext := tc.ext && !tc.short
		f := newFixtureWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes, ExtendedLength: tc.ext}, SlotConfig{SIM: "sim1", ShortAPDUs: tc.short})
		h := f.session(t, false)
		key := f.one(t, h, CKO_PRIVATE_KEY, "rsa-key")
		m := Mechanism{Type: CKM_SHA256_RSA_PKCS}
		if _, rv := f.signWith(t, h, m, key, []byte("warm")); rv != CKR_OK {
			t.Fatalf("C_Sign: %s", rvName(rv))
		}
		c := f.cards["sim1"]
		before := c.count()
		for range 5 {
			if _, rv := f.signWith(t, h, m, key, []byte("steady")); rv != CKR_OK {
				t.Fatalf("C_Sign: %s", rvName(rv))
			}
		}
		want := map[bool]int{false: 3, true: 2}[ext]
		if per := (c.count() - before) / 5; per != want || (c.count()-before)%5 != 0 {
			t.Errorf("extended %v: %d APDUs for 5 RSA signatures, want %d each", ext, c.count()-before, want)
		}
	}
}

// Session public keys of the other key types, as Java's
// Signature.initVerify makes them from the SIM's certificates: an RSA-2048
// key (CKA_MODULUS, CKA_PUBLIC_EXPONENT) verifies the SIM's PKCS#1 v1.5
// and PSS signatures on the host, a brainpoolP256r1 key its ECDSA ones;
// tampered signatures fail; an RSA key of another size, a curve IoT SAFE
// has not and a template without the key are refused with the PKCS#11
// return values.
func TestSessionPublicKeysOfEveryType(t *testing.T) {
	f, h := keyTypesFixture(t, SlotConfig{})
	rsaPub := f.rsaPublic(t, h, f.one(t, h, CKO_PUBLIC_KEY, "rsa-key"))
	o, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, ulong(CKK_RSA)},
		{CKA_MODULUS, rsaPub.N.Bytes()}, {CKA_PUBLIC_EXPONENT, big.NewInt(int64(rsaPub.E)).Bytes()}})
	must(t, "CreateObject(session RSA public key)", rv)
	if bits, _ := getUlong(f.attr(t, h, o, CKA_MODULUS_BITS)); bits != 2048 {
		t.Fatalf("CKA_MODULUS_BITS %d", bits)
	}
	priv := f.one(t, h, CKO_PRIVATE_KEY, "rsa-key")
	pss := &PSSParams{Hash: CKM_SHA256, MGF: CKG_MGF1_SHA256, SaltLen: 32}
	for _, m := range []Mechanism{{Type: CKM_SHA256_RSA_PKCS}, {Type: CKM_SHA256_RSA_PKCS_PSS, PSS: pss}} {
		sig, rv := f.signWith(t, h, m, priv, []byte("java verifies"))
		must(t, "Sign", rv)
		must(t, "VerifyInit", f.m.VerifyInit(h, m, o))
		must(t, "Verify", f.m.Verify(h, []byte("java verifies"), sig))
		sig[7] ^= 1
		must(t, "VerifyInit", f.m.VerifyInit(h, m, o))
		want(t, "Verify(tampered)", f.m.Verify(h, []byte("java verifies"), sig), CKR_SIGNATURE_INVALID)
	}
	// ECDSA is not an RSA key's.
	want(t, "VerifyInit(ECDSA, RSA key)", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, o), CKR_KEY_TYPE_INCONSISTENT)

	var point []byte
	asn1.Unmarshal(f.attr(t, h, f.one(t, h, CKO_PUBLIC_KEY, "brainpool-key"), CKA_EC_POINT), &point)
	der, _ := asn1.Marshal(point)
	bp, rv := f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, ulong(CKK_EC)},
		{CKA_EC_PARAMS, oidBrainpoolP256r1}, {CKA_EC_POINT, der}})
	must(t, "CreateObject(session brainpool public key)", rv)
	d := sha256.Sum256([]byte("brainpool"))
	sig, rv := f.signWith(t, h, Mechanism{Type: CKM_ECDSA}, f.one(t, h, CKO_PRIVATE_KEY, "brainpool-key"), d[:])
	must(t, "Sign(brainpool)", rv)
	must(t, "VerifyInit", f.m.VerifyInit(h, Mechanism{Type: CKM_ECDSA}, bp))
	must(t, "Verify(brainpool)", f.m.Verify(h, d[:], sig))
	// The same point said to be on P-256 is not a P-256 point.
	_, rv = f.m.CreateObject(h, []Attribute{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, ulong(CKK_EC)},
		{CKA_EC_PARAMS, oidP256}, {CKA_EC_POINT, der}})
	want(t, "CreateObject(brainpool point as P-256)", rv, CKR_ATTRIBUTE_VALUE_INVALID)

	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 132, 0, 34})
	for name, tc := range map[string]struct {
		tmpl []Attribute
		want uint
	}{
		"RSA-1024":             {[]Attribute{{CKA_KEY_TYPE, ulong(CKK_RSA)}, {CKA_MODULUS, small.N.Bytes()}, {CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}}}, CKR_ATTRIBUTE_VALUE_INVALID},
		"even exponent":        {[]Attribute{{CKA_KEY_TYPE, ulong(CKK_RSA)}, {CKA_MODULUS, rsaPub.N.Bytes()}, {CKA_PUBLIC_EXPONENT, []byte{1, 0, 0}}}, CKR_ATTRIBUTE_VALUE_INVALID},
		"no key type":          {[]Attribute{{CKA_MODULUS, rsaPub.N.Bytes()}, {CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}}}, CKR_TEMPLATE_INCOMPLETE},
		"RSA without exponent": {[]Attribute{{CKA_KEY_TYPE, ulong(CKK_RSA)}, {CKA_MODULUS, rsaPub.N.Bytes()}}, CKR_TEMPLATE_INCOMPLETE},
		"EC without point":     {[]Attribute{{CKA_KEY_TYPE, ulong(CKK_EC)}, {CKA_EC_PARAMS, oidP256}}, CKR_TEMPLATE_INCOMPLETE},
		"P-384":                {[]Attribute{{CKA_KEY_TYPE, ulong(CKK_EC)}, {CKA_EC_PARAMS, p384}, {CKA_EC_POINT, der}}, CKR_CURVE_NOT_SUPPORTED},
		"DSA":                  {[]Attribute{{CKA_KEY_TYPE, ulong(1 /* CKK_DSA */)}}, CKR_TEMPLATE_INCONSISTENT},
	} {
		_, rv := f.m.CreateObject(h, append([]Attribute{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}}, tc.tmpl...))
		want(t, "CreateObject("+name+")", rv, tc.want)
	}
}
