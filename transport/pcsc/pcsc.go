//go:build cgo || windows

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Transport is a card in a PC/SC reader. It implements transport.Transport,
// transport.Transactor, transport.AnswerToReset and
// transport.ExtendedCarrier.
type Transport struct {
	mu     sync.Mutex
	sc     *scard.Context
	card   *scard.Card
	reader string
	closed bool
	lost   bool // the card went away: reconnect before the next exchange
}

func establish() (*scard.Context, error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		if errors.Is(err, scard.ErrNoService) || errors.Is(err, scard.ErrServiceStopped) {
			return nil, fmt.Errorf("pcsc: pcscd is not running (start it, e.g. `pcscd`): %w", err)
		}
		return nil, fmt.Errorf("pcsc: %w", err)
	}
	return sc, nil
}

// Readers lists the PC/SC readers.
func Readers(context.Context) ([]string, error) {
	sc, err := establish()
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	r, err := sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	return r, err
}

// Open connects to the named reader's card, or to the first reader whose
// card answers SELECT of a known IoT SAFE AID.
func Open(ctx context.Context, opts Options) (*Transport, error) {
	sc, err := establish()
	if err != nil {
		return nil, err
	}
	t := &Transport{sc: sc}
	if opts.Reader != "" {
		if t.card, err = sc.Connect(opts.Reader, scard.ShareShared, scard.ProtocolAny); err != nil {
			sc.Release()
			return nil, fmt.Errorf("pcsc: reader %q: %w", opts.Reader, cardErr(err))
		}
		t.reader = opts.Reader
		return t, nil
	}
	readers, err := sc.ListReaders()
	if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
		sc.Release()
		return nil, fmt.Errorf("pcsc: listing readers: %w", err)
	}
	for _, r := range readers {
		if ctx.Err() != nil {
			break
		}
		card, err := sc.Connect(r, scard.ShareShared, scard.ProtocolAny)
		if err != nil {
			continue
		}
		if holdsApplet(card) {
			t.card, t.reader = card, r
			return t, nil
		}
		card.Disconnect(scard.LeaveCard)
	}
	sc.Release()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("pcsc: no reader holds a card with an IoT SAFE applet (readers: %s): %w",
		strings.Join(readers, ", "), transport.ErrCardRemoved)
}

// holdsApplet selects each known AID on the basic channel.
func holdsApplet(card *scard.Card) bool {
	for _, aid := range spec.KnownAIDs() {
		resp, err := card.Transmit(append([]byte{0x00, spec.InsSelect, 0x04, 0x00, byte(len(aid))}, aid...))
		if err == nil && len(resp) >= 2 && (resp[len(resp)-2] == 0x90 || resp[len(resp)-2] == 0x61) {
			return true
		}
	}
	return false
}

// OpenURI opens pcsc: (first IoT SAFE reader), pcsc:READER (percent-encoded
// name) or pcsc:?reader=READER.
func OpenURI(ctx context.Context, u *url.URL) (transport.Transport, error) {
	name := u.Opaque
	if name == "" {
		name = u.Path
	}
	if dec, err := url.PathUnescape(name); err == nil {
		name = dec
	}
	if r := u.Query().Get("reader"); r != "" {
		name = r
	}
	return Open(ctx, Options{Reader: name})
}

// Reader returns the reader's name.
func (t *Transport) Reader() string { return t.reader }

// cardErr maps PC/SC errors to the transport sentinels.
func cardErr(err error) error {
	switch {
	case errors.Is(err, scard.ErrResetCard):
		return fmt.Errorf("pcsc: %v: %w", err, transport.ErrCardReset)
	case errors.Is(err, scard.ErrRemovedCard), errors.Is(err, scard.ErrNoSmartcard), errors.Is(err, scard.ErrReaderUnavailable),
		errors.Is(err, scard.ErrUnpoweredCard), errors.Is(err, scard.ErrUnresponsiveCard), errors.Is(err, scard.ErrNoService),
		errors.Is(err, scard.ErrServiceStopped), errors.Is(err, scard.ErrInvalidHandle), errors.Is(err, scard.ErrUnknownReader),
		// pcsc-lite reports a card pulled during an exchange as a failed
		// transaction or a communication error.
		errors.Is(err, scard.ErrNotTransacted), errors.Is(err, scard.ErrCommError):
		return fmt.Errorf("pcsc: %v: %w", err, transport.ErrCardRemoved)
	}
	return fmt.Errorf("pcsc: %w", err)
}

