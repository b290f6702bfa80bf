package emulator

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// chained sends cmd and follows 61xx with GET RESPONSE on channel 1, as
// the host's transport does; it returns the whole answer.
func chained(t *testing.T, c *Card, cmd string) apdu.Response {
	t.Helper()
	r := send(t, c, cmd)
	data := append([]byte(nil), r.Data...)
	for r.SW.SW1() == 0x61 {
		r = send(t, c, fmt.Sprintf("01C00000%02X", r.SW.SW2()))
		data = append(data, r.Data...)
	}
	r.Data = data
	return r
}

// The RSA container byte by byte, with the commands the Thales PKCS#11
// module builds for RSA (PrivateKeySignRSA: `84 01 <id> A1 01 03 91 02 00
// 01 92 01 01`, then `2B 80 .. 22 9E 20 <SHA-256>`; it strips the three
// bytes `33 01 00` from the answer), on channel 1 in the gsma class: the
// 259-byte answer comes as 256 bytes with 6103, then 3 bytes by GET
// RESPONSE; crypto/rsa checks the signature with the key Read Public Key
// gives. Then the status words of algorithm/key mismatches.
func TestRSAContainerBytes(t *testing.T) {
	for _, der := range []bool{false, true} {
		v, _ := ProfileKeyTypes.Variant()
		v.RSAPublicKeyDER = der
		c := testCard(t, Options{Profile: ProfileKeyTypes, Variant: &v})
		expectSW(t, c, "0070000001", apdu.SWSuccess)
		expectSW(t, c, "01A4040007A0000005590010", apdu.SWSuccess)
		pubAns := chained(t, c, "81CD000003850107 00")
		if pubAns.SW != apdu.SWSuccess {
			t.Fatalf("read public key: %s", pubAns.SW)
		}
		var pub *rsa.PublicKey
		if der {
			// 34 82 01 0E | 30 82 01 0A (PKCS#1 RSAPublicKey)
			if !bytes.HasPrefix(pubAns.Data, h("3482010E 3082010A")) {
				t.Fatalf("DER variant: %X", pubAns.Data[:8])
			}
			k, err := x509.ParsePKCS1PublicKey(pubAns.Data[4:])
			if err != nil {
				t.Fatal(err)
			}
			pub = k
		} else {
			// 34 82 01 0D | 49 82 01 09 | 81 82 01 00 <n> | 82 03 01 00 01
			if !bytes.HasPrefix(pubAns.Data, h("3482010D 49820109 81820100")) || !bytes.HasSuffix(pubAns.Data, h("8203010001")) {
				t.Fatalf("template: %X...%X", pubAns.Data[:12], pubAns.Data[len(pubAns.Data)-5:])
			}
			k, err := x509.ParsePKCS1PublicKey(mustPKCS1(t, pubAns.Data[12:268]))
			if err != nil {
				t.Fatal(err)
			}
			pub = k
		}
		digest := sha256.Sum256([]byte("Thales PKCS#11 RSA"))
		expectSW(t, c, "812A00000D 840107 A10103 91020001 920101", apdu.SWSuccess)
		first := send(t, c, fmt.Sprintf("812B800022 9E20%X 00", digest))
		if first.SW != 0x6103 || len(first.Data) != 256 {
			t.Fatalf("sign update: %d bytes, %s; want 256 and 6103", len(first.Data), first.SW)
		}
		rest := expectSW(t, c, "01C0000003", apdu.SWSuccess)
		sig := append(first.Data, rest.Data...)
		if !bytes.HasPrefix(sig, h("330100")) || len(sig) != 259 {
			t.Fatalf("signature TLV %X (%d bytes)", sig[:3], len(sig))
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig[3:]); err != nil {
			t.Fatalf("crypto/rsa rejects the card's signature: %v", err)
		}
		// Mismatches: ECDSA with the RSA key and RSA with the P-256 key are
		// conditions of use (6985); two algorithm bits, or CMAC (offered
		// for no key), are incorrect data (6A80).
		expectSW(t, c, "812A00000D 840107 A10103 91020001 920104", apdu.SWConditionsNotSatisfied)
		expectSW(t, c, "812A00000D 840101 A10103 91020001 920102", apdu.SWConditionsNotSatisfied)
		expectSW(t, c, "812A00000D 840107 A10103 91020001 920103", apdu.SWIncorrectData)
		expectSW(t, c, "812A00000D 840107 A10103 91020001 920108", apdu.SWIncorrectData)
		// The application information lists RSA PKCS#1, PSS and ECDSA.
		info := send(t, c, "81CB000000")
		if !bytes.Contains(info.Data, h("920107")) {
			t.Fatalf("application information lacks 92 01 07: %X", info.Data)
		}
	}
}

