package mbimmsg

import (
	"bytes"
	"errors"
	"testing"
)

// The expected bytes below are libmbim's own test vectors
// (src/libmbim-glib/test/test-message.c and test-message-builder.c), the
// library mbimcli and ModemManager speak MBIM with; facts, not code.

// basicConnect is the Basic Connect service UUID as libmbim writes it.
var basicConnect = [16]byte{0xa2, 0x89, 0xcc, 0x33, 0xbc, 0xbb, 0x8b, 0x4f, 0xb6, 0xb0, 0x13, 0x3e, 0xc2, 0xaa, 0xe6, 0xdf}

// libmbimCommandDone is test_message_command_done's COMMAND_DONE:
// Basic Connect CID 4, status 0, 12 zero bytes of information.
var libmbimCommandDone = []byte{
	0x03, 0x00, 0x00, 0x80, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xa2, 0x89, 0xcc, 0x33, 0xbc, 0xbb, 0x8b, 0x4f, 0xb6, 0xb0, 0x13, 0x3e, 0xc2, 0xaa, 0xe6, 0xdf,
	0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
}

// TestLibmbimPinSet builds test_basic_connect_pin_set_raw's COMMAND: two
// uint32s and two strings (offset then length, UTF-16LE, padded to 4).
func TestLibmbimPinSet(t *testing.T) {
	want := []byte{
		0x03, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xa2, 0x89, 0xcc, 0x33, 0xbc, 0xbb, 0x8b, 0x4f, 0xb6, 0xb0, 0x13, 0x3e, 0xc2, 0xaa, 0xe6, 0xdf,
		0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x31, 0x00, 0x31, 0x00, 0x31, 0x00, 0x31, 0x00,
	}
	info := new(Info).Uint32(2).Uint32(0).String("1111").String("").Build()
	got := MarshalCommand(Command{TID: 1, Service: basicConnect, CID: 4, CommandType: CommandSet, Info: info})
	if !bytes.Equal(got, want) {
		t.Fatalf("PIN set:\n got % x\nwant % x", got, want)
	}
	c, err := ParseCommand(want, false)
	if err != nil || c.TID != 1 || c.Service != basicConnect || c.CID != 4 || c.CommandType != CommandSet || !bytes.Equal(c.Info, want[48:]) {
		t.Fatalf("parse: %+v %v", c, err)
	}
}

// TestLibmbimOpenCloseDone reads test_message_open_done and close_done.
func TestLibmbimOpenCloseDone(t *testing.T) {
	for _, b := range [][]byte{
		{0x01, 0x00, 0x00, 0x80, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		{0x02, 0x00, 0x00, 0x80, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	} {
		h, err := ReadHeader(b)
		if err != nil || h.Length != 16 || h.TID != 1 || (h.Type != TypeOpenDone && h.Type != TypeCloseDone) {
			t.Fatalf("% x: %+v %v", b, h, err)
		}
		if st, err := StatusOf(b); err != nil || st != StatusNone {
			t.Fatalf("% x: status %d %v", b, st, err)
		}
	}
	// libmbim's test_message_open: OPEN with TID 12345 and 4096 bytes.
	o := Open(12345, 4096)
	if h, _ := ReadHeader(o); len(o) != 16 || h.Type != TypeOpen || h.TID != 12345 || h.Length != 16 || o[12] != 0x00 || o[13] != 0x10 {
		t.Fatalf("OPEN % x", o)
	}
}

func TestLibmbimCommandDone(t *testing.T) {
	c, err := ParseCommand(libmbimCommandDone, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.TID != 1 || c.Service != basicConnect || c.CID != 4 || c.Status != StatusNone || !bytes.Equal(c.Info, make([]byte, 12)) {
		t.Fatalf("%+v", c)
	}
	if got := MarshalDone(c); !bytes.Equal(got, libmbimCommandDone) {
		t.Fatalf("marshal:\n got % x\nwant % x", got, libmbimCommandDone)
	}
}

// TestLibmbimCommandDoneShort: every prefix of a COMMAND_DONE is refused
// (test_message_command_done_short), as is a length field under the 48
// bytes of the fixed part (command_done_invalid_type_header) and an
// information buffer longer than the message (invalid_buffer_length).
func TestLibmbimCommandDoneShort(t *testing.T) {
	for n := 0; n < len(libmbimCommandDone); n++ {
		if _, err := ParseCommand(libmbimCommandDone[:n], true); !errors.Is(err, ErrMessage) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	head := append([]byte(nil), libmbimCommandDone[:48]...)
	head[44] = 0
	for n := 12; n < 48; n++ {
		b := append([]byte(nil), head[:n]...)
		b[4] = byte(n)
		if _, err := ParseCommand(b, true); !errors.Is(err, ErrMessage) {
			t.Fatalf("length %d: %v", n, err)
		}
	}
	b := append(append([]byte(nil), head...), 0, 0, 0, 0)
	b[4], b[44] = 0x30, 4
	if _, err := ParseCommand(b, true); !errors.Is(err, ErrMessage) {
		t.Fatalf("buffer beyond the message: %v", err)
	}
}

// FuzzParseCommand: no input makes the parsers panic, and what parses
// marshals back to the same bytes.
func FuzzParseCommand(f *testing.F) {
	f.Add(libmbimCommandDone)
	f.Add(MarshalCommand(Command{TID: 7, Service: ServiceUICC, CID: CIDAPDU, Info: new(Info).Uint32(1).Uint32(0).Uint32(0).Bytes([]byte{0x80, 0xCA, 0x00, 0x00, 0x00}).Build()}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, done := range []bool{false, true} {
			c, err := ParseCommand(b, done)
			if err != nil {
				continue
			}
			again := MarshalCommand(c)
			if done {
				again = MarshalDone(c)
			}
			if !bytes.Equal(again[4:], b[4:]) { // all but the type field
				t.Fatalf("round trip:\n in  % x\n out % x", b, again)
			}
			r := NewReader(c.Info)
			for i := 0; i < 8 && r.Err() == nil; i++ {
				_ = r.Bytes()
			}
		}
		_, _ = StatusOf(b)
	})
}
