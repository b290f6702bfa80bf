// Package qmimsg is the wire format of QMI messages over QMUX (what a
// modem's /dev/cdc-wdm0 speaks with the qmi_wwan driver) as far as SIM
// access needs it: the control service's client allocation, and the UIM
// service's Open Logical Channel, Send APDU, Logical Channel (close) and
// Get Card Status, as libqmi's data files define them. Both ends use it:
// the QMI transport and the emulator's fake QMI device. It does no I/O.
package qmimsg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Services.
const (
	ServiceCTL byte = 0x00
	ServiceUIM byte = 0x0B
)

// Control service messages.
const (
	CTLGetVersionInfo uint16 = 0x0021
	CTLAllocateCID    uint16 = 0x0022
	CTLReleaseCID     uint16 = 0x0023
	CTLSync           uint16 = 0x0027
)

// UIM service messages.
const (
	UIMGetCardStatus      uint16 = 0x002F
	UIMSendAPDU           uint16 = 0x003B
	UIMLogicalChannel     uint16 = 0x003F // closes a channel (TLV 0x11)
	UIMOpenLogicalChannel uint16 = 0x0042
)

// Protocol errors of the result TLV (0x02) that SIM access meets.
const (
	ErrNone                  uint16 = 0x0000
	ErrInternal              uint16 = 0x0003
	ErrClientIDsExhausted    uint16 = 0x0005
	ErrInvalidClientID       uint16 = 0x0022
	ErrInvalidArgument       uint16 = 0x0030
	ErrInsufficientResources uint16 = 0x0033
	ErrInvalidQMICommand     uint16 = 0x0047
	ErrNotSupported          uint16 = 0x005E
)

// Flags of the SDU.
const (
	FlagRequest       byte = 0x00
	CTLResponse       byte = 0x01
	CTLIndication     byte = 0x02
	ServiceResponse   byte = 0x02
	ServiceIndication byte = 0x04
)

// ErrMessage is matched by errors about a malformed message.
var ErrMessage = errors.New("qmi: malformed message")

var le = binary.LittleEndian

// Message is one QMUX message.
type Message struct {
	FromService bool // QMUX control flag 0x80
	Service     byte
	Client      byte
	Flags       byte   // SDU flags (request, response, indication)
	TID         uint16 // one byte on the control service
	ID          uint16
	TLVs        []TLV
}

// TLV is one type-length-value item of a message.
type TLV struct {
	Type  byte
	Value []byte
}

// Get returns the value of TLV t and whether the message has it.
func (m *Message) Get(t byte) ([]byte, bool) {
	for _, x := range m.TLVs {
		if x.Type == t {
			return x.Value, true
		}
	}
	return nil, false
}

// Result returns the protocol error of a response's result TLV (0x02):
// ErrNone for success.
func (m *Message) Result() (uint16, error) {
	v, ok := m.Get(0x02)
	if !ok || len(v) != 4 {
		return 0, fmt.Errorf("%w: response without a result TLV", ErrMessage)
	}
	if le.Uint16(v) == 0 {
		return ErrNone, nil
	}
	e := le.Uint16(v[2:])
	if e == ErrNone {
		e = ErrInternal
	}
	return e, nil
}

// ResultTLV returns the result TLV for a protocol error (ErrNone: success).
func ResultTLV(e uint16) TLV {
	v := make([]byte, 4)
	if e != ErrNone {
		le.PutUint16(v, 1)
		le.PutUint16(v[2:], e)
	}
	return TLV{0x02, v}
}

// Marshal encodes m with its QMUX header.
func Marshal(m Message) []byte {
	var sdu []byte
	sdu = append(sdu, m.Flags)
	if m.Service == ServiceCTL {
		sdu = append(sdu, byte(m.TID))
	} else {
		sdu = le.AppendUint16(sdu, m.TID)
	}
	sdu = le.AppendUint16(sdu, m.ID)
	var tlvs []byte
	for _, t := range m.TLVs {
		tlvs = append(tlvs, t.Type)
		tlvs = le.AppendUint16(tlvs, uint16(len(t.Value)))
		tlvs = append(tlvs, t.Value...)
	}
	sdu = le.AppendUint16(sdu, uint16(len(tlvs)))
	sdu = append(sdu, tlvs...)
	b := []byte{0x01}
	b = le.AppendUint16(b, uint16(5+len(sdu)))
	ctl := byte(0x00)
	if m.FromService {
		ctl = 0x80
	}
	b = append(b, ctl, m.Service, m.Client)
	return append(b, sdu...)
}

