package apdu

// Tag is a BER-TLV tag of one to three bytes, held in its encoded form
// (e.g. 0x84, 0x5F20, 0x9F7F01).
type Tag uint32

// Len returns the number of bytes of the tag's encoding.
func (t Tag) Len() int {
	switch {
	case t > 0xFFFF:
		return 3
	case t > 0xFF:
		return 2
	default:
		return 1
	}
}

// AppendTag appends the encoding of t.
func AppendTag(dst []byte, t Tag) []byte {
	switch t.Len() {
	case 3:
		return append(dst, byte(t>>16), byte(t>>8), byte(t))
	case 2:
		return append(dst, byte(t>>8), byte(t))
	default:
		return append(dst, byte(t))
	}
}

// MaxTLVLength is the largest value length this package encodes or decodes:
// three length bytes after 83 (0xFFFFFF), the IoT SAFE limit for full-text
// data.
const MaxTLVLength = 0xFFFFFF

// LengthSize returns the number of bytes of the BER definite-length encoding
// of n in its shortest form.
func LengthSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xFF:
		return 2
	case n <= 0xFFFF:
		return 3
	default:
		return 4
	}
}

// AppendLength appends the shortest BER definite-length encoding of n:
// one byte below 128, else 81 xx, 82 xx xx or 83 xx xx xx. It panics if n is
// negative or above MaxTLVLength, which is a programming error.
func AppendLength(dst []byte, n int) []byte {
	switch {
	case n < 0 || n > MaxTLVLength:
		panic("apdu: TLV length out of range")
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// AppendTLV appends tag, the BER length of value, and value.
func AppendTLV(dst []byte, tag Tag, value []byte) []byte {
	dst = AppendTag(dst, tag)
	dst = AppendLength(dst, len(value))
	return append(dst, value...)
}

// TLV is one decoded tag-length-value element. Value aliases the input.
type TLV struct {
	Tag   Tag
	Value []byte
}

// Constructed reports whether the tag's first byte has the BER constructed
// bit (b6). IoT SAFE's own containers (C1..C4) do not set it.
func (t TLV) Constructed() bool {
	first := byte(t.Tag >> (8 * (t.Tag.Len() - 1)))
	return first&0x20 != 0
}

// ReadTag decodes a BER tag at the start of b and returns it with the number
// of bytes it used. Tags longer than three bytes are refused.
func ReadTag(b []byte) (Tag, int, error) {
	if len(b) == 0 {
		return 0, 0, syntaxErr("TLV", 0, "no tag byte")
	}
	t := Tag(b[0])
	if b[0]&0x1F != 0x1F {
		return t, 1, nil
	}
	for i := 1; i < 3; i++ {
		if i >= len(b) {
			return 0, 0, syntaxErr("TLV", i, "tag truncated")
		}
		t = t<<8 | Tag(b[i])
		if b[i]&0x80 == 0 {
			return t, i + 1, nil
		}
	}
	return 0, 0, syntaxErr("TLV", 0, "tag longer than 3 bytes")
}

// ReadLength decodes a BER definite length at the start of b: a short form
// byte 00..7F, or 81, 82 or 83 followed by one to three length bytes. It
// returns the length and the number of bytes used. 80 (indefinite) and 84 and
// above are refused.
func ReadLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, syntaxErr("TLV", 0, "no length byte")
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	n := int(first & 0x7F)
	if n == 0 || n > 3 {
		return 0, 0, syntaxErr("TLV", 0, "length byte %02X not supported (1 to 3 length bytes allowed)", first)
	}
	if len(b) < 1+n {
		return 0, 0, syntaxErr("TLV", len(b), "length field truncated")
	}
	l := 0
	for _, c := range b[1 : 1+n] {
		l = l<<8 | int(c)
	}
	return l, 1 + n, nil
}

// ReadTLV decodes one TLV at the start of b and returns it with the bytes
// that follow it.
func ReadTLV(b []byte) (TLV, []byte, error) {
	tag, tn, err := ReadTag(b)
	if err != nil {
		return TLV{}, nil, err
	}
	l, ln, err := ReadLength(b[tn:])
	if err != nil {
		if se, ok := err.(*SyntaxError); ok {
			se.Offset += tn
		}
		return TLV{}, nil, err
	}
	start := tn + ln
	if l > len(b)-start {
		return TLV{}, nil, syntaxErr("TLV", start, "tag %X declares %d value bytes, %d present", uint32(tag), l, len(b)-start)
	}
	return TLV{Tag: tag, Value: b[start : start+l : start+l]}, b[start+l:], nil
}

// ParseTLVs decodes a sequence of TLVs that fills b exactly.
func ParseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	off := 0
	for len(b) > 0 {
		t, rest, err := ReadTLV(b)
		if err != nil {
			if se, ok := err.(*SyntaxError); ok {
				se.Offset += off
			}
			return nil, err
		}
		off += len(b) - len(rest)
		out = append(out, t)
		b = rest
	}
	return out, nil
}

// Find returns the value of the first TLV in tlvs with tag t.
func Find(tlvs []TLV, t Tag) ([]byte, bool) {
	for _, x := range tlvs {
		if x.Tag == t {
			return x.Value, true
		}
	}
	return nil, false
}
