package qmimsg

import (
	"bytes"
	"errors"
	"testing"
)

// The expected bytes below are libqmi's own test vectors
// (src/libqmi-glib/test/test-message.c), the library qmicli and
// ModemManager speak QMI with; facts, not code.

// libqmiComplete is test_message_parse_complete's message: a NAS (0x03)
// response to message 0x0020 for client 1, TID 1, with four TLVs.
var libqmiComplete = []byte{
	0x01, 0x26, 0x00, 0x80, 0x03, 0x01, 0x02, 0x01, 0x00, 0x20, 0x00, 0x1a,
	0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x9b,
	0x05, 0x11, 0x04, 0x00, 0x01, 0x00, 0x65, 0x05, 0x12, 0x04, 0x00, 0x01,
	0x00, 0x11, 0x05,
}

func TestLibqmiParseComplete(t *testing.T) {
	m, err := Parse(libqmiComplete)
	if err != nil {
		t.Fatal(err)
	}
	if !m.FromService || m.Service != 0x03 || m.Client != 1 || m.Flags != ServiceResponse || m.TID != 1 || m.ID != 0x0020 || len(m.TLVs) != 4 {
		t.Fatalf("%+v", m)
	}
	for typ, want := range map[byte][]byte{0x02: {0, 0, 0, 0}, 0x01: {0x9b, 0x05}, 0x11: {0x01, 0x00, 0x65, 0x05}, 0x12: {0x01, 0x00, 0x11, 0x05}} {
		if v, ok := m.Get(typ); !ok || !bytes.Equal(v, want) {
			t.Fatalf("TLV %#x: % x", typ, v)
		}
	}
	if code, err := m.Result(); err != nil || code != ErrNone {
		t.Fatalf("result %#x %v", code, err)
	}
	if got := Marshal(m); !bytes.Equal(got, libqmiComplete) {
		t.Fatalf("marshal:\n got % x\nwant % x", got, libqmiComplete)
	}
}

// TestLibqmiFraming: the short buffer (test_message_parse_short, its last
// TLV cut) is not a message yet; two messages in a row
// (parse_complete_and_complete) are cut at the length field.
func TestLibqmiFraming(t *testing.T) {
	short := libqmiComplete[:32]
	if n, err := Len(short); err != nil || n != len(libqmiComplete) {
		t.Fatalf("short: Len %d %v", n, err)
	}
	if _, err := Parse(short); !errors.Is(err, ErrMessage) {
		t.Fatalf("short parsed: %v", err)
	}
	two := append(append([]byte(nil), libqmiComplete...), libqmiComplete...)
	n, err := Len(two)
	if err != nil || n != len(libqmiComplete) {
		t.Fatalf("two: Len %d %v", n, err)
	}
	if _, err := Parse(two[:n]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if n, err := Len(two[:i]); n != 0 || err != nil {
			t.Fatalf("%d bytes: %d %v", i, n, err)
		}
	}
	if _, err := Len([]byte{0x02, 0x26, 0x00}); !errors.Is(err, ErrMessage) {
		t.Fatalf("wrong marker accepted: %v", err)
	}
}

// TestLibqmiNewMessages builds test_message_new_request and the response
// ok/error messages (DMS, client 1, TID 2, message 0xFFFF).
func TestLibqmiNewMessages(t *testing.T) {
	req := Message{Service: 0x02, Client: 1, TID: 2, ID: 0xFFFF}
	if got, want := Marshal(req), []byte{0x01, 0x0C, 0x00, 0x00, 0x02, 0x01, 0x00, 0x02, 0x00, 0xFF, 0xFF, 0x00, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("request % x, want % x", got, want)
	}
	for code, want := range map[uint16][]byte{
		ErrNone:     {0x01, 0x13, 0x00, 0x80, 0x02, 0x01, 0x02, 0x02, 0x00, 0xFF, 0xFF, 0x07, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00},
		ErrInternal: {0x01, 0x13, 0x00, 0x80, 0x02, 0x01, 0x02, 0x02, 0x00, 0xFF, 0xFF, 0x07, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x03, 0x00},
	} {
		resp := req
		resp.FromService, resp.Flags, resp.TLVs = true, ServiceResponse, []TLV{ResultTLV(code)}
		if got := Marshal(resp); !bytes.Equal(got, want) {
			t.Fatalf("response %#x: % x, want % x", code, got, want)
		}
		m, err := Parse(want)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.Result(); err != nil || got != code {
			t.Fatalf("result %#x %v, want %#x", got, err, code)
		}
	}
}

// FuzzParse: no input makes Parse panic, and what parses (with a QMUX
// control byte Marshal writes) marshals back to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(libqmiComplete)
	f.Add(Marshal(Message{Service: ServiceCTL, TID: 3, ID: CTLAllocateCID, TLVs: []TLV{{0x01, []byte{ServiceUIM}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		_, _ = m.Result()
		for _, x := range m.TLVs {
			_, _ = ReadU16Array(x.Value)
			_, _ = ReadU8Array(x.Value)
		}
		if b[3] == 0x00 || b[3] == 0x80 {
			if again := Marshal(m); !bytes.Equal(again, b) {
				t.Fatalf("round trip:\n in  % x\n out % x", b, again)
			}
		}
	})
}
