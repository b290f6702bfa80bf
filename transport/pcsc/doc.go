// Package pcsc reaches a SIM in a PC/SC reader (or a USB modem exposed
// through CCID) through pcscd, with github.com/ebfe/scard. On Linux and
// macOS it needs cgo (libpcsclite, the PCSC framework); on Windows it calls
// winscard.dll without cgo. A build without either keeps the same API and
// every call returns an error matching ErrCompiledOut.
//
// The card is opened in shared mode, so several processes can use it
// through pcscd; the applet client takes one PC/SC transaction per applet
// operation (Begin), never one for the transport's lifetime. When another
// process or a power cycle resets the card, or the card is re-inserted,
// the transport reconnects and reports transport.ErrCardReset once, upon
// which the client selects the applet again and retries; a card that is
// gone gives transport.ErrCardRemoved.
package pcsc

import "errors"

// ErrCompiledOut is returned by every function of a build without cgo.
var ErrCompiledOut = errors.New("pcsc: PC/SC support was compiled out (built with CGO_ENABLED=0)")

// Options configure Open.
type Options struct {
	// Reader is the reader's name; "" picks the first reader whose card
	// holds an IoT SAFE applet.
	Reader string
}