// Len returns the length of the message at the start of b, or 0 when b
// does not hold its header yet.
func Len(b []byte) (int, error) {
	if len(b) < 3 {
		return 0, nil
	}
	if b[0] != 0x01 {
		return 0, fmt.Errorf("%w: QMUX interface type %#x", ErrMessage, b[0])
	}
	n := int(le.Uint16(b[1:]))
	if n < 5+6 {
		return 0, fmt.Errorf("%w: QMUX length %d", ErrMessage, n)
	}
	return 1 + n, nil
}

// Frame returns the length of the whole message at the start of b, 0 when
// b does not hold it all yet, or an error when b starts no QMUX message.
func Frame(b []byte) (int, error) {
	n, err := Len(b)
	if err != nil || len(b) < n {
		return 0, err
	}
	return n, nil
}

// Parse decodes one whole message.
func Parse(b []byte) (Message, error) {
	n, err := Len(b)
	if err != nil {
		return Message{}, err
	}
	if n == 0 || n != len(b) {
		return Message{}, fmt.Errorf("%w: message of %d bytes, length field says %d", ErrMessage, len(b), n)
	}
	m := Message{FromService: b[3]&0x80 != 0, Service: b[4], Client: b[5]}
	sdu := b[6:]
	m.Flags = sdu[0]
	if m.Service == ServiceCTL {
		m.TID, sdu = uint16(sdu[1]), sdu[2:]
	} else {
		if len(sdu) < 7 {
			return Message{}, fmt.Errorf("%w: service SDU of %d bytes", ErrMessage, len(sdu))
		}
		m.TID, sdu = le.Uint16(sdu[1:]), sdu[3:]
	}
	if len(sdu) < 4 {
		return Message{}, fmt.Errorf("%w: SDU without message ID and length", ErrMessage)
	}
	m.ID = le.Uint16(sdu)
	tl := int(le.Uint16(sdu[2:]))
	tlvs := sdu[4:]
	if tl != len(tlvs) {
		return Message{}, fmt.Errorf("%w: TLVs of %d bytes, length field %d", ErrMessage, len(tlvs), tl)
	}
	for len(tlvs) > 0 {
		if len(tlvs) < 3 {
			return Message{}, fmt.Errorf("%w: truncated TLV", ErrMessage)
		}
		l := int(le.Uint16(tlvs[1:]))
		if 3+l > len(tlvs) {
			return Message{}, fmt.Errorf("%w: TLV %#x of %d bytes in %d", ErrMessage, tlvs[0], l, len(tlvs)-3)
		}
		m.TLVs = append(m.TLVs, TLV{tlvs[0], tlvs[3 : 3+l]})
		tlvs = tlvs[3+l:]
	}
	return m, nil
}

// U16Array encodes a byte array with a 16-bit length prefix (the APDU TLVs).
func U16Array(b []byte) []byte { return append(le.AppendUint16(nil, uint16(len(b))), b...) }

// U8Array encodes a byte array with an 8-bit length prefix (AID, select
// response).
func U8Array(b []byte) []byte { return append([]byte{byte(len(b))}, b...) }

// ReadU16Array decodes a U16Array value.
func ReadU16Array(v []byte) ([]byte, error) {
	if len(v) < 2 || int(le.Uint16(v))+2 != len(v) {
		return nil, fmt.Errorf("%w: 16-bit length array of %d bytes", ErrMessage, len(v))
	}
	return v[2:], nil
}

// ReadU8Array decodes a U8Array value.
func ReadU8Array(v []byte) ([]byte, error) {
	if len(v) < 1 || int(v[0])+1 != len(v) {
		return nil, fmt.Errorf("%w: 8-bit length array of %d bytes", ErrMessage, len(v))
	}
	return v[1:], nil
}
