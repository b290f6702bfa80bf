package atmodem_test

import (
	"bufio"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/spec"
)

// wolfCSIM writes an APDU the way wolfSSL's IoT SAFE port
// (wolfcrypt/src/port/iotsafe/iotsafe.c) does: the length in a 3-character
// field with a leading space under 100 ("AT+CSIM= 10,"), upper-case hex,
// CR LF.
func wolfCSIM(apduHex string) string {
	h := strings.ToUpper(strings.ReplaceAll(apduHex, " ", ""))
	return fmt.Sprintf("AT+CSIM=%3d,\"%s\"\r\n", len(h), h)
}

type rawModem struct {
	t *testing.T
	f *os.File
	r *bufio.Reader
}

// send writes an AT line and returns the +CSIM payload (hex) and the final
// result, as wolfSSL's expect_tok reads them.
func (m *rawModem) send(line string) (payload, final string) {
	m.t.Helper()
	if _, err := m.f.WriteString(line); err != nil {
		m.t.Fatal(err)
	}
	m.f.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := m.r.ReadString('\n')
		if err != nil {
			m.t.Fatalf("%q: %v", line, err)
		}
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "+CSIM:"):
			i := strings.IndexByte(l, '"')
			payload = strings.Trim(l[i:], "\"")
		case l == "OK" || l == "ERROR" || strings.HasPrefix(l, "+CME ERROR"):
			return payload, l
		}
	}
}

