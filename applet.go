// Package iotsafe is a client for the GSMA IoT SAFE applet on a SIM: it
// selects the applet on a logical channel and offers every IoT SAFE command
// as a typed method (random numbers, the applet store's objects, files,
// signatures in all three modes, verification, key generation, public keys,
// ECDH, PRF and HKDF).
//
// It interoperates with the real applet variants: both class families (8X
// first, 0X after a 6E00), both signature length encodings (33 40 and
// 33 00 40) and DER signatures, IDs of 1 to 20 bytes, grouped and ungrouped
// object lists, 1- and 2-byte hash fields, short applet identifiers, file
// information with or without its C3 wrapper, and 61xx/6Cxx (handled by
// transport.Normalize for every transport).
//
// An Applet is safe for concurrent use; each method is atomic on the card
// (a mutex, and a transport transaction where the transport has one).
// Application information, the object list, file contents and public keys
// are cached until Refresh, a card reset or a 63CF status word (a remote
// administration session has completed).
//
// Import it as
//
//	import iotsafe "github.com/go-iotsafe/iotsafe"
//
// open a SIM with simuri.Open ("pcsc:", "modem:/dev/ttyUSB2",
// "emulator:/path/sim.json") and Open, and use its keys as a crypto.Signer
// through package signer (see the examples).
package iotsafe

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// ClassPolicy says which class family IoT SAFE commands are sent in.
type ClassPolicy uint8

const (
	// ClassAuto sends the proprietary class (8X) and falls back to the
	// interindustry class (0X) when the card answers 6E00, remembering what
	// worked.
	ClassAuto ClassPolicy = iota
	// ClassProprietary always sends 8X/CX.
	ClassProprietary
	// ClassInterindustry always sends 0X/4X.
	ClassInterindustry
)

// Options configure Open. The zero value is what most callers want.
type Options struct {
	// AID is the applet to select; nil tries spec.KnownAIDs in turn.
	AID []byte
	// BasicChannel uses channel 0 instead of opening a logical channel.
	BasicChannel bool
	// Class chooses the class family of IoT SAFE commands.
	Class ClassPolicy
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// Trace, when set, receives one line per APDU ("-> ..." / "<- ...").
	// The data of commands and answers that carry secrets (PRF, HKDF, DH) is
	// redacted.
	Trace io.Writer
	// OnRemoteAdmin is called (without the Applet's lock held) after a 63CF
	// status word made the Applet drop its caches.
	OnRemoteAdmin func()
	// ShortAPDUs keeps to short APDUs even when the card's answer to reset
	// says it takes extended-length ones (for a reader or driver that
	// cannot carry them).
	ShortAPDUs bool
}

// Applet is an open IoT SAFE applet on one card.
type Applet struct {
	mu         sync.Mutex
	t          transport.Transport
	opts       Options
	log        *slog.Logger
	aid        []byte
	channel    int
	family     apdu.ClassFamily
	classKnown bool
	closed     bool
	// extended: the card's ATR says it takes extended-length APDUs (and
	// the transport gave the ATR); an RSA signature then comes in one
	// answer. Cleared for good when the applet refuses one with 6700.
	extended bool
	// sharedBasic: no logical channel was free, so the applet is used on
	// the basic channel, which other applications may re-select; it is
	// selected again at the start of every transaction.
	sharedBasic bool
	generation  uint64
	adminDone   bool
	sigStyle    spec.SigLenStyle
	block       int // largest command data field sent

	info    *AppInfo
	objects []Object
	files   map[string][]byte
	pubkeys map[string]spec.PublicKeyData
	// The card's answers behind info, objects and pubkeys, for Directory:
	// an entry counts only while its decoded counterpart is cached.
	infoRaw    []byte
	objectsRaw []byte
	pubkeysRaw map[string][]byte
	buf        []byte
}

