// Package mbimmsg is the wire format of MBIM control messages (USB MBIM
// 1.0 §9) as far as SIM access needs it: OPEN/CLOSE, COMMAND and its
// COMMAND_DONE, FUNCTION_ERROR and INDICATE_STATUS, and the information
// buffers of Microsoft's "UICC low level access" service (ATR, OPEN_CHANNEL,
// APDU, CLOSE_CHANNEL), with their byte arrays written as libmbim's
// "uicc-ref-byte-array" (length, then offset). Both ends use it: the MBIM
// transport and the emulator's fake MBIM device. It does no I/O.
package mbimmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Message types.
const (
	TypeOpen           uint32 = 0x00000001
	TypeClose          uint32 = 0x00000002
	TypeCommand        uint32 = 0x00000003
	TypeHostError      uint32 = 0x00000004
	TypeOpenDone       uint32 = 0x80000001
	TypeCloseDone      uint32 = 0x80000002
	TypeCommandDone    uint32 = 0x80000003
	TypeFunctionError  uint32 = 0x80000004
	TypeIndicateStatus uint32 = 0x80000007
)

// Command types.
const (
	CommandQuery uint32 = 0
	CommandSet   uint32 = 1
)

// Status codes of COMMAND_DONE and OPEN_DONE.
const (
	StatusNone                    uint32 = 0
	StatusBusy                    uint32 = 1
	StatusFailure                 uint32 = 2
	StatusNoDeviceSupport         uint32 = 9
	StatusMSNoLogicalChannels     uint32 = 0x87430001
	StatusMSSelectFailed          uint32 = 0x87430002
	StatusMSInvalidLogicalChannel uint32 = 0x87430003
)

// Error status codes of FUNCTION_ERROR / HOST_ERROR.
const (
	ErrorTimeoutFragment uint32 = 1
	ErrorLengthMismatch  uint32 = 3
	ErrorNotOpened       uint32 = 5
	ErrorUnknown         uint32 = 6
)

// ServiceProxyControl is the UUID of libmbim's proxy control service,
// 838CF7FB-8D0D-4D7F-871E-D71DBEFBB39B; CIDProxyConfiguration names the
// device the proxy opens for the client.
var ServiceProxyControl = [16]byte{0x83, 0x8C, 0xF7, 0xFB, 0x8D, 0x0D, 0x4D, 0x7F, 0x87, 0x1E, 0xD7, 0x1D, 0xBE, 0xFB, 0xB3, 0x9B}

// CIDProxyConfiguration is the proxy control service's Configuration.
const CIDProxyConfiguration uint32 = 1

// ServiceUICC is the UUID of Microsoft's UICC low level access service,
// C2F6588E-F037-4BC9-8665-F4D44BD09367, in wire order.
var ServiceUICC = [16]byte{0xC2, 0xF6, 0x58, 0x8E, 0xF0, 0x37, 0x4B, 0xC9, 0x86, 0x65, 0xF4, 0xD4, 0x4B, 0xD0, 0x93, 0x67}

// CIDs of the UICC low level access service (libmbim's
// mbim-service-ms-uicc-low-level-access.json, in order from 1).
const (
	CIDATR          uint32 = 1
	CIDOpenChannel  uint32 = 2
	CIDCloseChannel uint32 = 3
	CIDAPDU         uint32 = 4
)

// HeaderLen is the size of the message header; CommandHeaderLen of the
// fixed part of COMMAND and COMMAND_DONE.
const (
	HeaderLen        = 12
	CommandHeaderLen = 48
)

// ErrMessage is matched by errors about a malformed message.
var ErrMessage = errors.New("mbim: malformed message")

var le = binary.LittleEndian

// Header is the header every message starts with.
type Header struct {
	Type, Length, TID uint32
}