// mustPKCS1 wraps a raw modulus and exponent 65537 in PKCS#1 DER.
func mustPKCS1(t *testing.T, n []byte) []byte {
	t.Helper()
	k := &rsa.PublicKey{E: 65537}
	k.N = new(big.Int).SetBytes(n)
	return x509.MarshalPKCS1PublicKey(k)
}

// The brainpool peer container takes only brainpool points: a P-256 point
// (the Thales test key of the vectors) is incorrect data.
func TestBrainpoolPeerRefusesP256Point(t *testing.T) {
	c := testCard(t, Options{Profile: ProfileKeyTypes})
	expectSW(t, c, "0070000001", apdu.SWSuccess)
	expectSW(t, c, "01A4040007A0000005590010", apdu.SWSuccess)
	expectSW(t, c, "8124000003 850109", apdu.SWSuccess)
	p256 := "049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0"
	expectSW(t, c, fmt.Sprintf("81D8800047 3445 4943 8641 %s", p256), apdu.SWIncorrectData)
}

// Extended-length APDUs: a card made with ExtendedLength says so in its
// ATR (pcsc-tools' ATR_analysis, an independent decoder, reads "Extended
// Lc and Le fields" and a correct check byte), and answers the RSA
// signature of the Thales module's command, sent with an extended Le, whole
// (259 bytes, 9000: one APDU less). A card without it, or a T=0 one, takes
// extended APDUs as a short-only card does: 6700, and the session goes on
// (the short command that follows is answered); an extended Le too small
// for the answer is 6700 as well.
func TestExtendedLength(t *testing.T) {
	digest := sha256.Sum256([]byte("extended"))
	initRSA := "812A00000D 840107 A10103 91020001 920101"
	updateExt := fmt.Sprintf("812B8000 000022 9E20%X 0000", digest)
	for _, tc := range []struct {
		name  string
		opts  Options
		takes bool
	}{
		{"short only", Options{Profile: ProfileKeyTypes}, false},
		{"T=0", Options{Profile: ProfileKeyTypes, ExtendedLength: true, T0: true}, false},
		{"extended", Options{Profile: ProfileKeyTypes, ExtendedLength: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCard(t, tc.opts)
			if got := apdu.ExtendedLengthInATR(c.ATR()); got != tc.takes {
				t.Fatalf("ATR %X says extended %v", c.ATR(), got)
			}
			out, _ := atrAnalysis(t, c.ATR())
			if strings.Contains(string(out), "Extended Lc and Le fields") != tc.takes || !strings.Contains(string(out), "(correct checksum)") {
				t.Fatalf("ATR_analysis (pcsc-tools):\n%s", out)
			}
			expectSW(t, c, "0070000001", apdu.SWSuccess)
			expectSW(t, c, "01A4040007A0000005590010", apdu.SWSuccess)
			pub := chained(t, c, "81CD000003850107 00")
			n := new(big.Int).SetBytes(pub.Data[12:268])
			key := &rsa.PublicKey{N: n, E: 65537}
			expectSW(t, c, initRSA, apdu.SWSuccess)
			if !tc.takes {
				expectSW(t, c, updateExt, apdu.SWWrongLength)
				r := chained(t, c, fmt.Sprintf("812B800022 9E20%X 00", digest))
				if r.SW != apdu.SWSuccess || len(r.Data) != 259 {
					t.Fatalf("short update after the refused extended one: %d bytes, %s", len(r.Data), r.SW)
				}
				return
			}
			r := send(t, c, updateExt)
			if r.SW != apdu.SWSuccess || len(r.Data) != 259 || !bytes.HasPrefix(r.Data, h("330100")) {
				t.Fatalf("extended update: %d bytes, %s", len(r.Data), r.SW)
			}
			if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], r.Data[3:]); err != nil {
				t.Fatal(err)
			}
			expectSW(t, c, initRSA, apdu.SWSuccess)
			expectSW(t, c, fmt.Sprintf("812B8000 000022 9E20%X 0100", digest), apdu.SWWrongLength) // Le 256 < 259
		})
	}
}

// atrAnalysis runs pcsc-tools' ATR_analysis on atr. It keeps its ATR list
// in $XDG_CACHE_HOME (or ~/.cache) and, for an ATR it does not know,
// downloads a newer list from the Internet unless that file is less than
// ten hours old. Here it runs with a temporary HOME and cache holding a
// fresh empty list: it writes nothing of the user's and fetches nothing.
func atrAnalysis(t *testing.T, atr []byte) ([]byte, error) {
	t.Helper()
	tool := testtool.Need(t, "ATR_analysis")
	home := t.TempDir()
	cache := filepath.Join(home, ".cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "smartcard_list.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, fmt.Sprintf("% X", atr))
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+cache)
	return cmd.CombinedOutput()
}
