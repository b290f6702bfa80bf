package mimeb64

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	for _, n := range []int{0, 1, 47, 48, 49, 96, 1000} {
		b := bytes.Repeat([]byte{0xA5}, n)
		out := Encode(b)
		if !bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("%d bytes: no final newline", n)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		for i, l := range lines {
			if len(l) > LineLen || (i < len(lines)-1 && len(l) != LineLen) {
				t.Fatalf("%d bytes: line %d has %d characters", n, i, len(l))
			}
		}
		dec, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("%d bytes: round trip: %v", n, err)
		}
	}
}
