package emulator

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Options are a card's runtime settings. What defines the SIM itself (its
// profile and variant) is fixed when it is created and kept in its state
// file.
type Options struct {
	// Profile of a new card (New, Create); default ProfileGSMA.
	Profile Profile
	// Variant overrides the profile's behaviour for a new card.
	Variant *Variant
	// T0 answers 61xx to every command with response data, so the data
	// must be fetched with GET RESPONSE, as a T=0 card behind a modem does.
	T0 bool
	// ExtendedLength makes the card take extended-length APDUs (ISO/IEC
	// 7816-4 §5.1: a T=1 card whose applet implements Java Card's
	// ExtendedLength) and say so in its ATR (card capabilities, extended
	// Lc and Le fields). An answer then comes whole when Le allows it: an
	// RSA-2048 signature in one response instead of 256 bytes and a GET
	// RESPONSE. Without it, or with T0, an extended APDU gets 6700, as a
	// card that takes short APDUs only answers.
	ExtendedLength bool
	// Channels is the number of logical channels including the basic one
	// (default 4, at most 20).
	Channels int
	// MaxSessions is the number of signature/verification/put-key sessions
	// per channel (default 4).
	MaxSessions int
	// Timing, when set, delays answers like a real SIM (DefaultTiming).
	Timing *Timing
	// StatsFile, when set, receives one line when the card is closed:
	// the APDUs it processed and their cost in the timing model, all and
	// signature commands alone (for start-up measurements of programs
	// that load the library, sign once and exit).
	StatsFile string
	// Logger receives debug records (never key material); nil discards.
	Logger *slog.Logger
	// Rand is the card's randomness; nil means crypto/rand.
	Rand io.Reader
}

type sessionOp uint8

const (
	opNone sessionOp = iota
	opSign
	opVerify
	opPutKey
)

type session struct {
	op     sessionOp
	obj    *object
	mode   byte
	hash   uint16
	alg    byte // signature algorithm (tag 92)
	stream streamState
}

type channel struct {
	open, selected bool
	sessions       []session
	listRest       []byte // object list bytes not yet answered (6300)
	pending        []byte // T=0 data waiting for GET RESPONSE
	pendingSW      apdu.StatusWord
}

// Card is a software IoT SAFE applet on a software UICC. It implements
// transport.Transport (Transmit and Close), so the host side uses it like
// any card. It is safe for concurrent use; like a real card it processes
// one command at a time.
type Card struct {
	mu       sync.Mutex
	opts     Options
	rnd      io.Reader
	log      *slog.Logger
	store    *fileStore // nil for an in-memory card
	stamp    stamp
	st       *state
	channels []channel
	seenGen  uint64
	keys     map[string]crypto.Signer
	count    uint64
	modelAll time.Duration // timing-model cost of every APDU
	modelSig time.Duration // of Compute Signature commands
	faults   []Fault
	nth      int
	down     bool
	closed   bool
	atr      []byte
	// txSem serializes transactions in this process; inTx (under mu) says
	// that one holds the state file's exclusive lock.
	txSem chan struct{}
	inTx  bool
}

func (o *Options) defaults() error {
	if o.Channels == 0 {
		o.Channels = 4
	}
	if o.Channels < 1 || o.Channels > apdu.MaxChannel+1 {
		return errorf("%d channels asked (1..20)", o.Channels)
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = 4
	}
	if o.MaxSessions < 1 || o.MaxSessions > 255 {
		return errorf("%d sessions asked (1..255)", o.MaxSessions)
	}
	return nil
}