// ReadHeader decodes the header at the start of b.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d bytes, no header", ErrMessage, len(b))
	}
	h := Header{le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])}
	if h.Length < HeaderLen {
		return Header{}, fmt.Errorf("%w: length field %d", ErrMessage, h.Length)
	}
	return h, nil
}

// MaxMessage is the longest message either end accepts: a length field
// above it is garbage (SIM access needs a few hundred bytes).
const MaxMessage = 1 << 16

// Frame returns the length of the whole message at the start of b, 0 when
// b does not hold it all yet, or an error when b starts with no plausible
// header (a length under the header's or above MaxMessage).
func Frame(b []byte) (int, error) {
	if len(b) < HeaderLen {
		return 0, nil
	}
	h, err := ReadHeader(b)
	if err != nil {
		return 0, err
	}
	if h.Length > MaxMessage {
		return 0, fmt.Errorf("%w: length field %d", ErrMessage, h.Length)
	}
	if len(b) < int(h.Length) {
		return 0, nil
	}
	return int(h.Length), nil
}

func header(typ, length, tid uint32) []byte {
	b := make([]byte, HeaderLen, length)
	le.PutUint32(b, typ)
	le.PutUint32(b[4:], length)
	le.PutUint32(b[8:], tid)
	return b
}

// Open returns an OPEN message.
func Open(tid, maxControlTransfer uint32) []byte {
	return le.AppendUint32(header(TypeOpen, 16, tid), maxControlTransfer)
}

// Close returns a CLOSE message.
func Close(tid uint32) []byte { return header(TypeClose, HeaderLen, tid) }

// Status returns a message made of a header and one status word
// (OPEN_DONE, CLOSE_DONE, FUNCTION_ERROR, HOST_ERROR).
func Status(typ, tid, status uint32) []byte {
	return le.AppendUint32(header(typ, 16, tid), status)
}

// StatusOf decodes the status word of a 16-byte status message.
func StatusOf(b []byte) (uint32, error) {
	if len(b) < 16 {
		return 0, fmt.Errorf("%w: %d bytes, no status", ErrMessage, len(b))
	}
	return le.Uint32(b[12:]), nil
}

// Command is a COMMAND or COMMAND_DONE (Status is COMMAND_DONE's;
// CommandType is COMMAND's).
type Command struct {
	TID         uint32
	Service     [16]byte
	CID         uint32
	CommandType uint32
	Status      uint32
	Info        []byte
}

// MarshalCommand returns a single-fragment COMMAND message.
func MarshalCommand(c Command) []byte {
	return marshal(TypeCommand, c, c.CommandType)
}

// MarshalDone returns a single-fragment COMMAND_DONE message.
func MarshalDone(c Command) []byte { return marshal(TypeCommandDone, c, c.Status) }

func marshal(typ uint32, c Command, word uint32) []byte {
	n := uint32(CommandHeaderLen + len(c.Info))
	b := header(typ, n, c.TID)
	b = le.AppendUint32(b, 1) // total fragments
	b = le.AppendUint32(b, 0) // current fragment
	b = append(b, c.Service[:]...)
	b = le.AppendUint32(b, c.CID)
	b = le.AppendUint32(b, word)
	b = le.AppendUint32(b, uint32(len(c.Info)))
	return append(b, c.Info...)
}

// ParseCommand decodes a COMMAND (done false) or COMMAND_DONE (done true)
// of one fragment.
func ParseCommand(b []byte, done bool) (Command, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return Command{}, err
	}
	if int(h.Length) != len(b) || len(b) < CommandHeaderLen {
		return Command{}, fmt.Errorf("%w: command of %d bytes, length field %d", ErrMessage, len(b), h.Length)
	}
	if total, cur := le.Uint32(b[12:]), le.Uint32(b[16:]); total != 1 || cur != 0 {
		return Command{}, fmt.Errorf("%w: fragment %d of %d (fragmented messages are not expected for SIM access)", ErrMessage, cur, total)
	}
	c := Command{TID: h.TID, CID: le.Uint32(b[36:])}
	copy(c.Service[:], b[20:36])
	if done {
		c.Status = le.Uint32(b[40:])
	} else {
		c.CommandType = le.Uint32(b[40:])
	}
	n := le.Uint32(b[44:])
	if uint64(n) != uint64(len(b)-CommandHeaderLen) {
		return Command{}, fmt.Errorf("%w: information buffer of %d bytes in %d", ErrMessage, n, len(b)-CommandHeaderLen)
	}
	c.Info = b[CommandHeaderLen:]
	return c, nil
}

