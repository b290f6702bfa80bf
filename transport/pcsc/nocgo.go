//go:build !cgo && !windows

package pcsc

import (
	"context"
	"net/url"

	"github.com/go-iotsafe/iotsafe/transport"
)

// Transport is a card in a PC/SC reader (unavailable in this build).
type Transport struct{}

// Open returns ErrCompiledOut.
func Open(context.Context, Options) (*Transport, error) { return nil, ErrCompiledOut }

// OpenURI returns ErrCompiledOut.
func OpenURI(context.Context, *url.URL) (transport.Transport, error) { return nil, ErrCompiledOut }

// Readers returns ErrCompiledOut.
func Readers(context.Context) ([]string, error) { return nil, ErrCompiledOut }

// Transmit returns ErrCompiledOut.
func (*Transport) Transmit(context.Context, []byte) ([]byte, error) { return nil, ErrCompiledOut }

// Begin returns ErrCompiledOut.
func (*Transport) Begin(context.Context) (func(), error) { return nil, ErrCompiledOut }

// WaitForChange returns ErrCompiledOut.
func (*Transport) WaitForChange(context.Context) (bool, error) { return false, ErrCompiledOut }

// ATR returns nil.
func (*Transport) ATR() []byte { return nil }

// CardPresent returns ErrCompiledOut.
func (*Transport) CardPresent() error { return ErrCompiledOut }

// CarriesExtended returns false.
func (*Transport) CarriesExtended() bool { return false }

// Reader returns "".
func (*Transport) Reader() string { return "" }

// Close does nothing.
func (*Transport) Close() error { return nil }
