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
// Every answer is tied to the command that asked for it: command echo is
// turned on and required, the answer must follow the command's echo, hold
// at most one information line and end with a final result code, and the
// APDU it carries must have a shape its command allows
// (transport.CheckAnswer). A late, repeated, dropped or reordered answer
// fails that operation (ErrOutOfStep) and the line is resynchronized (drained
// until quiet, probed with ATE1 and AT, proved quiet again) before the next
// command. Unsolicited result codes, ERROR and +CME ERROR, length fields in
// several styles and a maximum command length (MaxCommandLen, so the applet
// client sends smaller blocks) are handled; 61xx answers from modems with
// small buffers are handled by transport.Normalize, like for every
// transport. The caller's context bounds every exchange.
//
// Several processes may use one port (Open): each holds the port's advisory
// lock (flock) for an operation (Begin) or an exchange, and reads the line
// only while it holds it.
package modem

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// Modem is a SIM behind a modem. It implements transport.Transport and
// transport.Transactor.
//
// The line is read only while a command is being answered, by the goroutine
// that sent it, and (for a port opened by path) only under the port's
// advisory lock: other processes sharing the port never see each other's
// answers.
type Modem struct {
	opts   Options
	log    *slog.Logger
	w      io.Writer
	rd     timedReader
	closer io.Closer
	buf    []byte // bytes read but not yet split into lines
	tmp    []byte

	mu     sync.Mutex
	closed bool
	dirty  bool // the line may be out of step: resynchronize before the next command
	// lock is the port's advisory lock file (Open); txSem serializes
	// transactions in this process.
	lock  *os.File
	txSem chan struct{}
	inTx  bool // a transaction holds the port lock
	// CGLA mode: virtual channel -> modem session id (0: not opened yet).
	sessions map[int]int
}

// New speaks AT over rw (a serial port, a pty, a pipe). It turns command
// echo on (ATE1) and checks that the modem echoes: every answer is tied to
// its command by the command's echo, and a modem that does not echo cannot
// be used safely.
func New(ctx context.Context, rw io.ReadWriter, opts Options) (*Modem, error) {
	m := &Modem{opts: opts, log: opts.Logger, w: rw, rd: newTimedReader(rw), tmp: make([]byte, 512),
		sessions: map[int]int{}, txSem: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if c, ok := rw.(io.Closer); ok {
		m.closer = c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sync(ctx); err != nil {
		m.closeLocked()
		return nil, err
	}
	return m, nil
}

// popLine returns the next complete, non-empty line already read.
func (m *Modem) popLine() (string, bool) {
	for {
		i := bytes.IndexAny(m.buf, "\r\n")
		if i < 0 {
			if len(m.buf) > 1<<16 {
				m.buf = m.buf[:0] // garbage without line ends: drop it
			}
			return "", false
		}
		line := strings.TrimSpace(string(m.buf[:i]))
		m.buf = m.buf[i+1:]
		if line != "" {
			return line, true
		}
	}
}

// readSome reads what the line has within wait (nothing is not an error).
func (m *Modem) readSome(wait time.Duration) error {
	n, err := m.rd.readTimeout(m.tmp, wait)
	m.buf = append(m.buf, m.tmp[:n]...)
	if err != nil {
		m.dirty = true
		return fmt.Errorf("modem: line closed: %v: %w", err, transport.ErrCardRemoved)
	}
	return nil
}

// pollInterval bounds how long one read waits, so that a cancelled
// context is noticed promptly; data is returned as soon as it arrives.
const pollInterval = 25 * time.Millisecond

// MaxCommandLen returns the largest APDU (in bytes) that fits in one AT
// command, or 0 when the modem has no limit.
func (m *Modem) MaxCommandLen() int {
	if m.opts.MaxCommandLen == 0 {
		return 0
	}
	// AT+CGLA=N,LLL,"<hex>" is the longer framing: about 20 characters.
	return (m.opts.MaxCommandLen - 20) / 2
}

// Close closes the line (when it is an io.Closer) and the port lock.
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
	if m.lock != nil {
		m.lock.Close()
	}
	m.rd.close()
	if m.closer != nil {
		return m.closer.Close()
	}
	return nil
}

// nextLine returns the next line, or an error when ctx ends or the line
// closes. Either error leaves the line out of step (dirty).
func (m *Modem) nextLine(ctx context.Context) (string, error) {
	for {
		if l, ok := m.popLine(); ok {
			return l, nil
		}
		if err := ctx.Err(); err != nil {
			m.dirty = true
			return "", fmt.Errorf("modem: no answer: %w", err)
		}
		wait := pollInterval
		if dl, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(dl)), time.Millisecond)
		}
		if err := m.readSome(wait); err != nil {
			return "", err
		}
	}
}

// quietFor is how long the line must stay silent (but for unsolicited
// result codes) for a resynchronization to count it as drained.
const quietFor = 40 * time.Millisecond

