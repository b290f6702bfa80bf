package apdu

// Response is a response APDU split into its data field and status word.
type Response struct {
	Data []byte
	SW   StatusWord
}

// ParseResponse splits a response APDU into data and status word. A response
// shorter than two bytes has no status word and is an error. Data aliases b.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, syntaxErr("response APDU", len(b), "%d bytes, a response needs at least the 2-byte status word", len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: StatusWord(uint16(b[n])<<8 | uint16(b[n+1]))}, nil
}

// Bytes returns data followed by the status word.
func (r Response) Bytes() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return append(out, r.SW.SW1(), r.SW.SW2())
}
