//go:build cgo

package pcsc_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport/pcsc"
)

// rawCard sends the foreign hosts' APDUs, hex as their sources write them,
// through pcscd and vpcd, and answers hex: data and status word.
type rawCard struct {
	t  *testing.T
	tr *pcsc.Transport
}

func (c rawCard) x(cmd string) (data []byte, sw string) {
	c.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(cmd, " ", ""))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.tr.Transmit(context.Background(), b)
	if err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	return resp[:len(resp)-2], strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:]))
}

func (c rawCard) ok(cmd string) []byte {
	c.t.Helper()
	data, sw := c.x(cmd)
	if sw != "9000" {
		c.t.Fatalf("%s: %s", cmd, sw)
	}
	return data
}

func openRaw(t *testing.T) rawCard {
	t.Helper()
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return rawCard{t: t, tr: tr}
}

// wolfSSL's IoT SAFE port sequences (the same bytes TestWolfSSLSequences in
// emulator/atmodem sends as AT+CSIM strings) through pcscd: Get Random,
// Read Public Key parsed as 34 45 49 43 86 41 04 X Y, sign init/update/
// close with the signature as 33 00 40, Put Public Key into slot 05, verify
// (9000, and 6D01 on a mismatch), Compute DH, HKDF-Extract; on a T=0 card the signature
// comes as 6143 and GET RESPONSE in class 01 fetches it.
func TestWolfSSLSequencesThroughPCSCD(t *testing.T) {
	card, _ := emulator.New(emulator.Options{})
	defer insert(t, card)()
	c := openRaw(t)
	if _, sw := c.x("01 A4 04 00 07 A0000005590010"); sw != "6881" {
		t.Fatalf("select on an unopened channel 1: %s, a card answers 6881", sw)
	}
	if ch := c.ok("00 70 00 00 01"); len(ch) != 1 || ch[0] != 1 {
		t.Fatalf("open channel: %X", ch)
	}
	c.ok("01 A4 04 00 07 A0000005590010")
	if r := c.ok("81 84 00 00 20"); len(r) != 32 {
		t.Fatalf("Get Random 32: %d bytes", len(r))
	}
	readKey := func(id string) []byte {
		t.Helper()
		d := c.ok("81 CD 00 00 03 85 01 " + id)
		if !strings.HasPrefix(strings.ToUpper(hex.EncodeToString(d)), "34454943864104") || len(d) < 6+65 {
			t.Fatalf("read public key %s: %X", id, d)
		}
		return d[6 : 6+65]
	}
	pub := readKey("01")
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("wolfSSL's bytes through pcscd"))
	c.ok("81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	sig := c.ok("81 2B 80 01 22 9E 20" + hex.EncodeToString(digest[:]))
	if len(sig) != 3+64 || sig[0] != 0x33 || sig[1] != 0x00 || sig[2] != 0x40 {
		t.Fatalf("sign update: %X (wolfSSL wants 33 00 40 <r||s>)", sig)
	}
	der, _ := spec.SignatureToDER(sig[3:])
	if !ecdsa.VerifyASN1(key, digest[:], der) {
		t.Fatal("the signature does not verify")
	}
	c.ok("81 2A 01 01 00")
	c.ok("81 24 00 02 03 85 01 05")
	c.ok("81 D8 80 02 47 34 45 49 43 86 41" + hex.EncodeToString(pub))
	c.ok("81 24 01 02 00")
	verify := func(d []byte) string {
		t.Helper()
		c.ok("81 2C 00 01 0D 85 01 05 A1 01 03 91 02 00 01 92 01 04")
		_, sw := c.x("81 2D 80 01 65 9E 20" + hex.EncodeToString(d) + "33 00 40" + hex.EncodeToString(sig[3:]))
		c.ok("81 2C 01 01 00")
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
	c.ok("81 24 00 02 03 85 01 05")
	c.ok("81 D8 80 02 47 34 45 49 43 86 41" + hex.EncodeToString(peer.PublicKey().Bytes()))
	c.ok("81 24 01 02 00")
	z := c.ok("81 46 00 00 06 84 01 04 85 01 05")
	cardKey, _ := ecdh.P256().NewPublicKey(readKey("04"))
	if want, _ := peer.ECDH(cardKey); hex.EncodeToString(z) != hex.EncodeToString(want) {
		t.Fatalf("Compute DH: %X, want %X", z, want)
	}
	ikm, salt := make([]byte, 32), make([]byte, 16)
	rand.Read(ikm)
	rand.Read(salt)
	prk := c.ok("81 4A 00 00 38 D1 20" + hex.EncodeToString(ikm) + "D5 10" + hex.EncodeToString(salt) + "91 02 00 01")
	if want, _ := hkdf.Extract(sha256.New, ikm, salt); hex.EncodeToString(prk) != hex.EncodeToString(want) {
		t.Fatalf("HKDF extract: %X, RFC 5869 gives %X", prk, want)
	}
	c.ok("00 70 80 01")
}

// The same T=0 exchange as a T=0 SIM gives wolfSSL: 6143, then GET
// RESPONSE in the applet's class 01.
func TestWolfSSLGetResponseThroughPCSCD(t *testing.T) {
	card, _ := emulator.New(emulator.Options{T0: true})
	defer insert(t, card)()
	c := openRaw(t)
	c.ok("00 70 00 00 01")
	c.ok("01 A4 04 00 07 A0000005590010")
	c.ok("81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	digest := sha256.Sum256([]byte("T=0"))
	if _, sw := c.x("81 2B 80 01 22 9E 20" + hex.EncodeToString(digest[:])); sw != "6143" {
		t.Fatalf("T=0 sign update: %s, want 6143", sw)
	}
	if sig := c.ok("01 C0 00 00 43"); len(sig) != 0x43 || sig[0] != 0x33 {
		t.Fatalf("GET RESPONSE in class 01: %X", sig)
	}
	c.ok("00 70 80 01")
}

// Orange's IoT-SAFE-APDU-library flow (class 0X under the GSMA AID, 33 40
// signatures, Read File in 50-byte pieces) against the orange profile
// through pcscd, as TestOrangeLibraryFlow does over the modem pty.
func TestOrangeLibraryFlowThroughPCSCD(t *testing.T) {
	card, _ := emulator.New(emulator.Options{Profile: emulator.ProfileOrange})
	defer insert(t, card)()
	c := openRaw(t)
	c.ok("00 70 00 00 01")
	c.ok("01 A4 04 00 07 A0 00 00 05 59 00 10")
	if r := c.ok("01 84 00 00 20"); len(r) != 32 {
		t.Fatalf("Get Random 32: %d bytes", len(r))
	}
	pub := c.ok("01 CD 00 00 03 85 01 01 00")
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub[len(pub)-65:])
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("orange through pcscd"))
	c.ok("01 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")
	sig := c.ok("01 2B 80 01 22 9E 20" + hex.EncodeToString(hash[:]) + "00")
	if len(sig) != 2+64 || sig[0] != 0x33 || sig[1] != 0x40 {
		t.Fatalf("sign update: %X (the library parses 33 40 only)", sig)
	}
	der, _ := spec.SignatureToDER(sig[2:])
	if !ecdsa.VerifyASN1(key, hash[:], der) {
		t.Fatal("the signature does not verify")
	}
	var file []byte
	for off := 0; ; off += 50 {
		got := c.ok(fmt.Sprintf("01 B0 %04X 03 83 01 02 32", off))
		file = append(file, got...)
		if len(got) < 50 {
			break
		}
	}
	if _, err := x509.ParseCertificate(file); err != nil {
		t.Fatalf("the certificate read in 50-byte pieces: %v", err)
	}
	c.ok("00 70 80 01")
}

