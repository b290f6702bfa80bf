// Package mimeb64 writes base64 the way EST peers of the RFC 7030 era read
// it: RFC 2045 style, in lines of 64 characters, each ending with a newline
// (what OpenSSL's base64 BIO writes and, without its one-line flag, needs to
// read). Cisco libest and the appliances built on it refuse base64 on one
// line.
package mimeb64

import "encoding/base64"

// LineLen is the length of every line but the last.
const LineLen = 64

// Encode returns b in standard base64, wrapped at LineLen, with a final
// newline.
func Encode(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	out := make([]byte, 0, len(enc)+len(enc)/LineLen+1)
	for len(enc) > LineLen {
		out = append(out, enc[:LineLen]...)
		out = append(out, '\n')
		enc = enc[LineLen:]
	}
	out = append(out, enc...)
	return append(out, '\n')
}
