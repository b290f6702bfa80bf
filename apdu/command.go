package apdu

import (
	"errors"
	"fmt"
)

// MaxShortData is the largest command data field of a short APDU.
const MaxShortData = 255

// MaxShortNe is the largest number of response bytes a short APDU can ask
// for; it is encoded as an Le byte of 00.
const MaxShortNe = 256

// MaxExtendedData and MaxExtendedNe are the limits of an extended-length
// APDU (ISO/IEC 7816-4 §5.1): Lc of 1..65535 in two bytes after a 00, and
// Ne of 1..65536 in two bytes (65536 as 00 00).
const (
	MaxExtendedData = 65535
	MaxExtendedNe   = 65536
)

// ErrMalformed is matched (with errors.Is) by every error this package returns
// for bytes that do not form a valid command, response or TLV.
var ErrMalformed = errors.New("apdu: malformed")

// SyntaxError describes bytes that could not be decoded. It matches
// ErrMalformed with errors.Is.
type SyntaxError struct {
	What   string // what was being decoded, e.g. "command APDU", "TLV"
	Offset int    // byte offset where decoding failed
	Reason string // what was wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("apdu: malformed %s at byte %d: %s", e.What, e.Offset, e.Reason)
}

// Is reports whether target is ErrMalformed.
func (e *SyntaxError) Is(target error) bool { return target == ErrMalformed }

func syntaxErr(what string, off int, format string, args ...any) error {
	return &SyntaxError{What: what, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Command is a command APDU, short unless Extended.
//
// Ne is the number of response data bytes expected: 0 means the command has
// no Le field (ISO cases 1 and 3); 1 to 256 gives an Le field (cases 2 and 4),
// with 256 encoded as Le = 00.
//
// Extended selects the extended-length encoding of ISO/IEC 7816-4 §5.1 (Lc
// and Le in two bytes, after a 00 byte; Ne up to 65536, encoded 00 00),
// which only cards that say so take (see ExtendedLengthInATR). A case 1
// command has no length field and is the same in both encodings.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int
	Extended         bool
}

// Case returns the ISO/IEC 7816-3 case of the command: 1 (header only),
// 2 (Le only), 3 (data only) or 4 (data and Le).
func (c Command) Case() int {
	switch {
	case len(c.Data) == 0 && c.Ne == 0:
		return 1
	case len(c.Data) == 0:
		return 2
	case c.Ne == 0:
		return 3
	default:
		return 4
	}
}

// Validate reports whether c can be encoded (as a short APDU unless
// c.Extended).
func (c Command) Validate() error {
	if c.Extended {
		if len(c.Data) > MaxExtendedData {
			return fmt.Errorf("apdu: command data of %d bytes exceeds the extended APDU limit of %d", len(c.Data), MaxExtendedData)
		}
		if c.Ne < 0 || c.Ne > MaxExtendedNe {
			return fmt.Errorf("apdu: Ne %d outside 0..%d", c.Ne, MaxExtendedNe)
		}
		return nil
	}
	if len(c.Data) > MaxShortData {
		return fmt.Errorf("apdu: command data of %d bytes exceeds the short APDU limit of %d", len(c.Data), MaxShortData)
	}
	if c.Ne < 0 || c.Ne > MaxShortNe {
		return fmt.Errorf("apdu: Ne %d outside 0..%d", c.Ne, MaxShortNe)
	}
	return nil
}

// Len returns the encoded length of c in bytes.
func (c Command) Len() int {
	n := 4
	if c.Extended {
		if len(c.Data) > 0 {
			n += 3 + len(c.Data)
		}
		switch {
		case c.Ne > 0 && len(c.Data) > 0:
			n += 2
		case c.Ne > 0:
			n += 3
		}
		return n
	}
	if len(c.Data) > 0 {
		n += 1 + len(c.Data)
	}
	if c.Ne > 0 {
		n++
	}
	return n
}

// AppendTo appends the encoding of c to dst.
func (c Command) AppendTo(dst []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	dst = append(dst, c.CLA, c.INS, c.P1, c.P2)
	if c.Extended {
		if len(c.Data) > 0 {
			dst = append(dst, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
			dst = append(dst, c.Data...)
		}
		if c.Ne > 0 {
			if len(c.Data) == 0 {
				dst = append(dst, 0)
			}
			dst = append(dst, byte(c.Ne>>8), byte(c.Ne)) // 65536 wraps to 00 00
		}
		return dst, nil
	}
	if len(c.Data) > 0 {
		dst = append(dst, byte(len(c.Data)))
		dst = append(dst, c.Data...)
	}
	if c.Ne > 0 {
		dst = append(dst, byte(c.Ne)) // 256 wraps to 00, as ISO encodes it
	}
	return dst, nil
}

// Bytes returns the encoding of c.
func (c Command) Bytes() ([]byte, error) {
	return c.AppendTo(make([]byte, 0, c.Len()))
}

// ParseCommand decodes a command APDU. A 4-byte APDU is case 1; a 5-byte
// APDU is case 2 (its fifth byte is Le); longer ones are case 3 when the
// body is exactly Lc+data and case 4 when one Le byte follows. A body that
// begins with 00 and is longer than one byte is extended (ISO/IEC 7816-4
// §5.1): three bytes are case 2E (00 Le1 Le2), and otherwise two Lc bytes
// (not 00 00) follow, then the data, then nothing (3E) or two Le bytes
// (4E); the result has Extended set. The returned Data aliases b.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, syntaxErr("command APDU", len(b), "%d bytes, need at least the 4-byte header", len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0:
		return c, nil
	case len(body) == 1:
		c.Ne = neFromLe(body[0])
		return c, nil
	}
	lc := int(body[0])
	if lc == 0 {
		return parseExtended(c, body)
	}
	switch len(body) {
	case 1 + lc:
		c.Data = body[1:]
	case 2 + lc:
		c.Data = body[1 : 1+lc]
		c.Ne = neFromLe(body[1+lc])
	default:
		return Command{}, syntaxErr("command APDU", 4, "Lc %d does not match the %d bytes that follow", lc, len(body)-1)
	}
	return c, nil
}

// parseExtended decodes the body (from byte 4) of an extended APDU.
func parseExtended(c Command, body []byte) (Command, error) {
	c.Extended = true
	if len(body) == 3 {
		c.Ne = neFromExtendedLe(body[1], body[2])
		return c, nil
	}
	if len(body) < 3 {
		return Command{}, syntaxErr("command APDU", 4, "extended length field of %d bytes, need 3", len(body))
	}
	lc := int(body[1])<<8 | int(body[2])
	if lc == 0 {
		return Command{}, syntaxErr("command APDU", 5, "extended Lc of 00 00 followed by %d bytes", len(body)-3)
	}
	switch len(body) {
	case 3 + lc:
		c.Data = body[3:]
	case 5 + lc:
		c.Data = body[3 : 3+lc]
		c.Ne = neFromExtendedLe(body[3+lc], body[4+lc])
	default:
		return Command{}, syntaxErr("command APDU", 5, "extended Lc %d does not match the %d bytes that follow", lc, len(body)-3)
	}
	return c, nil
}

func neFromExtendedLe(hi, lo byte) int {
	if n := int(hi)<<8 | int(lo); n != 0 {
		return n
	}
	return MaxExtendedNe
}

func neFromLe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

// LeByte returns the Le byte that encodes ne (1..256).
func LeByte(ne int) byte { return byte(ne) }