// The published trace of a 1NCE SIM without the IoT SAFE applet (Orange
// IoT-SAFE-APDU-library issue 7), byte for byte through pcscd, as
// TestSIMWithoutTheApplet replays it over the modem pty: after the failed
// SELECT the UICC answers Get Data and Compute Signature 6D00 and takes
// INS 2C as UNBLOCK PIN.
func TestSIMWithoutTheAppletThroughPCSCD(t *testing.T) {
	card, _ := emulator.New(emulator.Options{})
	defer insert(t, card)()
	c := openRaw(t)
	for _, step := range []struct{ cmd, want string }{
		{"0070000001", "019000"},
		{"01A4040007A0000005590099", "6A82"},
		{"01CB010000", "6D00"},
		{"012A010100", "6D00"},
		{"012A00010E84021234A1010191020001920104", "6D00"},
		{"012C010100", "6A86"},
		{"012C00010E8502ABCDA1010191020001920104", "6700"},
		{"0070800100", "9000"},
	} {
		data, sw := c.x(step.cmd)
		if got := strings.ToUpper(hex.EncodeToString(data)) + sw; got != step.want {
			t.Errorf("%s: card answered %s, the real SIM %s", step.cmd, got, step.want)
		}
	}
}

// A T=0 card as the published ZARIOT trace shows it (Atsign's host behind
// AT+CSIM), through pcscd: case-2 commands with Le answered at once (MANAGE
// CHANNEL open with Le 00, Get Random), 61xx only for a case-4 command with
// data to return, GET RESPONSE taken in the applet's class 81.
func TestZARIOTT0ThroughPCSCD(t *testing.T) {
	card, _ := emulator.New(emulator.Options{T0: true})
	defer insert(t, card)()
	c := openRaw(t)
	if ch, sw := c.x("00 70 00 00 00"); len(ch) != 1 || ch[0] != 1 || sw != "9000" {
		t.Fatalf("MANAGE CHANNEL open with Le 00: %X %s, the real card 01 9000", ch, sw)
	}
	c.ok("01 A4 04 00 07 A0000005590010")
	if r, sw := c.x("81 84 00 00 10"); len(r) != 16 || sw != "9000" {
		t.Fatalf("Get Random with Le (case 2): %d bytes %s, the real card answers at once", len(r), sw)
	}
	if _, sw := c.x("81 CD 00 00 03 85 01 01 00"); sw != "6147" {
		t.Fatalf("Read Public Key (case 4): %s, want 6147", sw)
	}
	if d := c.ok("81 C0 00 00 47"); len(d) != 0x47 || d[0] != 0x34 {
		t.Fatalf("GET RESPONSE in class 81: %X", d)
	}
	c.ok("00 70 80 01")
}
