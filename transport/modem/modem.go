// Package modem reaches a SIM through a cellular modem's AT command
// interface (3GPP TS 27.007), over any io.ReadWriter or a real serial port.
//
// Two modes:
//
//   - ModeCSIM sends every APDU with AT+CSIM, including the host's own
//     MANAGE CHANNEL and SELECT: the host manages logical channels.
//   - ModeCGLA lets the modem manage channels: the host's MANAGE CHANNEL
//     open gets a virtual channel number, its SELECT becomes AT+CCHO="AID"
//     (which opens a channel and selects), commands on that channel go out
//     as AT+CGLA with the channel bits of CLA cleared (the modem sets
//     them), and MANAGE CHANNEL close becomes AT+CCHC. Commands on the basic
//     channel use AT+CSIM. The unchanged client runs over either mode.
//
// It copes with what modems do: command echo on or off, unsolicited result
// codes between a command and its answer, ERROR and +CME ERROR, length
// fields written in several styles, answers that never come (the caller's
// context bounds every exchange, and the line is resynchronized before the
// next command so a late answer is never taken for the next one), and a
// maximum command length (reported through MaxCommandLen so the applet
// client sends smaller blocks). 61xx answers from modems with small buffers
// are handled by transport.Normalize, like for every transport.
package modem

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Mode selects how APDUs travel.
type Mode int

// The modes.
const (
	ModeCSIM Mode = iota
	ModeCGLA
)

// Options configure a Modem.
type Options struct {
	Mode Mode
	// MaxCommandLen is the longest AT command line the modem takes, in
	// characters (0: no limit). An APDU that does not fit is refused with
	// an error; MaxCommandLen tells the client how big its blocks may be.
	MaxCommandLen int
	// Logger receives debug records (AT lines with APDU data redacted).
	Logger *slog.Logger
}

// ErrModem matches errors the modem itself reported (ERROR, +CME ERROR).
var ErrModem = errors.New("modem: the modem refused the command")

// CMEError is a +CME ERROR: n answer.
type CMEError struct {
	Code    int
	Command string
}

func (e *CMEError) Error() string {
	return fmt.Sprintf("modem: %s answered +CME ERROR: %d", e.Command, e.Code)
}

// Is matches ErrModem, and transport.ErrCardRemoved for the codes that
// mean "no SIM" (10 SIM not inserted, 13 SIM failure).
func (e *CMEError) Is(target error) bool {
	return target == ErrModem || (target == transport.ErrCardRemoved && (e.Code == 10 || e.Code == 13))
}

// Modem is a SIM behind a modem. It implements transport.Transport.
type Modem struct {
	opts   Options
	log    *slog.Logger
	w      io.Writer
	closer io.Closer
	lines  chan string
	rerr   chan error
	done   chan struct{}

	mu     sync.Mutex
	closed bool
	dirty  bool // a command timed out: resynchronize before the next
	// CGLA mode: virtual channel -> modem session id (0: not opened yet).
	sessions map[int]int
}

// New speaks AT over rw (a serial port, a pty, a pipe). It reads rw in a
// goroutine until Close. It checks that the modem answers AT and turns
// command echo off.
func New(ctx context.Context, rw io.ReadWriter, opts Options) (*Modem, error) {
	m := &Modem{opts: opts, log: opts.Logger, w: rw, lines: make(chan string, 64), rerr: make(chan error, 1),
		done: make(chan struct{}), sessions: map[int]int{}}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if c, ok := rw.(io.Closer); ok {
		m.closer = c
	}
	go m.readLines(rw)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sync(ctx); err != nil {
		m.closeLocked()
		return nil, err
	}
	if _, err := m.command(ctx, "ATE0", ""); err != nil {
		m.closeLocked()
		return nil, fmt.Errorf("modem: turning echo off: %w", err)
	}
	return m, nil
}

func (m *Modem) readLines(r io.Reader) {
	var buf []byte
	tmp := make([]byte, 512)
	for {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			i := bytes.IndexAny(buf, "\r\n")
			if i < 0 {
				break
			}
			if line := strings.TrimSpace(string(buf[:i])); line != "" {
				select {
				case m.lines <- line:
				case <-m.done:
					return
				}
			}
			buf = buf[i+1:]
		}
		if len(buf) > 1<<16 {
			buf = buf[:0] // garbage without line ends: drop it
		}
		if err != nil {
			m.rerr <- err
			close(m.lines)
			return
		}
	}
}

