package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestCommandEncoding(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
		cse  int
	}{
		{"case 1", Command{CLA: 0x00, INS: 0x70, P1: 0x80, P2: 0x01}, "00708001", 1},
		{"case 2", Command{CLA: 0x01, INS: 0x84, Ne: 32}, "0184000020", 2},
		{"case 2 Ne 256 is Le 00", Command{CLA: 0x81, INS: 0xCB, P1: 0x01, Ne: 256}, "81CB010000", 2},
		{"case 3 select", Command{CLA: 0x01, INS: 0xA4, P1: 0x04, Data: mustHex(t, "A0000005590010")}, "01A4040007A0000005590010", 3},
		{"case 4 sign update", Command{CLA: 0x01, INS: 0x2B, P1: 0x80, P2: 0x01, Data: mustHex(t, "9E02AABB"), Ne: 256}, "012B8001049E02AABB00", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cmd.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mustHex(t, tc.want)) {
				t.Fatalf("Bytes() = %X, want %s", got, tc.want)
			}
			if tc.cmd.Case() != tc.cse {
				t.Fatalf("Case() = %d, want %d", tc.cmd.Case(), tc.cse)
			}
			if tc.cmd.Len() != len(got) {
				t.Fatalf("Len() = %d, encoded %d", tc.cmd.Len(), len(got))
			}
			back, err := ParseCommand(got)
			if err != nil {
				t.Fatal(err)
			}
			if back.CLA != tc.cmd.CLA || back.INS != tc.cmd.INS || back.P1 != tc.cmd.P1 || back.P2 != tc.cmd.P2 ||
				!bytes.Equal(back.Data, tc.cmd.Data) || back.Ne != tc.cmd.Ne {
				t.Fatalf("ParseCommand round trip: got %+v, want %+v", back, tc.cmd)
			}
		})
	}
}

func TestCommandLimits(t *testing.T) {
	if _, err := (Command{Data: make([]byte, 256)}).Bytes(); err == nil {
		t.Fatal("256 data bytes accepted in a short APDU")
	}
	if _, err := (Command{Ne: 257}).Bytes(); err == nil {
		t.Fatal("Ne 257 accepted")
	}
	if _, err := (Command{Ne: -1}).Bytes(); err == nil {
		t.Fatal("negative Ne accepted")
	}
	full, err := (Command{Data: make([]byte, 255), Ne: 256}).Bytes()
	if err != nil || len(full) != 4+1+255+1 {
		t.Fatalf("maximal case 4: len %d err %v", len(full), err)
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, in := range []string{"", "00", "00A404", "00A4040005A000", "00A404000701020304050607080900",
		"00A404000000", "00A4040000000000AA", "00A40400000002AA", "00A40400000001AA00"} {
		_, err := ParseCommand(mustHex(t, in))
		if err == nil {
			t.Errorf("ParseCommand(%s) accepted", in)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCommand(%s) error %v does not match ErrMalformed", in, err)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseCommand(%s) error is not a *SyntaxError", in)
		}
	}
}