func newCard(opts Options, st *state) *Card {
	c := &Card{opts: opts, st: st, rnd: opts.Rand, log: opts.Logger, keys: map[string]crypto.Signer{}, seenGen: st.AdminGen,
		txSem: make(chan struct{}, 1)}
	if c.rnd == nil {
		c.rnd = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.atr = uiccATR(opts.ExtendedLength && !opts.T0)
	c.powerOn()
	return c
}

func freshState(opts Options) (*state, error) {
	p := opts.Profile
	if p == "" {
		p = ProfileGSMA
	}
	v, ok := p.Variant()
	if !ok {
		return nil, errorf("unknown profile %q (known: %v)", p, Profiles())
	}
	if opts.Variant != nil {
		v = *opts.Variant
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	return factoryState(p, v, rnd)
}

// New returns an in-memory card with the factory layout.
func New(opts Options) (*Card, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	st, err := freshState(opts)
	if err != nil {
		return nil, err
	}
	return newCard(opts, st), nil
}

// Create makes a new card with the factory layout and writes it to a new
// state file at path (mode 0600). It refuses to overwrite an existing file.
func Create(path string, opts Options) (*Card, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w %s already exists; remove it first to create a new SIM", ErrStateFile, path)
	}
	st, err := freshState(opts)
	if err != nil {
		return nil, err
	}
	fs, err := openStore(path)
	if err != nil {
		return nil, err
	}
	if err := fs.flock(lockEX); err != nil {
		fs.close()
		return nil, err
	}
	defer fs.flock(lockUN)
	if _, err := os.Stat(path); err == nil {
		fs.close()
		return nil, fmt.Errorf("%w %s already exists", ErrStateFile, path)
	}
	stp, err := fs.save(st)
	if err != nil {
		fs.close()
		return nil, err
	}
	c := newCard(opts, st)
	c.store, c.stamp = fs, stp
	return c, nil
}

// Open loads the card kept in the state file at path. The file's profile
// and variant win over opts.Profile and opts.Variant. Several Card values,
// in one process or several, may use one state file: each command sees
// the others' updates, and updates are serialized by a lock file.
func Open(path string, opts Options) (*Card, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// Say so before the lock file beside it is made (or fails to be).
		return nil, fmt.Errorf("%w %s: no such software SIM (create one with `iotsafe emulator init --state %s`): %w", ErrStateFile, path, path, os.ErrNotExist)
	}
	fs, err := openStore(path)
	if err != nil {
		return nil, err
	}
	if err := fs.flock(lockSH); err != nil {
		fs.close()
		return nil, err
	}
	st, stp, err := fs.load()
	if err == nil {
		// Under the shared lock no writer is under way: any temporary
		// file is a leftover of a killed one.
		_ = atomicfile.RemoveStale(path)
	}
	fs.flock(lockUN)
	if err != nil {
		fs.close()
		return nil, err
	}
	c := newCard(opts, st)
	c.store, c.stamp = fs, stp
	return c, nil
}

// Close releases the state file. Transmit after Close returns
// transport.ErrClosed.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.opts.StatsFile != "" {
		if f, err := os.OpenFile(c.opts.StatsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintf(f, "apdus=%d model_ms=%.1f sign_ms=%.1f\n", c.count,
				float64(c.modelAll)/float64(time.Millisecond), float64(c.modelSig)/float64(time.Millisecond))
			f.Close()
		}
	}
	if c.store != nil {
		return c.store.close()
	}
	return nil
}

// Profile returns the card's profile.
func (c *Card) Profile() Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Profile
}

// Variant returns the card's detailed behaviour.
func (c *Card) Variant() Variant {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Variant
}

// APDUCount returns the number of commands the card has processed.
func (c *Card) APDUCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// ATR returns the card's answer to reset: a UICC offering T=0 and T=1.
func (c *Card) ATR() []byte { return append([]byte(nil), c.atr...) }

// uiccATR builds a USIM-like ATR: TA1=96 (Fi/Di 512/32), T=0 and T=1
// offered, T=15 global bytes (clock stop, class A/B/C), fifteen historical
// bytes, and the check byte T=1 requires. The third card capabilities byte
// (1B: logical channels assigned by card and terminal, four of them) gets
// b7, extended Lc and Le fields, when extended is set.
func uiccATR(extended bool) []byte {
	atr := []byte{0x3B, 0x9F, 0x96, 0x80, 0x81, 0x1F, 0xC7,
		0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x1B, 0x63, 0xF1, 0x00, 0x83, 0x83, 0x00, 0x90, 0x00}
	if extended {
		atr[13] |= 0x40
	}
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

func (c *Card) powerOn() {
	c.channels = make([]channel, c.opts.Channels)
	c.channels[0].open = true
	for i := range c.channels {
		c.channels[i].sessions = make([]session, c.opts.MaxSessions)
	}
}

// Reset power-cycles the card: logical channels close, selections,
// sessions and pending answers are lost, a disconnection fault is cleared.
// It returns the ATR.
func (c *Card) Reset() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.powerOn()
	c.down = false
	return c.ATR()
}

// Transmit processes one command APDU and returns the response APDU.
func (c *Card) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp, fault, err := c.transmit(ctx, cmd)
	if err != nil || fault == nil {
		return resp, err
	}
	return fault.apply(ctx, resp)
}