// recover reconnects after a reset or a re-insertion. It returns the error
// to report for the exchange that found the problem: ErrCardReset when the
// card is back (the caller re-selects), ErrCardRemoved while it is gone.
func (t *Transport) recover(err error) error {
	mapped := cardErr(err)
	if !errors.Is(mapped, transport.ErrCardReset) && !errors.Is(mapped, transport.ErrCardRemoved) {
		return mapped
	}
	if rerr := t.card.Reconnect(scard.ShareShared, scard.ProtocolAny, scard.LeaveCard); rerr == nil {
		t.lost = false
		return fmt.Errorf("pcsc: card in %q was reset: %w", t.reader, transport.ErrCardReset)
	}
	t.lost = true
	return mapped
}

// reconnect tries to find the card again after it was removed.
func (t *Transport) reconnect() error {
	t.card.Disconnect(scard.LeaveCard)
	if t.sc != nil {
		if ok, _ := t.sc.IsValid(); !ok {
			t.sc.Release()
			sc, err := establish()
			if err != nil {
				return fmt.Errorf("%v: %w", err, transport.ErrCardRemoved)
			}
			t.sc = sc
		}
	}
	card, err := t.sc.Connect(t.reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return fmt.Errorf("pcsc: no card in %q: %w", t.reader, cardErr(err))
	}
	t.card, t.lost = card, false
	return fmt.Errorf("pcsc: card in %q was re-inserted: %w", t.reader, transport.ErrCardReset)
}

// ready checks, under the lock, that an exchange may start: the context is
// live, the transport open, and the card reconnected after a removal.
func (t *Transport) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.closed {
		return transport.ErrClosed
	}
	if t.lost {
		return t.reconnect()
	}
	return nil
}

// ATR returns the answer to reset of the card in the reader (PC/SC
// SCardStatus), nil when the card cannot be asked (removed, transport
// closed). It implements transport.AnswerToReset.
func (t *Transport) ATR() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.lost {
		return nil
	}
	st, err := t.card.Status()
	if err != nil {
		return nil
	}
	return st.Atr
}

// CardPresent reports, with no APDU (PC/SC SCardStatus on the card
// handle), whether the card this transport is connected to is still in the
// reader and was not reset: nil, or an error wrapping
// transport.ErrCardRemoved or transport.ErrCardReset. It implements
// transport.PresenceReporter.
func (t *Transport) CardPresent() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return transport.ErrClosed
	case t.lost:
		return fmt.Errorf("pcsc: no card in %q: %w", t.reader, transport.ErrCardRemoved)
	}
	if _, err := t.card.Status(); err != nil {
		mapped := cardErr(err)
		if errors.Is(mapped, transport.ErrCardRemoved) {
			t.lost = true
		}
		return mapped
	}
	return nil
}

// CarriesExtended reports whether T=1 is the active protocol, the one over
// which PC/SC carries extended-length APDUs as they are. It implements
// transport.ExtendedCarrier.
func (t *Transport) CarriesExtended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.lost {
		return false
	}
	st, err := t.card.Status()
	return err == nil && st.ActiveProtocol == scard.ProtocolT1
}

// Transmit sends one APDU. The context is checked before the exchange;
// PC/SC cannot abandon an exchange under way.
func (t *Transport) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := t.card.Transmit(cmd)
	if err != nil {
		return nil, t.recover(err)
	}
	if len(resp) < 2 {
		// Every card answer carries a status word; an empty answer is
		// what a reader gives when the card side went away mid-command
		// (vpcd does so when its card process dies). The next exchange
		// reconnects.
		t.lost = true
		return nil, fmt.Errorf("pcsc: %d-byte answer from %q: %w", len(resp), t.reader, transport.ErrCardRemoved)
	}
	return resp, nil
}

// Begin starts a PC/SC transaction: other processes wait until end is
// called.
func (t *Transport) Begin(ctx context.Context) (func(), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	if err := t.card.BeginTransaction(); err != nil {
		return nil, t.recover(err)
	}
	card := t.card
	return func() { card.EndTransaction(scard.LeaveCard) }, nil
}

// WaitForChange waits until a card is inserted into or removed from the
// reader (or ctx ends) and reports whether a card is present.
func (t *Transport) WaitForChange(ctx context.Context) (bool, error) {
	t.mu.Lock()
	sc, reader := t.sc, t.reader
	t.mu.Unlock()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	if err := sc.GetStatusChange(rs, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return false, cardErr(err)
	}
	start := rs[0].EventState & (scard.StatePresent | scard.StateEmpty)
	for {
		rs[0].CurrentState = rs[0].EventState
		err := sc.GetStatusChange(rs, 500*time.Millisecond)
		if err != nil && !errors.Is(err, scard.ErrTimeout) {
			return false, cardErr(err)
		}
		if now := rs[0].EventState & (scard.StatePresent | scard.StateEmpty); now != start && now != 0 {
			return now&scard.StatePresent != 0, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
}

// Close disconnects, leaving the card as it is.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.card.Disconnect(scard.LeaveCard)
	return t.sc.Release()
}
