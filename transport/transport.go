// Package transport defines how the host reaches a card: a Transport sends
// one command APDU and returns one response APDU. Concrete transports live in
// subpackages (pcsc, modem) or elsewhere (the emulator's in-process card);
// this package holds what they all share, in particular the handling of the
// ISO transport status words 61xx, 6Cxx and 9Fxx, done once here for every
// transport by Normalize.
package transport

import (
	"context"
	"errors"
)

// Transport exchanges APDUs with one card.
//
// Transmit sends one command APDU and returns the complete response APDU
// (data followed by SW1 SW2). It must honour ctx's deadline and cancellation
// and must be safe for concurrent use, though callers serialize multi-APDU
// operations themselves. Close releases the link; Transmit after Close
// returns ErrClosed.
type Transport interface {
	Transmit(ctx context.Context, command []byte) (response []byte, err error)
	Close() error
}

// ContextCloser is implemented by transports whose Close talks to the
// modem or card (closing the logical channels they opened, ending a
// session): CloseContext bounds that talk by ctx, then releases everything
// whatever ctx says. Close alone bounds it by a default of a few seconds.
type ContextCloser interface {
	CloseContext(ctx context.Context) error
}

// CloseContext closes t, with the talk its Close needs bounded by ctx
// where t supports that (ContextCloser).
func CloseContext(ctx context.Context, t Transport) error {
	if c, ok := t.(ContextCloser); ok {
		return c.CloseContext(ctx)
	}
	return t.Close()
}

// PresenceReporter is implemented by transports that can tell, without
// sending an APDU, whether the card they are connected to is still there
// and has not been reset (PC/SC: SCardStatus on the card handle, which
// pcscd answers from its own view of the reader). CardPresent returns nil
// when it is, and an error wrapping ErrCardRemoved or ErrCardReset when it
// is not.
type PresenceReporter interface {
	CardPresent() error
}

// PresenceOf returns t's PresenceReporter, looking through wrappers that
// have an Unwrap() Transport method (Normalize), and false when t cannot
// tell presence without an APDU.
func PresenceOf(t Transport) (PresenceReporter, bool) {
	for t != nil {
		if p, ok := t.(PresenceReporter); ok {
			return p, true
		}
		u, ok := t.(interface{ Unwrap() Transport })
		if !ok {
			return nil, false
		}
		t = u.Unwrap()
	}
	return nil, false
}

// Transactor is implemented by transports that can hold the card for several
// APDUs against other processes (a PC/SC transaction). Begin returns a
// function that ends the transaction; callers take one transaction per
// applet operation, never one for an object's lifetime.
type Transactor interface {
	Begin(ctx context.Context) (end func(), err error)
}

// Limiter is implemented by transports that carry APDUs of at most
// MaxCommandLen bytes (0: no limit below the short-APDU maximum), such as
// a modem with a short AT command buffer. The applet client then sends
// long data in smaller blocks, through the applet's own chaining.
type Limiter interface {
	MaxCommandLen() int
}

// AnswerToReset is implemented by transports that know the card's answer
// to reset (PC/SC, the in-process emulator); ATR returns nil when they do
// not have it. The applet client reads the card's capabilities from it: it
// sends extended-length APDUs only to a card whose ATR says it takes them
// (apdu.ExtendedLengthInATR).
type AnswerToReset interface {
	ATR() []byte
}

// ExtendedCarrier is implemented by transports that know whether they can
// carry extended-length APDUs to the card: PC/SC only when T=1 is the
// active protocol (over T=0 they would need ENVELOPE, which IoT SAFE
// applets are not known to take). The applet client sends extended APDUs
// only when the ATR announces them and the transport, if it says, carries
// them.
type ExtendedCarrier interface {
	CarriesExtended() bool
}

// Sentinel errors that transports wrap, so that callers can match them with
// errors.Is whatever the transport.
var (
	// ErrClosed is returned by a transport used after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrCardRemoved means the card left the reader, or the link to it was
	// lost, during or before the exchange.
	ErrCardRemoved = errors.New("transport: card removed or link lost")
	// ErrCardReset means the card was reset (by another process, a power
	// cycle or a re-insertion): logical channels and selections are gone.
	// The exchange that reports it did not reach the applet.
	ErrCardReset = errors.New("transport: card was reset")
	// ErrProtocol means the link delivered something that is not a valid
	// response (garbage from a modem, a truncated frame).
	ErrProtocol = errors.New("transport: protocol error")
)