// quiet drains the line until nothing but unsolicited result codes has
// arrived for quietFor. A line that keeps talking for longer than limit is
// an error.
func (m *Modem) quiet(ctx context.Context, limit time.Duration) (drained int, err error) {
	deadline := time.Now().Add(limit)
	lastData := time.Now()
	for {
		for {
			l, ok := m.popLine()
			if !ok {
				break
			}
			lastData = time.Now()
			if !isURC(l) {
				drained++
			}
		}
		if len(m.buf) > 0 {
			lastData = time.Now() // a partial line: more is coming
		}
		if time.Since(lastData) >= quietFor {
			m.buf = m.buf[:0]
			return drained, nil
		}
		if time.Now().After(deadline) {
			return drained, fmt.Errorf("modem: the line does not fall quiet: %w", ErrOutOfStep)
		}
		if err := ctx.Err(); err != nil {
			return drained, err
		}
		if err := m.readSome(quietFor - time.Since(lastData)); err != nil {
			return drained, err
		}
	}
}

// sync resynchronizes the line: it drains it until quiet, turns echo on,
// probes with AT (the echo and OK must come, in that order, and nothing
// else), and checks that the line is quiet again afterwards. Only then are
// commands and answers known to be in step.
func (m *Modem) sync(ctx context.Context) error {
	var last error
	for attempt := 0; attempt < 4; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, err := m.quiet(ctx, 3*time.Second)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, transport.ErrCardRemoved) {
				return err
			}
			last = err
			continue
		}
		if n > 0 {
			m.log.Debug("modem: stale lines drained before resynchronizing", "lines", n)
		}
		if last = m.probe(ctx); last != nil {
			if ctx.Err() != nil || errors.Is(last, transport.ErrCardRemoved) {
				return last
			}
			continue
		}
		if n, err := m.quiet(ctx, time.Second); err != nil || n > 0 {
			if err == nil {
				err = fmt.Errorf("modem: %d surplus line(s) after the probe: %w", n, ErrOutOfStep)
			}
			last = err
			continue
		}
		m.dirty = false
		return nil
	}
	return fmt.Errorf("modem: cannot bring the line in step (ATE1, AT): %w", last)
}

// probe turns echo on and checks that AT is echoed and answered OK.
func (m *Modem) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Echo may be off: ATE1's own echo is optional.
	if err := m.write("ATE1"); err != nil {
		return err
	}
	if err := m.expect(pctx, "ATE1", false); err != nil {
		return err
	}
	if err := m.write("AT"); err != nil {
		return err
	}
	if err := m.expect(pctx, "AT", true); err != nil {
		if errors.Is(err, errNoEcho) {
			return fmt.Errorf("modem: it does not echo commands after ATE1; go-iotsafe ties every answer to its command by the echo and cannot use a modem that does not echo: %w", transport.ErrProtocol)
		}
		return err
	}
	return nil
}

var errNoEcho = errors.New("modem: OK without echo")

// expect reads the echo of cmd (required or optional) and a bare OK.
func (m *Modem) expect(ctx context.Context, cmd string, echoRequired bool) error {
	echoed := false
	for {
		l, err := m.nextLine(ctx)
		if err != nil {
			return err
		}
		switch {
		case !echoed && strings.EqualFold(l, cmd):
			echoed = true
		case l == "OK":
			if echoRequired && !echoed {
				return errNoEcho
			}
			return nil
		case isURC(l):
		default:
			return fmt.Errorf("modem: %s while waiting for the answer to %s: %w", describeLine(l), cmd, ErrOutOfStep)
		}
	}
}

func (m *Modem) write(cmd string) error {
	if _, err := io.WriteString(m.w, cmd+"\r"); err != nil {
		m.dirty = true
		return fmt.Errorf("modem: writing: %v: %w", err, transport.ErrCardRemoved)
	}
	return nil
}

// ErrOutOfStep means the modem sent something that cannot be tied to the
// command just sent (a late, repeated or reordered answer, garbage): the
// operation fails and the line is resynchronized before the next command.
var ErrOutOfStep = fmt.Errorf("modem: answer not tied to its command: %w", transport.ErrProtocol)

// answerPrefixes are the information lines of the commands this package
// sends; they are never taken for unsolicited result codes.
var answerPrefixes = []string{"+CSIM:", "+CGLA:", "+CCHO:", "+CCHC:"}

