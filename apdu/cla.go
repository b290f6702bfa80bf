package apdu

import "fmt"

// MaxChannel is the highest logical channel number ISO/IEC 7816-4 can code.
const MaxChannel = 19

// ClassFamily selects how a class byte is coded.
type ClassFamily uint8

const (
	// Interindustry is the ISO class family: 0X for channels 0-3, 4X-4F for
	// channels 4-19. SELECT, MANAGE CHANNEL and GET RESPONSE always use it.
	Interindustry ClassFamily = iota
	// Proprietary is the 8X family (CX for channels 4-19), the IoT SAFE
	// applet's own class.
	Proprietary
)

func (f ClassFamily) String() string {
	if f == Proprietary {
		return "proprietary"
	}
	return "interindustry"
}

// ChainingBit is the class-byte bit that marks command chaining (b5) in both
// families.
const ChainingBit = 0x10

// CLA returns the class byte of family f for logical channel ch (0..19).
func CLA(f ClassFamily, ch int) (byte, error) {
	if ch < 0 || ch > MaxChannel {
		return 0, fmt.Errorf("apdu: logical channel %d outside 0..%d", ch, MaxChannel)
	}
	var cla byte
	if ch <= 3 {
		cla = byte(ch)
	} else {
		cla = 0x40 | byte(ch-4)
	}
	if f == Proprietary {
		cla |= 0x80
	}
	return cla, nil
}

// ClassInfo is what a class byte says.
type ClassInfo struct {
	Family   ClassFamily
	Channel  int
	Chaining bool
	// SecureMessaging is the secure-messaging indication (b4b3 for
	// channels 0-3, b6 for 4-19); zero when none.
	SecureMessaging byte
}

// ParseCLA decodes a class byte of either family. Class bytes ISO reserves
// (the 2X/3X/AX/BX ranges other than proprietary codings, and FF) are an
// error.
func ParseCLA(cla byte) (ClassInfo, error) {
	var ci ClassInfo
	if cla == 0xFF {
		return ci, syntaxErr("class byte", 0, "FF is invalid")
	}
	if cla&0x80 != 0 {
		ci.Family = Proprietary
	}
	switch cla & 0x60 {
	case 0x00: // first interindustry coding: channels 0-3
		ci.Channel = int(cla & 0x03)
		ci.SecureMessaging = (cla >> 2) & 0x03
	case 0x40, 0x60: // further coding: channels 4-19
		ci.Channel = 4 + int(cla&0x0F)
		if cla&0x20 != 0 {
			ci.SecureMessaging = 1
		}
	default:
		return ci, syntaxErr("class byte", 0, "%02X is reserved for future use", cla)
	}
	ci.Chaining = cla&ChainingBit != 0
	return ci, nil
}

// WithChannel returns cla recoded for channel ch in the same family,
// keeping the chaining bit.
func WithChannel(cla byte, ch int) (byte, error) {
	ci, err := ParseCLA(cla)
	if err != nil {
		return 0, err
	}
	out, err := CLA(ci.Family, ch)
	if err != nil {
		return 0, err
	}
	if ci.Chaining {
		out |= ChainingBit
	}
	return out, nil
}