// Open selects the IoT SAFE applet over t and returns it. The Applet owns t
// from then on: Close closes both the logical channel and t.
func Open(ctx context.Context, t transport.Transport, opts *Options) (*Applet, error) {
	a := &Applet{t: transport.Normalize(t), family: apdu.Proprietary, block: apdu.MaxShortData}
	if l, ok := a.t.(transport.Limiter); ok {
		if n := l.MaxCommandLen(); n > 0 {
			// Header, Lc and Le take 6 bytes.
			a.block = min(apdu.MaxShortData, n-6)
			if a.block < 16 {
				return nil, fmt.Errorf("iotsafe: the transport carries APDUs of %d bytes at most, too few for IoT SAFE", n)
			}
		}
	}
	if opts != nil {
		a.opts = *opts
	}
	a.log = a.opts.Logger
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	switch a.opts.Class {
	case ClassProprietary:
		a.family, a.classKnown = apdu.Proprietary, true
	case ClassInterindustry:
		a.family, a.classKnown = apdu.Interindustry, true
	}
	if r, ok := a.t.(transport.AnswerToReset); ok && !a.opts.ShortAPDUs {
		a.extended = apdu.ExtendedLengthInATR(r.ATR())
		if c, ok := a.t.(transport.ExtendedCarrier); ok && a.extended {
			a.extended = c.CarriesExtended()
		}
	}
	a.resetCaches()
	if err := a.withTransaction(ctx, func() error { return a.selectApplet(ctx) }); err != nil {
		return nil, err
	}
	return a, nil
}

// AID returns the AID of the selected applet.
func (a *Applet) AID() []byte { return bytes.Clone(a.aid) }

// ExtendedLength reports whether the client sends extended-length APDUs
// where they save a GET RESPONSE (an RSA signature): the card's ATR
// announces them, Options.ShortAPDUs is not set, and the applet has not
// refused one.
func (a *Applet) ExtendedLength() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.extended
}

// Channel returns the logical channel the applet is selected on.
func (a *Applet) Channel() int { return a.channel }

// ClassFamily returns the class family IoT SAFE commands are sent in.
func (a *Applet) ClassFamily() apdu.ClassFamily {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.family
}

// Generation counts how often the Applet dropped its caches (Refresh, 63CF,
// card reset). Callers that derive state from card data (certificates,
// PKCS#11 objects) re-read it when the generation changes.
func (a *Applet) Generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.generation
}

// Refresh drops every cached piece of card data.
func (a *Applet) Refresh() {
	a.mu.Lock()
	a.resetCaches()
	a.mu.Unlock()
}

func (a *Applet) resetCaches() {
	a.info, a.objects = nil, nil
	a.files = map[string][]byte{}
	a.pubkeys = map[string]spec.PublicKeyData{}
	a.infoRaw, a.objectsRaw, a.pubkeysRaw = nil, nil, map[string][]byte{}
	a.generation++
}

// Close closes the logical channel and the transport.
func (a *Applet) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return a.CloseContext(ctx)
}

// CloseTimeout bounds Close: closing the logical channel and whatever the
// transport sends at its own close.
const CloseTimeout = 5 * time.Second

// CloseContext is Close bounded by ctx: the logical channel is closed on the
// card (Manage Channel) and the transport closed (transport.CloseContext)
// while ctx lasts; once it has ended nothing more is sent, and the
// transport is released all the same.
func (a *Applet) CloseContext(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var cerr error
	if a.channel != 0 && ctx.Err() == nil {
		resp, err := a.exchange(ctx, apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, P1: 0x80, P2: byte(a.channel)}, false)
		switch {
		case err != nil:
			cerr = fmt.Errorf("iotsafe: closing logical channel %d: %w", a.channel, err)
		case !resp.SW.OK():
			cerr = &CardError{Op: "close logical channel", INS: spec.InsManageChannel, SW: resp.SW}
		}
	}
	if err := transport.CloseContext(ctx, a.t); err != nil && cerr == nil {
		cerr = err
	}
	return cerr
}