func TestParseResponse(t *testing.T) {
	r, err := ParseResponse(mustHex(t, "0102039000"))
	if err != nil || !bytes.Equal(r.Data, []byte{1, 2, 3}) || r.SW != SWSuccess {
		t.Fatalf("got %+v, %v", r, err)
	}
	if !bytes.Equal(r.Bytes(), mustHex(t, "0102039000")) {
		t.Fatalf("Bytes() = %X", r.Bytes())
	}
	// Appending to Data must not overwrite the status word of the input.
	in := mustHex(t, "AA6A82")
	r, _ = ParseResponse(in)
	_ = append(r.Data, 0xFF)
	if in[1] != 0x6A {
		t.Fatal("Data capacity lets appends overwrite the status word")
	}
	for _, in := range [][]byte{nil, {0x90}} {
		if _, err := ParseResponse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseResponse(%X) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestStatusWords(t *testing.T) {
	tests := []struct {
		sw   StatusWord
		want string
	}{
		{0x9000, "9000 (success)"},
		{0x63CF, "63CF (success, remote administration completed)"},
		{0x6984, "6984 (referenced data invalidated (remote administration in progress))"},
		{0x6143, "6143 (67 response bytes available)"},
		{0x6100, "6100 (256 response bytes available)"},
		{0x6C44, "6C44 (wrong Le, 68 bytes available)"},
		{0x63C2, "63C2 (verification failed, 2 tries left)"},
		{0x1234, "1234"},
	}
	for _, tc := range tests {
		if got := tc.sw.String(); got != tc.want {
			t.Errorf("%04X.String() = %q, want %q", uint16(tc.sw), got, tc.want)
		}
	}
	if !StatusWord(0x63CF).OK() || !SWSuccess.OK() || SWMoreData.OK() {
		t.Error("OK() wrong")
	}
	if !StatusWord(0x6110).ResponseAvailable() || !StatusWord(0x6C10).WrongLe() {
		t.Error("61xx / 6Cxx predicates wrong")
	}
	if SWNotFound.SW1() != 0x6A || SWNotFound.SW2() != 0x82 {
		t.Error("SW1/SW2 wrong")
	}
}

func TestCLA(t *testing.T) {
	for ch := 0; ch <= MaxChannel; ch++ {
		for _, f := range []ClassFamily{Interindustry, Proprietary} {
			cla, err := CLA(f, ch)
			if err != nil {
				t.Fatal(err)
			}
			ci, err := ParseCLA(cla)
			if err != nil {
				t.Fatalf("ParseCLA(%02X): %v", cla, err)
			}
			if ci.Channel != ch || ci.Family != f || ci.Chaining || ci.SecureMessaging != 0 {
				t.Fatalf("CLA(%v,%d)=%02X parsed as %+v", f, ch, cla, ci)
			}
			chained, err := WithChannel(cla|ChainingBit, ch)
			if err != nil || chained != cla|ChainingBit {
				t.Fatalf("WithChannel kept chaining wrong: %02X %v", chained, err)
			}
		}
	}
	spot := map[[2]int]byte{
		{int(Interindustry), 0}: 0x00, {int(Interindustry), 3}: 0x03, {int(Interindustry), 4}: 0x40,
		{int(Interindustry), 19}: 0x4F, {int(Proprietary), 1}: 0x81, {int(Proprietary), 4}: 0xC0,
		{int(Proprietary), 19}: 0xCF,
	}
	for k, want := range spot {
		if got, _ := CLA(ClassFamily(k[0]), k[1]); got != want {
			t.Errorf("CLA(%d,%d) = %02X, want %02X", k[0], k[1], got, want)
		}
	}
	if _, err := CLA(Interindustry, 20); err == nil {
		t.Error("channel 20 accepted")
	}
	if _, err := CLA(Proprietary, -1); err == nil {
		t.Error("channel -1 accepted")
	}
	for _, bad := range []byte{0xFF, 0x20, 0x3F, 0xA0, 0xB3} {
		if _, err := ParseCLA(bad); err == nil {
			t.Errorf("ParseCLA(%02X) accepted a reserved class", bad)
		}
	}
	if ci, _ := ParseCLA(0x0C); ci.SecureMessaging != 3 || ci.Channel != 0 {
		t.Errorf("ParseCLA(0C) = %+v", ci)
	}
	if ci, _ := ParseCLA(0x61); ci.SecureMessaging != 1 || ci.Channel != 5 {
		t.Errorf("ParseCLA(61) = %+v", ci)
	}
}

func TestTLVLengths(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "00"}, {0x7F, "7F"}, {0x80, "8180"}, {0xFF, "81FF"}, {0x100, "820100"},
		{0xFFFF, "82FFFF"}, {0x10000, "83010000"}, {0xFFFFFF, "83FFFFFF"},
	}
	for _, tc := range tests {
		enc := AppendLength(nil, tc.n)
		if !bytes.Equal(enc, mustHex(t, tc.want)) {
			t.Errorf("AppendLength(%d) = %X, want %s", tc.n, enc, tc.want)
		}
		if LengthSize(tc.n) != len(enc) {
			t.Errorf("LengthSize(%d) = %d, encoded %d", tc.n, LengthSize(tc.n), len(enc))
		}
		n, used, err := ReadLength(enc)
		if err != nil || n != tc.n || used != len(enc) {
			t.Errorf("ReadLength(%X) = %d,%d,%v", enc, n, used, err)
		}
	}
	for _, bad := range []string{"", "80", "84010000 00", "81", "82FF"} {
		if _, _, err := ReadLength(mustHex(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadLength(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestTLVParse(t *testing.T) {
	in := mustHex(t, "840101 A10103 9102 0001 5F2003414243 9F8101 0102 C1 820003 000102")
	tlvs, err := ParseTLVs(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []TLV{
		{0x84, []byte{1}}, {0xA1, []byte{3}}, {0x91, []byte{0, 1}},
		{0x5F20, []byte("ABC")}, {0x9F8101, []byte{2}}, {0xC1, []byte{0, 1, 2}},
	}
	if len(tlvs) != len(want) {
		t.Fatalf("got %d TLVs, want %d", len(tlvs), len(want))
	}
	for i := range want {
		if tlvs[i].Tag != want[i].Tag || !bytes.Equal(tlvs[i].Value, want[i].Value) {
			t.Errorf("TLV %d = %X %X, want %X %X", i, tlvs[i].Tag, tlvs[i].Value, want[i].Tag, want[i].Value)
		}
	}
	var re []byte
	for _, x := range tlvs {
		re = AppendTLV(re, x.Tag, x.Value)
	}
	// The input used a non-minimal length (82 00 03); re-encoding is minimal.
	if !bytes.Equal(re, mustHex(t, "840101 A10103 91020001 5F2003414243 9F81010102 C103000102")) {
		t.Errorf("re-encoded %X", re)
	}
	if v, ok := Find(tlvs, 0x91); !ok || !bytes.Equal(v, []byte{0, 1}) {
		t.Error("Find(91) failed")
	}
	if _, ok := Find(tlvs, 0x99); ok {
		t.Error("Find(99) found a missing tag")
	}
	if !(TLV{Tag: 0x30}).Constructed() || (TLV{Tag: 0xC1}).Constructed() || !(TLV{Tag: 0x7F49}).Constructed() {
		t.Error("Constructed() wrong")
	}
	for _, bad := range []string{"84", "8402 01", "9F", "9F8080 00", "8481", "C18201"} {
		_, err := ParseTLVs(mustHex(t, bad))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTLVs(%s) = %v, want ErrMalformed", bad, err)
		}
	}
	// The error offset points into the whole input.
	_, err = ParseTLVs(mustHex(t, "840101 8405 00"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 5 {
		t.Errorf("offset of error = %+v, want 5", se)
	}
}

func FuzzTLV(f *testing.F) {
	for _, s := range []string{
		"840101A10103910200019201 04", "C10F74036B6579840101600101 4A0101", "9B820100", "3300400102",
		"5F2003414243", "9F7F0101", "", "81", "83FFFFFF00",
	} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := ParseTLVs(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		// Whatever parses re-encodes and parses to the same elements.
		var re []byte
		for _, x := range tlvs {
			re = AppendTLV(re, x.Tag, x.Value)
		}
		back, err := ParseTLVs(re)
		if err != nil || len(back) != len(tlvs) {
			t.Fatalf("re-encoded TLVs do not parse: %v", err)
		}
		for i := range back {
			if back[i].Tag != tlvs[i].Tag || !bytes.Equal(back[i].Value, tlvs[i].Value) {
				t.Fatalf("element %d changed on re-encoding", i)
			}
		}
	})
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{"00708001", "0184000020", "01A4040007A0000005590010", "012B8001049E02AABB00", "00A4040000AABB"} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		enc, err := c.Bytes()
		if err != nil {
			t.Fatalf("parsed command does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("ParseCommand(%X) re-encodes as %X", b, enc)
		}
	})
}

// Extended-length encodings, byte for byte as ISO/IEC 7816-4 §5.1 lays them
// out and as a peer's encoder writes them (Open eCard's unit test vectors,
// below): case 2E 00 Le1 Le2 with
// Ne 65536 as 00 00, case 3E 00 Lc1 Lc2 data, case 4E with Le1 Le2 after the
// data. The READ BINARY of ICAO 9303 eMRTD readers, 00 B0 00 00 00 00 00,
// asks for everything.
func TestExtendedCommands(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, 300)
	for _, tc := range []struct {
		cmd  Command
		want string
	}{
		{Command{CLA: 0x00, INS: 0xB0, Ne: 65536, Extended: true}, "00B00000000000"},
		{Command{CLA: 0x80, INS: 0x2B, P1: 0x80, P2: 0x01, Data: []byte{0x9E, 0x01, 0xAA}, Ne: 65536, Extended: true}, "802B80010000039E01AA0000"},
		{Command{CLA: 0x80, INS: 0x2B, Data: []byte{0x01}, Ne: 259, Extended: true}, "802B0000000001010103"},
		{Command{CLA: 0x00, INS: 0xDA, Data: []byte{1, 2}, Extended: true}, "00DA00000000020102"},
		{Command{CLA: 0x00, INS: 0x70, Extended: true}, "00700000"},
	} {
		got, err := tc.cmd.Bytes()
		if err != nil || !bytes.Equal(got, mustHex(t, tc.want)) || len(got) != tc.cmd.Len() {
			t.Fatalf("%+v: %X (len %d) %v, want %s", tc.cmd, got, tc.cmd.Len(), err, tc.want)
		}
		back, err := ParseCommand(got)
		if err != nil || back.Ne != tc.cmd.Ne || !bytes.Equal(back.Data, tc.cmd.Data) || back.INS != tc.cmd.INS {
			t.Fatalf("ParseCommand(%X) = %+v, %v", got, back, err)
		}
		if tc.cmd.Case() != 1 && !back.Extended {
			t.Fatalf("ParseCommand(%X) is not marked extended", got)
		}
	}
	// Open eCard's ApduTest ("write extended length apdu write"), a peer's
	// encoder: header 00 01 02 03, its le 0 meaning the maximum (65536).
	for _, tc := range []struct {
		cmd  Command
		want string
	}{
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Ne: 65536, Extended: true}, "00010203000000"},
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Ne: 0xFF, Extended: true}, "000102030000FF"},
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Ne: 0x100, Extended: true}, "00010203000100"},
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Ne: 0xFFFF, Extended: true}, "0001020300FFFF"},
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Data: make([]byte, 0x100), Extended: true}, "00010203000100" + strings.Repeat("00", 0x100)},
		{Command{INS: 0x01, P1: 0x02, P2: 0x03, Data: make([]byte, 0xFF), Ne: 65536, Extended: true}, "000102030000FF" + strings.Repeat("00", 0xFF) + "0000"},
	} {
		got, err := tc.cmd.Bytes()
		if err != nil || !bytes.Equal(got, mustHex(t, tc.want)) {
			t.Errorf("Open eCard vector %.20s...: got %X, %v", tc.want, got, err)
		}
	}
	long, err := (Command{INS: 0xD6, Data: big, Ne: 1000, Extended: true}).Bytes()
	if err != nil || len(long) != 4+3+300+2 || long[5] != 0x01 || long[6] != 0x2C {
		t.Fatalf("300-byte extended command: %X %v", long[:8], err)
	}
	if _, err := (Command{Data: make([]byte, 65536), Extended: true}).Bytes(); err == nil {
		t.Fatal("65536 data bytes encoded")
	}
	if _, err := (Command{Ne: 65537, Extended: true}).Bytes(); err == nil {
		t.Fatal("Ne 65537 encoded")
	}
	if _, err := (Command{Ne: 257}).Bytes(); err == nil {
		t.Fatal("Ne 257 encoded as a short APDU")
	}
}

