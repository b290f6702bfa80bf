// Package atmodem puts a card (the emulator) behind a fake cellular modem
// that speaks AT commands on a byte stream or a pseudo-terminal: ATE0/ATE1,
// AT, ATI, AT+CGMI, AT+CGMM, AT+CIMI, AT+CCID, AT+CSIM, and
// AT+CCHO/AT+CGLA/AT+CCHC. Quirks of real modems can be switched on (echo,
// unsolicited result codes, 61xx for long answers, odd length formatting,
// slow answers, a command length limit), and faults injected (garbage,
// ERROR, silence, a truncated line), so that the host's modem transport is
// tested against what it meets in the field.
package atmodem

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/rawpty"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Card is what the fake modem talks to; *emulator.Card satisfies it.
type Card interface {
	Transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// LengthStyle is how the modem writes the length of +CSIM/+CGLA answers.
type LengthStyle int

// The length styles seen in the wild.
const (
	LengthPlain       LengthStyle = iota // +CSIM: 4,"9000"
	LengthPadded                         // +CSIM:   4,"9000"
	LengthSpacedComma                    // +CSIM: 4, "9000"
	LengthTight                          // +CSIM:4,"9000"
)

// Quirks are behaviours of real modems.
type Quirks struct {
	Echo          bool          // echo commands (until ATE0)
	URCs          bool          // unsolicited "+CREG: 1" and "RING" lines before answers
	Long61        int           // answer 61xx when a response has more data bytes than this (0: never)
	LengthStyle   LengthStyle   // formatting of the answer's length field
	Delay         time.Duration // wait this long before each answer
	MaxCommandLen int           // refuse longer command lines with ERROR (0: no limit)
}

// AllQuirks switches every quirk on.
func AllQuirks() Quirks {
	return Quirks{Echo: true, URCs: true, Long61: 64, LengthStyle: LengthPadded, Delay: time.Millisecond}
}

// FaultKind is an injected failure.
type FaultKind int

// The faults.
const (
	FaultGarbage  FaultKind = iota + 1 // answer bytes that are not AT
	FaultError                         // answer ERROR
	FaultSilent                        // never answer
	FaultTruncate                      // cut the answer line in the middle, then OK
	// Hostile or broken links: the answer is right but out of step.
	FaultRepeat  // answer, then send the same answer (line and OK) once more
	FaultLate    // answer only after the Late delay (the host has given up by then)
	FaultDrop    // drop the information line, send only OK
	FaultReorder // send OK first, then the information line
)

// Hostile is a standing fault: every AT+CSIM/AT+CGLA command whose APDU has
// instruction INS (any instruction when AnyINS) gets Kind.
type Hostile struct {
	Kind   FaultKind
	INS    byte
	AnyINS bool
}

// ParseHostile reads "KIND" or "KIND@INS" (INS in hex), KIND one of
// repeat, late, drop, reorder, garbage, error, silent, truncate.
func ParseHostile(s string) (Hostile, error) {
	kind, ins, hasINS := strings.Cut(s, "@")
	kinds := map[string]FaultKind{"repeat": FaultRepeat, "late": FaultLate, "drop": FaultDrop, "reorder": FaultReorder,
		"garbage": FaultGarbage, "error": FaultError, "silent": FaultSilent, "truncate": FaultTruncate}
	k, ok := kinds[kind]
	if !ok {
		return Hostile{}, fmt.Errorf("atmodem: unknown fault %q (repeat, late, drop, reorder, garbage, error, silent, truncate)", kind)
	}
	h := Hostile{Kind: k, AnyINS: !hasINS}
	if hasINS {
		b, err := hex.DecodeString(ins)
		if err != nil || len(b) != 1 {
			return Hostile{}, fmt.Errorf("atmodem: %q: INS must be one hex byte", s)
		}
		h.INS = b[0]
	}
	return h, nil
}

// Modem is the fake modem's state on one stream.
type Modem struct {
	card Card
	q    Quirks

	mu       sync.Mutex
	echo     bool
	faults   map[int]FaultKind
	count    int
	pending  []byte // Long61: data waiting for GET RESPONSE
	pendSW   [2]byte
	sessions map[int]int
	hostile  []Hostile
	late     time.Duration
	rewrite  func(cmd, resp []byte) []byte
	// Set by handle for Serve: an answer to send again after this one
	// (FaultRepeat), or to send only later (FaultLate).
	repeat     string
	deferred   string
	deferUntil time.Time
}

// SetHostile installs standing faults; late is how long FaultLate holds an
// answer back (0: 3 s).
func (m *Modem) SetHostile(h []Hostile, late time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hostile = append([]Hostile(nil), h...)
	m.late = late
	if m.late == 0 {
		m.late = 3 * time.Second
	}
}

// SetRewrite makes the modem lie like compromised firmware or a man in the
// middle on the line: every card answer to an AT+CSIM or AT+CGLA command
// passes through fn (with the APDU as the modem received it) before it is
// sent, and fn returns what the host gets instead. nil stops the lying.
func (m *Modem) SetRewrite(fn func(cmd, resp []byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rewrite = fn
}

// lie applies the rewrite hook, if any.
func (m *Modem) lie(cmd, resp []byte) []byte {
	if m.rewrite == nil {
		return resp
	}
	return m.rewrite(bytes.Clone(cmd), bytes.Clone(resp))
}

// hostileFor returns the standing fault for a command line, if any.
func (m *Modem) hostileFor(cmd string) (FaultKind, bool) {
	up := strings.ToUpper(cmd)
	var hexArg string
	switch {
	case strings.HasPrefix(up, "AT+CSIM="):
		a := args(cmd[len("AT+CSIM="):])
		if len(a) == 2 {
			hexArg = a[1]
		}
	case strings.HasPrefix(up, "AT+CGLA="):
		a := args(cmd[len("AT+CGLA="):])
		if len(a) == 3 {
			hexArg = a[2]
		}
	default:
		return 0, false
	}
	b, err := hex.DecodeString(hexArg)
	if err != nil || len(b) < 4 {
		return 0, false
	}
	for _, h := range m.hostile {
		if h.AnyINS || h.INS == b[1] {
			return h.Kind, true
		}
	}
	return 0, false
}

// NewModem returns a fake modem in front of card.
func NewModem(card Card, q Quirks) *Modem {
	return &Modem{card: card, q: q, echo: q.Echo, faults: map[int]FaultKind{}, sessions: map[int]int{}}
}

// Fault makes the modem misbehave on the n-th AT command from now on
// (1 is the next one).
func (m *Modem) Fault(n int, k FaultKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults[m.count+n] = k
}

// Serve answers AT commands read from rw until ctx ends or rw fails.
func (m *Modem) Serve(ctx context.Context, rw io.ReadWriter) error {
	r := bufio.NewReader(rw)
	var line []byte
	for ctx.Err() == nil {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b != '\r' && b != '\n' {
			if len(line) < 1<<16 {
				line = append(line, b)
			}
			continue
		}
		cmd := strings.TrimSpace(string(line))
		line = line[:0]
		if cmd == "" {
			continue
		}
		out := m.handle(ctx, cmd)
		if _, err := io.WriteString(rw, out); err != nil {
			return err
		}
		m.mu.Lock()
		repeat, deferred, until := m.repeat, m.deferred, m.deferUntil
		m.repeat, m.deferred = "", ""
		m.mu.Unlock()
		if repeat != "" {
			// A link that repeats: the same answer again, a moment later
			// (the host has usually sent its next command by then).
			time.Sleep(5 * time.Millisecond)
			if _, err := io.WriteString(rw, repeat); err != nil {
				return err
			}
		}
		if deferred != "" {
			time.Sleep(time.Until(until))
			if _, err := io.WriteString(rw, deferred); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// handle returns everything the modem writes for one command line.
func (m *Modem) handle(ctx context.Context, cmd string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count++
	var b strings.Builder
	if m.echo {
		b.WriteString(cmd + "\r")
	}
	fault, faulty := m.faults[m.count]
	if faulty {
		delete(m.faults, m.count)
	} else {
		fault, faulty = m.hostileFor(cmd)
	}
	if m.q.Delay > 0 {
		time.Sleep(m.q.Delay)
	}
	if faulty {
		switch fault {
		case FaultGarbage:
			return b.String() + "\r\n\x00\xff#garbage%%\x7f\r\n\r\nOK\r\n"
		case FaultError:
			return b.String() + "\r\nERROR\r\n"
		case FaultSilent:
			return b.String()
		}
	}
	if m.q.URCs {
		b.WriteString("\r\n+CREG: 1\r\n\r\nRING\r\n")
	}
	info, ok := m.dispatch(ctx, cmd)
	var ans strings.Builder
	if info != "" {
		if faulty && fault == FaultTruncate {
			info = info[:len(info)/2]
		}
		if !(faulty && (fault == FaultDrop || fault == FaultReorder)) {
			ans.WriteString("\r\n" + info + "\r\n")
		}
	}
	if ok {
		ans.WriteString("\r\nOK\r\n")
	} else if info == "" {
		ans.WriteString("\r\nERROR\r\n")
	}
	if faulty && fault == FaultReorder && info != "" {
		ans.WriteString("\r\n" + info + "\r\n")
	}
	if faulty && fault == FaultLate {
		// The echo goes out at once, as a real modem's does; the answer
		// only after the host gave up.
		m.deferred = ans.String()
		m.deferUntil = time.Now().Add(m.late)
		return b.String()
	}
	b.WriteString(ans.String())
	if faulty && fault == FaultRepeat {
		m.repeat = ans.String()
	}
	return b.String()
}

func (m *Modem) format(prefix string, resp []byte) string {
	h := strings.ToUpper(hex.EncodeToString(resp))
	switch m.q.LengthStyle {
	case LengthPadded:
		return fmt.Sprintf("%s %3d,\"%s\"", prefix, len(h), h)
	case LengthSpacedComma:
		return fmt.Sprintf("%s %d, \"%s\"", prefix, len(h), h)
	case LengthTight:
		return fmt.Sprintf("%s%d,\"%s\"", prefix, len(h), h)
	}
	return fmt.Sprintf("%s %d,\"%s\"", prefix, len(h), h)
}

// args splits `N,"HEX"` style arguments.
func args(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(parts[i]), "\"")
	}
	return parts
}

func (m *Modem) dispatch(ctx context.Context, cmd string) (string, bool) {
	up := strings.ToUpper(cmd)
	switch {
	case m.q.MaxCommandLen > 0 && len(cmd) > m.q.MaxCommandLen:
		return "", false
	case up == "AT":
		return "", true
	case up == "ATE0":
		m.echo = false
		return "", true
	case up == "ATE1" || up == "ATE":
		m.echo = true
		return "", true
	case up == "ATI":
		return "go-iotsafe fake modem 1.0", true
	case up == "AT+CGMI":
		return "go-iotsafe", true
	case up == "AT+CGMM":
		return "IoT SAFE test modem", true
	case up == "AT+CIMI":
		return "001010123456789", true
	case up == "AT+CCID":
		return "+CCID: 89001012345678901234", true
	case strings.HasPrefix(up, "AT+CSIM="):
		a := args(cmd[len("AT+CSIM="):])
		apduBytes, ok := parseHexArg(a, 0)
		if !ok {
			return "", false
		}
		resp, err := m.csim(ctx, apduBytes)
		if err != nil {
			return "+CME ERROR: 13", false
		}
		return m.format("+CSIM:", m.lie(apduBytes, resp)), true
	case strings.HasPrefix(up, "AT+CCHO="):
		aid, err := hex.DecodeString(strings.Trim(cmd[len("AT+CCHO="):], "\" "))
		if err != nil || len(aid) < 5 {
			return "", false
		}
		ch, ok := m.openAndSelect(ctx, aid)
		if !ok {
			return "+CME ERROR: 4", false
		}
		m.sessions[ch] = ch
		return fmt.Sprintf("+CCHO: %d", ch), true
	case strings.HasPrefix(up, "AT+CGLA="):
		a := args(cmd[len("AT+CGLA="):])
		if len(a) != 3 {
			return "", false
		}
		sid, err := strconv.Atoi(a[0])
		ch, open := m.sessions[sid]
		if err != nil || !open {
			return "+CME ERROR: 21", false
		}
		c, ok := parseHexArg(a[1:], 0)
		if !ok || len(c) < 4 {
			return "", false
		}
		if c[0], err = apdu.WithChannel(c[0], ch); err != nil {
			return "", false
		}
		resp, terr := m.card.Transmit(ctx, c)
		if terr != nil {
			return "+CME ERROR: 13", false
		}
		return m.format("+CGLA:", m.lie(c, resp)), true
	case strings.HasPrefix(up, "AT+CCHC="):
		sid, err := strconv.Atoi(strings.TrimSpace(cmd[len("AT+CCHC="):]))
		ch, open := m.sessions[sid]
		if err != nil || !open {
			return "+CME ERROR: 21", false
		}
		delete(m.sessions, sid)
		_, _ = m.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, byte(ch)})
		return "", true
	}
	return "", false
}

// parseHexArg reads `len,"hex"` starting at a[i]: the length counts hex
// characters.
func parseHexArg(a []string, i int) ([]byte, bool) {
	if len(a) != i+2 {
		return nil, false
	}
	n, err := strconv.Atoi(a[i])
	if err != nil || n != len(a[i+1]) {
		return nil, false
	}
	b, err := hex.DecodeString(a[i+1])
	return b, err == nil
}

// csim passes an APDU to the card; with Long61 it buffers long answers and
// serves GET RESPONSE itself, like a modem with a small buffer.
func (m *Modem) csim(ctx context.Context, c []byte) ([]byte, error) {
	if m.q.Long61 > 0 && len(c) >= 4 && c[1] == spec.InsGetResponse && m.pending != nil {
		n := 256
		if len(c) == 5 && c[4] != 0 {
			n = int(c[4])
		}
		n = min(n, len(m.pending))
		out := append([]byte(nil), m.pending[:n]...)
		m.pending = m.pending[n:]
		if len(m.pending) > 0 {
			return append(out, 0x61, byte(min(len(m.pending), 256))), nil
		}
		m.pending = nil
		return append(out, m.pendSW[:]...), nil
	}
	resp, err := m.card.Transmit(ctx, c)
	if err != nil {
		return nil, err
	}
	if m.q.Long61 > 0 && len(resp)-2 > m.q.Long61 {
		m.pending = resp[:len(resp)-2]
		m.pendSW = [2]byte{resp[len(resp)-2], resp[len(resp)-1]}
		return []byte{0x61, byte(min(len(m.pending), 256))}, nil
	}
	m.pending = nil
	return resp, nil
}

// transmitAll sends c and, like a modem handling a T=0 card itself,
// fetches a 61xx answer with GET RESPONSE on the basic channel.
func (m *Modem) transmitAll(ctx context.Context, c []byte) ([]byte, error) {
	resp, err := m.card.Transmit(ctx, c)
	if err == nil && len(resp) == 2 && resp[0] == 0x61 {
		resp, err = m.card.Transmit(ctx, []byte{c[0] & 0x03, spec.InsGetResponse, 0x00, 0x00, resp[1]})
	}
	return resp, err
}

func (m *Modem) openAndSelect(ctx context.Context, aid []byte) (int, bool) {
	resp, err := m.transmitAll(ctx, []byte{0x00, spec.InsManageChannel, 0x00, 0x00, 0x01})
	if err != nil || len(resp) != 3 || resp[1] != 0x90 {
		return 0, false
	}
	ch := int(resp[0])
	cla, _ := apdu.CLA(apdu.Interindustry, ch)
	sel := append([]byte{cla, spec.InsSelect, 0x04, 0x00, byte(len(aid))}, aid...)
	resp, err = m.transmitAll(ctx, sel)
	if err != nil || len(resp) < 2 || resp[len(resp)-2] != 0x90 {
		_, _ = m.card.Transmit(ctx, []byte{0x00, spec.InsManageChannel, 0x80, byte(ch)})
		return 0, false
	}
	return ch, true
}

// PTY is the fake modem on a pseudo-terminal: hosts open Path() as a serial
// port.
type PTY struct {
	Modem  *Modem
	master *os.File
	slave  *os.File
	cancel context.CancelFunc
	done   chan error
}

// NewPTY starts the fake modem for card on a new pseudo-terminal.
func NewPTY(card Card, q Quirks) (*PTY, error) {
	master, slave, err := rawpty.Open()
	if err != nil {
		return nil, fmt.Errorf("atmodem: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &PTY{Modem: NewModem(card, q), master: master, slave: slave, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- p.Modem.Serve(ctx, master) }()
	return p, nil
}

// Path returns the device path hosts open (e.g. /dev/pts/3).
func (p *PTY) Path() string { return p.slave.Name() }

// Close stops the fake modem and releases the pseudo-terminal.
func (p *PTY) Close() error {
	p.cancel()
	p.slave.Close()
	err := p.master.Close()
	<-p.done
	return err
}
