package pkcs11mod

import (
	"encoding/asn1"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
)

// The attributes PKCS#11 2.40 defines for each object class and key type
// this library shows (§4.4 storage objects, §4.5 data, §4.6 certificates,
// §4.7 keys, §4.8 public keys, §4.9 private keys, §4.10 secret keys; §2.3
// elliptic curve keys; §6.7 generic secret keys). External suites (OpenSC
// p11test, google/pkcs11test) and consumers (Java's KeyStore) read them
// all; each must be answered, with a value or, where the value cannot be
// revealed, as sensitive (unavailable) -- never as an attribute the object
// does not have.
var (
	storageAttrsDefined = []uint{CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_LABEL, CKA_COPYABLE, CKA_DESTROYABLE}
	keyAttrsDefined     = []uint{CKA_KEY_TYPE, CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_DERIVE, CKA_LOCAL,
		CKA_KEY_GEN_MECHANISM, CKA_ALLOWED_MECHANISMS}
	publicAttrsDefined = []uint{CKA_SUBJECT, CKA_ENCRYPT, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_WRAP, CKA_TRUSTED,
		CKA_WRAP_TEMPLATE, CKA_PUBLIC_KEY_INFO}
	privateAttrsDefined = []uint{CKA_SUBJECT, CKA_SENSITIVE, CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP,
		CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, CKA_UNWRAP_TEMPLATE,
		CKA_ALWAYS_AUTHENTICATE, CKA_PUBLIC_KEY_INFO}
	// §2.3 EC keys, §2.1 RSA keys (PKCS#11 2.40 mechanisms document).
	ecPublicAttrsDefined   = []uint{CKA_EC_PARAMS, CKA_EC_POINT}
	ecPrivateAttrsDefined  = []uint{CKA_EC_PARAMS, CKA_VALUE}
	rsaPublicAttrsDefined  = []uint{CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT}
	rsaPrivateAttrsDefined = []uint{CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
		CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT}
	secretAttrsDefined = []uint{CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
		CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_CHECK_VALUE, CKA_WRAP_WITH_TRUSTED,
		CKA_TRUSTED, CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_VALUE, CKA_VALUE_LEN}
	certAttrsDefined = []uint{CKA_CERTIFICATE_TYPE, CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY, CKA_CHECK_VALUE,
		CKA_START_DATE, CKA_END_DATE, CKA_PUBLIC_KEY_INFO, CKA_SUBJECT, CKA_ID, CKA_ISSUER, CKA_SERIAL_NUMBER,
		CKA_VALUE, CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_HASH_OF_ISSUER_PUBLIC_KEY,
		CKA_JAVA_MIDP_SECURITY_DOMAIN, CKA_NAME_HASH_ALGORITHM}
	dataAttrsDefined = []uint{CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE}
)

func TestEveryDefinedAttributeAnswered(t *testing.T) {
	// The key-types profile: P-256, brainpoolP256r1 and RSA-2048 keys.
	f := newFixtureWith(t, emulator.Options{Profile: emulator.ProfileKeyTypes}, SlotConfig{SIM: "sim1", SecretKeys: true})
	h := f.session(t, true)
	// Besides the SIM's objects: host-stored ones (a certificate and a
	// data object) and a session public key, as applications create them.
	pub := f.publicKey(t, h, "device-key")
	raw, _ := pub.Bytes()
	point, _ := asn1.Marshal(raw)
	created := map[uint]bool{}
	for _, tmpl := range [][]Attribute{
		{{CKA_CLASS, ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, ulong(CKC_X_509)}, {CKA_TOKEN, bbool(true)},
			{CKA_ID, []byte{2}}, {CKA_LABEL, []byte("enrolled")}, {CKA_VALUE, selfSigned(t, "enrolled")}},
		{{CKA_CLASS, ulong(CKO_DATA)}, {CKA_TOKEN, bbool(true)}, {CKA_LABEL, []byte("note")}, {CKA_VALUE, []byte("kept")}},
		{{CKA_CLASS, ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, ulong(CKK_EC)}, {CKA_TOKEN, bbool(false)},
			{CKA_EC_PARAMS, oidP256}, {CKA_EC_POINT, point}},
	} {
		o, rv := f.m.CreateObject(h, tmpl)
		must(t, "CreateObject", rv)
		created[o] = true
	}
	all := f.find(t, h)
	for o := range created {
		found := false
		for _, x := range all {
			found = found || x == o
		}
		if !found {
			t.Fatalf("created object %d not listed", o)
		}
	}
	seen := map[uint]int{}
	keyTypes := map[uint]int{}
	for _, o := range all {
		cls, _ := getUlong(f.attr(t, h, o, CKA_CLASS))
		want := append([]uint(nil), storageAttrsDefined...)
		var kt uint
		if cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY {
			kt, _ = getUlong(f.attr(t, h, o, CKA_KEY_TYPE))
			keyTypes[kt]++
		}
		switch {
		case cls == CKO_PUBLIC_KEY && kt == CKK_RSA:
			want = append(append(append(want, keyAttrsDefined...), publicAttrsDefined...), rsaPublicAttrsDefined...)
		case cls == CKO_PRIVATE_KEY && kt == CKK_RSA:
			want = append(append(append(want, keyAttrsDefined...), privateAttrsDefined...), rsaPrivateAttrsDefined...)
		case cls == CKO_PUBLIC_KEY:
			want = append(append(append(want, keyAttrsDefined...), publicAttrsDefined...), ecPublicAttrsDefined...)
		case cls == CKO_PRIVATE_KEY:
			want = append(append(append(want, keyAttrsDefined...), privateAttrsDefined...), ecPrivateAttrsDefined...)
		case cls == CKO_SECRET_KEY:
			want = append(append(want, keyAttrsDefined...), secretAttrsDefined...)
		case cls == CKO_CERTIFICATE:
			want = append(want, certAttrsDefined...)
		case cls == CKO_DATA:
			want = append(want, dataAttrsDefined...)
		default:
			t.Errorf("object of class %#x", cls)
			continue
		}
		seen[cls]++
		vals, rv := f.m.GetAttributeValue(h, o, want)
		if rv != CKR_OK {
			t.Fatalf("GetAttributeValue: %s", rvName(rv))
		}
		for i, v := range vals {
			if v.RV != CKR_OK && v.RV != CKR_ATTRIBUTE_SENSITIVE {
				label := f.attr(t, h, o, CKA_LABEL)
				t.Errorf("class %#x %q: attribute %#x answered %s", cls, label, want[i], rvName(v.RV))
			}
		}
	}
	for _, cls := range []uint{CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY, CKO_CERTIFICATE, CKO_DATA} {
		if seen[cls] == 0 {
			t.Errorf("no object of class %#x checked", cls)
		}
	}
	if keyTypes[CKK_RSA] < 2 || keyTypes[CKK_EC] < 4 {
		t.Errorf("key objects checked by type: %v", keyTypes)
	}
}