// MaxCommandLen returns the largest APDU (in bytes) that fits in one AT
// command, or 0 when the modem has no limit.
func (m *Modem) MaxCommandLen() int {
	if m.opts.MaxCommandLen == 0 {
		return 0
	}
	// AT+CGLA=N,LLL,"<hex>" is the longer framing: about 20 characters.
	return (m.opts.MaxCommandLen - 20) / 2
}

// Close closes the line (when it is an io.Closer).
func (m *Modem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closeLocked()
}

func (m *Modem) closeLocked() error {
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.done)
	if m.closer != nil {
		return m.closer.Close()
	}
	return nil
}

// nextLine returns the next line, or an error when ctx ends or the line
// closes.
func (m *Modem) nextLine(ctx context.Context) (string, error) {
	select {
	case l, ok := <-m.lines:
		if !ok {
			err := <-m.rerr
			m.rerr <- err
			return "", fmt.Errorf("modem: line closed: %v: %w", err, transport.ErrCardRemoved)
		}
		return l, nil
	case <-ctx.Done():
		m.dirty = true
		return "", ctx.Err()
	}
}

// sync drains stale lines and checks the modem answers AT with OK.
func (m *Modem) sync(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
	drain:
		for {
			select {
			case <-m.lines:
			default:
				break drain
			}
		}
		if _, err := io.WriteString(m.w, "AT\r"); err != nil {
			return fmt.Errorf("modem: writing: %v: %w", err, transport.ErrCardRemoved)
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := false
		for {
			l, err := m.nextLine(sctx)
			if err != nil {
				break
			}
			if l == "OK" {
				ok = true
				break
			}
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ok {
			m.dirty = false
			return nil
		}
	}
	return fmt.Errorf("modem: no OK to AT: %w", transport.ErrProtocol)
}

// command sends an AT command and returns the information line that
// starts with prefix ("" for none), after the final OK. Echo and
// unsolicited lines are skipped.
func (m *Modem) command(ctx context.Context, cmd, prefix string) (string, error) {
	if m.opts.MaxCommandLen > 0 && len(cmd) > m.opts.MaxCommandLen {
		return "", fmt.Errorf("modem: command of %d characters exceeds the modem's limit of %d", len(cmd), m.opts.MaxCommandLen)
	}
	if _, err := io.WriteString(m.w, cmd+"\r"); err != nil {
		return "", fmt.Errorf("modem: writing: %v: %w", err, transport.ErrCardRemoved)
	}
	info := ""
	for {
		l, err := m.nextLine(ctx)
		if err != nil {
			return "", err
		}
		switch {
		case l == cmd:
			// echo
		case l == "OK":
			if prefix != "" && info == "" {
				return "", fmt.Errorf("modem: %s: OK without a %s line: %w", short(cmd), prefix, transport.ErrProtocol)
			}
			return info, nil
		case l == "ERROR":
			return "", fmt.Errorf("%w: %s answered ERROR", ErrModem, short(cmd))
		case strings.HasPrefix(l, "+CME ERROR:"):
			code, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "+CME ERROR:")))
			return "", &CMEError{Code: code, Command: short(cmd)}
		case prefix != "" && strings.HasPrefix(l, prefix):
			info = l
		default:
			m.log.Debug("modem: unsolicited line skipped", "line", l)
		}
	}
}

func short(cmd string) string {
	if i := strings.IndexByte(cmd, '='); i > 0 {
		return cmd[:i]
	}
	return cmd
}

// Transmit sends one APDU.
func (m *Modem) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.dirty {
		if err := m.sync(ctx); err != nil {
			return nil, err
		}
	}
	if m.opts.Mode == ModeCGLA {
		return m.cgla(ctx, cmd)
	}
	return m.csim(ctx, cmd)
}

func (m *Modem) csim(ctx context.Context, cmd []byte) ([]byte, error) {
	h := strings.ToUpper(hex.EncodeToString(cmd))
	line, err := m.command(ctx, fmt.Sprintf("AT+CSIM=%d,\"%s\"", len(h), h), "+CSIM:")
	if err != nil {
		return nil, err
	}
	return parseAnswer(line, "+CSIM:")
}