func isAnswer(l string) bool {
	for _, p := range answerPrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func isFinal(l string) bool {
	return l == "OK" || l == "ERROR" || strings.HasPrefix(l, "+CME ERROR:") || strings.HasPrefix(l, "+CMS ERROR:")
}

// isURC reports whether l is an unsolicited result code (+CREG: 1, RING,
// ^RSSI: 20), which may come at any time and is skipped.
func isURC(l string) bool {
	if isFinal(l) || isAnswer(l) {
		return false
	}
	switch {
	case l == "RING", strings.HasPrefix(l, "+"), strings.HasPrefix(l, "^"):
		return true
	}
	return false
}

// describeLine names a line in an error without copying its data (an
// answer may carry a shared secret).
func describeLine(l string) string {
	switch {
	case isFinal(l):
		return fmt.Sprintf("a stray final result %q", l)
	case isAnswer(l):
		return fmt.Sprintf("a stray %s line", l[:strings.IndexByte(l, ':')])
	case strings.HasPrefix(strings.ToUpper(l), "AT"):
		return "the echo of another command"
	}
	return fmt.Sprintf("an unexpected line of %d characters", len(l))
}

// surplus reports a line already waiting before a command is sent:
// anything but an unsolicited result code means the previous exchange left
// something behind, and the line is not in step.
func (m *Modem) surplus() error {
	if err := m.readSome(0); err != nil {
		return err
	}
	for {
		l, ok := m.popLine()
		if !ok {
			return nil
		}
		if isURC(l) {
			m.log.Debug("modem: unsolicited line skipped", "line", l)
			continue
		}
		m.dirty = true
		return fmt.Errorf("modem: %s arrived between commands: %w", describeLine(l), ErrOutOfStep)
	}
}

// command sends an AT command and returns the information line that
// starts with prefix ("" for none), after the final OK. The answer is tied
// to the command: it must follow the command's echo, hold at most one
// information line, and end with a final result code; anything else fails
// the command and marks the line for resynchronization.
func (m *Modem) command(ctx context.Context, cmd, prefix string) (string, error) {
	if m.opts.MaxCommandLen > 0 && len(cmd) > m.opts.MaxCommandLen {
		return "", fmt.Errorf("modem: command of %d characters exceeds the modem's limit of %d", len(cmd), m.opts.MaxCommandLen)
	}
	if err := m.surplus(); errors.Is(err, transport.ErrCardRemoved) {
		return "", err
	} else if err != nil {
		// Left over from an exchange that is over (its answer was tied
		// to it by its echo): bring the line in step, then go on.
		m.log.Warn("modem: resynchronizing", "reason", err)
		if err := m.sync(ctx); err != nil {
			return "", err
		}
	}
	if err := m.write(cmd); err != nil {
		return "", err
	}
	echoed := false
	info := ""
	outOfStep := func(what string) (string, error) {
		m.dirty = true
		return "", fmt.Errorf("modem: %s: %s: %w", short(cmd), what, ErrOutOfStep)
	}
	for {
		l, err := m.nextLine(ctx)
		if err != nil {
			return "", fmt.Errorf("modem: %s: %w", short(cmd), err)
		}
		switch {
		case !echoed && strings.EqualFold(l, cmd):
			echoed = true
		case isURC(l):
			m.log.Debug("modem: unsolicited line skipped", "line", l)
		case !echoed:
			return outOfStep(describeLine(l) + " before the command's echo")
		case l == "OK":
			if prefix != "" && info == "" {
				return outOfStep("OK without a " + prefix + " line")
			}
			if err := m.surplus(); err != nil {
				return "", fmt.Errorf("modem: %s: %w", short(cmd), err)
			}
			return info, nil
		case l == "ERROR":
			return "", fmt.Errorf("%w: %s answered ERROR", ErrModem, short(cmd))
		case strings.HasPrefix(l, "+CME ERROR:"):
			code, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "+CME ERROR:")))
			return "", &CMEError{Code: code, Command: short(cmd)}
		case prefix != "" && strings.HasPrefix(l, prefix) && info == "":
			info = l
		default:
			return outOfStep(describeLine(l) + " in the answer")
		}
	}
}

func short(cmd string) string {
	if i := strings.IndexByte(cmd, '='); i > 0 {
		return cmd[:i]
	}
	return cmd
}

// Transmit sends one APDU. Outside a transaction (Begin) it takes the
// port lock for this one exchange. The answer is checked against the
// command's shape (transport.CheckAnswer) before it is handed up.
func (m *Modem) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !m.inTx && m.lock != nil {
		if err := flockCtx(ctx, m.lock); err != nil {
			return nil, err
		}
		defer unflock(m.lock)
	}
	if m.dirty {
		if err := m.sync(ctx); err != nil {
			return nil, err
		}
	}
	var resp []byte
	var err error
	if m.opts.Mode == ModeCGLA {
		resp, err = m.cgla(ctx, cmd)
	} else {
		resp, err = m.csim(ctx, cmd)
	}
	if err != nil {
		return nil, err
	}
	if err := transport.CheckAnswer(cmd, resp); err != nil {
		m.dirty = true
		return nil, fmt.Errorf("modem: %w", err)
	}
	return resp, nil
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