// Card capabilities in answers to reset, from public ATR_analysis (pcsc-
// tools) printouts: a YubiKey 5 NFC (category 80) and an OpenPGP Card V2
// (category 00, status last) both say "Extended Lc and Le fields"; a UICC
// whose third byte is 1B (no extended fields) and ATRs without card
// capabilities or with bad structure say no.
func TestExtendedLengthInATR(t *testing.T) {
	for _, tc := range []struct {
		atr  string
		want bool
	}{
		{"3BFD1300008131FE158073C021C0577975626 94B657940", true},
		{"3BDA18FF81B1FE751F030031C573C001400090000C", true},
		{"3B9F968081 1FC7 8031E073FE211B63F10083830090 0000", false},
		{"3B7F96000080318065B084413DF6120FFE829000", false},
		{"3B8A8001803180", false}, // historical bytes cut short
		{"3B", false},
		{"", false},
	} {
		atr := mustHex(t, strings.ReplaceAll(tc.atr, " ", ""))
		if got := ExtendedLengthInATR(atr); got != tc.want {
			t.Errorf("ExtendedLengthInATR(%s) = %v, want %v", tc.atr, got, tc.want)
		}
	}
	h, err := HistoricalBytes(mustHex(t, "3BDA18FF81B1FE751F030031C573C001400090000C"))
	if err != nil || !bytes.Equal(h, mustHex(t, "0031C573C00140009000")) {
		t.Fatalf("historical bytes %X %v", h, err)
	}
	if _, err := HistoricalBytes(mustHex(t, "3BDA18FF81")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cut ATR: %v", err)
	}
}