// parseAnswer decodes `+CSIM: <len>,"<hex>"` (or +CGLA) in the styles
// modems write: spaces around the length and comma, quotes or none.
func parseAnswer(line, prefix string) ([]byte, error) {
	rest := strings.TrimSpace(strings.TrimPrefix(line, prefix))
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return nil, fmt.Errorf("modem: %q has no length field: %w", line, transport.ErrProtocol)
	}
	n, err := strconv.Atoi(strings.TrimSpace(rest[:comma]))
	if err != nil {
		return nil, fmt.Errorf("modem: %q: bad length: %w", line, transport.ErrProtocol)
	}
	h := strings.Trim(strings.TrimSpace(rest[comma+1:]), "\"")
	if len(h) != n || n < 4 || n%2 != 0 {
		return nil, fmt.Errorf("modem: %q: length %d does not match %d hex characters: %w", line, n, len(h), transport.ErrProtocol)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("modem: %q is not hex: %w", line, transport.ErrProtocol)
	}
	return b, nil
}

// cgla maps the host's channel management onto AT+CCHO/AT+CGLA/AT+CCHC.
func (m *Modem) cgla(ctx context.Context, cmd []byte) ([]byte, error) {
	c, err := apdu.ParseCommand(cmd)
	if err != nil {
		return nil, err
	}
	ci, err := apdu.ParseCLA(c.CLA)
	if err == nil && c.INS == spec.InsManageChannel && c.P1 == 0x00 {
		return m.openVirtual(), nil
	}
	if err != nil || ci.Channel == 0 && !(c.INS == spec.InsManageChannel && c.P1 == 0x80) {
		return m.csim(ctx, cmd)
	}
	sw := func(s apdu.StatusWord) []byte { return []byte{s.SW1(), s.SW2()} }
	switch {
	case c.INS == spec.InsManageChannel && c.P1 == 0x80:
		ch := int(c.P2)
		if ch == 0 {
			ch = ci.Channel
		}
		sid, ok := m.sessions[ch]
		if !ok {
			return sw(apdu.SWIncorrectP1P2), nil
		}
		delete(m.sessions, ch)
		if sid > 0 {
			if _, err := m.command(ctx, fmt.Sprintf("AT+CCHC=%d", sid), ""); err != nil {
				return nil, err
			}
		}
		return sw(apdu.SWSuccess), nil
	case c.INS == spec.InsSelect && c.P1 == 0x04:
		if _, ok := m.sessions[ci.Channel]; !ok {
			return sw(apdu.SWLogicalChannelNotSupp), nil
		}
		if old := m.sessions[ci.Channel]; old > 0 {
			if _, err := m.command(ctx, fmt.Sprintf("AT+CCHC=%d", old), ""); err != nil {
				return nil, err
			}
			m.sessions[ci.Channel] = 0
		}
		line, err := m.command(ctx, fmt.Sprintf("AT+CCHO=\"%X\"", c.Data), "+CCHO:")
		var cme *CMEError
		if errors.As(err, &cme) || errors.Is(err, ErrModem) {
			return sw(apdu.SWNotFound), nil // the modem could not open the AID
		}
		if err != nil {
			return nil, err
		}
		sid, err := strconv.Atoi(strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "+CCHO:")), "\""))
		if err != nil || sid <= 0 {
			return nil, fmt.Errorf("modem: %q: bad session id: %w", line, transport.ErrProtocol)
		}
		m.sessions[ci.Channel] = sid
		return sw(apdu.SWSuccess), nil
	}
	sid := m.sessions[ci.Channel]
	if sid <= 0 {
		return sw(apdu.SWLogicalChannelNotSupp), nil
	}
	// The modem owns the channel bits of CLA.
	out := append([]byte(nil), cmd...)
	if out[0], err = apdu.WithChannel(out[0], 0); err != nil {
		return nil, err
	}
	h := strings.ToUpper(hex.EncodeToString(out))
	line, err := m.command(ctx, fmt.Sprintf("AT+CGLA=%d,%d,\"%s\"", sid, len(h), h), "+CGLA:")
	if err != nil {
		return nil, err
	}
	return parseAnswer(line, "+CGLA:")
}

// openVirtual is the CGLA mode's answer to MANAGE CHANNEL open: a channel
// number that will be bound to a modem session at SELECT.
func (m *Modem) openVirtual() []byte {
	for ch := 1; ch <= 3; ch++ {
		if _, used := m.sessions[ch]; !used {
			m.sessions[ch] = 0
			return []byte{byte(ch), 0x90, 0x00}
		}
	}
	return []byte{0x6A, 0x81}
}