// Info builds an information buffer: fixed fields (uint32s and byte
// arrays as length+offset pairs), then the byte arrays, each padded to 4.
type Info struct {
	fixed, variable []byte
	patches         []int // offsets in fixed of offset fields to relocate
}

// Uint32 appends a uint32 field.
func (i *Info) Uint32(v uint32) *Info {
	i.fixed = le.AppendUint32(i.fixed, v)
	return i
}

// Bytes appends a byte array field ("uicc-ref-byte-array": length, then
// offset from the start of the buffer).
func (i *Info) Bytes(v []byte) *Info {
	i.fixed = le.AppendUint32(i.fixed, uint32(len(v)))
	if len(v) == 0 {
		i.fixed = le.AppendUint32(i.fixed, 0)
		return i
	}
	i.patches = append(i.patches, len(i.fixed))
	i.fixed = le.AppendUint32(i.fixed, uint32(len(i.variable)))
	i.variable = append(i.variable, v...)
	for len(i.variable)%4 != 0 {
		i.variable = append(i.variable, 0)
	}
	return i
}

// String appends a string field: offset, then length in bytes, of its
// UTF-16LE text (MBIM strings).
func (i *Info) String(v string) *Info {
	var u []byte
	for _, r := range utf16.Encode([]rune(v)) {
		u = le.AppendUint16(u, r)
	}
	if len(u) == 0 {
		i.fixed = le.AppendUint32(le.AppendUint32(i.fixed, 0), 0)
		return i
	}
	i.patches = append(i.patches, len(i.fixed))
	i.fixed = le.AppendUint32(i.fixed, uint32(len(i.variable)))
	i.fixed = le.AppendUint32(i.fixed, uint32(len(u)))
	i.variable = append(i.variable, u...)
	for len(i.variable)%4 != 0 {
		i.variable = append(i.variable, 0)
	}
	return i
}

// Build returns the buffer.
func (i *Info) Build() []byte {
	out := append([]byte(nil), i.fixed...)
	for _, p := range i.patches {
		le.PutUint32(out[p:], le.Uint32(out[p:])+uint32(len(i.fixed)))
	}
	return append(out, i.variable...)
}

// Reader reads the fields of an information buffer in order.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Uint32 reads a uint32 field.
func (r *Reader) Uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if r.off+4 > len(r.b) {
		r.err = fmt.Errorf("%w: information buffer of %d bytes ends inside a field", ErrMessage, len(r.b))
		return 0
	}
	v := le.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// Bytes reads a byte array field (length, then offset).
func (r *Reader) Bytes() []byte {
	n, off := r.Uint32(), r.Uint32()
	if r.err != nil {
		return nil
	}
	if n == 0 {
		return nil
	}
	if uint64(off)+uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: byte array of %d bytes at %d beyond the %d-byte buffer", ErrMessage, n, off, len(r.b))
		return nil
	}
	return r.b[off : off+n]
}

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// SW packs an ISO status word into the Status field of the UICC answers
// as modems write it: SW1 in the lowest byte, SW2 in the next (lpac, whose
// MBIM back-end runs on real modems, reads it so).
func SW(sw1, sw2 byte) uint32 { return uint32(sw1) | uint32(sw2)<<8 }

// SplitSW unpacks a Status field into SW1 and SW2.
func SplitSW(s uint32) (sw1, sw2 byte) { return byte(s), byte(s >> 8) }
