// Package hostseq holds, for tests, the APDU sequences that public IoT SAFE
// hosts send (wolfSSL's port, Orange's IoT-SAFE-APDU-library) and the
// answers published traces of real SIMs show (a 1NCE SIM without the
// applet, a ZARIOT T=0 SIM), each as a function that drives a card through
// any transport and checks the answers against what that host expects or
// that trace shows. The modem pty tests and the pcscd tests run the same
// sequences, so the bytes are written down once.
package hostseq

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/spec"
)

// Exchange sends one APDU, given in hex as the host's source writes it
// (spaces allowed), and returns the answer's data and status word (upper-
// case hex). It fails the test on a transport error.
type Exchange func(t testing.TB, apduHex string) (data []byte, sw string)

func ok(t testing.TB, x Exchange, cmd string) []byte {
	t.Helper()
	d, sw := x(t, cmd)
	if sw != "9000" {
		t.Fatalf("%s: %s", cmd, sw)
	}
	return d
}

func verifies(t testing.TB, pub, digest, raw []byte) {
	t.Helper()
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		t.Fatal(err)
	}
	der, err := spec.SignatureToDER(raw)
	if err != nil || !ecdsa.VerifyASN1(key, digest, der) {
		t.Fatalf("the signature does not verify (%v)", err)
	}
}

