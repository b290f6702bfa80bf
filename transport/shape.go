package transport

import (
	"fmt"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// CheckAnswer checks that resp has a shape an answer to cmd can have: a
// status word of a valid ISO 7816-4 class; no data with a status word that
// carries none (6Cxx, errors 64xx to 6Fxx; 61xx may carry the first part of
// an answer longer than a short Le, ISO 7816-4); no data for a command that
// asked for none (no Le; SELECT excepted, which some cards answer with
// control parameters regardless); never more data than Le allows. Transports
// whose link can deliver an answer that belongs to another command (a modem
// line out of step) use it so that such an answer is an error, not data.
func CheckAnswer(cmd, resp []byte) error {
	if len(resp) < 2 {
		return fmt.Errorf("%w: answer of %d bytes has no status word", ErrProtocol, len(resp))
	}
	sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
	n := len(resp) - 2
	if !(sw1 >= 0x61 && sw1 <= 0x6F) && !(sw1 >= 0x90 && sw1 <= 0x9F) {
		return fmt.Errorf("%w: %02X%02X is not an ISO 7816-4 status word", ErrProtocol, sw1, sw2)
	}
	if n == 0 {
		return nil
	}
	if sw1 == 0x6C || sw1 >= 0x64 && sw1 <= 0x6F {
		return fmt.Errorf("%w: %d data bytes with status word %02X%02X, which carries none", ErrProtocol, n, sw1, sw2)
	}
	c, err := apdu.ParseCommand(cmd)
	if err != nil {
		return nil // not ours to judge: the transport sent it as given
	}
	switch {
	case c.INS == 0xA4 && c.Ne == 0:
		if n > apdu.MaxShortData+1 {
			return fmt.Errorf("%w: %d data bytes in the answer to SELECT", ErrProtocol, n)
		}
	case c.Ne == 0:
		return fmt.Errorf("%w: %d data bytes in the answer to a command (INS %02X) that asked for none", ErrProtocol, n, c.INS)
	case n > c.Ne:
		return fmt.Errorf("%w: %d data bytes in the answer to a command (INS %02X) that asked for at most %d", ErrProtocol, n, c.INS, c.Ne)
	}
	return nil
}
