// Package apdu implements the parts of ISO/IEC 7816-4 that both ends of a
// smart-card link need, without any I/O: short command APDUs (cases 1 to 4),
// response splitting, class-byte coding of logical channels 0 to 19 in the
// interindustry and proprietary families, BER-TLV with one- to three-byte
// lengths, and a status-word type that knows its name.
//
// The host side (package iotsafe) and the card side (package emulator) both
// use it, so what one encodes the other decodes with the same rules.
package apdu
