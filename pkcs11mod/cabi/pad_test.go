package main

import (
	"testing"
	"unicode/utf8"
	"unsafe"
)

// Fixed-size PKCS#11 text fields are blank-padded and must stay valid
// UTF-8 when a label or a SIM URI is longer than the field.
func TestPad(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"IoT SAFE", "IoT SAFE        "},
		{"compteur-num-42é", "compteur-num-42 "}, // é (2 bytes) would be cut in half
		{"exactly sixteen!", "exactly sixteen!"},
		{"", "                "},
	} {
		b := make([]byte, 16)
		pad(unsafe.Pointer(&b[0]), len(b), c.in)
		if string(b) != c.want || !utf8.Valid(b) {
			t.Errorf("pad(%q) = %q, want %q", c.in, b, c.want)
		}
	}
}