// do runs one applet operation: under the lock, in one transport
// transaction, re-selecting and retrying once after a card reset, and
// dropping caches after a 63CF.
func (a *Applet) do(ctx context.Context, fn func() error) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	err := a.withTransaction(ctx, fn)
	if errors.Is(err, transport.ErrCardReset) {
		a.log.Warn("iotsafe: card was reset; selecting the applet again", "err", err)
		a.resetCaches()
		err = a.withTransaction(ctx, func() error {
			if serr := a.selectApplet(ctx); serr != nil {
				return serr
			}
			return fn()
		})
	}
	hook := a.adminDone && a.opts.OnRemoteAdmin != nil
	if a.adminDone {
		a.adminDone = false
		a.resetCaches()
		a.log.Info("iotsafe: remote administration completed; cached card data dropped")
	}
	a.mu.Unlock()
	if hook {
		a.opts.OnRemoteAdmin()
	}
	return err
}

func (a *Applet) withTransaction(ctx context.Context, fn func() error) error {
	if tr, ok := a.t.(transport.Transactor); ok {
		end, err := tr.Begin(ctx)
		if err != nil {
			return err
		}
		defer end()
		if a.sharedBasic && a.aid != nil {
			// Another application may have selected something else on
			// the shared basic channel since the last transaction.
			if err := a.reselect(ctx); err != nil {
				return err
			}
		}
	}
	return fn()
}

// reselect selects the applet again on the basic channel.
func (a *Applet) reselect(ctx context.Context) error {
	resp, err := a.exchange(ctx, apdu.Command{CLA: 0x00, INS: spec.InsSelect, P1: 0x04, P2: 0x00, Data: a.aid}, false)
	if err != nil {
		return fmt.Errorf("iotsafe: selecting applet %X: %w", a.aid, err)
	}
	if !resp.SW.OK() && resp.SW.SW1() != 0x91 {
		return &CardError{Op: "select applet", Object: fmt.Sprintf("AID %X", a.aid), INS: spec.InsSelect, SW: resp.SW}
	}
	return nil
}

// selectApplet opens a logical channel (unless BasicChannel) and selects
// the applet on it, trying the known AIDs when none is configured.
func (a *Applet) selectApplet(ctx context.Context) error {
	a.channel = 0
	a.sharedBasic = false
	if !a.opts.BasicChannel {
		resp, err := a.exchange(ctx, apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, Ne: 1}, false)
		if err != nil {
			return fmt.Errorf("iotsafe: opening a logical channel: %w", err)
		}
		switch {
		case (resp.SW.OK() || resp.SW.SW1() == 0x91) && len(resp.Data) == 1 && resp.Data[0] >= 1 && int(resp.Data[0]) <= apdu.MaxChannel:
			a.channel = int(resp.Data[0])
		case resp.SW.OK() || resp.SW.SW1() == 0x91:
			return malformed("manage channel", "answer %X is not a channel number", resp.Data)
		case resp.SW == apdu.SWFunctionNotSupported || resp.SW == apdu.SWLogicalChannelNotSupp:
			// No channel free (they leak when processes die without
			// closing theirs) or none supported: use the basic
			// channel, selecting the applet before every operation.
			a.sharedBasic = true
			a.log.Warn("iotsafe: no logical channel available; using the basic channel (the applet is selected again before each operation)", "sw", resp.SW.String())
		default:
			return &CardError{Op: "open logical channel", INS: spec.InsManageChannel, SW: resp.SW}
		}
	}
	aids := spec.KnownAIDs()
	if a.opts.AID != nil {
		aids = [][]byte{a.opts.AID}
	}
	var last error
	var tried []string
	for _, aid := range aids {
		cla, _ := apdu.CLA(apdu.Interindustry, a.channel)
		resp, err := a.exchange(ctx, apdu.Command{CLA: cla, INS: spec.InsSelect, P1: 0x04, P2: 0x00, Data: aid}, false)
		if err != nil {
			return fmt.Errorf("iotsafe: selecting applet %X: %w", aid, err)
		}
		if resp.SW.OK() || resp.SW.SW1() == 0x91 {
			a.aid = bytes.Clone(aid)
			a.log.Debug("iotsafe: applet selected", "aid", hex.EncodeToString(aid), "channel", a.channel)
			return nil
		}
		last = &CardError{Op: "select applet", Object: fmt.Sprintf("AID %X", aid), INS: spec.InsSelect, SW: resp.SW}
		tried = append(tried, fmt.Sprintf("%X (%s)", aid, resp.SW))
	}
	if a.channel != 0 {
		_, _ = a.exchange(ctx, apdu.Command{CLA: 0x00, INS: spec.InsManageChannel, P1: 0x80, P2: byte(a.channel)}, false)
		a.channel = 0
	}
	return fmt.Errorf("%w: tried %s: %w", ErrAppletNotFound, strings.Join(tried, ", "), last)
}