// WolfSSL runs wolfSSL's IoT SAFE port sequences (wolfcrypt/src/port/
// iotsafe/iotsafe.c), on channel 1 opened and with the applet selected:
// Get Random; Read Public Key (no Le) parsed as 34 45 49 43 86 41 04 X Y;
// sign init, update, close (class 81, session 1, signature as 33 00 40);
// Put Public Key into slot 05 (session 2); verify (33 00 40 signature in a
// two-byte-length TLV: 9000, and 6D01 on a mismatch); Compute DH with key
// 04 against a fresh peer; HKDF-Extract (81 4A, IKM in D1, salt in D5, hash
// 91 02 00 0x, no Le), the PRK checked against RFC 5869 (crypto/hkdf).
func WolfSSL(t testing.TB, x Exchange) {
	t.Helper()
	if r := ok(t, x, "81 84 00 00 20"); len(r) != 32 {
		t.Fatalf("Get Random 32: %d bytes", len(r))
	}
	readKey := func(id string) []byte {
		t.Helper()
		d := ok(t, x, "81 CD 00 00 03 85 01 "+id)
		if !strings.HasPrefix(strings.ToUpper(hex.EncodeToString(d)), "34454943864104") || len(d) < 6+65 {
			t.Fatalf("read public key %s: %X", id, d)
		}
		return d[6 : 6+65]
	}
	pub := readKey("01")
	digest := sha256.Sum256([]byte("wolfSSL over the IoT SAFE port"))
	ok(t, x, "81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	sig := ok(t, x, "81 2B 80 01 22 9E 20"+hex.EncodeToString(digest[:]))
	if len(sig) != 3+64 || sig[0] != 0x33 || sig[1] != 0x00 || sig[2] != 0x40 {
		t.Fatalf("sign update: %X (wolfSSL wants 33 00 40 <r||s>)", sig)
	}
	verifies(t, pub, digest[:], sig[3:])
	ok(t, x, "81 2A 01 01 00")
	putKey := func(point []byte) {
		t.Helper()
		ok(t, x, "81 24 00 02 03 85 01 05")
		ok(t, x, "81 D8 80 02 47 34 45 49 43 86 41"+hex.EncodeToString(point))
		ok(t, x, "81 24 01 02 00")
	}
	putKey(pub)
	verify := func(d []byte) string {
		t.Helper()
		ok(t, x, "81 2C 00 01 0D 85 01 05 A1 01 03 91 02 00 01 92 01 04")
		_, sw := x(t, "81 2D 80 01 65 9E 20"+hex.EncodeToString(d)+"33 00 40"+hex.EncodeToString(sig[3:]))
		ok(t, x, "81 2C 01 01 00")
		return sw
	}
	if sw := verify(digest[:]); sw != "9000" {
		t.Fatalf("verify of the genuine signature: %s", sw)
	}
	other := sha256.Sum256([]byte("tampered"))
	if sw := verify(other[:]); sw != "6D01" {
		t.Fatalf("verify of a mismatch: %s, wolfSSL expects 6D01", sw)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	putKey(peer.PublicKey().Bytes())
	z := ok(t, x, "81 46 00 00 06 84 01 04 85 01 05")
	cardKey, err := ecdh.P256().NewPublicKey(readKey("04"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := peer.ECDH(cardKey); hex.EncodeToString(z) != hex.EncodeToString(want) {
		t.Fatalf("Compute DH: %X, want %X", z, want)
	}
	ikm, salt := make([]byte, 32), make([]byte, 16)
	rand.Read(ikm)
	rand.Read(salt)
	for _, hc := range []struct {
		alg string
		h   func() hash.Hash
	}{{"0001", sha256.New}, {"0002", sha512.New384}} {
		prk := ok(t, x, "81 4A 00 00 38 D1 20"+hex.EncodeToString(ikm)+"D5 10"+hex.EncodeToString(salt)+"91 02"+hc.alg)
		if want, _ := hkdf.Extract(hc.h, ikm, salt); hex.EncodeToString(prk) != hex.EncodeToString(want) {
			t.Fatalf("HKDF extract (hash %s): %X, RFC 5869 gives %X", hc.alg, prk, want)
		}
	}
}

// WolfSSLT0 runs wolfSSL's T=0 path on a T=0 card, from a fresh card: the
// signature comes as 6143 and wolfSSL fetches it with GET RESPONSE in
// class 01 and Le 43; it verifies with the public key fetched the same way.
func WolfSSLT0(t testing.TB, x Exchange) {
	t.Helper()
	ok(t, x, "00 70 00 00 01")
	ok(t, x, "01 A4 04 00 07 A0000005590010")
	ok(t, x, "81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	digest := sha256.Sum256([]byte("T=0"))
	if _, sw := x(t, "81 2B 80 01 22 9E 20"+hex.EncodeToString(digest[:])); sw != "6143" {
		t.Fatalf("T=0 sign update: %s, want 6143", sw)
	}
	sig := ok(t, x, "01 C0 00 00 43")
	if len(sig) != 0x43 || sig[0] != 0x33 || sig[1] != 0x00 || sig[2] != 0x40 {
		t.Fatalf("GET RESPONSE in class 01: %X", sig)
	}
	// The key to check it with: Read Public Key is case 4 too.
	if _, sw := x(t, "81 CD 00 00 03 85 01 01"); sw != "6147" {
		t.Fatalf("T=0 read public key: %s, want 6147", sw)
	}
	pub := ok(t, x, "01 C0 00 00 47")
	if len(pub) != 0x47 {
		t.Fatalf("GET RESPONSE for the public key: %X", pub)
	}
	verifies(t, pub[6:], digest[:], sig[3:])
	ok(t, x, "00 70 80 01")
}

// Orange runs the flow of Orange's IoT-SAFE-APDU-library (vectors A2) from
// a fresh card: class 0X on channel 1 under the GSMA AID, Get Random, Read
// Public Key, a signature it can parse only as 33 40, the certificate read
// in 50-byte pieces. On a card that takes only class 8X (the gsma
// profile), Get Random answers 6E00 and Orange reports whether it did.
func Orange(t testing.TB, x Exchange) (classRefused bool) {
	t.Helper()
	if ch := ok(t, x, "00 70 00 00 01"); len(ch) != 1 || ch[0] != 1 {
		t.Fatalf("open: %X", ch)
	}
	ok(t, x, "01 A4 04 00 07 A0 00 00 05 59 00 10")
	r, sw := x(t, "01 84 00 00 20")
	if sw == "6E00" {
		return true
	}
	if sw != "9000" || len(r) != 32 {
		t.Fatalf("Get Random 32: %X %s", r, sw)
	}
	pub := ok(t, x, "01 CD 00 00 03 85 01 01 00")
	if len(pub) < 65 {
		t.Fatalf("read public key: %X", pub)
	}
	digest := sha256.Sum256([]byte("orange"))
	ok(t, x, "01 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	sig := ok(t, x, "01 2B 80 01 22 9E 20"+hex.EncodeToString(digest[:])+"00")
	if len(sig) != 2+64 || sig[0] != 0x33 || sig[1] != 0x40 {
		t.Fatalf("sign update: %X (the library parses 33 40 only)", sig)
	}
	verifies(t, pub[len(pub)-65:], digest[:], sig[2:])
	var file []byte
	for off := 0; ; off += 50 {
		got := ok(t, x, fmt.Sprintf("01 B0 %04X 03 83 01 02 32", off))
		file = append(file, got...)
		if len(got) < 50 {
			break
		}
	}
	if _, err := x509.ParseCertificate(file); err != nil {
		t.Fatalf("the certificate read in 50-byte pieces: %v", err)
	}
	ok(t, x, "00 70 80 01")
	return false
}

// NoApplet replays the published trace of a 1NCE SIM without the IoT SAFE
// applet (Orange IoT-SAFE-APDU-library issue 7, a MKR1500 modem) byte for
// byte, from a fresh card: after the failed SELECT the UICC answers Get
// Data and Compute Signature 6D00 and takes INS 2C as UNBLOCK PIN.
func NoApplet(t testing.TB, x Exchange) {
	t.Helper()
	for _, step := range []struct{ cmd, want string }{
		{"0070000001", "019000"},
		{"01A4040007A0000005590099", "6A82"}, // an AID the card does not hold
		{"01CB010000", "6D00"},
		{"012A010100", "6D00"},
		{"012A00010E84021234A1010191020001920104", "6D00"},
		{"012C010100", "6A86"},
		{"012C00010E8502ABCDA1010191020001920104", "6700"},
		{"0070800100", "9000"},
	} {
		data, sw := x(t, step.cmd)
		if got := strings.ToUpper(hex.EncodeToString(data)) + sw; got != step.want {
			t.Errorf("%s: card answered %s, the real SIM %s", step.cmd, got, step.want)
		}
	}
}

// ZARIOTT0 checks the pattern of the published ZARIOT T=0 trace (Atsign's
// host behind AT+CSIM), from a fresh T=0 card: case-2 commands with Le
// answered at once (MANAGE CHANNEL open with Le 00, Get Random), 61xx only
// for a case-4 command with data to return, GET RESPONSE taken in the
// applet's class 81.
func ZARIOTT0(t testing.TB, x Exchange) {
	t.Helper()
	if ch, sw := x(t, "00 70 00 00 00"); len(ch) != 1 || ch[0] != 1 || sw != "9000" {
		t.Fatalf("MANAGE CHANNEL open with Le 00: %X %s, the real card 01 9000", ch, sw)
	}
	ok(t, x, "01 A4 04 00 07 A0000005590010")
	if r, sw := x(t, "81 84 00 00 10"); len(r) != 16 || sw != "9000" {
		t.Fatalf("Get Random with Le (case 2): %d bytes %s, the real card answers at once", len(r), sw)
	}
	if _, sw := x(t, "81 CD 00 00 03 85 01 01 00"); sw != "6147" {
		t.Fatalf("Read Public Key (case 4): %s, want 6147", sw)
	}
	if d := ok(t, x, "81 C0 00 00 47"); len(d) != 0x47 || d[0] != 0x34 {
		t.Fatalf("GET RESPONSE in class 81: %X", d)
	}
	ok(t, x, "00 70 80 01")
}
