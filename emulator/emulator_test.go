package emulator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

func testCard(t testing.TB, opts Options) *Card {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send transmits a hex command and splits the answer.
func send(t testing.TB, c *Card, cmd string) apdu.Response {
	t.Helper()
	raw, err := c.Transmit(context.Background(), h(cmd))
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	r, err := apdu.ParseResponse(raw)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return r
}

func expectSW(t testing.TB, c *Card, cmd string, sw apdu.StatusWord) apdu.Response {
	t.Helper()
	r := send(t, c, cmd)
	if r.SW != sw {
		t.Fatalf("%s answered %s, want %s", cmd, r.SW, sw)
	}
	return r
}

const mvpAID = "A00000003053F12401770101495341"

// The Thales PRF vectors (B5), exactly, on the MVP profile.
func TestVectorPRF(t *testing.T) {
	c := testCard(t, Options{Profile: ProfileThalesMVP})
	expectSW(t, c, "00 70 00 00 01", apdu.SWSuccess)
	expectSW(t, c, "01 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	r := expectSW(t, c, "01 48 00 00 5D D1 20 C0485B054863F6DFA458789768B9035C6CACB160DD1A01834811F5783309DB81"+
		"D2 36 657874656E646564206D617374657220736563726574 CE15B44D68440B652624244DB8D2FB7DD601C759E9EB627FB10529AB0DB76049"+
		"D3 01 FF 00", apdu.SWSuccess)
	ms := h("A1F02A766DA04C8FD83A40E358267528F8D815C48E3DC353D55FE3861C350622C78B48FE6F49F6E13E1B6B175CFE59FB")
	if len(r.Data) != 255 || !bytes.Equal(r.Data[:48], ms) {
		t.Fatalf("first PRF vector: %X", r.Data[:48])
	}
	seed2 := "CB52E451A752CA812EA9646F2E5A0EC138C3D4D8AEFA744E17F01499867450815DCADEED3917D046311A4B5D73BBD75E500CE963A7D05D8122EA9745F2E0D9E9"
	r = expectSW(t, c, "01 48 00 00 84 D1 30"+hex.EncodeToString(ms)+"D2 4D 6B657920657870616E73696F6E"+seed2+"D3 01 FF 00", apdu.SWSuccess)
	want := h(`ED6C6644C075653F1919FD05A11A93C8057267B9C2CBD09E6D8882B355473E8E
179737CDC0063BBFEE5D6524EAC1724B575141D716427B9FAAF75C9F0E0903A5
411130F27372494D8AF520EFFAD64CF34CA2231D2BD7B4CF015C40E85D4C62B2
B75888ACA4D57995365342F62F2395E47FE05E754953BA2E1AC7A1D7F966E92C
352020395E6CCB5970DD8A67398CE1CE09586A20F6D4E0912BAADB683B414420
70F9590BBB175D0EDFDC2D85C0B0C6849A7E187155F8E987B0D81FC43F516C9A
229692EBD7AC88C50CA14715DF328023C49D8776A2AB7CF8B5258D269A2F17BA
6BD6F753F39DEC1890BAA4283B3139922D80D1E7D3DA69669877125B8C0B41`)
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("second PRF vector differs:\n%X", r.Data)
	}
}