// exchange encodes c, sends it and splits the answer. For IoT SAFE
// commands (iotsafe true) the class byte is set from the applet's channel
// and class family, with the 6E00 fallback of ClassAuto.
func (a *Applet) exchange(ctx context.Context, c apdu.Command, iotsafe bool) (apdu.Response, error) {
	for attempt := 0; ; attempt++ {
		if iotsafe {
			cla, err := apdu.CLA(a.family, a.channel)
			if err != nil {
				return apdu.Response{}, err
			}
			c.CLA = cla
		}
		enc, err := c.AppendTo(a.buf[:0])
		if err != nil {
			return apdu.Response{}, err
		}
		a.buf = enc
		a.traceCmd(c, enc)
		raw, err := a.t.Transmit(ctx, enc)
		if err != nil {
			return apdu.Response{}, err
		}
		resp, err := apdu.ParseResponse(raw)
		if err != nil {
			return apdu.Response{}, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		a.traceResp(c.INS, resp)
		if iotsafe && resp.SW == apdu.SWInvalidClass && !a.classKnown && attempt == 0 {
			a.family = apdu.Interindustry
			a.classKnown = true
			a.log.Debug("iotsafe: card refused class 8X; using 0X")
			continue
		}
		if iotsafe && resp.SW != apdu.SWInvalidClass {
			a.classKnown = true
		}
		if resp.SW == apdu.SWRemoteAdminDone {
			a.adminDone = true
		}
		return resp, nil
	}
}

// secretINS are the instructions whose command data or answer is secret.
func secretINS(ins byte) bool {
	return ins == spec.InsComputePRF || ins == spec.InsComputeHKDF || ins == spec.InsComputeDH
}

func (a *Applet) traceCmd(c apdu.Command, enc []byte) {
	if a.opts.Trace == nil {
		return
	}
	if secretINS(c.INS) && len(c.Data) > 0 {
		fmt.Fprintf(a.opts.Trace, "-> %X %02X <%d bytes redacted>", enc[:4], len(c.Data), len(c.Data))
		if c.Ne > 0 {
			fmt.Fprintf(a.opts.Trace, " %02X", apdu.LeByte(c.Ne))
		}
		fmt.Fprintln(a.opts.Trace)
		return
	}
	fmt.Fprintf(a.opts.Trace, "-> %X\n", enc)
}

func (a *Applet) traceResp(ins byte, r apdu.Response) {
	if a.opts.Trace == nil {
		return
	}
	if secretINS(ins) && len(r.Data) > 0 && r.SW.OK() {
		fmt.Fprintf(a.opts.Trace, "<- <%d bytes redacted> %04X\n", len(r.Data), uint16(r.SW))
		return
	}
	fmt.Fprintf(a.opts.Trace, "<- %X %04X\n", r.Data, uint16(r.SW))
}

// command sends an IoT SAFE command and turns a failing status word into a
// *CardError for op and object.
func (a *Applet) command(ctx context.Context, op, object string, c apdu.Command) (apdu.Response, error) {
	resp, err := a.exchange(ctx, c, true)
	if err != nil {
		return resp, fmt.Errorf("iotsafe: %s: %w", op, err)
	}
	if !resp.SW.OK() {
		return resp, &CardError{Op: op, Object: object, INS: c.INS, SW: resp.SW}
	}
	return resp, nil
}