// transmit processes a command under the card's lock; like a real card it
// holds the line for the modelled processing time.
func (c *Card) transmit(ctx context.Context, cmd []byte) ([]byte, *Fault, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, transport.ErrClosed
	}
	if c.down {
		return nil, nil, fmt.Errorf("emulator: %w (disconnected; Reset reconnects)", transport.ErrCardRemoved)
	}
	c.count++
	fault := c.nextFault()
	if fault != nil && fault.Kind == FaultDisconnect {
		c.down = true
		return nil, nil, fmt.Errorf("emulator: %w (injected disconnection)", transport.ErrCardRemoved)
	}
	start := time.Now()
	data, sw, cost := c.process(cmd)
	if c.opts.Timing != nil {
		d := c.opts.Timing.Cost(len(cmd), len(data)+2, cost)
		c.modelAll += d
		if len(cmd) > 1 && (cmd[1] == spec.InsComputeSigInit || cmd[1] == spec.InsComputeSigUpdate) {
			c.modelSig += d
		}
	}
	resp := make([]byte, 0, len(data)+2)
	resp = append(resp, data...)
	resp = append(resp, sw.SW1(), sw.SW2())
	if c.opts.Timing != nil {
		if err := c.opts.Timing.wait(ctx, start, len(cmd), len(resp), cost); err != nil {
			return nil, nil, err
		}
	}
	return resp, fault, nil
}

// process runs one command and returns the answer, the status word and
// the operation's cost class for the timing model.
func (c *Card) process(raw []byte) ([]byte, apdu.StatusWord, Op) {
	cmd, err := apdu.ParseCommand(raw)
	if err != nil || cmd.Extended && (!c.opts.ExtendedLength || c.opts.T0) {
		return nil, apdu.SWWrongLength, OpNone
	}
	ci, err := apdu.ParseCLA(cmd.CLA)
	if err != nil || ci.SecureMessaging != 0 {
		return nil, apdu.SWInvalidClass, OpNone
	}
	if ci.Channel >= len(c.channels) || !c.channels[ci.Channel].open {
		return nil, apdu.SWLogicalChannelNotSupp, OpNone
	}
	ch := &c.channels[ci.Channel]
	if cmd.INS == spec.InsGetResponse {
		// A real T=0 IoT SAFE SIM takes GET RESPONSE in the applet's class
		// too (81 C0 on channel 1), as hosts send it.
		if ci.Family != apdu.Interindustry && !(ch.selected && ci.Family == c.st.Variant.Family) {
			return nil, apdu.SWInvalidClass, OpNone
		}
		return c.getResponse(ch, cmd)
	}
	ch.pending = nil
	if ci.Chaining {
		return nil, apdu.SWChainingNotSupported, OpNone
	}
	var data []byte
	var sw apdu.StatusWord
	cost := OpNone
	switch cmd.INS {
	case spec.InsManageChannel:
		if ci.Family != apdu.Interindustry {
			return nil, apdu.SWInvalidClass, OpNone
		}
		data, sw = c.manageChannel(ci.Channel, cmd)
	case spec.InsSelect:
		if ci.Family != apdu.Interindustry {
			return nil, apdu.SWInvalidClass, OpNone
		}
		data, sw = c.selectAID(ch, cmd)
	default:
		if !ch.selected {
			return nil, noApplet(cmd), OpNone
		}
		if ci.Family != c.st.Variant.Family {
			return nil, apdu.SWInvalidClass, OpNone
		}
		if err := c.refresh(); err != nil {
			c.log.Warn("emulator: reloading the state file failed", "err", err)
			return nil, apdu.SWIntegrity, OpNone
		}
		data, sw, cost = c.applet(ch, cmd)
		if sw == apdu.SWSuccess && c.st.AdminGen != c.seenGen {
			c.seenGen = c.st.AdminGen
			sw = apdu.SWRemoteAdminDone
		}
	}
	if len(data) > 0 && sw.OK() {
		// Like a real T=0 card: a command that sent data (case 4) gets
		// 61xx and its answer through GET RESPONSE; a case 2 command, whose
		// Le the card had before answering, gets its data at once (MANAGE
		// CHANNEL open, Get Random, Get Data).
		if c.opts.T0 && len(cmd.Data) > 0 {
			ch.pending, ch.pendingSW = data, sw
			return nil, apdu.StatusWord(0x6100 | uint16(byte(min(len(data), 256)))), cost
		}
		if cmd.Extended {
			// Le in two bytes says how much may come at once; more than
			// that is a length error (no 6Cxx can name it).
			if len(data) > cmd.Ne {
				return nil, apdu.SWWrongLength, cost
			}
			return data, sw, cost
		}
		if cmd.Ne > 0 && len(data) > cmd.Ne && cmd.INS != spec.InsGetData {
			if len(data) <= 256 {
				return nil, apdu.StatusWord(0x6C00 | uint16(byte(len(data)))), cost
			}
		}
		// More than a short answer holds (an RSA-2048 signature or public
		// key): the first 256 bytes with 61xx, the rest by GET RESPONSE,
		// as ISO 7816-4 has a card do for a short Le.
		if len(data) > 256 {
			ch.pending, ch.pendingSW = data[256:], sw
			return data[:256], apdu.StatusWord(0x6100 | uint16(byte(min(len(ch.pending), 256)))), cost
		}
	}
	return data, sw, cost
}