// The Thales middleware's sequences (B1-B4, B6, B7) on the MVP profile.
func TestVectorsThales(t *testing.T) {
	c := testCard(t, Options{Profile: ProfileThalesMVP})
	expectSW(t, c, "00 70 00 00 01", apdu.SWSuccess)
	expectSW(t, c, "01 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	if r := expectSW(t, c, "01 84 00 00 20", apdu.SWSuccess); len(r.Data) != 32 {
		t.Fatal("random length")
	}
	expectSW(t, c, "01 2A 00 00 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", apdu.SWSuccess)
	r := expectSW(t, c, "01 2B 80 00 22 9E 20 7712AAE3BBAAE5C007475A7336F3DDE0BC63380A348D2390C3519E782E9A8298 00", apdu.SWSuccess)
	if len(r.Data) != 66 || r.Data[0] != 0x33 || r.Data[1] != 0x40 {
		t.Fatalf("MVP signature not 33 40 <64>: %X", r.Data)
	}
	r = expectSW(t, c, "01 B9 00 00 03 84 01 04 00", apdu.SWSuccess)
	if !bytes.HasPrefix(r.Data, h("840104 850104 3445 4943 8641 04")) || len(r.Data) != 6+71 {
		t.Fatalf("keygen answer %X", r.Data)
	}
	peer := "049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0"
	expectSW(t, c, "01 46 00 00 06 84 01 04 85 01 05 00", apdu.SWConditionsNotSatisfied) // peer key not put yet
	expectSW(t, c, "01 24 00 00 03 85 01 05 00", apdu.SWSuccess)
	expectSW(t, c, "01 D8 80 00 47 3445 4943 8641"+peer+" 00", apdu.SWSuccess)
	r = expectSW(t, c, "01 46 00 00 06 84 01 04 85 01 05 00", apdu.SWSuccess)
	if len(r.Data) != 32 {
		t.Fatalf("DH secret of %d bytes", len(r.Data))
	}
	// B6: re-select, file information without the C3 wrapper on the MVP
	// profile, then the certificate.
	expectSW(t, c, "01 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	r = expectSW(t, c, "01 CB C3 00 03 83 01 02 00", apdu.SWSuccess)
	if !bytes.HasPrefix(r.Data, h("73 0B")) || !bytes.Contains(r.Data, h("830102 600101 4A0101 210102 2002")) {
		t.Fatalf("file information %X", r.Data)
	}
	size := int(r.Data[len(r.Data)-2])<<8 | int(r.Data[len(r.Data)-1])
	var cert []byte
	for off := 0; off < size; {
		r = expectSW(t, c, "01 B0"+hex.EncodeToString([]byte{byte(off >> 8), byte(off)})+"03 83 01 02 00", apdu.SWSuccess)
		cert = append(cert, r.Data...)
		off += len(r.Data)
	}
	if len(cert) != size || cert[0] != 0x30 {
		t.Fatalf("certificate of %d bytes", len(cert))
	}
	// B7: close sessions 0..5 (4 exist: 4 and 5 are out of range), deselect.
	for s := 0; s < 4; s++ {
		expectSW(t, c, "01 2A 01 0"+string(rune('0'+s))+" 00", apdu.SWSuccess)
	}
	expectSW(t, c, "01 2A 01 05 00", apdu.SWIncorrectP1P2)
	expectSW(t, c, "01 70 80 01 00", apdu.SWSuccess)
	expectSW(t, c, "01 84 00 00 08", apdu.SWLogicalChannelNotSupp)
}

// The Orange sequences (A2) on the GSMA profile, in its class 8X, and the
// real ZARIOT answers (61xx) in T=0 mode.
func TestVectorsOrangeGSMA(t *testing.T) {
	for _, t0 := range []bool{false, true} {
		c := testCard(t, Options{T0: t0})
		get := func(cmd string) apdu.Response {
			r := send(t, c, cmd)
			if r.SW.ResponseAvailable() {
				return send(t, c, "01 C0 00 00 "+hex.EncodeToString([]byte{r.SW.SW2()}))
			}
			return r
		}
		// A case 2 command gets its data at once, T=0 or not (the real
		// ZARIOT card answers 0070000000 with 019000).
		if r := send(t, c, "00 70 00 00 01"); !bytes.Equal(r.Data, []byte{1}) || r.SW != apdu.SWSuccess {
			t.Fatalf("MANAGE CHANNEL answered %X %s (T=0: %v)", r.Data, r.SW, t0)
		}
		expectSW(t, c, "01 A4 04 00 07 A0000005590010", apdu.SWSuccess)
		expectSW(t, c, "01 84 00 00 20", apdu.SWInvalidClass) // class 0X refused by the gsma profile
		if r := get("81 84 00 00 20"); len(r.Data) != 32 || r.SW != apdu.SWSuccess {
			t.Fatal("random")
		}
		if r := get("81 CB 00 00 44"); r.SW != apdu.SWSuccess || len(r.Data) != 0x44 {
			t.Fatalf("application information: %d bytes %s", len(r.Data), r.SW)
		}
		expectSW(t, c, "81 2A 01 01", apdu.SWSuccess) // close before open, as Orange does
		expectSW(t, c, "81 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", apdu.SWSuccess)
		hash := sha256.Sum256([]byte("hello"))
		r := get("81 2B 80 01 22 9E 20" + hex.EncodeToString(hash[:]) + "00")
		if r.SW != apdu.SWSuccess || !bytes.HasPrefix(r.Data, h("330040")) || len(r.Data) != 67 {
			t.Fatalf("signature %X %s", r.Data, r.SW)
		}
		sig := r.Data[3:]
		pub := get("81 CD 00 00 03 85 01 01 00").Data
		pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub[6:])
		if err != nil || !ecdsa.Verify(pk, hash[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("signature does not verify with the card's public key")
		}
		expectSW(t, c, "81 2A 01 01", apdu.SWSuccess)
		// Full text, verify (Orange's 33 40 and the real card's 33 00 40).
		expectSW(t, c, "81 2A 00 01 0D 84 01 01 A1 01 01 91 02 00 01 92 01 04", apdu.SWSuccess)
		full := get("81 2B 80 01 05 9B 03 AB CD EF 00").Data[3:]
		for _, style := range []string{"33 40", "33 00 40", "33 81 40"} {
			expectSW(t, c, "81 2C 00 01 0D 85 01 01 A1 01 01 91 02 00 01 92 01 04", apdu.SWSuccess)
			lc := 5 + len(h(style)) + 64
			expectSW(t, c, "81 2D 80 01"+hex.EncodeToString([]byte{byte(lc)})+"9B 03 AB CD EF"+style+hex.EncodeToString(full), apdu.SWSuccess)
		}
		expectSW(t, c, "81 2C 00 02 0D 85 01 01 A1 01 01 91 02 00 01 92 01 04", apdu.SWSuccess)
		expectSW(t, c, "81 2D 80 02 48 9B 03 AB CD EE 33 00 40"+hex.EncodeToString(full), apdu.SWSignatureMismatch)
		// Read File in Orange's 50-byte chunks.
		a1 := get("81 B0 00 00 03 83 01 02 32").Data
		a2 := get("81 B0 00 32 03 83 01 02 32").Data
		if len(a1) != 50 || len(a2) != 50 || a1[0] != 0x30 {
			t.Fatal("50-byte read chunks")
		}
		expectSW(t, c, "00 70 80 01", apdu.SWSuccess)
	}
}

func TestMisuse(t *testing.T) {
	c := testCard(t, Options{})
	expectSW(t, c, "80 84 00 00 08", apdu.SWInvalidInstruction)    // nothing selected on channel 0
	expectSW(t, c, "81 84 00 00 08", apdu.SWLogicalChannelNotSupp) // channel 1 not open
	expectSW(t, c, "00 A4 04 00 07 A0000005590011", apdu.SWNotFound)
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	tests := []struct {
		cmd string
		sw  apdu.StatusWord
	}{
		{"80 84 00 00", apdu.SWWrongLength},                                                       // random without Le
		{"80 84 01 00 08", apdu.SWIncorrectP1P2},                                                  //
		{"80 99 00 00", apdu.SWInvalidInstruction},                                                //
		{"90 84 00 00 08", apdu.SWChainingNotSupported},                                           //
		{"80 CB 00 00 10", apdu.StatusWord(0x6C00 | 0x44)},                                        // application info with a short Le
		{"80 CB 07 00 00", apdu.SWIncorrectP1P2},                                                  //
		{"80 CB 01 01 00", apdu.SWConditionsNotSatisfied},                                         // continuation without a start
		{"80 CB C1 00 03 84 01 7F 00", apdu.SWNotFound},                                           //
		{"80 CB C1 00 06 84 01 01 74 01 41 00", apdu.SWIncorrectData},                             // ID and label
		{"80 CB C1 00 03 99 01 01 00", apdu.SWIncorrectData},                                      // unknown tag
		{"80 CB C1 00 03 84 05 01 00", apdu.SWIncorrectData},                                      // length past the end
		{"80 CB C1 00 02 84 00 00", apdu.SWIncorrectData},                                         // empty ID
		{"80 B0 7F 00 03 83 01 02 00", apdu.SWIncorrectP1P2},                                      // offset past the end
		{"80 2A 00 09 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", apdu.SWIncorrectP1P2},           // session >= 4
		{"80 2A 00 01 09 84 01 01 A1 01 03 92 01 01", apdu.SWIncorrectData},                       // RSA asked
		{"80 2A 00 01 0D 84 01 04 A1 01 03 91 02 00 01 92 01 04", apdu.SWConditionsNotSatisfied},  // ECDH key
		{"80 2A 00 01 0D 84 01 02 A1 01 03 91 02 00 01 92 01 04", apdu.SWConditionsNotSatisfied},  // empty container
		{"80 2B 80 03 22 9E 20" + strings.Repeat("00", 32) + "00", apdu.SWConditionsNotSatisfied}, // session not open
		{"80 B9 00 00 03 84 01 01 00", apdu.SWConditionsNotSatisfied},                             // key 01 cannot be regenerated
		{"80 CD 00 00 03 85 01 02 00", apdu.SWConditionsNotSatisfied},                             // empty public key
		{"80 48 01 00 06 86 01 06 D3 01 10", apdu.SWIncorrectP1P2},
		{"80 48 00 00 03 D3 01 10", apdu.SWIncorrectData},                      // no label/seed
		{"80 4A 00 00 05 86 01 06 D5 00", apdu.SWIncorrectData},                // no hash
		{"80 46 00 00 06 84 01 01 85 01 05 00", apdu.SWConditionsNotSatisfied}, // signing key for DH
	}
	for _, tc := range tests {
		expectSW(t, c, tc.cmd, tc.sw)
	}
	// A wrong hash length in pad-and-sign ends the session.
	expectSW(t, c, "80 2A 00 01 0D 84 01 01 A1 01 03 91 02 00 01 92 01 04", apdu.SWSuccess)
	expectSW(t, c, "80 2B 80 01 12 9E 10"+strings.Repeat("00", 16)+"00", apdu.SWIncorrectData)
	expectSW(t, c, "80 2B 80 01 22 9E 20"+strings.Repeat("00", 32)+"00", apdu.SWConditionsNotSatisfied)
	// Channels: only 4, closing channel 0 is refused, the basic channel stays.
	for i := 1; i <= 3; i++ {
		expectSW(t, c, "00 70 00 00 01", apdu.SWSuccess)
	}
	expectSW(t, c, "00 70 00 00 01", apdu.SWFunctionNotSupported)
	expectSW(t, c, "00 70 80 00", apdu.SWIncorrectP1P2)
	expectSW(t, c, "00 70 80 02", apdu.SWSuccess)
	expectSW(t, c, "02 84 00 00 08", apdu.SWLogicalChannelNotSupp)
	expectSW(t, c, "03 70 80 00", apdu.SWSuccess) // closed from itself
	expectSW(t, c, "80 70 00 00 01", apdu.SWInvalidClass)
	expectSW(t, c, "FF 84 00 00 08", apdu.SWInvalidClass)
	if raw, _ := c.Transmit(context.Background(), h("00")); !bytes.Equal(raw, h("6700")) {
		t.Fatalf("1-byte command answered %X", raw)
	}
}

func TestObjectListContinuation(t *testing.T) {
	v, _ := ProfileGSMA.Variant()
	v.ObjectListChunk = 30
	c := testCard(t, Options{Variant: &v})
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	all := c.objectList()
	var got []byte
	r := send(t, c, "80 CB 01 00 00")
	for r.SW == apdu.SWMoreData {
		if len(r.Data) != 30 {
			t.Fatalf("part of %d bytes", len(r.Data))
		}
		got = append(got, r.Data...)
		r = send(t, c, "80 CB 01 01 00")
	}
	got = append(got, r.Data...)
	if r.SW != apdu.SWSuccess || !bytes.Equal(got, all) {
		t.Fatal("continuation lost bytes")
	}
}

// T=0 as a real T=0 IoT SAFE SIM behind AT+CSIM does it (the published
// ZARIOT trace, Atsign's host): a case 2 command (Le given, no data) gets
// its data and 9000 at once; a case 4 command that returns data answers
// 61xx, and GET RESPONSE fetches it, in the interindustry class or in the
// applet's (81 C0 on channel 1).
func TestT0GetResponse(t *testing.T) {
	c := testCard(t, Options{T0: true})
	if r := send(t, c, "00 70 00 00 00"); !bytes.Equal(r.Data, []byte{1}) || r.SW != apdu.SWSuccess {
		t.Fatalf("MANAGE CHANNEL open with Le 00: %X %s, the real card 01 9000", r.Data, r.SW)
	}
	expectSW(t, c, "01 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	if r := send(t, c, "81 84 00 00 10"); len(r.Data) != 16 || r.SW != apdu.SWSuccess {
		t.Fatalf("Get Random with Le (case 2): %d bytes, %s", len(r.Data), r.SW)
	}
	// Case 4: Read Public Key (data in, data out).
	r := expectSW(t, c, "81 CD 00 00 03 85 01 01 00", apdu.StatusWord(0x6147))
	_ = r
	a := expectSW(t, c, "81 C0 00 00 20", apdu.StatusWord(0x6127)) // the applet's class, 32 of 71
	b := expectSW(t, c, "01 C0 00 00 27", apdu.SWSuccess)          // interindustry class
	if len(a.Data)+len(b.Data) != 0x47 || a.Data[0] != 0x34 {
		t.Fatal("GET RESPONSE lost bytes")
	}
	expectSW(t, c, "01 C0 00 00 10", apdu.SWConditionsNotSatisfied) // nothing pending
	expectSW(t, c, "81 CD 00 00 03 85 01 01 00", apdu.StatusWord(0x6147))
	expectSW(t, c, "01 C0 00 00 50", apdu.StatusWord(0x6C47)) // wrong Le
	// Before the applet is selected, only the interindustry class.
	expectSW(t, c, "00 70 00 00 00", apdu.SWSuccess)
	expectSW(t, c, "82 C0 00 00 10", apdu.SWInvalidClass)
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sim.json")
	c1, err := Create(path, Options{Profile: ProfileThalesMVP})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v %v", fi.Mode(), err)
	}
	if _, err := Create(path, Options{}); !errors.Is(err, ErrStateFile) {
		t.Fatalf("Create over an existing file: %v", err)
	}
	c2, err := Open(path, Options{Profile: ProfileGSMA}) // the file's profile wins
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Profile() != ProfileThalesMVP {
		t.Fatal("profile not taken from the state file")
	}
	// A key generated through one card is seen through the other.
	expectSW(t, c1, "00 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	gen := expectSW(t, c1, "00 B9 00 00 03 84 01 02 00", apdu.SWSuccess)
	expectSW(t, c2, "00 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	pub := expectSW(t, c2, "00 CD 00 00 03 85 01 02 00", apdu.SWSuccess)
	if !bytes.Equal(pub.Data, gen.Data[6:]) {
		t.Fatal("second card does not see the key generated through the first")
	}
	// Interleaved writers lose nothing: a peer key put through c2 after
	// c1's keygen keeps both.
	peer := "049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0"
	expectSW(t, c2, "00 24 00 00 03 85 01 05", apdu.SWSuccess)
	expectSW(t, c2, "00 D8 80 00 47 3445 4943 8641"+peer, apdu.SWSuccess)
	c3, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	expectSW(t, c3, "00 A4 04 00 0F"+mvpAID, apdu.SWSuccess)
	expectSW(t, c3, "00 CD 00 00 03 85 01 02 00", apdu.SWSuccess)
	if r := expectSW(t, c3, "00 CD 00 00 03 85 01 05 00", apdu.SWSuccess); !bytes.Contains(r.Data, h(peer)) {
		t.Fatal("peer key lost")
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left", e.Name())
		}
	}
	// Corrupt and foreign files are refused clearly.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err := Open(bad, Options{}); !errors.Is(err, ErrStateFile) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
	os.WriteFile(bad, []byte(`{"format":"something-else","version":1}`), 0o600)
	if _, err := Open(bad, Options{}); !errors.Is(err, ErrStateFile) || !strings.Contains(err.Error(), "not a go-iotsafe") {
		t.Fatalf("foreign file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.json"), Options{}); !errors.Is(err, ErrStateFile) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	c := testCard(t, Options{})
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	c.SetFaults(Fault{At: 1, Kind: FaultTruncate}, Fault{At: 2, Kind: FaultGarble}, Fault{At: 4, Kind: FaultDisconnect})
	if raw, _ := c.Transmit(ctx, h("80 84 00 00 08")); len(raw) != 7 {
		t.Fatalf("truncated answer of %d bytes", len(raw))
	}
	if raw, _ := c.Transmit(ctx, h("80 84 00 00 08")); bytes.HasSuffix(raw, h("9000")) {
		t.Fatal("garbled answer still ends in 9000")
	}
	expectSW(t, c, "80 84 00 00 08", apdu.SWSuccess)
	if _, err := c.Transmit(ctx, h("80 84 00 00 08")); !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatalf("disconnect: %v", err)
	}
	if _, err := c.Transmit(ctx, h("80 84 00 00 08")); !errors.Is(err, transport.ErrCardRemoved) {
		t.Fatal("card came back by itself")
	}
	if !bytes.Equal(c.Reset(), c.ATR()) {
		t.Fatal("Reset returns the ATR")
	}
	expectSW(t, c, "80 84 00 00 08", apdu.SWInvalidInstruction) // reset deselected the applet
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	// A dropped answer waits for the context; the keygen it hid happened.
	c.SetFaults(Fault{At: 1, Kind: FaultDrop})
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Transmit(dctx, h("80 B9 00 00 03 84 01 02 00")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dropped answer: %v", err)
	}
	expectSW(t, c, "80 CD 00 00 03 85 01 02 00", apdu.SWSuccess)
	c.Close()
	if _, err := c.Transmit(ctx, h("80 84 00 00 08")); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestTimingHonoursContext(t *testing.T) {
	c := testCard(t, Options{Timing: DefaultTiming()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	if _, err := c.Transmit(ctx, h("80 B9 00 00 03 84 01 02 00")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("keygen under a 20 ms deadline: %v", err)
	}
	tm := DefaultTiming()
	if tm.Cost(40, 69, OpSign) <= tm.Sign || tm.LinkCost(40, 69) == 0 {
		t.Fatal("timing model ignores the link")
	}
}

func TestATR(t *testing.T) {
	atr := testCard(t, Options{}).ATR()
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	if atr[0] != 0x3B || x != 0 || len(atr) > 33 {
		t.Fatalf("ATR %X: check byte wrong or too long", atr)
	}
}

func TestAdminSessionAbort(t *testing.T) {
	c := testCard(t, Options{})
	s, err := c.BeginAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(spec.KindFile, []byte{0x10}); err != nil {
		t.Fatal(err)
	}
	expectSW(t, c, "00 A4 04 00 07 A0000005590010", apdu.SWSuccess)
	expectSW(t, c, "80 B0 00 00 03 83 01 10 00", apdu.SWDataInvalidated)
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if r := expectSW(t, c, "80 B0 00 00 03 83 01 10 10", apdu.SWSuccess); len(r.Data) != 16 {
		t.Fatal("file changed by an aborted session")
	}
	s, _ = c.BeginAdmin()
	if err := s.DeleteObject(spec.KindFile, []byte{0x77}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err == nil {
		t.Fatal("commit of a change to a missing object succeeded")
	}
	s.Abort()
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"80 84 00 00 20", "80 CB 00 00 00", "80 CB 01 00 00", "80 CB C3 00 03 83 01 02 00",
		"80 2A 00 01 0D 84 01 01 A1 01 01 91 02 00 01 92 01 04", "80 2B 00 01 05 9B 82 01 00 AA",
		"80 B9 00 00 03 84 01 02 00", "80 D8 80 00 05 34 03 49 01 86", "80 48 00 00 08 86 01 06 D2 00 D3 01 10",
		"80 4A 00 00 0A 86 01 06 D5 00 91 02 00 01", "00 70 00 00 01", "00 C0 00 00 10", "00 A4 04 00 07 A0000005590010",
		"80 2B 80 01 00 00 03 9E 01 AA 00 00", "80 CD 00 00 00 00 03 85 01 07 00 00", "80 84 00 00 00 01 00",
		"80 2B 00 01 00 01 2C" + strings.Repeat(" AB", 300),
	} {
		f.Add(h(s))
	}
	// The key-types profile with extended-length APDUs reaches the most
	// code: RSA answers, long command data, both length encodings.
	c := testCard(f, Options{Profile: ProfileKeyTypes, ExtendedLength: true})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		c.Reset()
		send(t, c, "00 A4 04 00 07 A0000005590010")
		// An open session makes the Update paths reachable.
		send(t, c, "80 2A 00 01 0D 84 01 01 A1 01 01 91 02 00 01 92 01 04")
		raw, err := c.Transmit(context.Background(), cmd)
		if err != nil {
			t.Fatalf("Transmit error: %v", err)
		}
		if len(raw) < 2 {
			t.Fatalf("answer without a status word: %X", raw)
		}
	})
}

// The Thales PKCS#11 module reads the object list's group lengths as one
// byte (and loops for ever on a long form): the thales-mvp profile keeps
// every group at most 127 bytes, splitting a kind into several groups, and
// the client reads them all.
func TestThalesGroupsFitOneLengthByte(t *testing.T) {
	c := testCard(t, Options{Profile: ProfileThalesMVP})
	send(t, c, "00 A4 04 00 0F A0000000305 3F12401770101495341")
	var list []byte
	r := send(t, c, "00 CB 01 00 00")
	for {
		list = append(list, r.Data...)
		if r.SW != apdu.SWMoreData {
			break
		}
		r = send(t, c, "00 CB 01 01 00")
	}
	kinds := map[byte]int{}
	for i := 0; i < len(list); {
		tag, l := list[i], int(list[i+1])
		if l > 0x7F {
			t.Fatalf("group %02X has length byte %02X: not one byte", tag, list[i+1])
		}
		kinds[tag]++
		i += 2 + l
	}
	if kinds[0xC2] < 2 {
		t.Fatalf("the public keys (over 127 bytes) were not split: groups %v", kinds)
	}
}