// wolfSSL's IoT SAFE sequences, byte for byte as its port builds them, to
// the emulator behind the fake modem on a real pty: the applet select it
// hard-codes, Get Random, sign (init, update, close: class 81, session 1,
// signature read as 33 00 40), Put Public Key (session 2), verify (33 00 40
// signature in a 2-byte-length TLV; 6D01 on a mismatch), Compute DH, Read
// Public Key, HKDF-Extract (INS 4A), and GET RESPONSE in class 01. One
// difference: wolfSSL sends its class-81 commands without opening channel 1
// (MANAGE CHANNEL); a card, and the emulator, answer 6881 to that, so the
// test opens the channel first.
func TestWolfSSLSequences(t *testing.T) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := atmodem.NewPTY(card, atmodem.Quirks{Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := os.OpenFile(p.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := &rawModem{t: t, f: f, r: bufio.NewReader(f)}
	if _, fin := m.send("ATE0\r\n"); fin != "OK" {
		t.Fatalf("ATE0: %s", fin)
	}
	if pl, _ := m.send(wolfCSIM("01 A4 04 00 07 A0000005590010")); pl != "6881" {
		t.Fatalf("select on an unopened channel 1: %s, a card answers 6881", pl)
	}
	if pl, _ := m.send(wolfCSIM("00 70 00 00 01")); pl != "019000" {
		t.Fatalf("open channel: %s", pl)
	}
	if pl, _ := m.send("AT+CSIM=24,\"01A4040007A0000005590010\"\r\n"); pl != "9000" {
		t.Fatalf("wolfSSL's select: %s", pl)
	}
	if pl, _ := m.send(wolfCSIM("81 84 00 00 20")); len(pl) != 64+4 || !strings.HasSuffix(pl, "9000") {
		t.Fatalf("Get Random 32: %s", pl)
	}
	// Read Public Key (no Le), parsed by wolfSSL as 34 45 49 43 86 41 04 X Y.
	readKey := func(id string) []byte {
		t.Helper()
		pl, _ := m.send(wolfCSIM("81 CD 00 00 03 85 01 " + id))
		if !strings.HasPrefix(pl, "34454943864104") || !strings.HasSuffix(pl, "9000") {
			t.Fatalf("read public key %s: %s", id, pl)
		}
		b, _ := hex.DecodeString(pl[12 : 12+130])
		return b
	}
	// Sign with key 01: init, update (no Le), close.
	pub := readKey("01")
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("wolfSSL over the IoT SAFE port"))
	if pl, fin := m.send(wolfCSIM("81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04")); pl != "9000" || fin != "OK" {
		t.Fatalf("sign init: %s %s", pl, fin)
	}
	sig, _ := m.send(wolfCSIM("81 2B 80 01 22 9E 20" + hex.EncodeToString(digest[:])))
	if len(sig) != 2*(3+64)+4 || !strings.HasPrefix(sig, "330040") {
		t.Fatalf("sign update: %s (wolfSSL wants 33 00 40 <r||s> 9000)", sig)
	}
	raw, _ := hex.DecodeString(sig[6 : 6+128])
	der, _ := spec.SignatureToDER(raw)
	if !ecdsa.VerifyASN1(key, digest[:], der) {
		t.Fatal("the signature does not verify")
	}
	if pl, _ := m.send(wolfCSIM("81 2A 01 01 00")); pl != "9000" {
		t.Fatalf("sign close: %s", pl)
	}
	// Put the signer's public key into the peer slot 05 (session 2), as
	// wolfIoT_ecc_verify does, then verify on the card.
	point := hex.EncodeToString(pub[1:])
	if pl, _ := m.send(wolfCSIM("81 24 00 02 03 85 01 05")); pl != "9000" {
		t.Fatalf("put public key init: %s", pl)
	}
	if pl, _ := m.send(wolfCSIM("81 D8 80 02 47 34 45 49 43 86 41 04" + point)); pl != "9000" {
		t.Fatalf("put public key update: %s", pl)
	}
	if pl, _ := m.send(wolfCSIM("81 24 01 02 00")); pl != "9000" {
		t.Fatalf("put public key close: %s", pl)
	}
	verify := func(d []byte) string {
		t.Helper()
		if pl, _ := m.send(wolfCSIM("81 2C 00 01 0D 85 01 05 A1 01 03 91 02 00 01 92 01 04")); pl != "9000" {
			t.Fatalf("verify init: %s", pl)
		}
		pl, _ := m.send(wolfCSIM("81 2D 80 01 65 9E 20" + hex.EncodeToString(d) + "33 00 40" + hex.EncodeToString(raw)))
		if c, _ := m.send(wolfCSIM("81 2C 01 01 00")); c != "9000" {
			t.Fatalf("verify close: %s", c)
		}
		return pl
	}
	if got := verify(digest[:]); got != "9000" {
		t.Fatalf("verify of the genuine signature: %s", got)
	}
	other := sha256.Sum256([]byte("tampered"))
	if got := verify(other[:]); got != "6D01" {
		t.Fatalf("verify of a mismatch: %s, wolfSSL expects 6D01", got)
	}
	// ECDH: the peer key into slot 05, then Compute DH with key 04.
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	m.send(wolfCSIM("81 24 00 02 03 85 01 05"))
	m.send(wolfCSIM("81 D8 80 02 47 34 45 49 43 86 41" + hex.EncodeToString(peer.PublicKey().Bytes())))
	m.send(wolfCSIM("81 24 01 02 00"))
	z, _ := m.send(wolfCSIM("81 46 00 00 06 84 01 04 85 01 05"))
	cardKey, _ := ecdh.P256().NewPublicKey(readKey("04"))
	want, _ := peer.ECDH(cardKey)
	if z != strings.ToUpper(hex.EncodeToString(want))+"9000" {
		t.Fatalf("Compute DH: %s", z)
	}

	// HKDF-Extract as wolfIoT_hkdf_extract sends it: IKM in D1, salt in
	// D5, hash 91 02 00 01, no Le; the PRK is checked against RFC 5869's
	// Extract (crypto/hkdf), for SHA-256 and SHA-384.
	ikm, salt := make([]byte, 32), make([]byte, 16)
	rand.Read(ikm)
	rand.Read(salt)
	for _, hc := range []struct {
		alg string
		h   func() hash.Hash
	}{{"0001", sha256.New}, {"0002", sha512.New384}} {
		body := "D1 20" + hex.EncodeToString(ikm) + "D5 10" + hex.EncodeToString(salt) + "91 02" + hc.alg
		prk, _ := m.send(wolfCSIM(fmt.Sprintf("81 4A 00 00 %02X", 2+32+2+16+4) + body))
		want, _ := hkdf.Extract(hc.h, ikm, salt)
		if prk != strings.ToUpper(hex.EncodeToString(want))+"9000" {
			t.Fatalf("HKDF extract (hash %s): %s, RFC 5869 gives %X", hc.alg, prk, want)
		}
	}

	// A T=0 card: the signature comes as 61xx and wolfSSL fetches it with
	// GET RESPONSE in class 01 and Le = xx.
	t0card, err := emulator.New(emulator.Options{T0: true})
	if err != nil {
		t.Fatal(err)
	}
	p0, err := atmodem.NewPTY(t0card, atmodem.Quirks{})
	if err != nil {
		t.Fatal(err)
	}
	defer p0.Close()
	f0, err := os.OpenFile(p0.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f0.Close()
	m0 := &rawModem{t: t, f: f0, r: bufio.NewReader(f0)}
	m0.send(wolfCSIM("00 70 00 00 01"))
	m0.send("AT+CSIM=24,\"01A4040007A0000005590010\"\r\n")
	m0.send(wolfCSIM("81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04"))
	if pl, _ := m0.send(wolfCSIM("81 2B 80 01 22 9E 20" + hex.EncodeToString(digest[:]))); pl != "6143" {
		t.Fatalf("T=0 sign update: %s, want 6143", pl)
	}
	if pl, _ := m0.send(wolfCSIM("01 C0 00 00 43")); !strings.HasPrefix(pl, "330040") || !strings.HasSuffix(pl, "9000") {
		t.Fatalf("GET RESPONSE in class 01: %s", pl)
	}
}