func (c *Card) getResponse(ch *channel, cmd apdu.Command) ([]byte, apdu.StatusWord, Op) {
	if ch.pending == nil {
		return nil, apdu.SWConditionsNotSatisfied, OpNone
	}
	if cmd.P1 != 0 || cmd.P2 != 0 || len(cmd.Data) != 0 {
		return nil, apdu.SWIncorrectP1P2, OpNone
	}
	n := cmd.Ne
	if n == 0 {
		n = 256
	}
	if n > len(ch.pending) {
		return nil, apdu.StatusWord(0x6C00 | uint16(byte(len(ch.pending)))), OpNone
	}
	out := ch.pending[:n]
	ch.pending = ch.pending[n:]
	if len(ch.pending) == 0 {
		ch.pending = nil
		return out, ch.pendingSW, OpNone
	}
	return out, apdu.StatusWord(0x6100 | uint16(byte(min(len(ch.pending), 256)))), OpNone
}

func (c *Card) manageChannel(from int, cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if len(cmd.Data) != 0 {
		return nil, apdu.SWWrongLength
	}
	switch cmd.P1 {
	case 0x00: // open, card assigns
		if cmd.P2 != 0 {
			return nil, apdu.SWIncorrectP1P2
		}
		if cmd.Ne != 0 && cmd.Ne != 1 && cmd.Ne != 256 {
			return nil, apdu.SWWrongLength
		}
		for i := 1; i < len(c.channels); i++ {
			if !c.channels[i].open {
				c.channels[i] = channel{open: true, sessions: make([]session, c.opts.MaxSessions)}
				return []byte{byte(i)}, apdu.SWSuccess
			}
		}
		return nil, apdu.SWFunctionNotSupported
	case 0x80: // close
		target := int(cmd.P2)
		if target == 0 {
			target = from
		}
		if target == 0 || target >= len(c.channels) || !c.channels[target].open {
			return nil, apdu.SWIncorrectP1P2
		}
		c.channels[target] = channel{sessions: make([]session, c.opts.MaxSessions)}
		return nil, apdu.SWSuccess
	}
	return nil, apdu.SWIncorrectP1P2
}

func (c *Card) selectAID(ch *channel, cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0x04 || (cmd.P2 != 0x00 && cmd.P2 != 0x0C) {
		return nil, apdu.SWIncorrectP1P2
	}
	if len(cmd.Data) < 5 || len(cmd.Data) > 16 {
		return nil, apdu.SWWrongLength
	}
	for i := range ch.sessions {
		ch.sessions[i] = session{}
	}
	ch.listRest = nil
	if string(cmd.Data) != string(c.st.Variant.AID) {
		ch.selected = false
		return nil, apdu.SWNotFound
	}
	ch.selected = true
	return nil, apdu.SWSuccess
}

// refresh reloads the state file when another Card changed it.
func (c *Card) refresh() error {
	if c.store == nil {
		return nil
	}
	stp, err := statStamp(c.store.path)
	if err != nil {
		return err
	}
	if stp == c.stamp {
		return nil
	}
	if !c.inTx {
		if err := c.store.flock(lockSH); err != nil {
			return err
		}
		defer c.store.flock(lockUN)
	}
	st, stp, err := c.store.load()
	if err != nil {
		return err
	}
	c.install(st, stp)
	return nil
}

