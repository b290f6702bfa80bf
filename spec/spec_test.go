package spec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/apdu"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The Thales test public key (vectors B4), a valid P-256 point.
const thalesPoint = "049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0"

func TestPublicKeyData(t *testing.T) {
	point := h(thalesPoint)
	// Vector B4: the update data of Put Public Key is 34 45 49 43 86 41 <point>.
	want := h("3445 4943 8641" + thalesPoint)
	if got := AppendPublicKeyTLV(nil, point); !bytes.Equal(got, want) {
		t.Fatalf("AppendPublicKeyTLV = %X", got)
	}
	if got := EncodePublicKeyData(point); !bytes.Equal(got, want[2:]) {
		t.Fatalf("EncodePublicKeyData = %X", got)
	}
	for name, in := range map[string][]byte{"full TLV": want, "template": want[2:], "bare point": point} {
		got, err := ParsePublicKey(in)
		if err != nil || !bytes.Equal(got, point) {
			t.Errorf("%s: ParsePublicKey = %X, %v", name, got, err)
		}
	}
	for name, in := range map[string]string{
		"empty":            "",
		"truncated":        "3445 4943 8641 04AA",
		"wrong inner tag":  "3405 4903 8701 04",
		"trailing bytes":   "3405 4903 860104 00",
		"compressed point": "3405 4903 860102",
		"not a key":        "9000",
	} {
		if _, err := ParsePublicKey(h(in)); !errors.Is(err, apdu.ErrMalformed) {
			t.Errorf("%s: ParsePublicKey error %v, want ErrMalformed", name, err)
		}
	}
}

func TestSignatureTLV(t *testing.T) {
	sig := bytes.Repeat([]byte{0xAB}, 64)
	tests := []struct {
		style SigLenStyle
		hdr   string
	}{
		{SigLenTwoByte, "330040"},
		{SigLenOneByte, "3340"},
		{SigLenBER, "3340"},
	}
	for _, tc := range tests {
		enc := AppendSignatureTLV(nil, sig, tc.style)
		if !bytes.HasPrefix(enc, h(tc.hdr)) || len(enc) != len(h(tc.hdr))+64 {
			t.Errorf("style %d: encoded %X...", tc.style, enc[:4])
		}
		got, rest, err := ReadSignatureTLV(append(enc, 0x9E, 0x00))
		if err != nil || !bytes.Equal(got, sig) || !bytes.Equal(rest, []byte{0x9E, 0x00}) {
			t.Errorf("style %d: ReadSignatureTLV = %X, rest %X, %v", tc.style, got, rest, err)
		}
	}
	// A 72-byte DER signature inside a one-byte length, and a 256-byte RSA
	// signature with a two-byte length 01 00.
	der := append([]byte{0x30, 0x46}, bytes.Repeat([]byte{1}, 70)...)
	if got, _, err := ReadSignatureTLV(append([]byte{0x33, 0x48}, der...)); err != nil || !bytes.Equal(got, der) {
		t.Errorf("DER in 33 48: %v", err)
	}
	rsa := bytes.Repeat([]byte{7}, 256)
	if got, _, err := ReadSignatureTLV(AppendSignatureTLV(nil, rsa, SigLenTwoByte)); err != nil || !bytes.Equal(got, rsa) {
		t.Errorf("RSA 33 01 00: %v", err)
	}
	if got, _, err := ReadSignatureTLV(AppendSignatureTLV(nil, rsa, SigLenBER)); err != nil || !bytes.Equal(got, rsa) {
		t.Errorf("RSA 33 82 01 00: %v", err)
	}
	for name, in := range map[string]string{
		"empty":          "",
		"wrong tag":      "3440AA",
		"zero length":    "3300",
		"two-byte zero":  "330000",
		"truncated":      "330040AABB",
		"truncated one":  "3340AABB",
		"length too big": "3381FF00",
	} {
		if _, _, err := ReadSignatureTLV(h(in)); !errors.Is(err, apdu.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
}

func TestObjectKindTags(t *testing.T) {
	for _, tc := range []struct {
		k         ObjectKind
		id, label apdu.Tag
		name      string
	}{
		{KindPrivateKey, 0x84, 0x74, "private key"},
		{KindPublicKey, 0x85, 0x75, "public key"},
		{KindFile, 0x83, 0x73, "file"},
		{KindSecretKey, 0x86, 0x76, "secret key"},
	} {
		if tc.k.IDTag() != tc.id || tc.k.LabelTag() != tc.label || tc.k.String() != tc.name {
			t.Errorf("%v: %X %X %q", tc.k, tc.k.IDTag(), tc.k.LabelTag(), tc.k.String())
		}
	}
	if len(KnownAIDs()) != 3 || !bytes.Equal(KnownAIDs()[0], AIDGSMA) {
		t.Error("KnownAIDs must start with the GSMA AID")
	}
}

func FuzzSignatureTLV(f *testing.F) {
	for _, s := range []string{"330040" + strings.Repeat("AB", 64), "3340" + strings.Repeat("CD", 64), "3300", "33820100"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, rest, err := ReadSignatureTLV(b)
		if err != nil {
			if !errors.Is(err, apdu.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if len(sig) == 0 || len(sig)+len(rest) > len(b) {
			t.Fatalf("bad split: sig %d rest %d of %d", len(sig), len(rest), len(b))
		}
	})
}

func TestSignatureDER(t *testing.T) {
	raw := append(bytes.Repeat([]byte{0x00}, 31), 0x05)  // r = 5 (leading zeros)
	raw = append(raw, bytes.Repeat([]byte{0xFF}, 32)...) // s with the top bit set
	der, err := SignatureToDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	// SEQUENCE { INTEGER 5, INTEGER 00 FF..FF }
	if !bytes.HasPrefix(der, h("3026 020105 022100FF")) {
		t.Fatalf("DER %X", der)
	}
	back, err := SignatureFromDER(der, 0)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("round trip %X %v", back, err)
	}
	if _, err := SignatureFromDER(der, 16); !errors.Is(err, apdu.ErrMalformed) {
		t.Fatal("32-byte integers fitted into 16")
	}
	for _, bad := range []string{"", "3000", "300602010102", "3006020100020101", "30060201FF020101", "3026020105022100FF00"} {
		if _, err := SignatureFromDER(h(bad), 0); !errors.Is(err, apdu.ErrMalformed) {
			t.Errorf("SignatureFromDER(%s) = %v", bad, err)
		}
	}
	if _, err := SignatureToDER([]byte{1, 2, 3}); !errors.Is(err, apdu.ErrMalformed) {
		t.Error("odd raw length accepted")
	}
}

// KeyType and KindOfKeyType agree for every family (the codes of the spec's
// key type table: 03 RSA-2048, 13 P-256, 23 brainpoolP256r1).
func TestKeyTypeOfKind(t *testing.T) {
	for k, want := range map[KeyTypeKind]byte{KeyKindRSA2048: 0x03, KeyKindP256: 0x13, KeyKindBrainpoolP256: 0x23, KeyKindUnknown: 0} {
		if got := k.KeyType(); got != want || (want != 0 && KindOfKeyType(got) != k) {
			t.Errorf("%s: key type %02X, want %02X", k, got, want)
		}
	}
}