// mutate applies fn to a copy of the state under the exclusive lock,
// reloading first so no other process's update is lost. Only when fn
// answers success is the copy saved (atomically) and put in place, so a
// failed change leaves nothing half done.
func (c *Card) mutate(fn func(st *state) apdu.StatusWord) apdu.StatusWord {
	if c.store != nil {
		if !c.inTx {
			if err := c.store.flock(lockEX); err != nil {
				return apdu.SWMemoryFailure
			}
			defer c.store.flock(lockUN)
		}
		if stp, err := statStamp(c.store.path); err != nil || stp != c.stamp {
			st, stp, err := c.store.load()
			if err != nil {
				return apdu.SWIntegrity
			}
			c.install(st, stp)
		}
	}
	work := c.st.clone()
	if sw := fn(work); sw != apdu.SWSuccess {
		return sw
	}
	stp := c.stamp
	if c.store != nil {
		var err error
		if stp, err = c.store.save(work); err != nil {
			c.log.Error("emulator: saving the state file failed; the update is undone", "err", err)
			return apdu.SWMemoryFailure
		}
	}
	c.install(work, stp)
	return apdu.SWSuccess
}

// install puts a new state in place and re-points open sessions at its
// objects (a session whose object is gone is dropped).
func (c *Card) install(st *state, stp stamp) {
	c.st, c.stamp = st, stp
	c.keys = map[string]crypto.Signer{}
	for i := range c.channels {
		for j := range c.channels[i].sessions {
			if s := &c.channels[i].sessions[j]; s.obj != nil {
				if o := st.find(s.obj.Kind, s.obj.ID); o != nil {
					s.obj = o
				} else {
					*s = session{}
				}
			}
		}
	}
}

// privateKey returns the parsed key of a private key object (cached).
func (c *Card) privateKey(o *object) (crypto.Signer, error) {
	if k, ok := c.keys[o.key()]; ok {
		return k, nil
	}
	k, err := parsePrivate(o)
	if err != nil {
		return nil, err
	}
	c.keys[o.key()] = k
	return k, nil
}

// ObjectInfo describes an object of the store, without its secret value.
type ObjectInfo struct {
	Kind      spec.ObjectKind `json:"kind"`
	ID        []byte          `json:"id"`
	Label     string          `json:"label,omitempty"`
	State     byte            `json:"state"`
	Access    byte            `json:"access"`
	KeyType   byte            `json:"key_type,omitempty"`
	FileUsage byte            `json:"file_usage,omitempty"`
	Size      int             `json:"size,omitempty"`
}

// Objects lists the applet store as the operator sees it (no key material).
func (c *Card) Objects() []ObjectInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.refresh()
	out := make([]ObjectInfo, 0, len(c.st.Objects))
	for _, o := range c.st.Objects {
		out = append(out, ObjectInfo{Kind: o.Kind, ID: append([]byte(nil), o.ID...), Label: o.Label, State: o.State,
			Access: o.Access, KeyType: o.KeyType, FileUsage: o.FileUsage, Size: o.Size})
	}
	return out
}

// noApplet answers a command on a channel where no applet is selected the
// way the UICC itself does (ETSI TS 102 221 §11.1): its PIN commands check
// P1 and the data length (a real SIM without the applet answered the IoT
// SAFE Verify Signature Init, INS 2C, as UNBLOCK PIN: 6A86 for P1 = 01, 6700
// for 14 data bytes); anything else is an instruction it does not know.
func noApplet(cmd apdu.Command) apdu.StatusWord {
	pinCmd := func(p1ok bool, lengths ...int) apdu.StatusWord {
		if !p1ok {
			return apdu.SWIncorrectP1P2
		}
		for _, n := range lengths {
			if len(cmd.Data) == n {
				return apdu.SWReferenceNotFound
			}
		}
		return apdu.SWWrongLength
	}
	switch cmd.INS {
	case 0x20: // VERIFY PIN: P1 00; 8 bytes, or none to ask the retry counter
		return pinCmd(cmd.P1 == 0x00, 0, 8)
	case 0x24: // CHANGE PIN: P1 00; old and new PIN
		return pinCmd(cmd.P1 == 0x00, 16)
	case 0x26: // DISABLE PIN: P1 00 or 80; the PIN
		return pinCmd(cmd.P1 == 0x00 || cmd.P1 == 0x80, 8)
	case 0x28: // ENABLE PIN: P1 00; the PIN
		return pinCmd(cmd.P1 == 0x00, 8)
	case 0x2C: // UNBLOCK PIN: P1 00; PUK and new PIN, or none to ask the counter
		return pinCmd(cmd.P1 == 0x00, 0, 16)
	}
	return apdu.SWInvalidInstruction
}
